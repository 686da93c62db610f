"""Removed rows in endpoint mode under a fan-out parent and inside a date window (issue 21).

A parent's list read to its end is complete for that parent, a window's answer for its dates:
rows the mirror holds there that the answer no longer lists get `odmirror_gone_at`, rows it
lists again lose it, and nothing outside (another parent, an older date) or after a failed read
is marked. The slow sweep (etl.sync.sweep) reads every parent again within its period (where
the office allows no SQL; etl.sync.fan_probe otherwise).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from etl.api.client import ApiClient
from etl.api.errors import ApiError
from etl.catalog.resources import RESOURCES, Resource
from etl.mirror.bookkeeping import SyncRun
from etl.simulator.query import QueryError
from etl.sync import state, sweep
from etl.sync.run import run_sync
from tests.conftest import DATABASES, settings_for
from tests.practice import expected, mirror, office_clock, served, sync, url_of

ADJUSTMENTS, SCHEDULES, PAYMENTS = (RESOURCES[n] for n in ("adjustments", "schedules", "payments"))


@pytest.fixture
def practice(make_sim: Any) -> Any:
    # The endpoints alone: with SQL, fan-outs read the parents of changed children instead of
    # sweeping (tests/test_fan_probe.py), and windows may be vouched for (window_probe).
    return make_sim(40, clock=office_clock(), queries_allowed=False).fill_practice()


def assert_gone_exactly(engine: Engine, sim: Any, resource: Resource, gone: list[dict]) -> None:
    """The mirror holds what the office serves, unmarked, and the removed rows, marked."""
    got = mirror(engine, resource)
    marked = {k: row for k, row in got.items() if row["odmirror_gone_at"] is not None}
    want_gone = expected(resource, gone)
    assert sorted(marked) == sorted(want_gone), resource.name
    for key, row in marked.items():
        assert {**row, "odmirror_gone_at": None} == want_gone[key]
    current = {k: row for k, row in got.items() if k not in marked}
    assert current == expected(resource, served(sim, resource))


def remove(sim: Any, resource: Resource, key: int) -> dict[str, Any]:
    """Delete a row in the simulated office; returns it as it was served."""
    return dict(sim.tables[resource.path].rows.pop(key))


def touch(sim: Any, patnum: int) -> None:
    """Edit a patient, so that an incremental run reads its children again."""
    sim.clock.advance(600)
    sim.store.update(patnum, EstBalance="12.00")


def two_adjustments_of_one_patient(sim: Any) -> tuple[int, list[dict[str, Any]]]:
    by_patient: dict[int, list[dict[str, Any]]] = {}
    for row in sim.tables.all("adjustments"):
        by_patient.setdefault(row["PatNum"], []).append(row)
    patnum = next(p for p, rows in sorted(by_patient.items()) if len(rows) >= 2)
    return patnum, by_patient[patnum]


# Run on MariaDB too, as the window test (its setup costs seconds a test).
@pytest.mark.parametrize("db_url", DATABASES, indirect=True)
def test_a_child_its_parent_no_longer_lists_is_marked_and_comes_back(
    engine: Engine, practice: Any
) -> None:
    names = ("patients", "adjustments")
    sync(practice, engine, names)
    patnum, children = two_adjustments_of_one_patient(practice)
    gone = remove(practice, ADJUSTMENTS, children[0]["AdjNum"])
    # Another patient loses one too, but its row does not change: not read, not marked.
    other = next(r for r in practice.tables.all("adjustments") if r["PatNum"] != patnum)
    unseen = remove(practice, ADJUSTMENTS, other["AdjNum"])
    touch(practice, patnum)
    results = {r.resource: r for r in sync(practice, engine, names)}
    assert "1 no longer listed (odmirror_gone_at set), 0 back" in results["adjustments"].summary()
    practice.tables.load("adjustments", [unseen])  # as the mirror still holds it
    assert_gone_exactly(engine, practice, ADJUSTMENTS, [gone])
    practice.tables.load("adjustments", [gone])  # restored in the office
    touch(practice, patnum)
    results = {r.resource: r for r in sync(practice, engine, names)}
    assert "0 no longer listed (odmirror_gone_at set), 1 back" in results["adjustments"].summary()
    assert_gone_exactly(engine, practice, ADJUSTMENTS, [])


def test_a_failed_parent_read_marks_nothing(engine: Engine, practice: Any) -> None:
    names = ("patients", "adjustments")
    sync(practice, engine, names)
    patnum, children = two_adjustments_of_one_patient(practice)
    gone = remove(practice, ADJUSTMENTS, children[0]["AdjNum"])
    touch(practice, patnum)
    touch(practice, patnum + 1)  # a second parent to read, whose request fails

    def second_parent_fails(index: int, path: str) -> None:
        if path == "adjustments" and index >= 1:
            raise QueryError("PatNum is not valid.")

    practice.tables.on_serve(second_parent_fails)
    with pytest.raises(ApiError):
        sync(practice, engine, names)
    assert state.latest_runs(engine, limit=1)[0].status == "failed"
    practice.tables.load("adjustments", [gone])  # as the mirror still holds it, unmarked
    assert_gone_exactly(engine, practice, ADJUSTMENTS, [])
    practice.tables[ADJUSTMENTS.path].rows.pop(gone["AdjNum"])
    practice.tables.on_serve(None)
    sync(practice, engine, names)  # the failed run moved no cursor: the parent is read again
    assert_gone_exactly(engine, practice, ADJUSTMENTS, [gone])


@pytest.mark.parametrize("db_url", DATABASES, indirect=True)
def test_rows_inside_a_window_are_marked_and_older_ones_wait_for_a_full_run(
    engine: Engine, practice: Any
) -> None:
    names = ("patients", "schedules", "payments")
    sync(practice, engine, names)
    today = practice.clock.now().date()
    # Later runs read schedules from 8 days back and payments entered from 31 days back.
    recent_day, recent_entry = str(today - dt.timedelta(days=8)), str(today - dt.timedelta(31))
    schedules = practice.tables.all("schedules")
    inside = next(r for r in schedules if r["SchedDate"] >= recent_day)
    outside = next(r for r in schedules if r["SchedDate"] < recent_day)
    payments = practice.tables.all("payments")
    entered = next(r for r in payments if r["DateEntry"] >= recent_entry)
    older = next(r for r in payments if r["DateEntry"] < recent_entry)
    gone = [remove(practice, SCHEDULES, inside["ScheduleNum"]), remove(practice, PAYMENTS,
            entered["PayNum"])]  # fmt: skip
    kept = [remove(practice, SCHEDULES, outside["ScheduleNum"]), remove(practice, PAYMENTS,
            older["PayNum"])]  # fmt: skip
    practice.clock.advance(3600)
    results = {r.resource: r for r in sync(practice, engine, names)}
    assert all(results[n].mode == "incremental" for n in names)
    practice.tables.load("schedules", [kept[0]])  # the mirror cannot know: still current
    practice.tables.load("payments", [kept[1]])
    assert_gone_exactly(engine, practice, SCHEDULES, [gone[0]])
    assert_gone_exactly(engine, practice, PAYMENTS, [gone[1]])
    # A full run asks for payments with no date: one removed long ago is marked too.
    practice.tables[PAYMENTS.path].rows.pop(older["PayNum"])
    settings = settings_for(practice, url_of(engine))
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        run_sync(settings, full=True, client=client, resources=("payments",))
    assert_gone_exactly(engine, practice, PAYMENTS, [gone[1], kept[1]])


def test_the_sweep_reads_a_parent_whose_row_did_not_change(engine: Engine, practice: Any) -> None:
    names = ("patients", "adjustments")
    sync(practice, engine, names)
    _patnum, children = two_adjustments_of_one_patient(practice)
    gone = remove(practice, ADJUSTMENTS, children[0]["AdjNum"])
    practice.clock.advance(600)
    sync(practice, engine, names)
    started = slots_of_last_run(engine)
    # A run seconds after the last reads few slots (one of 1009 every 10 minutes), if any.
    if in_slots(gone["PatNum"], started):
        pytest.skip("the sweep happened to reach this patient's slot already")
    practice.tables.load("adjustments", [gone])
    assert_gone_exactly(engine, practice, ADJUSTMENTS, [])
    practice.tables[ADJUSTMENTS.path].rows.pop(gone["AdjNum"])
    week = ADJUSTMENTS.fan_out.all_parents_every if ADJUSTMENTS.fan_out else None
    assert week == dt.timedelta(days=7)
    with engine.begin() as conn:  # the last complete run began a week ago: every parent is due
        conn.execute(update(SyncRun).values(started_at=state.utcnow() - week))
    practice.requests.clear()
    sync(practice, engine, names)
    asked = [r.query["PatNum"] for r in practice.requests if r.path.endswith("adjustments")]
    assert asked == [str(r["PatNum"]) for r in sorted(practice.store.all(), key=patnum_of)]
    assert_gone_exactly(engine, practice, ADJUSTMENTS, [gone])


def test_a_patient_with_a_new_procedure_has_its_adjustments_read(
    engine: Engine, practice: Any
) -> None:
    names = ("patients", "procedurelogs", "adjustments")
    sync(practice, engine, names)
    # That run was a minute ago on odmirror's clock (seconds in a test: the same second).
    minute_ago = state.utcnow() - dt.timedelta(seconds=60)
    with engine.begin() as conn:
        conn.execute(update(SyncRun).values(started_at=minute_ago))
        table = RESOURCES["procedurelogs"].table
        conn.execute(update(table).values(odmirror_synced_at=minute_ago - dt.timedelta(seconds=1)))
    patnum, children = two_adjustments_of_one_patient(practice)
    gone = remove(practice, ADJUSTMENTS, children[0]["AdjNum"])
    practice.clock.advance(600)
    procedure = {
        k: v for k, v in practice.tables.all("procedurelogs")[0].items() if k != "DateTStamp"
    }
    practice.tables.add("procedurelogs", **{**procedure, "PatNum": patnum})
    added = practice.tables.add("adjustments", **{**children[1], "AdjAmt": -7.5})
    practice.requests.clear()
    sync(practice, engine, names)  # the patient's own row did not change
    asked = {r.query["PatNum"] for r in practice.requests if r.path.endswith("adjustments")}
    assert str(patnum) in asked and len(asked) <= 3  # and a changed patient or two (the overlap)
    assert mirror(engine, ADJUSTMENTS)[added]["adjamt"] == -7.5
    assert_gone_exactly(engine, practice, ADJUSTMENTS, [gone])


def patnum_of(row: dict[str, Any]) -> int:
    return int(row["PatNum"])


def slots_of_last_run(engine: Engine) -> tuple[int, int] | None:
    """The sweep's slots of the last adjustments run, from its run row and the one before."""
    with engine.connect() as conn:
        starts = conn.execute(
            select(SyncRun.started_at)
            .where(SyncRun.resource == "adjustments")
            .order_by(SyncRun.id.desc())
            .limit(2)
        ).scalars()
        now, before = list(starts)
    return sweep.slots_due(before, now, dt.timedelta(days=7))


