"""How a group of rows reaches MySQL or MariaDB fast: one multi-row upsert, written column-wise.

PyMySQL's executemany already sends an INSERT's rows as one statement, but it escapes every
row's values one call at a time, by name, after SQLAlchemy built and processed a dict per row:
a whole practice's first load into MariaDB took 4x the bare fetch of its pages, most of it in
that escaping. Here the statement is compiled once per column set, each column's values are
converted for the driver as SQLAlchemy would (fast_copy.driver_columns) and written as SQL
literals in one comprehension a column: whole numbers by `str` (what PyMySQL's escape_int
writes), NULL for None, everything else by the connection's own `escape` (PyMySQL's text for
text, floats, decimals). Dates by isoformat, the text PyMySQL's escape_date and escape_datetime
write. The same text PyMySQL would send, built with fewer calls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.sql.dml import Insert

from etl.mapping.block import Block
from etl.mirror import fast_copy

#: A statement's most characters, as PyMySQL's executemany (Cursor.max_stmt_length): well
#: under the server's max_allowed_packet (16 MB on MariaDB 10.11, 64 MB on MySQL 8).
MAX_STATEMENT = 1_024_000
_Parts = tuple[str, list[str], str] | None
_parts_made: dict[tuple[str, tuple[str, ...], int, int], _Parts] = {}


def upsert_rows(
    conn: Connection,
    stmt: Insert,
    columns: Sequence[str],
    rows: Block,
    constants: Mapping[str, Any] | None = None,
) -> int:
    """Execute an INSERT (... ON DUPLICATE KEY UPDATE) for every row; return the rowcount.

    Args:
        conn: a MySQL or MariaDB connection through PyMySQL (inside its transaction).
        stmt: the statement; its bound parameters must be the columns' values.
        columns: the block's columns, and the names of `constants`.
        rows: the rows.
        constants: values the same for every row, by column name (not in the rows).
    """
    parts = _parts(conn, stmt, tuple(columns)) if conn.dialect.driver == "pymysql" else None
    if parts is None:  # another driver, or not a plain VALUES list: the driver's executemany
        return fast_copy.executemany(conn, stmt, columns, rows, constants)
    head, names, tail = parts
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    escape = dbapi.escape
    table = stmt.table
    assert isinstance(table, Table)
    values = fast_copy.driver_columns(conn, table, names, rows, constants or {})
    literals = [_literals(list(column), escape) for column in values]
    tuples = ["(" + ",".join(row) + ")" for row in zip(*literals, strict=True)]
    return sum(
        _execute(conn, head + ",".join(chunk) + tail) for chunk in _chunks(tuples, head, tail)
    )


def _literals(values: list[Any], escape: Any) -> list[str]:
    kinds = set(map(type, values)) - {type(None)}  # type() is exact: bool is not int here
    if kinds <= {int}:
        return ["NULL" if v is None else str(v) for v in values]
    if kinds == {dt.date}:  # PyMySQL's escape_date writes the same digits
        return ["NULL" if v is None else f"'{v.isoformat()}'" for v in values]
    if kinds == {dt.datetime} and all(v.tzinfo is None for v in values if v is not None):
        # escape_datetime's text: microseconds only when there are some, as isoformat
        return ["NULL" if v is None else f"'{v.isoformat(' ')}'" for v in values]
    return ["NULL" if v is None else escape(v) for v in values]


def _chunks(tuples: list[str], head: str, tail: str) -> Iterable[list[str]]:
    room = MAX_STATEMENT - len(head) - len(tail)
    chunk: list[str] = []
    size = 0
    for text in tuples:
        if chunk and size + len(text) + 1 > room:
            yield chunk
            chunk, size = [], 0
        chunk.append(text)
        size += len(text) + 1
    if chunk:
        yield chunk


def _execute(conn: Connection, sql: str) -> int:
    # With no_parameters the driver gets `cursor.execute(sql)`: PyMySQL then sends the text as
    # it is (no % formatting, so a % in the data is data). SQLAlchemy's events still see it.
    result = conn.exec_driver_sql(sql, execution_options={"no_parameters": True})
    return int(result.rowcount)


def _parts(conn: Connection, stmt: Insert, columns: tuple[str, ...]) -> _Parts:
    """The SQL before the VALUES list, the bound names in its order, the SQL after it."""
    table = stmt.table
    assert isinstance(table, Table)
    # Known by its table, columns and ON DUPLICATE clause, as fast_copy's compiled statements.
    clause = getattr(stmt, "_post_values_clause", None)
    key = (table.name, columns, id(stmt.__class__), id(type(clause)))
    if key not in _parts_made:
        _parts_made[key] = _split(conn, stmt, columns)
    return _parts_made[key]


def _split(conn: Connection, stmt: Insert, columns: tuple[str, ...]) -> _Parts:
    from pymysql.cursors import RE_INSERT_VALUES  # the driver: only where it is installed

    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(columns))
    found = RE_INSERT_VALUES.match(str(compiled))
    if compiled.positional or found is None:
        return None
    names = list(compiled.binds)
    expected = "(" + ", ".join(f"%({name})s" for name in names) + ")"
    if found.group(2).rstrip() != expected:
        return None
    # As PyMySQL's executemany: `% ()` turns the compiled text's %% back into %.
    return found.group(1) % (), names, (found.group(3) or "") % ()
