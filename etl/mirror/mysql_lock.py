"""The sync lock of a MySQL or MariaDB mirror: GET_LOCK, on a connection held for the whole run.

A named lock belongs to the session that took it: the server releases it when the session ends,
so a killed run never leaves it behind. Its name is derived from the database (on MySQL a mirror
is a database), since lock names are shared by every database of a server. The session sits
idle for the whole run, so its `wait_timeout` is raised to the most the server allows: a server
that closed it mid-run would drop the lock while the run goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from etl.mirror import mysql

log = logging.getLogger(__name__)
#: A year, the largest wait_timeout MySQL and MariaDB take.
IDLE_SECONDS = 31_536_000
#: Seconds an answer of the lock's session may take: asking it never hangs a run on a dead
#: network (GET_LOCK does not wait: its timeout is 0).
ANSWER_SECONDS = 60


def lock_name(database: str) -> str:
    """The GET_LOCK name of one mirror (at most 64 characters, as MySQL allows)."""
    return "odmirror:" + hashlib.blake2b(database.encode(), digest_size=16).hexdigest()


@contextlib.contextmanager
def held(url: str) -> Iterator[tuple[Connection, str | None]]:
    """Try to take the mirror's lock and hold it for the body of the `with`.

    Args:
        url: the mirror's database URL (mysql+pymysql:// or mariadb+pymysql://).

    Yields:
        The lock's session, and None when this process holds the lock, else who does.
    """
    # NullPool: closing the connection ends the session, so the lock can never linger in a pool.
    # Autocommit: asking whether the session lives never leaves it idle in a transaction.
    timeouts = {"read_timeout": ANSWER_SECONDS, "write_timeout": ANSWER_SECONDS}
    engine = create_engine(
        url,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={**mysql.connect_args(), **timeouts},
    )
    try:
        with engine.connect() as conn:
            conn.execute(text(f"SET SESSION wait_timeout = {IDLE_SECONDS}"))
            name = lock_name(str(conn.execute(text("SELECT DATABASE()")).scalar_one()))
            got = conn.execute(text("SELECT GET_LOCK(:name, 0)"), {"name": name}).scalar_one()
            if got != 1:
                yield conn, _holder(conn, name)
                return
            try:
                yield conn, None
            finally:
                _release(conn, name)
    finally:
        engine.dispose()


def _release(conn: Connection, name: str) -> None:
    try:
        conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
    except SQLAlchemyError:
        # Gone with its session (a lost lock stops the run before its next write).
        log.warning("the session holding the mirror's lock ended as the run finished")


def _holder(conn: Connection, name: str) -> str:
    # The processlist shows another user's sessions only with the PROCESS privilege.
    session = conn.execute(text("SELECT IS_USED_LOCK(:name)"), {"name": name}).scalar()
    if session is None:
        return "lock held by another session"
    host = conn.execute(
        text("SELECT host FROM information_schema.processlist WHERE id = :id"), {"id": session}
    ).scalar()
    return f"MySQL session {session}" + (f" from {host}" if host else "")
