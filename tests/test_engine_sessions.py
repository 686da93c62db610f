"""Mirror sessions: pooled connections tested only after idling (etl.mirror.idle_ping), and
PostgreSQL commits that do not wait for the disk (the async_commit fast path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from etl.mirror import idle_ping
from etl.mirror.engine import make_engine
from tests.conftest import empty_database


@pytest.fixture(params=["postgresql", "mysql"])
def server_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on a server (a SQLite file has no session to lose)."""
    with empty_database(request.param, tmp_path) as url:
        yield url


def _session_id(engine: Engine) -> int:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        return int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())


def _kill(url: str, session: int) -> None:
    killer = make_engine(url)
    try:
        with killer.begin() as conn:
            if killer.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": session})
            else:
                conn.execute(text(f"KILL {int(session)}"))
    finally:
        killer.dispose()


def test_a_connection_that_died_while_idle_is_replaced(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server ended the pooled session (a restart, wait_timeout): the next use gets a new
    one, with no error, as pool_pre_ping gave."""
    monkeypatch.setattr(idle_ping, "IDLE_SECONDS", 0.0)  # any pause counts as idle
    engine = make_engine(server_url)
    try:
        first = _session_id(engine)
        _kill(server_url, first)
        assert _session_id(engine) != first
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_tested_again(
    server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page a moment after the last one: no extra round trip before it."""
    pings: list[object] = []
    engine = make_engine(server_url)
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
    try:
        for _ in range(5):
            _session_id(engine)
        assert pings == []
        monkeypatch.setattr(idle_ping, "IDLE_SECONDS", 0.0)
        _session_id(engine)
        assert len(pings) == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(("plain", "expected"), [("", "off"), ("async_commit", "on")])
def test_postgresql_commits_do_not_wait_for_the_disk_unless_plain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain: str, expected: str
) -> None:
    """The fast path sets synchronous_commit off, keeping the URL's own options (its schema)."""
    monkeypatch.setenv("ODMIRROR_PLAIN", plain)
    with empty_database("postgresql", tmp_path) as url:
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SHOW synchronous_commit")).scalar_one() == expected
                schema = url.rsplit("%3D", 1)[1]
                assert conn.execute(text("SELECT current_schema()")).scalar_one() == schema
        finally:
            engine.dispose()
