"""What the mirror holds of given keys: a few columns of their rows, read in chunks."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.exc import InvalidRequestError


def param_limit(dialect: str) -> int:
    """How many bound parameters one statement may carry on this dialect."""
    if dialect == "sqlite":
        # SQLITE_MAX_VARIABLE_NUMBER: 999 before SQLite 3.32, 32766 since.
        return 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
    return 65_535


def stored(
    conn: Connection, table: Table, key: str, names: list[str], keys: list[Any]
) -> dict[Any, dict[str, Any]]:
    """The stored values of `names` for the rows with these keys, by key (absent: not held)."""
    found: dict[Any, dict[str, Any]] = {}
    for chunk in chunked(keys, param_limit(conn.dialect.name)):
        found.update(_by_key(conn, table, key, names, chunk))
    return found


def _by_key(
    conn: Connection, table: Table, key: str, names: list[str], keys: list[Any]
) -> dict[Any, dict[str, Any]]:
    """`stored` for at most `param_limit` keys."""
    # SQL of our own, built once: SQLAlchemy expands an IN list into new SQL on every call, and
    # compiling its SELECT cost a new process (every incremental run) 5 ms on PostgreSQL.
    dialect, column = conn.dialect, table.c[key]
    bind = column.type._cached_bind_processor(dialect)
    values = list(keys if bind is None else map(bind, keys))
    if dialect.name != "postgresql":  # SQLite, MySQL: one parameter per key
        sql = _in_query(dialect, table, key, tuple(names), len(keys))
        found = conn.exec_driver_sql(sql, tuple(values)).fetchall()
    else:  # PostgreSQL: one array parameter, not one per key
        sql = _any_query(dialect, table, key, tuple(names))
        found = conn.exec_driver_sql(sql, {"keys": values}).fetchall()
    read = [_reader(table.c[name].type, dialect) for name in names]
    return {
        row[0]: {n: v if r is None else r(v) for n, r, v in zip(names, read, row[1:], strict=True)}
        for row in found
    }


def _reader(sqltype: Any, dialect: Dialect) -> Any:
    """The type's result processor for our own SQL (whose result columns carry no type)."""
    try:
        return sqltype._cached_result_processor(dialect, None)
    except (InvalidRequestError, TypeError):
        # psycopg's numeric types want the result's type code to choose one; the driver already
        # gives float for double precision and Decimal for numeric: nothing to convert.
        return None


def _select(dialect: Dialect, table: Table, key: str, names: tuple[str, ...]) -> str:
    quote = dialect.identifier_preparer.quote
    return f"SELECT {', '.join(quote(c) for c in (key, *names))} FROM {quote(table.name)}"


@functools.lru_cache(maxsize=64)
def _in_query(dialect: Dialect, table: Table, key: str, names: tuple[str, ...], count: int) -> str:
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quoted, marks = dialect.identifier_preparer.quote(key), ", ".join([mark] * count)
    return f"{_select(dialect, table, key, names)} WHERE {quoted} IN ({marks})"


@functools.lru_cache(maxsize=64)
def _any_query(dialect: Dialect, table: Table, key: str, names: tuple[str, ...]) -> str:
    quoted = dialect.identifier_preparer.quote(key)
    kind = table.c[key].type.compile(dialect=dialect)
    return f"{_select(dialect, table, key, names)} WHERE {quoted} = ANY(CAST(%(keys)s AS {kind}[]))"


def chunked(items: list[Any], size: int) -> Iterable[list[Any]]:
    """Split a list into lists of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
