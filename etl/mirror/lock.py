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

A PostgreSQL or MySQL session can end under a live run (pg_terminate_backend, a dropped connection):
its lock goes with it, and a second sync may start. So a run's every transaction on the mirror
first makes sure the lock's session is still there (`HeldLock.guard`); if not, it raises
LockLost before writing, and the run is recorded as lost-lock. Asking the session is a round
trip, and a run makes hundreds of transactions (measured: a fifth of a PostgreSQL first load's
time between requests). So, the fast path `lock_watch`: a session the server ends sends word or
closes, so the transaction first looks, without a round trip, whether the lock's socket has
anything to read; only then, or when the session was last asked more than ASK_EVERY seconds
before, does it ask. Its plain twin asks before every transaction.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from etl import fast_paths
from etl.errors import OdMirrorError
from etl.mirror import mysql_lock

log = logging.getLogger(__name__)

#: EX_TEMPFAIL from sysexits.h: try again later.
LOCKED_EXIT_CODE = 75
#: libpq's keepalives: a lock session on a dead network is found out within about a minute,
#: so that asking it never hangs a run.
_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}
#: Seconds the lock's session goes unasked while its socket stays quiet (fast path lock_watch):
#: a session lost without a word (a cut network) is found within this, as when every
#: transaction asked, it was within one transaction's time.
ASK_EVERY = 0.5


class MirrorLocked(OdMirrorError):
    """Another process is syncing this mirror."""

    exit_code = LOCKED_EXIT_CODE


class LockLost(OdMirrorError):
    """The session that held the mirror's lock ended while the run went on."""

    #: How the run table records a run that stopped for it.
    run_status = "lost-lock"


class HeldLock:
    """The mirror's lock while held: whether it still is (PostgreSQL; a flock cannot be lost).

    Args:
        conn: the lock's own session (None: SQLite, nothing to ask).
    """

    def __init__(self, conn: Connection | None = None) -> None:
        self._conn = conn
        self.lost = False
        # A first load builds its indexes on a thread of its own: one question at a time.
        self._asking = threading.Lock()
        self._asked = time.monotonic()  # the lock was just taken
        self._socket: select.poll | None = None  # the plain twin: asked every time
        if conn is not None and fast_paths.enabled("lock_watch"):
            self._socket = _socket_watch(conn)

    def check(self) -> None:
        """Raise LockLost once, the first time the lock's session is found gone."""
        if self._conn is None:
            return
        with self._asking:
            if self.lost:
                return  # once told, the run only records its own end
            if self._quiet():
                return
            try:
                self._conn.exec_driver_sql("SELECT 1")
            except SQLAlchemyError:
                self.lost = True
            else:
                self._asked = time.monotonic()
                return
        raise LockLost(
            "the database session that held this mirror's sync lock ended (killed, or its "
            "connection dropped), so another sync may be running: this run stopped before "
            "its next write; the next run reads again what it had not saved"
        )

    def _quiet(self) -> bool:
        # Asked lately, and nothing came from the server since: no word that the session ended.
        if self._socket is None or time.monotonic() - self._asked > ASK_EVERY:
            return False
        return not self._socket.poll(0)

    @contextlib.contextmanager
    def guard(self, engine: Engine) -> Iterator[None]:
        """While inside, every transaction on `engine` first checks the lock."""

        def before(_conn: Connection) -> None:
            self.check()

        event.listen(engine, "begin", before)
        try:
            yield
        finally:
            event.remove(engine, "begin", before)


def _socket_watch(conn: Connection) -> select.poll | None:
    """A poll of the session's socket, for word from the server; None where none can be had."""
    driver = conn.connection.dbapi_connection
    fileno = getattr(driver, "fileno", None)  # psycopg
    sock = getattr(driver, "_sock", None)  # PyMySQL keeps its socket there
    try:
        fd = fileno() if callable(fileno) else sock.fileno() if sock is not None else None
    except (OSError, ValueError, AttributeError):
        fd = None
    if fd is None or fd < 0 or not hasattr(select, "poll"):
        return None  # every transaction asks, as the plain twin
    watch = select.poll()
    watch.register(fd, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
    return watch


def advisory_key(database: str, schema: str) -> int:
    """The advisory lock key of one mirror: a signed 64-bit hash of its database and schema."""
    digest = hashlib.blake2b(f"odmirror\0{database}\0{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextlib.contextmanager
def mirror_lock(url: str) -> Iterator[HeldLock]:
    """Hold the mirror's sync lock for the body of the `with`.

    Args:
        url: the mirror's database URL.

    Yields:
        The held lock, to guard the run's engine with (`HeldLock.guard`).

    Raises:
        MirrorLocked: another process holds it (one line; exit code 75).
    """
    backend = make_url(url).get_backend_name()
    if backend in ("mysql", "mariadb"):
        with mysql_lock.held(url) as (conn, busy):
            if busy is not None:
                raise MirrorLocked(
                    f"another odmirror is syncing this mirror ({busy}): "
                    "this run is skipped, try again later"
                )
            yield HeldLock(conn)  # its session outlives wait_timeout (mysql_lock)
    elif backend == "postgresql":
        with _postgres_lock(url) as held:
            yield held
    else:
        with _sqlite_lock(url):
            yield HeldLock()


@contextlib.contextmanager
def _postgres_lock(url: str) -> Iterator[HeldLock]:
    # NullPool: closing the connection ends the session, so the lock can never linger in a pool.
    # The session's name tells whoever finds the lock taken who holds it. Autocommit: asking
    # whether the session lives is one round trip, and it never sits idle in a transaction.
    engine = create_engine(
        url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"application_name": _me(), **_KEEPALIVES},
    )
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
            held = HeldLock(conn)
            try:
                yield held
            finally:
                _unlock(conn, lock_key, held)
    finally:
        engine.dispose()


def _unlock(conn: Connection, key: int, held: HeldLock) -> None:
    if held.lost:
        return  # the session, and its lock, are gone
    try:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    except SQLAlchemyError:
        # Gone after the run's last write: what it wrote, it wrote under the lock.
        log.warning("the session holding the mirror's lock ended as the run finished")


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
