"""A first load into an empty table builds its secondary indexes at its end, however it ends.

On PostgreSQL those the first page shows cheap to keep (values in order, or few) are made again
right after it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from etl.catalog.resources import PATIENTS
from etl.control import RunControl, StopRequested
from etl.errors import DatabaseError, OdMirrorError
from etl.mirror import fast_indexes
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.test_sync import assert_mirror_matches, mirror, office_clock, sync

# Tests of a fast path itself: it is on whatever ODMIRROR_PLAIN says.
pytestmark = pytest.mark.usefixtures("fast_paths_on")

MODEL = {index.name for index in PATIENTS.table.indexes}
# The synthetic patients' status, guarantor (the family's head) and clinic: in order or few.
CHEAP = {"ix_patient_patstatus", "ix_patient_guarantor", "ix_patient_clinicnum"}


def present(engine: Engine) -> set[str | None]:
    return {index["name"] for index in inspect(engine).get_indexes(PATIENTS.table.name)}


def seen_at_request(sim: Any, engine: Engine, number: int) -> list[set[str | None]]:
    """The indexes the patient table has when the simulator serves request `number` (from 0)."""
    seen: list[set[str | None]] = []
    sim.on_request(lambda index, _log: seen.append(present(engine)) if index == number else None)
    return seen


def take_name(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE ix_patient_guarantor (x integer)"))


def first_load(sim: Any, engine: Engine, **api: Any) -> list[set[str | None]]:
    """Sync into the empty mirror; the indexes present after each page was saved."""
    seen: list[set[str | None]] = []
    control = RunControl(progress=lambda *_: seen.append(present(engine)))
    settings = settings_for(sim, engine.url.render_as_string(hide_password=False), **api)
    run_sync(settings, control=control)
    return seen


def test_a_first_load_writes_without_them_and_builds_them_at_its_end(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(450, clock=office_clock())
    seen = first_load(sim, engine)
    kept = CHEAP if engine.dialect.name == "postgresql" else set()
    assert CHEAP < MODEL
    assert MODEL.difference(CHEAP) == {"ix_patient_datetstamp"}
    assert seen[:5] == [kept] * 5  # 5 pages of the list; then the Deleted pass
    assert present(engine) == MODEL
    assert_mirror_matches(engine, sim)


def test_a_first_page_too_small_to_tell_keeps_them_all_for_the_end(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(450, clock=office_clock())
    seen = first_load(sim, engine, page_size=40)
    assert seen[:3] == [set()] * 3
    assert present(engine) == MODEL
    assert_mirror_matches(engine, sim)


def test_an_index_that_cannot_be_made_after_the_first_page_fails_the_run_not_the_mirror(
    engine: Engine, make_sim: Any
) -> None:
    # Once the load has dropped the indexes, the name is taken: CREATE INDEX fails (on
    # PostgreSQL after the first page, on SQLite at the end).
    sim = make_sim(450, clock=office_clock())
    sim.on_request(lambda index, _log: take_name(engine) if index == 0 else None)
    with pytest.raises(DatabaseError, match="ix_patient_guarantor"):
        sync(sim, engine)
    saved = len(mirror(engine))  # the pages saved before stay: the first, or all of them
    assert saved == 100 if engine.dialect.name == "postgresql" else saved > 100
    with engine.connect() as conn:
        error = conn.execute(text("SELECT error FROM odmirror_sync_run")).scalar_one()
    assert "ix_patient_guarantor" in str(error)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE ix_patient_guarantor"))
    sync(sim, engine)  # the next run makes what is missing, then writes
    assert present(engine) == MODEL
    assert_mirror_matches(engine, sim)


@pytest.mark.parametrize(
    ("values", "cheap"),
    [
        ([(n,) for n in range(100)], True),  # in order: written at the edge
        ([(n // 3,) for n in range(100)], True),  # repeats, in order
        ([(n % 7,) for n in range(100)], True),  # few values: a few places
        ([(n % 10,) for n in range(100)], True),  # a tenth as many values as rows
        ([(n % 11,) for n in range(100)], False),
        ([((n * 37) % 101,) for n in range(100)], False),  # scattered
        ([(n,) for n in range(49)], False),  # too few rows to tell
        ([(None if n % 2 else n,) for n in range(100)], False),  # NULL sorts last
        ([(n, None) for n in range(90)] + [(None, n) for n in range(10)], True),
        ([(n % 2, -n) for n in range(100)], False),  # by the first column, then the second
        ([(-1 if n in (10, 30, 50, 70) else n,) for n in range(100)], True),  # 95 of 99 pairs
        ([(-1 if n in (10, 30, 50, 70, 90) else n,) for n in range(100)], False),  # 94
    ],
)
def test_cheap_to_keep(values: list[tuple[Any, ...]], cheap: bool) -> None:
    assert fast_indexes.cheap_to_keep(values) is cheap


def test_keep_cheap_makes_none_on_sqlite_and_the_cheap_ones_on_postgresql(
    engine: Engine,
) -> None:
    deferred = fast_indexes.defer(engine, PATIENTS.table, empty=True)
    rows = [
        {"patnum": n, "guarantor": n, "patstatus": n % 3, "clinicnum": n, "datetstamp": None}
        for n in range(1, 101)
    ]
    rows.reverse()  # written in falling order: the clinic is not in the order written
    with engine.begin() as conn:
        conn.execute(insert(PATIENTS.table), rows)
    left = fast_indexes.keep_cheap(engine, deferred)
    if engine.dialect.name == "sqlite":
        assert left == deferred and present(engine) == set()
    else:  # all 100 NULL: one value; the guarantor in falling order too
        assert {i.name for i in left} == {"ix_patient_guarantor", "ix_patient_clinicnum"}
        assert present(engine) == {"ix_patient_patstatus", "ix_patient_datetstamp"}
    fast_indexes.build(engine, left)
    assert present(engine) == MODEL


def test_a_table_that_holds_rows_keeps_them_while_it_is_written(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(450, clock=office_clock())
    sync(sim, engine)
    during = seen_at_request(sim, engine, 2)
    sync(sim, engine, full=True)
    assert during == [MODEL]
    assert present(engine) == MODEL


def test_a_first_load_that_fails_still_builds_them(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(450, clock=office_clock())
    sim.on_request(lambda index, _log: sim.fail_next(401) if index == 2 else None)
    with pytest.raises(OdMirrorError, match="401"):
        sync(sim, engine)
    assert present(engine) == MODEL
    assert len(mirror(engine)) == 300  # the pages committed before the failure are kept


def test_a_first_load_stopped_on_request_still_builds_them(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(450, clock=office_clock())
    control = RunControl()
    sim.on_request(lambda index, _log: control.stop.set() if index == 1 else None)
    settings = settings_for(sim, engine.url.render_as_string(hide_password=False))
    with pytest.raises(StopRequested):
        run_sync(settings, control=control)
    assert present(engine) == MODEL
    assert mirror(engine)


def test_those_a_killed_load_left_missing_are_made_before_the_next_run_writes(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(450, clock=office_clock())
    # A run started on the empty table, committed a row, and was killed.
    assert fast_indexes.defer(engine, PATIENTS.table, empty=True)
    with engine.begin() as conn:
        conn.execute(insert(PATIENTS.table).values(patnum=1, lname="Partial"))
    assert present(engine) == set()
    during = seen_at_request(sim, engine, 0)
    sync(sim, engine)
    assert during == [MODEL]
    assert present(engine) == MODEL
    assert_mirror_matches(engine, sim)


def test_on_a_table_with_rows_nothing_is_dropped(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(PATIENTS.table).values(patnum=1))
    assert fast_indexes.defer(engine, PATIENTS.table, empty=False) == []
    assert present(engine) == MODEL


def test_a_build_that_fails_meanwhile_is_raised_once_the_body_is_done(engine: Engine) -> None:
    deferred = fast_indexes.defer(engine, PATIENTS.table, empty=True)
    with engine.begin() as conn:  # the name is taken: CREATE INDEX fails
        conn.execute(text("CREATE TABLE ix_patient_guarantor (x integer)"))
    done: list[bool] = []
    with (
        pytest.raises(SQLAlchemyError, match="ix_patient_guarantor"),
        fast_indexes.built_meanwhile(engine, deferred),
    ):
        done.append(True)
    assert done == [True]
    with pytest.raises(ZeroDivisionError), fast_indexes.built_meanwhile(engine, deferred):
        print(1 / 0)  # the body's own error is the one raised


def test_a_reader_that_holds_the_table_never_holds_up_the_load(
    engine: Engine, make_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A BI tool's open transaction that read the table: on PostgreSQL DROP INDEX would wait
    # for it to end; the load waits LOCK_WAIT, then keeps the indexes. WAL SQLite lets it drop.
    monkeypatch.setattr(fast_indexes, "LOCK_WAIT", "100ms")
    sim = make_sim(250, clock=office_clock())
    during = seen_at_request(sim, engine, 1)
    with engine.connect() as reader, reader.begin():
        reader.execute(select(PATIENTS.table).limit(1)).all()
        sync(sim, engine)
    assert during == [MODEL if engine.dialect.name == "postgresql" else set()]
    assert present(engine) == MODEL
    assert_mirror_matches(engine, sim)
