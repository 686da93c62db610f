"""How a group of rows reaches the database fast: the two ways the loader uses.

- executemany with SQL compiled once per column set: SQLAlchemy's generic path builds and
  processes every row's parameters in Python, which costs more than SQLite spends storing them.
- On PostgreSQL, COPY into a temporary staging table, then one INSERT ... SELECT ... ON CONFLICT:
  rows travel in COPY's stream instead of one Bind/Execute each.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table
from sqlalchemy.sql.dml import Insert

_Compiled = tuple[str, list[tuple[str, Callable[[Any], Any] | None]], bool]
_compiled: dict[tuple[str, str, tuple[str, ...], int], _Compiled] = {}


def executemany(
    conn: Connection, stmt: Insert, columns: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    """Execute an INSERT for every row through the driver's executemany.

    Args:
        conn: the connection (inside its transaction).
        stmt: the statement; its bound parameters must be the columns' values.
        columns: the keys every row carries.
        rows: the rows.
    """
    sql, params, positional = _compile(conn, stmt, columns)
    if positional:
        values: list[Any] = [tuple(_bound(row, params)) for row in rows]
    else:
        values = [
            dict(zip([n for n, _ in params], _bound(row, params), strict=True)) for row in rows
        ]
    conn.exec_driver_sql(sql, values)


def _bound(row: dict[str, Any], params: list[tuple[str, Callable[[Any], Any] | None]]) -> list[Any]:
    return [row[name] if process is None else process(row[name]) for name, process in params]


def _compile(conn: Connection, stmt: Insert, columns: Sequence[str]) -> _Compiled:
    table = stmt.table
    assert isinstance(table, Table)
    key = (conn.dialect.name, table.name, tuple(columns), id(stmt.__class__))
    if key not in _compiled:
        compiled = stmt.compile(dialect=conn.dialect, column_keys=list(columns))
        names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
        processors = {
            name: table.c[name].type._cached_bind_processor(conn.dialect) for name in names
        }
        params = [(name, processors[name]) for name in names]
        _compiled[key] = (str(compiled), params, bool(compiled.positional))
    return _compiled[key]


def stage(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[dict[str, Any]]
) -> Table:
    """COPY rows into a temporary table shaped like `table` (emptied when the transaction ends).

    Returns:
        The staging table, with the given columns in that order.
    """
    name = f"odmirror_stage_{table.name}"
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} (LIKE {table.name}) ON COMMIT DELETE ROWS"
    )
    conn.exec_driver_sql(f"TRUNCATE {name}")
    processors = [table.c[c].type._cached_bind_processor(conn.dialect) for c in columns]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [
                    row[c] if p is None else p(row[c])
                    for c, p in zip(columns, processors, strict=True)
                ]
            )
    return _staging_table(table, name, tuple(columns))


@functools.lru_cache(maxsize=64)
def _staging_table(table: Table, name: str, columns: tuple[str, ...]) -> Table:
    # One object per column set: a new Table per page would make every INSERT ... SELECT a new
    # entry of SQLAlchemy's statement cache (hundreds of compiled statements, tens of MB).
    return Table(name, MetaData(), *(Column(c, table.c[c].type) for c in columns))
