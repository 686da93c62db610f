"""One sync of a mirror at a time, across processes and hosts: a lock the database enforces.

- PostgreSQL: a session advisory lock, on a connection of its own held for the whole run. Its
  key is derived from the database name and the mirror's schema (`current_schema()`), so two
  mirrors in one database do not block each other. A killed process's session ends, and the
  server drops the lock with it.
- MySQL / MariaDB: GET_LOCK on a connection of its own held for the run (etl.mirror.mysql_lock);
  the server releases it when that session ends.
- SQLite: `flock` on a sidecar file `<db>.lock`. The kernel releases it when the process dies.
  Not on the database file itself: on NFS, Linux emulates `flock` with the same byte-range
  locks SQLite takes, and the two would collide.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from etl.errors import OdMirrorError
from etl.mirror import mysql_lock

#: EX_TEMPFAIL from sysexits.h: try again later.
LOCKED_EXIT_CODE = 75


class MirrorLocked(OdMirrorError):
    """Another process is syncing this mirror."""

    exit_code = LOCKED_EXIT_CODE


def advisory_key(database: str, schema: str) -> int:
    """The advisory lock key of one mirror: a signed 64-bit hash of its database and schema."""
    digest = hashlib.blake2b(f"odmirror\0{database}\0{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def mirror_lock(url: str) -> Iterator[None]:
    """Hold the mirror's sync lock for the body of the `with`.

    Args:
        url: the mirror's database URL.

    Raises:
        MirrorLocked: another process holds it (one line; exit code 75).
    """
    backend = make_url(url).get_backend_name()
    if backend in ("mysql", "mariadb"):
        with mysql_lock.held(url) as busy:
            if busy is not None:
                raise MirrorLocked(
                    f"another odmirror is syncing this mirror ({busy}): "
                    "this run is skipped, try again later"
                )
            yield
        return
    holder = _postgres_lock if backend == "postgresql" else _sqlite_lock
    with holder(url):
        yield


@contextlib.contextmanager
def _postgres_lock(url: str) -> Iterator[None]:
    # NullPool: closing the connection ends the session, so the lock can never linger in a pool.
    # The session's name tells whoever finds the lock taken who holds it.
    engine = create_engine(url, poolclass=NullPool, connect_args={"application_name": _me()})
    try:
        with engine.connect() as conn:
            _stay_connected(conn)
            names = conn.execute(text("SELECT current_database(), current_schema()")).one()
            lock_key = advisory_key(str(names[0]), str(names[1]))
            if not _try_advisory(conn, lock_key):
                raise MirrorLocked(
                    f"another odmirror is syncing this mirror ({_pg_holder(conn, lock_key)}): "
                    "this run is skipped, try again later"
                )
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key})
                conn.commit()
    finally:
        engine.dispose()


def _stay_connected(conn: Connection) -> None:
    # The lock's session is idle for the whole run. A server or role with idle_session_timeout
    # (PostgreSQL 14+) would end it: the lock would be gone while the run goes on, a second
    # sync could start, and the unlock at the end would fail the run.
    if (conn.dialect.server_version_info or (0,)) >= (14,):
        conn.execute(text("SET idle_session_timeout = 0"))
        conn.commit()


def _try_advisory(conn: Connection, key: int) -> bool:
    got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
    conn.commit()  # a session lock outlives the transaction; do not sit idle in one
    return bool(got)


def _me() -> str:
    return f"odmirror pid {os.getpid()} on {socket.gethostname()}"[:63]


def _pg_holder(conn: Connection, key: int) -> str:
    # An advisory lock on a bigint shows in pg_locks as its high and low 32 bits.
    holder = conn.execute(
        text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :high "
            "AND l.objid = :low AND l.objsubid = 1 AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
    ).scalar()
    conn.commit()
    return str(holder) if holder else "lock held by another session"


def lock_path(url: str) -> Path | None:
    """The sidecar lock file of a SQLite mirror, or None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(f"{Path(database).resolve()}.lock")


@contextlib.contextmanager
def _sqlite_lock(url: str) -> Iterator[None]:
    path = lock_path(url)
    if path is None:  # one process only can see an in-memory database
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MirrorLocked(
                f"another odmirror is syncing this mirror ({_holder(fd)}): "
                "this run is skipped, try again later"
            ) from None
        # Who holds it, for the message the next one prints; the file is never deleted.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{_me()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "lock file in use"
    except OSError:
        return "lock file in use"
