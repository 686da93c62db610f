"""A first load into an empty table builds its secondary indexes at its end, however it ends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from etl import indexes
from etl.control import RunControl, StopRequested
from etl.errors import OdMirrorError
from etl.resources import PATIENTS
from etl.sync import run_sync
from tests.conftest import settings_for
from tests.test_sync import assert_mirror_matches, mirror, office_clock, sync

MODEL = {index.name for index in PATIENTS.table.indexes}


def present(engine: Engine) -> set[str | None]:
    return {index["name"] for index in inspect(engine).get_indexes(PATIENTS.table.name)}


def seen_at_request(sim: Any, engine: Engine, number: int) -> list[set[str | None]]:
    """The indexes the patient table has when the simulator serves request `number` (from 0)."""
    seen: list[set[str | None]] = []
    sim.on_request(lambda index, _log: seen.append(present(engine)) if index == number else None)
    return seen


def test_a_first_load_writes_without_them_and_builds_them_at_its_end(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(450, clock=office_clock())
    during = seen_at_request(sim, engine, 2)  # two pages of 100 written, more to come
    sync(sim, engine)
    assert MODEL and during == [set()]
    assert present(engine) == MODEL
    assert_mirror_matches(engine, sim)


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
    assert indexes.defer(engine, PATIENTS.table, empty=True)
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
    assert indexes.defer(engine, PATIENTS.table, empty=False) == []
    assert present(engine) == MODEL


def test_a_build_that_fails_meanwhile_is_raised_once_the_body_is_done(engine: Engine) -> None:
    deferred = indexes.defer(engine, PATIENTS.table, empty=True)
    with engine.begin() as conn:  # the name is taken: CREATE INDEX fails
        conn.execute(text("CREATE TABLE ix_patient_guarantor (x integer)"))
    done: list[bool] = []
    with (
        pytest.raises(SQLAlchemyError, match="ix_patient_guarantor"),
        indexes.built_meanwhile(engine, deferred),
    ):
        done.append(True)
    assert done == [True]
    with pytest.raises(ZeroDivisionError), indexes.built_meanwhile(engine, deferred):
        print(1 / 0)  # the body's own error is the one raised


def test_a_reader_that_holds_the_table_never_holds_up_the_load(
    engine: Engine, make_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A BI tool's open transaction that read the table: on PostgreSQL DROP INDEX would wait
    # for it to end; the load waits LOCK_WAIT, then keeps the indexes. WAL SQLite lets it drop.
    monkeypatch.setattr(indexes, "LOCK_WAIT", "100ms")
    sim = make_sim(250, clock=office_clock())
    during = seen_at_request(sim, engine, 1)
    with engine.connect() as reader, reader.begin():
        reader.execute(select(PATIENTS.table).limit(1)).all()
        sync(sim, engine)
    assert during == [MODEL if engine.dialect.name == "postgresql" else set()]
    assert present(engine) == MODEL
    assert_mirror_matches(engine, sim)
