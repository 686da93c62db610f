"""Save mapped rows into the mirror with the dialect's INSERT ... ON CONFLICT DO UPDATE."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from sqlalchemy import JSON, Connection, Engine, Table, Text, and_, cast, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.dml import Insert as PgInsert
from sqlalchemy.dialects.sqlite.dml import Insert as SqliteInsert
from sqlalchemy.sql.elements import ColumnElement

from etl.errors import DatabaseError
from etl.resources import Resource

SUPPORTED = ("postgresql", "sqlite")
#: Columns that say when odmirror wrote a row, not what the row is: a difference in them alone
#: does not make a row worth writing again.
UNCOMPARED = frozenset({"odmirror_synced_at"})
_Counts = TypeVar("_Counts", bound="LoadCounts")


@dataclass
class LoadCounts:
    """What saving did: rows new to the mirror, changed, the same, or older than the mirror's."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0

    def __iadd__(self: _Counts, other: LoadCounts) -> _Counts:
        for f in fields(LoadCounts):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self


def param_limit(dialect: str) -> int:
    """How many bound parameters one statement may carry on this dialect."""
    if dialect == "sqlite":
        # SQLITE_MAX_VARIABLE_NUMBER: 999 before SQLite 3.32, 32766 since.
        return 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
    return 65_535


def upsert_statement(
    table: Table, dialect: str, columns: Iterable[str] | None = None, guard: str | None = None
) -> PgInsert | SqliteInsert:
    """INSERT a row, or UPDATE the columns it carries where its key exists.

    Executed with a list of rows (executemany), so it is compiled once and cached.

    Args:
        table: the mirror table.
        dialect: "postgresql" or "sqlite".
        columns: the columns the rows carry (default: all); others are left as stored.
        guard: a change-time column; an existing row is only overwritten by one at least as new.

    Returns:
        The statement.
    """
    if dialect not in SUPPORTED:
        raise DatabaseError(f"odmirror mirrors into PostgreSQL or SQLite, not {dialect}")
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    names = list(columns) if columns is not None else [c.name for c in table.columns]
    keys = [c.name for c in table.primary_key.columns]
    updates = {name: stmt.excluded[name] for name in names if name not in keys}
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    where = _differs(table, stmt, [n for n in updates if n not in UNCOMPARED])
    if guard is not None and guard in names:
        column, incoming = table.c[guard], stmt.excluded[guard]
        where = and_(or_(column.is_(None), incoming.is_(None), incoming >= column), where)
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates, where=where)


def _differs(table: Table, stmt: PgInsert | SqliteInsert, names: list[str]) -> ColumnElement[bool]:
    # An unchanged row is not written at all: on PostgreSQL an UPDATE, even to the same values,
    # makes a new row version (a dead tuple and WAL). JSON has no equality on PostgreSQL, so it
    # is compared as text (the same dict always serialises the same way).
    def side(source: Any, name: str) -> ColumnElement[Any]:
        column = source[name]
        return cast(column, Text) if isinstance(column.type, JSON) else column

    return tuple_(*(side(table.c, n) for n in names)).is_distinct_from(
        tuple_(*(side(stmt.excluded, n) for n in names))
    )


def save_rows(
    engine: Engine, resource: Resource, rows: list[dict[str, Any]], synced_at: dt.datetime
) -> LoadCounts:
    """Upsert one page of mapped rows in one transaction.

    Rows with the same key keep the newest; a row only ever carries the columns its record had,
    so a key missing from a response never erases what is stored.
    """
    if not rows:
        return LoadCounts()
    rows = newest_per_key(rows, resource.key_column, resource.cursor_column)
    dialect = engine.dialect.name
    counts = LoadCounts()
    with engine.begin() as conn:
        for chunk in chunked(rows, param_limit(dialect)):
            counts += _classify(conn, resource, chunk)
        for columns, group in _same_columns(rows, synced_at):
            stmt = upsert_statement(resource.table, dialect, columns, resource.cursor_column)
            conn.execute(stmt, group)
    return counts


def newest_per_key(rows: list[dict[str, Any]], key: str, guard: str | None) -> list[dict[str, Any]]:
    """One row per key: the one with the newest guard value, else the last one."""
    best: dict[Any, dict[str, Any]] = {}
    for row in rows:
        current = best.get(row[key])
        if current is None or not _older(row.get(guard) if guard else None, current, guard):
            best[row[key]] = row
    return list(best.values())


def _older(incoming: Any, current: dict[str, Any], guard: str | None) -> bool:
    stored = current.get(guard) if guard else None
    return incoming is not None and stored is not None and incoming < stored


def _classify(conn: Connection, resource: Resource, rows: list[dict[str, Any]]) -> LoadCounts:
    table, key, guard = resource.table, resource.key_column, resource.cursor_column
    columns = [table.c[key]] + ([table.c[guard]] if guard else [])
    found = conn.execute(select(*columns).where(table.c[key].in_([r[key] for r in rows])))
    stored = {r[0]: (r[1] if guard else None) for r in found}
    counts = LoadCounts()
    for row in rows:
        incoming = row.get(guard) if guard else None
        if row[key] not in stored:
            counts.inserted += 1
        elif incoming is None or stored[row[key]] is None or incoming > stored[row[key]]:
            counts.updated += 1
        elif incoming == stored[row[key]]:
            counts.unchanged += 1
        else:
            counts.stale += 1
    return counts


def _same_columns(
    rows: list[dict[str, Any]], synced_at: dt.datetime
) -> Iterator[tuple[tuple[str, ...], list[dict[str, Any]]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        full = {**row, "odmirror_synced_at": synced_at}
        groups.setdefault(tuple(sorted(full)), []).append(full)
    yield from groups.items()


def chunked(items: list[Any], size: int) -> Iterable[list[Any]]:
    """Split a list into lists of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
