"""The session that holds the sync lock is killed mid-run: the run stops, lost-lock.

Two syncs on the real PostgreSQL (and MariaDB) server: the first is held inside a page request
(the API waits on an event), its lock session is terminated, a second sync runs whole, then the
first goes on and must not write again.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import create_engine, event, text

from etl import status
from etl.catalog.resources import PATIENTS
from etl.config.settings import ApiSettings
from etl.mirror import lock
from etl.mirror.engine import make_engine, upgrade
from etl.mirror.lock import HeldLock, LockLost, advisory_key
from etl.mirror.mysql_lock import lock_name
from etl.sync import state
from etl.sync.run import run_sync
from tests.conftest import PG_URL, _require_postgres, settings_for
from tests.mariadb import MYSQL_URL, fresh_mariadb
from tests.test_hostile_records import table_rows

pytestmark = pytest.mark.reliability

STAMP = {"DateTStamp": "2025-05-01 08:00:00", "serverDateTime": "2025-05-05 10:00:00"}
WAIT = 30  # seconds: a deadline for each wait, never a sleep


class GatedApi:
    """Five patients, two a page; the first request for the second page waits for `go`."""

    def __init__(self) -> None:
        self.reached, self.go = threading.Event(), threading.Event()
        self.patients = [{"PatNum": n, "LName": f"P{n}", **STAMP} for n in range(1, 6)]
        outer, gate = self, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = dict(parse_qsl(urlsplit(self.path).query))
                offset, limit = int(query.get("Offset", 0)), int(query.get("Limit", 2))
                rows = [] if "PatStatus" in query else outer.patients[offset : offset + limit]
                with gate:
                    first = offset == 2 and not outer.reached.is_set()
                    if first:
                        outer.reached.set()
                if first:
                    outer.go.wait(WAIT)
                data = json.dumps(rows).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/api/v1"
        self.config = ApiSettings(self.base_url, "NFF6i0KrXrxDkZHt", "VzkmZEaUWOjnQX2z")

    def stop(self) -> None:
        self.go.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(params=["postgresql", "mysql"])
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh schema on the test PostgreSQL server (or database on MariaDB), at the current
    revision."""
    if request.param == "mysql":
        with fresh_mariadb() as url:
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            yield url
        return
    _require_postgres()
    schema = f"odm_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def lock_holder(url: str) -> int | None:
    """The server process id of the session that holds this mirror's advisory lock."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if url.startswith("mysql"):
                name = lock_name(str(conn.execute(text("SELECT DATABASE()")).scalar_one()))
                return conn.execute(text("SELECT IS_USED_LOCK(:n)"), {"n": name}).scalar()
            database, schema = conn.execute(
                text("SELECT current_database(), current_schema()")
            ).one()
            key = advisory_key(str(database), str(schema))
            return conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND classid = :high AND objid = :low AND objsubid = 1"
                ),
                {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
            ).scalar()
    finally:
        engine.dispose()


def kill(url: str, session: int) -> None:
    """End a server session, as an operator or a dropped connection would."""
    admin = create_engine(MYSQL_URL if url.startswith("mysql") else PG_URL)
    with admin.begin() as conn:
        if url.startswith("mysql"):
            conn.execute(text(f"KILL CONNECTION {int(session)}"))
        else:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": session}).scalar()
    admin.dispose()


def test_a_killed_lock_session_stops_the_run_before_its_next_write(pg_url: str) -> None:
    api = GatedApi()
    settings = settings_for(api, pg_url, page_size=2)
    outcome: list[BaseException | list[Any]] = []

    def first_sync() -> None:
        try:
            outcome.append(run_sync(settings))
        except BaseException as exc:  # the test reads what ended it
            outcome.append(exc)

    first = threading.Thread(target=first_sync)
    try:
        first.start()
        assert api.reached.wait(WAIT), "the first sync never asked for its second page"
        holder = lock_holder(pg_url)
        assert holder is not None
        kill(pg_url, holder)
        assert lock_holder(pg_url) is None
        (second,) = run_sync(settings)  # the lock is free: a second sync runs whole
        assert second.stats.inserted == 3  # pages 2 and 3; page 1 the first sync saved
        api.go.set()
        first.join(WAIT)
        assert not first.is_alive()
    finally:
        api.stop()
    (ended,) = outcome
    assert isinstance(ended, LockLost)
    assert "sync lock ended" in str(ended)
    engine = make_engine(pg_url)
    try:
        runs = sorted(state.latest_runs(engine), key=lambda r: r.id)
        assert [(r.status, r.rows_inserted) for r in runs] == [("lost-lock", 2), ("success", 3)]
        assert runs[0].error == str(ended)
        assert sorted(table_rows(engine, PATIENTS)) == [1, 2, 3, 4, 5]
        shown = status.collect(engine, settings)
        assert shown.exit_code() == status.OK  # the second run, the last to end, succeeded
    finally:
        engine.dispose()


def asks_of(held: HeldLock) -> list[str]:
    """The statements sent on the lock's own session from now on."""
    sent: list[str] = []
    assert held._conn is not None
    event.listen(held._conn, "before_cursor_execute", lambda *args: sent.append(args[2]))
    return sent


def test_a_quiet_lock_session_is_not_asked_before_every_transaction(
    pg_url: str, fast_paths_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock, "ASK_EVERY", 3600.0)
    with lock.mirror_lock(pg_url) as held:
        sent = asks_of(held)
        for _ in range(50):
            held.check()
        assert sent == []  # the socket stayed quiet, and the lock was taken just now
        monkeypatch.setattr(lock, "ASK_EVERY", 0.0)  # last asked too long ago: ask
        held.check()
        held.check()
        assert sent == ["SELECT 1", "SELECT 1"]


def test_the_server_ending_the_lock_session_is_seen_without_asking_first(
    pg_url: str, fast_paths_on: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Asked so lately that only the session's socket can tell: the server's word that it ended.
    monkeypatch.setattr(lock, "ASK_EVERY", 3600.0)
    with lock.mirror_lock(pg_url) as held:
        held.check()
        holder = lock_holder(pg_url)
        assert holder is not None
        kill(pg_url, holder)
        assert lock_holder(pg_url) is None  # the server let go of the lock with the session
        with pytest.raises(LockLost, match="sync lock ended"):
            held.check()
        assert held.lost


def test_the_plain_twin_asks_before_every_transaction(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODMIRROR_PLAIN", "lock_watch")
    monkeypatch.setattr(lock, "ASK_EVERY", 3600.0)
    with lock.mirror_lock(pg_url) as held:
        sent = asks_of(held)
        for _ in range(3):
            held.check()
        assert sent == ["SELECT 1"] * 3
