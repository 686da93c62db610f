"""This process's sessions on a PostgreSQL server, counted while a group syncs."""

from __future__ import annotations

import os
import threading

from sqlalchemy import create_engine, text

_QUERY = text(
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
    "AND (application_name = :app OR application_name LIKE :lock)"
)


class SessionCount:
    """The most sessions of this process that pg_stat_activity showed at once, while open.

    The mirror's sessions carry the URL's application_name (`app`); the run lock's session its
    own (`odmirror pid N on HOST`), counted by this process's pid. Without a server URL it
    counts nothing (SQLite).
    """

    def __init__(self, server_url: str | None, app: str) -> None:
        self.url, self.app, self.peak = server_url, app, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="session-count", daemon=True)

    def __enter__(self) -> SessionCount:
        if self.url is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self.url is not None:
            self._thread.join(30)

    def _watch(self) -> None:
        assert self.url is not None
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        params = {"app": self.app, "lock": f"odmirror pid {os.getpid()} on %"}
        with engine.connect() as conn:
            while not self._done.wait(0.002):  # each read its own snapshot
                self.peak = max(self.peak, int(conn.execute(_QUERY, params).scalar_one()))
        engine.dispose()


def drop_schemas(server_url: str, prefix: str) -> None:
    """Drop every schema whose name starts with `prefix`."""
    engine = create_engine(server_url)
    with engine.connect() as conn:
        found = conn.execute(text("SELECT schema_name FROM information_schema.schemata"))
        names = [schema for (schema,) in found.all() if schema.startswith(prefix)]
    for schema in names:  # each in a transaction of its own: one would run out of locks
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()
