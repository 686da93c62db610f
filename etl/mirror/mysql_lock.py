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
from collections.abc import Iterator

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from etl.mirror import mysql

#: A year, the largest wait_timeout MySQL and MariaDB take.
IDLE_SECONDS = 31_536_000


def lock_name(database: str) -> str:
    """The GET_LOCK name of one mirror (at most 64 characters, as MySQL allows)."""
    return "odmirror:" + hashlib.blake2b(database.encode(), digest_size=16).hexdigest()


@contextlib.contextmanager
def held(url: str) -> Iterator[str | None]:
    """Try to take the mirror's lock and hold it for the body of the `with`.

    Args:
        url: the mirror's database URL (mysql+pymysql:// or mariadb+pymysql://).

    Yields:
        None when this process holds the lock; else who does, in a few words.
    """
    # NullPool: closing the connection ends the session, so the lock can never linger in a pool.
    engine = create_engine(url, poolclass=NullPool, connect_args=mysql.connect_args())
    try:
        with engine.connect() as conn:
            conn.execute(text(f"SET SESSION wait_timeout = {IDLE_SECONDS}"))
            name = lock_name(str(conn.execute(text("SELECT DATABASE()")).scalar_one()))
            got = conn.execute(text("SELECT GET_LOCK(:name, 0)"), {"name": name}).scalar_one()
            conn.commit()  # the lock outlives the transaction; do not sit idle in one
            if got != 1:
                yield _holder(conn, name)
                return
            try:
                yield None
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
                conn.commit()
    finally:
        engine.dispose()


def _holder(conn: Connection, name: str) -> str:
    # The processlist shows another user's sessions only with the PROCESS privilege.
    session = conn.execute(text("SELECT IS_USED_LOCK(:name)"), {"name": name}).scalar()
    if session is None:
        return "lock held by another session"
    host = conn.execute(
        text("SELECT host FROM information_schema.processlist WHERE id = :id"), {"id": session}
    ).scalar()
    conn.commit()
    return f"MySQL session {session}" + (f" from {host}" if host else "")