def in_slots(key: int, slots: tuple[int, int] | None) -> bool:
    if slots is None:
        return True
    first, last = slots
    if last < 0:
        return False
    slot = key % sweep.SLOTS
    return first <= slot <= last if first <= last else slot >= first or slot <= last


@pytest.mark.parametrize("spacing", [dt.timedelta(minutes=15), dt.timedelta(hours=5, seconds=7)])
def test_consecutive_runs_sweep_every_slot_once_a_period(spacing: dt.timedelta) -> None:
    period, start = dt.timedelta(days=7), dt.datetime(2025, 3, 1, 8, 3, 11)
    counts = dict.fromkeys(range(sweep.SLOTS), 0)
    last, now = start, start + spacing
    while now <= start + period:
        slots = sweep.slots_due(last, now, period)
        assert slots is not None
        for slot in counts:
            counts[slot] += in_slots(slot, slots)
        last, now = now, now + spacing
    # Every slot once; the slots of the part of a run interval past the period not yet.
    assert set(counts.values()) <= {0, 1}
    assert sum(counts.values()) >= sweep.SLOTS - spacing / (period / sweep.SLOTS) - 1


def test_the_sweep_reads_everything_after_a_long_gap() -> None:
    period, then = dt.timedelta(days=7), dt.datetime(2025, 3, 1, 8)
    assert sweep.slots_due(None, then, period) is None
    assert sweep.slots_due(then, then + period, period) is None
    # A clock set back reads no slice now; the next run covers from this one's start.
    assert sweep.slots_due(then, then - dt.timedelta(hours=1), period) == (0, -1)
    assert sweep.slots_due(then, then, period) == (0, -1)
