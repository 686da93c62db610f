"""One sync of a mirror at a time: the lock, held by real processes, on each database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from etl.mirror.engine import make_engine
from etl.mirror.lock import LOCKED_EXIT_CODE, MirrorLocked, advisory_key, lock_path, mirror_lock
from tests.conftest import PG_URL, _require_postgres
from tests.test_cli import _keys, count, initialised, run_cli, spawn  # noqa: F401 - _keys: autouse


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """These tests run on MariaDB too (tests/conftest.py)."""
    return db_url_all


HOLD = """
import sys
import uuid
from etl.mirror.lock import mirror_lock
with mirror_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def holder(db_url: str) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the mirror's lock until its stdin closes or it is killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, db_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "held\n"  # the lock is taken before we go on
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=30)


def test_a_second_sync_exits_75_and_a_killed_holder_frees_the_lock(
    tmp_path: Path, db_url: str, make_sim: Any, holder: subprocess.Popen[str]
) -> None:
    config = initialised(tmp_path, make_sim(40), db_url)
    busy = run_cli("sync", "--config", config, cwd=tmp_path)
    assert busy.returncode == LOCKED_EXIT_CODE == 75
    (line,) = busy.stderr.splitlines()
    assert line.startswith("odmirror: error: another odmirror is syncing this mirror")
    if db_url.startswith("mysql"):  # MariaDB names a lock's session, not its client's process
        assert re.search(r"\(MySQL session \d+ from 127\.0\.0\.1:\d+\)", line)
    else:
        assert f"(odmirror pid {holder.pid} on " in line  # who holds it
    assert count(db_url) == 0
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    done = run_cli("sync", "--config", config, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert count(db_url) == 40


def test_run_skips_a_tick_when_the_lock_is_taken_and_goes_on(
    tmp_path: Path, db_url: str, make_sim: Any, holder: subprocess.Popen[str]
) -> None:
    config = initialised(tmp_path, make_sim(5), db_url)
    proc = spawn("run", "--config", config, cwd=tmp_path)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "run skipped" in line or "Traceback" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, "".join(lines) + rest
    assert "WARNING run skipped: another odmirror is syncing this mirror" in lines[-1]
    assert count(db_url) == 0


def test_the_lock_is_per_mirror_and_released_on_exit(db_url: str) -> None:
    with mirror_lock(db_url), pytest.raises(MirrorLocked), mirror_lock(db_url):
        pass  # pragma: no cover
    with mirror_lock(db_url):  # released: it can be taken again
        pass


def test_a_sqlite_lock_leaves_the_database_usable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    assert lock_path(url) == tmp_path / "mirror.db.lock"
    assert lock_path("sqlite://") is None and lock_path("sqlite:///:memory:") is None
    engine = make_engine(url)
    with mirror_lock(url):
        # flock on the sidecar does not touch SQLite's own locks: readers and a writer go on.
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        assert (
            (tmp_path / "mirror.db.lock").read_text().startswith(f"odmirror pid {os.getpid()} on ")
        )
    engine.dispose()


def test_two_mirrors_in_one_postgres_database_do_not_block_each_other() -> None:
    _require_postgres()
    schema, other = (f"odm_{uuid.uuid4().hex[:12]}" for _ in range(2))
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}; CREATE SCHEMA {other}"))
    try:
        first, second = (f"{PG_URL}?options=-csearch_path%3D{name}" for name in (schema, other))
        with (
            mirror_lock(first),
            mirror_lock(second),
            pytest.raises(MirrorLocked),
            mirror_lock(first),
        ):
            pass  # pragma: no cover
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema}; DROP SCHEMA {other}"))
        admin.dispose()


def test_the_advisory_key_depends_on_database_and_schema() -> None:
    assert advisory_key("test", "odm_a") != advisory_key("test", "odm_b")
    assert advisory_key("test", "odm_a") != advisory_key("other", "odm_a")
    assert advisory_key("test", "odm_a") == advisory_key("test", "odm_a")
    assert -(2**63) <= advisory_key("test", "odm_a") < 2**63


def test_the_lock_outlives_the_servers_idle_session_timeout() -> None:
    # The lock's session is idle for the whole run. A server (or a role) with
    # idle_session_timeout would end it, freeing the lock while the run goes on.
    _require_postgres()
    url = f"{PG_URL}?options=-cidle_session_timeout%3D300"
    admin = create_engine(PG_URL)
    with mirror_lock(url):
        # A session that went idle after the lock's did: once the server has ended it, the
        # lock's session has been idle longer than the timeout.
        sentinel = create_engine(url, poolclass=NullPool).connect()
        pid = sentinel.execute(text("SELECT pg_backend_pid()")).scalar_one()
        sentinel.commit()
        _wait_until_gone(admin, pid)
        with pytest.raises(MirrorLocked), mirror_lock(url):
            pass  # pragma: no cover
    admin.dispose()


def _wait_until_gone(admin: Any, pid: int) -> None:
    deadline = time.monotonic() + 30
    query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
    while time.monotonic() < deadline:
        with admin.connect() as conn:
            if conn.execute(query, {"pid": pid}).scalar_one() == 0:
                return
        time.sleep(0.05)  # polling the server for the session's end
    raise AssertionError(f"the server did not end idle session {pid}")
