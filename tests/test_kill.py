"""SIGKILL a real `python -m etl sync` many times in a row while the source changes in between:
one more sync and the mirror equals the source.

Each run is killed once the database shows a random number of its rows committed (polled in the
mirror: rows carrying this round's marker), so kills land before the first page, between pages
and in the middle of the page loop; a round whose run finishes first simply completes.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, inspect, select

from etl.catalog.resources import PATIENTS
from etl.cli import main
from etl.mirror.bookkeeping import SyncRun
from etl.mirror.engine import make_engine
from etl.sync import state
from tests.test_cli import spawn, write_config
from tests.test_sync import assert_mirror_matches, office_clock

pytestmark = pytest.mark.reliability

ROUNDS = 6
PATIENTS_AT_START = 900
TABLE = PATIENTS.table
POLL = 0.005  # seconds between two looks at the mirror while the run goes on


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OD_DEVELOPER_KEY", "NFF6i0KrXrxDkZHt")
    monkeypatch.setenv("OD_CUSTOMER_KEY", "VzkmZEaUWOjnQX2z")
    monkeypatch.delenv("ODMIRROR_CONFIG", raising=False)


def change_source(sim: Any, rng: random.Random, marker: str) -> int:
    """Edit, delete, archive and add patients; returns how many rows carry the marker."""
    patnums = [r["PatNum"] for r in sim.store.all()]
    edited = rng.sample(patnums, 300)
    for n, patnum in enumerate(edited):
        status = {0: "Deleted", 1: "Archived"}.get(n % 10, "Patient")
        sim.store.update(patnum, HmPhone=marker, PatStatus=status)
    for _ in range(20):
        sim.store.add(LName="Killtest", FName="New", HmPhone=marker)
    return len(edited) + 20


def committed(engine: Engine, marker: str) -> int:
    query = select(func.count()).select_from(TABLE).where(TABLE.c.hmphone == marker)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def run_started(engine: Engine, before: int) -> bool:
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(SyncRun.id))).scalar() or 0) > before


def last_run_id(engine: Engine) -> int:
    runs = state.latest_runs(engine, limit=1)
    return runs[0].id if runs else 0


def kill_when(proc: subprocess.Popen[str], ready: Any, jitter: float) -> bool:
    """SIGKILL the process `jitter` seconds after ready() holds; False if it ended first.

    The jitter moves the kill off the page boundary: into a fetch, a mapping or a transaction.
    """
    while proc.poll() is None:
        if ready():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=jitter)  # returns at once if the run ends first
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            return True
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=POLL)
    proc.communicate(timeout=60)
    return False


def test_killed_many_times_while_the_source_changes(
    tmp_path: Path, db_url: str, make_sim: Any
) -> None:
    rng = random.Random(20261123)
    sim = make_sim(PATIENTS_AT_START, clock=office_clock())
    sim.on_request(latency)
    config = str(write_config(tmp_path, sim, db_url, page_size=40))
    assert main(["init", "--config", config]) == 0
    engine = make_engine(db_url)
    kills = 0
    for round_ in range(ROUNDS):
        marker = f"(555)000-{round_:04d}"
        total = change_source(sim, rng, marker)
        target = rng.randrange(0, total)
        before = last_run_id(engine)
        proc = spawn("sync", "--config", config, cwd=tmp_path)
        if target == 0 or round_ == 0:
            killed = kill_when(proc, lambda b=before: run_started(engine, b), rng.uniform(0, 0.03))
        else:
            ready = lambda m=marker, t=target: committed(engine, m) >= t  # noqa: E731
            killed = kill_when(proc, ready, rng.uniform(0, 0.03))
        kills += killed
        assert killed or proc.returncode == 0, proc.stderr
        sim.clock.advance(90)
    assert kills >= ROUNDS - 2, "most rounds should have been killed part-way"
    assert main(["sync", "--config", config]) == 0
    assert_mirror_matches(engine, sim)
    # The first round killed a first load, whose indexes were dropped: they are all back.
    made = {index["name"] for index in inspect(engine).get_indexes(PATIENTS.table.name)}
    assert made == {index.name for index in PATIENTS.table.indexes}
    statuses = [r.status for r in state.latest_runs(engine, limit=50)]
    assert statuses[0] == "success" and "running" not in statuses
    assert statuses.count("interrupted") == kills
    engine.dispose()


def latency(_index: int, _log: Any) -> None:
    """Simulated network latency, so a run lasts long enough to be killed part-way."""
    threading.Event().wait(0.02)
