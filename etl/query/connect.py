"""Read-only connections to the mirror for `odmirror query`, bounded in time and memory.

Each database is opened so that it cannot write even if the guard missed something: SQLite with
`mode=ro`, PostgreSQL and MySQL in a READ ONLY transaction that is rolled back. The rows are
read through a server-side cursor on PostgreSQL and SQLite's lazy cursor, and MySQL is told to
send no more than `--max-rows` + 1 (`sql_select_limit`), so the bound also holds for memory.
Statements go through the driver's own cursor without parameters, so a '%' in DATE_FORMAT or
LIKE is text.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from etl.query import functions_sqlite
from etl.query.errors import QueryError
from etl.query.limits import CONNECT_TIMEOUT_SECONDS, DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class ReadOnly:
    """An open read-only session: a cursor for the statements, and one that streams rows."""

    cursor: Any
    streaming_cursor: Callable[[], Any]


def target_of(database_url: str) -> str:
    """ "sqlite", "postgresql" or "mysql" for a SQLAlchemy URL (MariaDB counts as MySQL).

    Raises:
        QueryError: the text is not a database URL.
    """
    try:
        backend = make_url(database_url).get_backend_name()
    except ArgumentError:
        raise QueryError("database.url is not a database URL") from None
    return "mysql" if backend in ("mysql", "mariadb") else backend


@contextmanager
def open_read_only(
    database_url: str,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    row_limit: int | None = None,
) -> Iterator[ReadOnly]:
    """A session on the mirror that cannot write; closed and rolled back on exit.

    Args:
        database_url: the mirror's SQLAlchemy URL.
        timeout_seconds: how long one statement may run.
        row_limit: rows a query sends at most (MySQL; elsewhere the streaming cursor bounds them).

    Raises:
        QueryError: no SQLite file at the URL's path, or a database this command does not know.
    """
    target = target_of(database_url)
    if target == "sqlite":
        with _sqlite(database_url, timeout_seconds) as session:
            yield session
    elif target in ("postgresql", "mysql"):
        with _server(database_url, target, timeout_seconds, row_limit) as session:
            yield session
    else:
        raise QueryError(f"odmirror query does not run on {target} databases")


@contextmanager
def _sqlite(database_url: str, timeout_seconds: float) -> Iterator[ReadOnly]:
    path = make_url(database_url).database
    if not path or path == ":memory:" or not Path(path).exists():
        raise QueryError(f"no SQLite mirror at {path or '(memory)'}")
    connection = sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True)
    deadline = time.monotonic() + timeout_seconds
    # Called every 10,000 steps: a non-zero answer interrupts the query.
    connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    functions_sqlite.register(connection, dt.datetime.now())
    try:
        yield ReadOnly(connection.cursor(), connection.cursor)
    finally:
        connection.close()


@contextmanager
def _server(
    database_url: str, target: str, timeout_seconds: float, row_limit: int | None
) -> Iterator[ReadOnly]:
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    engine = create_engine(database_url, connect_args=connect_args, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            driver = connection.connection.dbapi_connection
            if driver is None:
                raise QueryError("the database connection closed before the query ran")
            driver.rollback()  # whatever the connection left open: the next statement starts ours
            cursor = driver.cursor()
            if target == "postgresql":
                # psycopg opens the transaction itself; this must be its first statement.
                cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute(f"SET LOCAL statement_timeout = {int(timeout_seconds * 1000)}")
                try:
                    yield ReadOnly(cursor, lambda: driver.cursor(name="odmirror_query"))
                finally:
                    driver.rollback()
            else:
                _mysql_time_limit(cursor, timeout_seconds)
                if row_limit is not None:
                    # MySQL stops sending rows there (an explicit LIMIT in the query still wins).
                    cursor.execute(f"SET SESSION sql_select_limit = {int(row_limit)}")
                cursor.execute("START TRANSACTION READ ONLY")
                try:
                    yield ReadOnly(cursor, driver.cursor)
                finally:
                    driver.rollback()
    finally:
        engine.dispose()


def _mysql_time_limit(cursor: Any, timeout_seconds: float) -> None:
    """MariaDB's max_statement_time (seconds) or MySQL's max_execution_time (milliseconds)."""
    cursor.execute("SELECT VERSION()")
    version = str(cursor.fetchone()[0])
    if "mariadb" in version.lower():
        cursor.execute(f"SET SESSION max_statement_time = {float(timeout_seconds)}")
    else:
        cursor.execute(f"SET SESSION max_execution_time = {int(timeout_seconds * 1000)}")
