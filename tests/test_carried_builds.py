"""A first load's index build runs on into the next resource on PostgreSQL
(etl.mirror.fast_indexes.CarriedBuilds); on SQLite it is waited for, as before, and MySQL keeps
its indexes during a load. The run ends with every index, on all three."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

from etl.api.client import ApiClient
from etl.catalog.resources import APPOINTMENTS, PATIENTS
from etl.mirror import fast_indexes
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.practice import office_clock, url_of

# Tests of a fast path itself: it is on whatever ODMIRROR_PLAIN says.
pytestmark = pytest.mark.usefixtures("fast_paths_on")


@pytest.fixture
def db_url(db_url_all: str) -> str:
    return db_url_all


def _present(engine: Engine, table: str) -> set[str | None]:
    return {index["name"] for index in inspect(engine).get_indexes(table)}


def _model(resource: Any) -> set[str | None]:
    return {index.name for index in resource.table.indexes}


def _builders() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "odmirror-indexes")


def test_a_first_load_of_two_resources_leaves_every_index(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(2500, clock=office_clock()).fill_practice()
    settings = settings_for(sim, url_of(engine), page_size=500)
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        results = run_sync(settings, client=client, resources=("patients", "appointments"))
    assert [r.mode for r in results] == ["full", "full"]
    assert _builders() == 0  # the run waited for the last one
    assert _present(engine, PATIENTS.table.name) >= _model(PATIENTS)
    assert _present(engine, APPOINTMENTS.table.name) >= _model(APPOINTMENTS)


def _deferring(engine: Engine) -> None:
    if engine.dialect.name == "mysql":
        pytest.skip("MySQL keeps its indexes during a load: nothing is deferred")


def test_a_build_is_carried_only_on_a_database_server(engine: Engine) -> None:
    _deferring(engine)
    deferred = fast_indexes.defer(engine, PATIENTS.table, empty=True)
    assert deferred and not _present(engine, PATIENTS.table.name) >= _model(PATIENTS)
    with fast_indexes.CarriedBuilds() as builds:
        carried = builds.start(engine, deferred)
        assert carried == (engine.dialect.name != "sqlite")
        assert not builds.start(engine, [])  # nothing to build
    assert _builders() == 0
    if carried:
        assert _present(engine, PATIENTS.table.name) >= _model(PATIENTS)


def test_a_carried_build_that_fails_is_logged_and_the_next_waits_for_it(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _deferring(engine)
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite waits for its builds (fast_indexes.built_meanwhile)")
    patients = fast_indexes.defer(engine, PATIENTS.table, empty=True)
    appointments = fast_indexes.defer(engine, APPOINTMENTS.table, empty=True)
    with engine.begin() as conn:  # the name is taken: CREATE INDEX fails
        conn.execute(text("CREATE TABLE ix_patient_guarantor (x integer)"))
    with caplog.at_level(logging.WARNING), fast_indexes.CarriedBuilds() as builds:
        assert builds.start(engine, patients)
        assert builds.start(engine, appointments)  # after the first is done: one at a time
        assert _builders() <= 1
    assert "could not build the indexes of patient; the next run will" in caplog.text
    assert "ix_patient_guarantor" not in caplog.text  # the database's own text is not logged
    assert _present(engine, APPOINTMENTS.table.name) >= _model(APPOINTMENTS)
