"""A live office: patients edited, added and deleted while the simulator serves.

`python -m etl.simulator --changes-per-minute N` runs one `Churn` over every office it serves,
so `odmirror run` against it shows a mirror that keeps up. Each change is what the front desk
does: a new address or phone (edit), a new patient (add), a patient deleted (Open Dental never
removes a patient: its PatStatus becomes Deleted). Each change bumps the row's DateTStamp.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Sequence

from etl.simulator.server import Simulator

#: How often each kind of change comes, relative to the others.
KINDS = {"edit": 6, "add": 3, "delete": 1}
_STREETS = ("Main St", "Oak Ave", "Elm St", "Lake Rd", "Hill Dr", "Park Blvd")
_NAMES = (("Rivera", "Ana"), ("Chen", "Wei"), ("Okafor", "Chidi"), ("Novak", "Eva"))


class Churn:
    """Changes to the offices' patients, one at a time (`step`) or on a thread (`start`).

    Args:
        offices: the simulators whose stores change.
        per_minute: changes a minute, over all offices, on the thread.
        seed: the seed of the choices (what changes, where).
    """

    def __init__(self, offices: Sequence[Simulator], per_minute: float, seed: int = 1) -> None:
        if not offices or per_minute <= 0:
            raise ValueError("a churn needs offices and a positive rate")
        self.offices, self.per_minute = list(offices), per_minute
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> tuple[Simulator, str, int]:
        """Make one change; returns the office, the kind of change and the PatNum."""
        office = self.rng.choice(self.offices)
        kind = self.rng.choices(list(KINDS), list(KINDS.values()))[0]
        living = [r["PatNum"] for r in office.store.all() if r["PatStatus"] != "Deleted"]
        if kind != "add" and not living:
            kind = "add"  # nothing left to edit or delete
        if kind == "add":
            last, first = self.rng.choice(_NAMES)
            patnum = office.store.add(LName=last, FName=first, PatStatus="Patient")
        elif kind == "edit":
            patnum = self.rng.choice(living)
            street = f"{self.rng.randint(1, 9999)} {self.rng.choice(_STREETS)}"
            office.store.update(patnum, Address=street, HmPhone=self._phone())
        else:
            patnum = self.rng.choice(living)
            office.store.update(patnum, PatStatus="Deleted")
        self.counts[kind] += 1
        return office, kind, patnum

    def _phone(self) -> str:
        area, exchange = self.rng.randint(200, 999), self.rng.randint(200, 999)
        return f"({area}){exchange}-{self.rng.randint(0, 9999):04d}"

    def start(self) -> Churn:
        """Change on a daemon thread, `per_minute` times a minute, until `stop`; returns self."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="od-churn", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(60.0 / self.per_minute):
            self.step()

    def stop(self) -> None:
        """Stop the thread (a change under way completes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
