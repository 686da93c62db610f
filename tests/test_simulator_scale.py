"""What the benchmark needs of the simulator: a violation count, latency, large data, fast pages."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import requests

from etl.simulator import SimulatorConfig, make_patients
from etl.simulator.data import make_many_patients

KEYS = SimulatorConfig()  # Open Dental's published test keys

AUTH = {"Authorization": f"ODFHIR {KEYS.developer_key}/{KEYS.customer_key}"}


def simple(sim: Any, **params: Any) -> requests.Response:
    return requests.get(f"{sim.base_url}/patients/Simple", params=params, headers=AUTH, timeout=10)


def test_throttle_violations_are_counted(make_sim: Any) -> None:
    sim = make_sim(10, mode="remote", throttle_interval=60.0)
    statuses = [simple(sim).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    assert sim.throttle_violations == 2


def test_latency_is_added_to_each_answer(make_sim: Any) -> None:
    sim = make_sim(10, latency=0.3)
    started = time.monotonic()
    assert len(simple(sim).json()) == 10
    assert time.monotonic() - started >= 0.3


def test_pages_see_a_change_made_between_them(make_sim: Any) -> None:
    sim = make_sim(30, order="datetstamp", hide_deleted=False)
    first = [r["PatNum"] for r in simple(sim, Limit=10).json()]
    sim.store.update(first[0], LName="Moved")  # now the newest: last in this order
    rest = [r["PatNum"] for r in simple(sim, Limit=30, Offset=10).json()]
    assert rest[-1] == first[0] and len(rest) == 20


def test_many_patients_are_copies_under_new_patnums() -> None:
    now = datetime(2031, 3, 14, 9, 0, 0)
    rows = make_many_patients(2500, now=now, distinct=1000)
    assert [r["PatNum"] for r in rows] == list(range(1, 2501))
    assert rows[:1000] == make_patients(1000, now=now)
    copy = rows[1000 + 6]
    assert copy["Guarantor"] == rows[6]["Guarantor"] + 1000
    assert copy["ImageFolder"].endswith(str(copy["PatNum"]))
    assert {k: v for k, v in copy.items() if k not in ("PatNum", "Guarantor", "ImageFolder")} == {
        k: v for k, v in rows[6].items() if k not in ("PatNum", "Guarantor", "ImageFolder")
    } | {"SuperFamily": copy["SuperFamily"]}
