"""The mirror database lost mid-run: a clear one-line failure, the cursor kept, the next run whole.

PostgreSQL: the run's backend is terminated with pg_terminate_backend while it waits on a lock the
test holds (found by its application_name, unique to the test). SQLite: another writer holds
BEGIN EXCLUSIVE on the file while the run wants to save a page.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from etl.cli import main
from etl.mirror.engine import make_engine
from etl.sync import state
from tests.conftest import PG_URL
from tests.test_cli import write_config
from tests.test_sync import assert_mirror_matches, office_clock

pytestmark = pytest.mark.reliability

WAIT = 20.0  # seconds before a test gives up on an event that should come at once


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OD_DEVELOPER_KEY", "NFF6i0KrXrxDkZHt")
    monkeypatch.setenv("OD_CUSTOMER_KEY", "VzkmZEaUWOjnQX2z")
    monkeypatch.delenv("ODMIRROR_CONFIG", raising=False)


def first_sync_then_changes(tmp_path: Path, make_sim: Any, url: str) -> tuple[Any, str, Engine]:
    """A mirror synced once, then 250 patients changed at the source (three pages' worth)."""
    sim = make_sim(400, clock=office_clock())
    config = str(write_config(tmp_path, sim, url))
    assert main(["init", "--config", config]) == 0
    assert main(["sync", "--config", config]) == 0
    sim.clock.advance(3600)
    for patnum in range(1, 251):
        sim.store.update(patnum, HmPhone="(555)010-0000")
    return sim, config, make_engine(url)


def on_second_page(sim: Any, action: Any) -> None:
    """Run `action` (in the simulator's thread) before the run's second page is answered."""
    sim.on_request(lambda index, _log: action() if index == 1 else None)


def assert_failed_cleanly(err: str, engine: Engine, cursor: Any, needle: str) -> None:
    errors = [line for line in err.splitlines() if line.startswith("odmirror: error: ")]
    assert len(errors) == 1 and needle in errors[0], err
    assert errors[0] == err.splitlines()[-1]
    assert state.get_cursor(engine, "patients") == cursor


def test_sqlite_file_locked_by_another_writer(
    tmp_path: Path, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "mirror.db"
    sim, config, engine = first_sync_then_changes(tmp_path, make_sim, f"sqlite:///{db}?timeout=0.3")
    cursor = state.get_cursor(engine, "patients")
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    on_second_page(sim, lambda: other.execute("BEGIN EXCLUSIVE"))
    capsys.readouterr()
    assert main(["sync", "--config", config]) == 1
    assert_failed_cleanly(capsys.readouterr().err, engine, cursor, "database is locked")
    other.execute("ROLLBACK")
    other.close()
    sim.on_request(None)
    assert main(["sync", "--config", config]) == 0
    assert_mirror_matches(engine, sim)
    runs = state.latest_runs(engine, limit=3)
    assert [r.status for r in runs] == ["success", "interrupted", "success"]
    engine.dispose()


class Terminator(threading.Thread):
    """Locks the mirror's patient table, waits for the run to block on it, kills its backend."""

    def __init__(self, schema: str, app: str) -> None:
        super().__init__(daemon=True)
        self.schema, self.app = schema, app
        self.asked, self.locked, self.done = threading.Event(), threading.Event(), threading.Event()
        self.terminated: list[int] = []

    def run(self) -> None:
        admin = create_engine(PG_URL)
        try:
            self.asked.wait(WAIT)
            with admin.connect() as conn:
                conn.execute(text(f"LOCK TABLE {self.schema}.patient IN ACCESS EXCLUSIVE MODE"))
                self.locked.set()
                pid = self._blocked_backend(conn)
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                self.terminated.append(pid)
                conn.rollback()
        finally:
            admin.dispose()
            self.done.set()

    def _blocked_backend(self, conn: Any) -> int:
        query = text(
            "SELECT pid FROM pg_stat_activity WHERE application_name = :app "
            "AND wait_event_type = 'Lock'"
        )
        for _ in range(int(WAIT / 0.02)):
            pid = conn.execute(query, {"app": self.app}).scalar()
            if pid is not None:
                return int(pid)
            self.done.wait(0.02)  # polling pg_stat_activity, not a stand-in for an event
        raise AssertionError("the run never blocked on the locked table")

    def hold(self) -> None:
        """Called before the second page is answered: lock first, then let the page go."""
        self.asked.set()
        assert self.locked.wait(WAIT)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_backend_terminated_mid_run(
    tmp_path: Path, make_sim: Any, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    match = re.search(r"search_path%3D(\w+)", db_url)
    assert match is not None
    schema = match.group(1)
    url = f"{db_url}&application_name={schema}"
    sim, config, engine = first_sync_then_changes(tmp_path, make_sim, url)
    cursor = state.get_cursor(engine, "patients")
    terminator = Terminator(schema, schema)
    terminator.start()
    on_second_page(sim, terminator.hold)
    capsys.readouterr()
    assert main(["sync", "--config", config]) == 1
    assert terminator.done.wait(WAIT) and len(terminator.terminated) == 1
    err = capsys.readouterr().err
    assert_failed_cleanly(err, engine, cursor, "terminating connection due to administrator")
    assert state.latest_runs(engine, limit=1)[0].status == "failed"
    sim.on_request(None)
    assert main(["sync", "--config", config]) == 0
    assert_mirror_matches(engine, sim)
    engine.dispose()
