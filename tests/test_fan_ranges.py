"""Fan-outs without a change column: the whole child table compared, then narrowed by key ranges
(etl.sync.fan_ranges).

With more than 90 parents in the mirror, a table that differs is cut into buckets of parent
keys, and only the buckets that differ are asked parent by parent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, update

from etl.catalog.resources import RESOURCES
from etl.simulator.office_db import OfficeDatabase
from etl.sync import fan_ranges
from tests.practice import expected, mirror, office_clock, served, sync

PAYPLANS = RESOURCES["payplans"]
NAMES = ("patients", "payplans")
SQL_PATH = "/api/v1/queries/ShortQuery"


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """SQLite, PostgreSQL and MariaDB mirrors (the mirror's values rendered as MySQL would)."""
    return db_url_all


@pytest.fixture
def practice(make_sim: Any) -> Any:
    """200 patients, each with a payment plan (so 200 parents, more than one list's worth)."""
    sim = make_sim(200, clock=office_clock()).fill_practice()
    model = {k: v for k, v in sim.tables.all("payplans")[0].items() if k != "PayPlanNum"}
    has = {r["PatNum"] for r in sim.tables.all("payplans")}
    for patient in sim.store.all():
        if patient["PatNum"] not in has:
            sim.tables.add("payplans", **{**model, "PatNum": patient["PatNum"], "Guarantor": 0})
    return sim


def _read_for(sim: Any) -> list[int]:
    found = [r.query for r in sim.requests if r.path.strip("/").lower() == "api/v1/payplans"]
    return [int(q["PatNum"]) for q in found]


def _compared(sim: Any) -> list[str]:
    sent = [json.loads(r.body)["SqlCommand"] for r in sim.requests if r.path == SQL_PATH]
    return [s for s in sent if "GROUP BY" in s]


def test_only_the_patients_whose_plans_differ_are_read_after_narrowing(
    engine: Engine, practice: Any
) -> None:
    sync(practice, engine, NAMES)
    plans = {r["PatNum"]: r["PayPlanNum"] for r in practice.tables.all("payplans")}
    assert len(plans) == 200
    edited, removed = min(plans), max(plans)
    practice.clock.advance(600)
    practice.tables.update("payplans", plans[edited], Note="moved to monthly")
    practice.tables["payplans"].rows.pop(plans[removed])
    practice.tables["payplans"].rows.touch()
    practice.requests.clear()
    results = {r.resource: r for r in sync(practice, engine, NAMES)}
    assert _read_for(practice) == [edited, removed]
    # One call cuts the parents into buckets; each of the two that differ is asked parent by
    # parent: three calls, against two for 200 candidates (and a week's sweep) before.
    calls = _compared(practice)
    assert len(calls) == 3 and "DIV" in calls[0] and "DIV" not in calls[1] + calls[2]
    assert results["payplans"].stats.requests == 3 + 2
    got = mirror(engine, PAYPLANS)
    assert got[plans[removed]]["odmirror_gone_at"] is not None  # marked: no longer listed
    live = {k: row for k, row in got.items() if row["odmirror_gone_at"] is None}
    assert live == expected(PAYPLANS, served(practice, PAYPLANS))
    practice.requests.clear()
    practice.clock.advance(600)
    again = {r.resource: r for r in sync(practice, engine, NAMES)}
    assert (_read_for(practice), _compared(practice)) == ([], [])
    assert again["payplans"].stats.requests == 0


def test_a_bucket_outside_the_range_asked_falls_back_to_the_candidates(
    engine: Engine, practice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sync(practice, engine, NAMES)
    plans = {r["PatNum"]: r["PayPlanNum"] for r in practice.tables.all("payplans")}
    practice.clock.advance(600)
    practice.tables.update("payplans", plans[min(plans)], Note="moved to monthly")
    practice.store.update(min(plans), EstBalance="12.00")  # a candidate without SQL too
    practice.office_db = OfficeDatabase(practice.clock)
    answer = practice.office_db.answer

    def hostile(body: bytes) -> tuple[int, Any]:
        # The buckets' call answers a bucket far past the range asked (the narrowing would
        # leave it); every other call as the office would.
        if b" DIV " in body:
            return 200, [{"g": 10**12, "n": 1, "f": 5}]
        return answer(body)

    practice.office_db.answer = hostile
    practice.requests.clear()
    sync(practice, engine, NAMES)
    lines = [r.getMessage() for r in caplog.records if "not compared" in r.getMessage()]
    assert len(lines) == 1 and "an answer not about the groups asked" in lines[0]
    assert _read_for(practice) == [min(plans)]  # the candidates compared: its plan differs
    got = mirror(engine, PAYPLANS)
    assert got[plans[min(plans)]]["note"] == "moved to monthly"


def test_plans_of_no_patient_are_compared_on_neither_side(engine: Engine, practice: Any) -> None:
    # Open Dental's table may hold orphans (a patient number 0, a patient since deleted): the
    # lists are asked by the mirror's patients, so those would differ every run, and a
    # `PatNum=0` request could fail the run.
    model = {k: v for k, v in practice.tables.all("payplans")[0].items() if k != "PayPlanNum"}
    for orphan in (0, 99_999):
        practice.tables.add("payplans", **{**model, "PatNum": orphan})
    sync(practice, engine, NAMES)
    practice.clock.advance(600)
    practice.requests.clear()
    results = {r.resource: r for r in sync(practice, engine, NAMES)}
    assert (_read_for(practice), _compared(practice)) == ([], [])
    assert results["payplans"].stats.requests == 0


def test_a_table_that_differs_everywhere_costs_no_more_than_its_candidates(
    engine: Engine, practice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A column the list never sends is NULL in the mirror and not in the office: every parent
    # differs, every run. Narrowing them all would read every patient's plans; it stops.
    sync(practice, engine, NAMES)
    with engine.begin() as conn:
        conn.execute(update(PAYPLANS.table).values(note=None))
    practice.clock.advance(600)
    practice.requests.clear()
    results = {r.resource: r for r in sync(practice, engine, NAMES)}
    calls = _compared(practice)
    assert len(calls) <= fan_ranges.CALLS + 1  # the narrowing's, then the candidates' (none)
    assert len(_read_for(practice)) < 10  # the sweep's slice at most, not 200 patients
    assert results["payplans"].stats.requests == len(calls) + len(_read_for(practice))
    lines = [r.getMessage() for r in caplog.records if "not compared" in r.getMessage()]
    assert lines == [
        "payplans: child table not compared, candidates compared: it differs in more places "
        "than the candidates' calls would find"
    ]
