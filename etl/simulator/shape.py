"""How much a simulated patient has: the default the tests pin, or the issue's realistic office.

Issue 23's practice of realistic shape is 50,000 patients with 400,000 procedures, 300,000
claimprocs, 150,000 paysplits and 100,000 appointments: per patient about 8 procedures,
6 claimprocs, 3 paysplits and 2 appointments. The default shape (about 2 procedures and
3 claimprocs a patient) is the one the tests' counts and parity checks are written against.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shape:
    """Per-patient history of a simulated practice.

    Attributes:
        name: the shape's name ("default", "issue").
        appointments: weights of 0, 1, 2, ... appointments a patient has (the REST lists).
        procedures: least and most procedures on an appointment (the REST lists).
        history_days: the money model's first visit is up to this many days ago.
        visit_gap: least and most days between the money model's visits.
        pay_weights: weights of paying at the visit, later, or never.
    """

    name: str = "default"
    appointments: tuple[int, ...] = (20, 40, 30, 10)
    procedures: tuple[int, int] = (1, 3)
    history_days: int = 420
    visit_gap: tuple[int, int] = (60, 200)
    pay_weights: tuple[int, int, int] = (60, 25, 15)


SHAPES = {
    "default": Shape(),
    # Measured at 20,000 patients: 7.98 procedures, 5.90 claimprocs, 2.91 paysplits, 2.00
    # appointments, 1.13 recalls a patient.
    "issue": Shape(
        "issue",
        appointments=(5, 15, 30, 30, 20),  # for the active patients: 2 a patient in all
        procedures=(2, 6),
        history_days=840,
        visit_gap=(45, 150),
        pay_weights=(30, 10, 60),
    ),
}


def shape_named(name: str) -> Shape:
    """The shape of that name.

    Raises:
        ValueError: no such shape.
    """
    try:
        return SHAPES[name]
    except KeyError:
        raise ValueError(f"no practice shape {name!r} (known: {', '.join(SHAPES)})") from None
