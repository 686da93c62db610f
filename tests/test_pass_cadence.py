"""`sync.whole_tables_every` paces patients' status passes too (etl.sync.pass_cadence).

Without SQL, a run with nothing changed costs patients three requests: the plain list and the
PatStatus=Deleted and =Archived passes. With the cadence, a run before a pass is due leaves it
out; when it is due it reads from where it was last read, so a patient deleted in between is
not lost, and the run's probe (once the office allows SQL) counts from there too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import Engine, text

from etl.api.client import ApiClient
from etl.sync import state
from etl.sync.cursor import window_start
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.practice import office_clock, url_of

DELETED = "PatStatus=Deleted"


def _settings(sim: Any, engine: Engine, every: str | None, queries: str = "off") -> Any:
    settings = settings_for(sim, url_of(engine), queries=queries)
    sync = dataclasses.replace(settings.sync, resources=("patients",), whole_tables_every=every)
    return dataclasses.replace(settings, sync=sync)


def _run(settings: Any) -> state.RunResult:
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        (result,) = run_sync(settings, client=client)
        return result


def _deleted_pass(sim: Any) -> list[dict[str, str]]:
    return [r.query for r in sim.requests if r.query.get("PatStatus") == "Deleted"]


def _status(engine: Engine, patnum: int) -> int:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT PatStatus FROM patient WHERE PatNum = :k"), {"k": patnum})
        return int(found.scalar_one())


def _pass_due(engine: Engine) -> None:
    # The Deleted pass was last read two hours ago: due.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE odmirror_settings SET value = :v WHERE name = :n"),
            {
                "v": (state.utcnow() - dt.timedelta(hours=2)).isoformat(),
                "n": f"pass_read:patients:{DELETED}",
            },
        )


def _deleted_between_runs(sim: Any, engine: Engine) -> tuple[Any, dt.datetime]:
    """A first run, then patient 5 deleted and a run that leaves the Deleted pass out.

    Returns:
        The hourly settings, and the cursor the first run left.
    """
    hourly = _settings(sim, engine, "1h")
    first = _run(hourly)
    assert first.cursor is not None
    sim.clock.advance(900)
    sim.store.update(5, PatStatus="Deleted")
    sim.store.update(6, City="Springfield")  # the plain list reads it: the cursor moves
    sim.clock.advance(900)
    sim.requests.clear()
    second = _run(hourly)
    assert second.cursor is not None and second.cursor > first.cursor
    assert _deleted_pass(sim) == []
    assert f"{DELETED} pass not due: read every 1h" in second.summary()
    assert _status(engine, 5) == 0  # not read yet: still a patient in the mirror
    return hourly, first.cursor


def test_a_paced_pass_reads_from_where_it_was_last_read(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(40, clock=office_clock())
    hourly, first_cursor = _deleted_between_runs(sim, engine)
    sim.clock.advance(900)
    _pass_due(engine)
    sim.requests.clear()
    _run(hourly)
    # From the first run's cursor, not the second's (which is past the deletion's stamp).
    since = window_start(first_cursor, dt.timedelta(seconds=60)).strftime(state.TIME_FORMAT)
    assert [q["DateTStamp"] for q in _deleted_pass(sim)] == [since]
    assert _status(engine, 5) == 4  # Deleted
    # Read now: the next run leaves it out again, and reads it from this run's cursor later.
    sim.requests.clear()
    _run(hourly)
    assert _deleted_pass(sim) == []


def test_the_probe_counts_a_paced_pass_from_its_own_cursor(engine: Engine, make_sim: Any) -> None:
    """Counted from the resource's cursor, the probe would find no Deleted patient stamped
    since, and the pass would never read the patient deleted while it was left out."""
    sim = make_sim(40, clock=office_clock())
    _deleted_between_runs(sim, engine)
    sim.clock.advance(900)
    sim.requests.clear()
    result = _run(_settings(sim, engine, "1h", queries="on"))
    assert len(_deleted_pass(sim)) == 1, result.summary()
    assert _status(engine, 5) == 4


def test_without_the_cadence_every_run_reads_every_pass(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(40, clock=office_clock())
    plain = _settings(sim, engine, None)
    _run(plain)
    sim.clock.advance(900)
    sim.requests.clear()
    _run(plain)
    assert len(_deleted_pass(sim)) == 1
