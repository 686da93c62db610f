"""A sync at the API's limit: the fewest requests, no throttle violation, no needless writes."""

from __future__ import annotations

import math
import threading
from typing import Any

from sqlalchemy import Engine, text

from etl.api.client import ApiClient
from etl.control import RunControl
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.test_sync import assert_mirror_matches, office_clock, sync


def pages(rows: int, size: int = 100) -> int:
    """Requests to list `rows` rows: a short (maybe empty) page ends the list."""
    return math.ceil((rows + 1) / size)


def listed(sim: Any, status: str | None = None) -> int:
    rows = sim.store.all()
    if status is None:
        return sum(r["PatStatus"] != "Deleted" for r in rows)  # the list hides Deleted
    return sum(r["PatStatus"] == status for r in rows)


def count_writes(engine: Engine) -> None:
    """On SQLite (no xmin), a trigger counts every UPDATE of a row."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE test_writes (patnum INTEGER, n INTEGER)"))
            conn.execute(text("INSERT INTO test_writes SELECT patnum, 0 FROM patient"))
            conn.execute(
                text(
                    "CREATE TRIGGER test_count AFTER UPDATE ON patient BEGIN "
                    "UPDATE test_writes SET n = n + 1 WHERE patnum = NEW.patnum; END"
                )
            )


def versions(engine: Engine) -> dict[int, tuple[Any, ...]]:
    """Per row, what a write or a lock changes: xmin and xmax on PostgreSQL, a count on SQLite."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # xmax too: ON CONFLICT locks a row it then does not update (a WAL record).
            query = text("SELECT patnum, xmin::text, xmax::text, odmirror_synced_at FROM patient")
        else:
            query = text("SELECT patnum, n FROM test_writes")
        return {row[0]: tuple(row[1:]) for row in conn.execute(query)}


def test_a_full_sync_makes_the_fewest_requests(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(1234, clock=office_clock())
    assert listed(sim, "Archived") > 0
    result = sync(sim, engine)
    # The list, then Deleted (the list hides them), then one change check for each; the list
    # showed Archived patients, so there is no Archived pass.
    expected = pages(listed(sim)) + pages(listed(sim, "Deleted")) + 2
    assert result.stats.requests == len(sim.requests) == expected
    assert_mirror_matches(engine, sim)


def test_an_incremental_sync_asks_once_per_pass(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(1234, clock=office_clock())
    sync(sim, engine)
    sim.clock.advance(600)
    for patnum in (5, 50, 500):
        sim.store.update(patnum, City="Elsewhere", PatStatus="Patient")
    sim.requests.clear()
    # Without SQL (with it, the run's probe vouches for both passes: tests/test_passes_probe).
    result = sync(sim, engine, queries="off")
    # One page of changes, one each for Deleted and Archived (none of them changed, so the
    # list could not show whether it hides them); a single page needs no change check.
    assert result.stats.requests == len(sim.requests) == 3
    assert (result.stats.unique, result.stats.updated) == (3, 3)


def test_a_paced_remote_sync_is_never_throttled(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(450, clock=office_clock(), mode="remote", throttle_interval=0.05)
    result = sync(sim, engine, min_request_interval=0.05)
    assert sim.throttle_violations == 0
    assert {r.status for r in sim.requests} == {200}
    assert result.stats.requests == pages(listed(sim)) + pages(listed(sim, "Deleted")) + 2
    assert_mirror_matches(engine, sim)


def test_a_run_right_after_another_waits_out_the_interval(engine: Engine, make_sim: Any) -> None:
    # Each sync has a client of its own, as two processes would: only the mirror knows when
    # the last run ended.
    sim = make_sim(150, clock=office_clock(), mode="remote", throttle_interval=0.3)
    sync(sim, engine, min_request_interval=0.3)
    sim.clock.advance(60)
    sim.store.update(5, City="Elsewhere")
    result = sync(sim, engine, min_request_interval=0.3)
    assert sim.throttle_violations == 0
    assert {r.status for r in sim.requests} == {200}
    assert result.stats.updated == 1


def test_rows_that_did_not_change_are_not_written_again(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(600, clock=office_clock())
    sync(sim, engine)
    count_writes(engine)
    before = versions(engine)
    sim.clock.advance(3600)
    sim.store.update(7, LName="Changed")
    result = sync(sim, engine, full=True)
    assert (result.stats.updated, result.stats.unchanged) == (1, 599)
    after = versions(engine)
    assert [n for n in before if after[n] != before[n]] == [7]
    assert_mirror_matches(engine, sim)


def test_the_next_pass_is_asked_for_while_the_last_page_is_written(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(1234, clock=office_clock())
    sync(sim, engine)
    sim.clock.advance(600)
    sim.store.update(5, City="Elsewhere")
    asked = threading.Event()
    sim.on_request(lambda _i, log: asked.set() if "PatStatus" in log.query else None)
    waited: list[bool] = []

    def progress(_resource: str, _fetched: int, _requests: int) -> None:
        if not waited:  # the plain list's only page is saved: the Deleted pass is under way
            waited.append(asked.wait(30))

    # Without SQL: the run's probe would find no Deleted patient changed, and skip the pass.
    url = engine.url.render_as_string(hide_password=False)
    settings = settings_for(sim, url, queries="off")
    with ApiClient(settings.api) as client:
        run_sync(settings, client=client, control=RunControl(progress=progress))
    assert waited == [True]
