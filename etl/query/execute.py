"""Running a query written for Open Dental on the mirror: translated, read-only, bounded.

See `etl.query.connect` for how each database is kept from writing and how rows are streamed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from etl.query.connect import open_read_only, target_of
from etl.query.errors import QueryError
from etl.query.functions_postgres import DEFAULT_SCHEMA
from etl.query.limits import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_SECONDS
from etl.query.names import database_header
from etl.query.translate import Translation, translate


@dataclass(frozen=True)
class QueryResult:
    """The rows of a query: headers, at most `max_rows` rows, and whether more were left out."""

    translation: Translation
    headers: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    cut: bool


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
    *before, last = translation.statements
    try:
        with open_read_only(database_url, timeout_seconds, max_rows + 1) as session:
            for statement in before:
                session.cursor.execute(statement)
            rows_cursor = session.streaming_cursor()
            rows_cursor.execute(last)
            names = tuple(column[0] for column in rows_cursor.description or ())
            rows = rows_cursor.fetchmany(max_rows + 1)
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
