"""The next resources start while one is read (etl.sync.overlap): their run rows and decisions
between two pages, their fetches chained after the one being read; each run counts its own
requests; a run that ends before their turn leaves no trace of them. On all three databases."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select

from etl.api.client import ApiClient
from etl.catalog.resources import RESOURCES
from etl.errors import ApiError, DatabaseError
from etl.mirror.bookkeeping import SyncRun
from etl.simulator import RequestLog
from etl.sync import resource as resource_module
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.practice import office_clock, sync, url_of

# Tests of a fast path itself: it is on whatever ODMIRROR_PLAIN says.
pytestmark = pytest.mark.usefixtures("fast_paths_on")

NAMES = ("patients", "appointments", "procedurelogs", "providers")
WAIT = 30  # seconds: a deadline for each wait, never a sleep


@pytest.fixture
def db_url(db_url_all: str) -> str:
    return db_url_all


def _runs(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(SyncRun.resource, SyncRun.status)).all()
    return {str(name): str(status) for name, status in rows}


def _asked(sim: Any, name: str) -> int:
    path = RESOURCES[name].path
    return sum(1 for log in list(sim.requests) if log.path.rstrip("/").endswith(path))


def _fetch_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "odmirror-fetch" and t.is_alive())


def _indexes_whole(engine: Engine, name: str) -> bool:
    table = RESOURCES[name].table
    present = {index["name"] for index in inspect(engine).get_indexes(table.name)}
    return present >= {index.name for index in table.indexes}


def _count(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(RESOURCES[name].table)).all())


class Gate:
    """Holds the fourth page of patients until `go`, after telling `reached`.

    Its request comes after the writer took the first page (the fetch thread holds two pages
    ahead at most), so after the writer began the next resources, as it does before that page.
    """

    def __init__(self) -> None:
        self.reached, self.go = threading.Event(), threading.Event()

    def __call__(self, index: int, log: RequestLog) -> None:
        if index == 3:
            self.reached.set()
            assert self.go.wait(WAIT)


def test_the_next_two_begin_while_one_is_read_and_fetch_after_it(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(500, clock=office_clock()).fill_practice()
    gate = Gate()
    sim.on_request(gate)
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(sync(sim, engine, NAMES)))
    worker.start()
    try:
        assert gate.reached.wait(WAIT), "the sync never asked for the fourth page of patients"
        # Begun: the next two (AHEAD), not the one after; none has asked the API yet.
        assert _runs(engine) == {
            "patients": "running",
            "appointments": "running",
            "procedurelogs": "running",
        }
        assert _asked(sim, "appointments") == _asked(sim, "procedurelogs") == 0
    finally:
        gate.go.set()
        worker.join(WAIT)
    (results,) = outcome
    assert [r.resource for r in results] == list(NAMES)
    assert set(_runs(engine).values()) == {"success"}
    assert all(_indexes_whole(engine, name) for name in NAMES)
    assert _fetch_threads() == 0


def test_each_run_counts_its_own_requests_as_without_overlap(
    engine: Engine, make_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Appointments ask for their deleted rows on the main thread while procedurelogs' pages are
    # fetched: the two threads' requests must go to their own runs.
    sim = make_sim(500, clock=office_clock()).fill_practice()
    overlapped = {r.resource: r.stats.requests for r in sync(sim, engine, NAMES, full=True)}
    monkeypatch.setenv("ODMIRROR_PLAIN", "overlap")
    plain = {r.resource: r.stats.requests for r in sync(sim, engine, NAMES, full=True)}
    assert overlapped == plain
    assert overlapped["patients"] > 3 and overlapped["appointments"] > 1


def test_a_run_that_fails_before_their_turn_leaves_no_trace_of_those_begun(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(500, clock=office_clock()).fill_practice()

    def fail_from_the_third_page(index: int, log: RequestLog) -> None:
        if index >= 2:
            raise RuntimeError("the office's server fell over")

    sim.on_request(fail_from_the_third_page)
    with pytest.raises(ApiError):
        sync(sim, engine, NAMES)
    assert _runs(engine) == {"patients": "failed"}  # those begun early: removed
    for name in ("appointments", "procedurelogs"):
        assert _indexes_whole(engine, name)  # a first load's deferred indexes made again
        assert _count(engine, name) == 0
        assert _asked(sim, name) == 0  # their fetch waited for patients', which never ended
    assert _fetch_threads() == 0


def test_a_failure_to_begin_early_is_raised_in_its_own_turn(
    engine: Engine, make_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = make_sim(500, clock=office_clock()).fill_practice()
    has_rows = resource_module.has_rows

    def refused(engine_: Engine, table: Any) -> bool:
        if table.name == RESOURCES["appointments"].table.name:
            raise DatabaseError("the mirror refused appointments")
        return has_rows(engine_, table)

    # A database failure of this resource alone: nothing real fails one table's first query.
    monkeypatch.setattr(resource_module, "has_rows", refused)
    settings = settings_for(sim, url_of(engine))
    with (
        ApiClient(settings.api, backoff_factor=0.01) as client,
        pytest.raises(DatabaseError, match="refused appointments"),
    ):
        run_sync(settings, client=client, resources=NAMES)
    # Patients, read while it failed, ended well; procedurelogs, begun after it, is undone.
    assert _runs(engine) == {"patients": "success", "appointments": "failed"}
    assert _count(engine, "patients") == 500
    assert _indexes_whole(engine, "procedurelogs")
    assert _fetch_threads() == 0
