"""Running a translated query on the mirror: read-only, bounded in rows and time.

Each database is opened so that it cannot write even if the guard missed something: SQLite with
`mode=ro`, PostgreSQL and MySQL in a READ ONLY transaction that is rolled back. Statements go
through the driver's own cursor without parameters, so a '%' in DATE_FORMAT or LIKE is text.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from etl.query import functions_sqlite
from etl.query.errors import QueryError
from etl.query.functions_postgres import DEFAULT_SCHEMA
from etl.query.names import database_header
from etl.query.translate import Translation, translate

DEFAULT_MAX_ROWS = 10_000
DEFAULT_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class QueryResult:
    """The rows of a query: headers, at most `max_rows` rows, and whether more were left out."""

    translation: Translation
    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    cut: bool


def target_of(database_url: str) -> str:
    """ "sqlite", "postgresql" or "mysql" for a SQLAlchemy URL (MariaDB counts as MySQL)."""
    try:
        backend = make_url(database_url).get_backend_name()
    except ArgumentError:
        raise QueryError("database.url is not a database URL") from None
    return "mysql" if backend in ("mysql", "mariadb") else backend


def run_query(
    database_url: str,
    sql: str,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    compat_schema: str = DEFAULT_SCHEMA,
) -> QueryResult:
    """Translate an Open Dental query for the mirror's database and run it read-only.

    Args:
        database_url: the mirror's SQLAlchemy URL.
        sql: the query as written for Open Dental (MySQL).
        max_rows: rows kept at most; `cut` says when there were more.
        timeout_seconds: how long the database may work on it.
        compat_schema: PostgreSQL's schema of MySQL functions.

    Returns:
        The headers and rows of the query's last read.

    Raises:
        QueryError: one line, whatever went wrong (refused, untranslatable, database error).
    """
    target = target_of(database_url)
    translation = translate(sql, target, compat_schema)
    try:
        with open_read_only(database_url, timeout_seconds) as cursor:
            for statement in translation.statements:
                cursor.execute(statement)
            names = tuple(column[0] for column in cursor.description or ())
            rows = cursor.fetchmany(max_rows + 1)
    except (sqlite3.Error, SQLAlchemyError, OSError) as exc:
        raise _refused(exc, compat_schema) from None
    except Exception as exc:  # the drivers' own errors (psycopg, pymysql) have no common base
        if type(exc).__module__.split(".")[0] not in ("psycopg", "pymysql"):
            raise
        raise _refused(exc, compat_schema) from None
    return QueryResult(
        translation,
        _headers(translation, names),
        tuple(map(tuple, rows[:max_rows])),
        len(rows) > max_rows,
    )


def _refused(exc: BaseException, compat_schema: str) -> QueryError:
    text = str(getattr(exc, "orig", None) or exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    if compat_schema in line:
        line += " (PostgreSQL's MySQL functions are missing: `odmirror init` creates them)"
    return QueryError(f"the database refused the query: {line}")


def _headers(translation: Translation, names: Sequence[str]) -> tuple[str, ...]:
    if translation.headers is not None and len(translation.headers) == len(names):
        return translation.headers
    return tuple(database_header(name) for name in names)


@contextmanager
def open_read_only(
    database_url: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
) -> Iterator[Any]:
    """A DB-API cursor on the mirror that cannot write, closed (and rolled back) on exit.

    Raises:
        QueryError: no SQLite file at the URL's path.
    """
    target = target_of(database_url)
    opener = _sqlite if target == "sqlite" else _server
    with opener(database_url, target, timeout_seconds) as cursor:
        yield cursor


@contextmanager
def _sqlite(database_url: str, target: str, timeout_seconds: float) -> Iterator[Any]:
    path = make_url(database_url).database
    if not path or path == ":memory:" or not Path(path).exists():
        raise QueryError(f"no SQLite mirror at {path or '(memory)'}")
    connection = sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True)
    deadline = time.monotonic() + timeout_seconds
    # Called every 10,000 steps: a non-zero answer interrupts the query.
    connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    functions_sqlite.register(connection, dt.datetime.now())
    try:
        yield connection.cursor()
    finally:
        connection.close()


@contextmanager
def _server(database_url: str, target: str, timeout_seconds: float) -> Iterator[Any]:
    connect_args = {"connect_timeout": 10}
    engine = create_engine(database_url, connect_args=connect_args, pool_pre_ping=False)
    try:
        with engine.connect() as connection:
            driver = connection.connection.dbapi_connection
            if driver is None:
                raise QueryError("the database connection closed before the query ran")
            driver.rollback()  # whatever the pool left open: the next statement starts ours
            cursor = driver.cursor()
            milliseconds = int(timeout_seconds * 1000)
            if target == "postgresql":
                # psycopg opens the transaction itself; this must be its first statement.
                cursor.execute("SET TRANSACTION READ ONLY")
                cursor.execute(f"SET LOCAL statement_timeout = {milliseconds}")
            else:
                _mysql_time_limit(cursor, timeout_seconds)
                cursor.execute("START TRANSACTION READ ONLY")
            try:
                yield cursor
            finally:
                cursor.close()
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
