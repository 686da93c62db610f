"""The upsert on MySQL and MariaDB: INSERT ... ON DUPLICATE KEY UPDATE, guarded column by column.

ON DUPLICATE KEY UPDATE has no WHERE, so each assignment carries the condition that PostgreSQL's
ON CONFLICT ... WHERE holds: the incoming row is at least as new as the stored one (the change
time, `guard`) and differs from it in some compared column. MySQL makes the assignments left to
right, and an assignment sees the columns assigned before it with their NEW values. So:
- the uncompared columns (odmirror_synced_at) come first, while every column still holds what
  was stored: they change only if the row does;
- the guard column comes last: until then the condition compares with the stored change time;
- a compared column assigned after others sees "differs" on a half-updated row. If it says the
  row no longer differs, every compared column already holds the incoming value, this one too:
  keeping it is the same as assigning it. So the row ends either wholly updated or untouched.
A row that is not changed is not written: MySQL skips an update that sets every value as it is.
Text is compared as bytes: Open Dental's collation ignores case and trailing spaces, and a name
corrected from "smith" to "Smith" must still be written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    JSON,
    LargeBinary,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    or_,
    true,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.mysql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from etl.mirror.classify import UNCOMPARED


def upsert_statement(
    table: Table,
    columns: Iterable[str] | None = None,
    guard: str | None = None,
    source: Select[Any] | None = None,
) -> Insert:
    """INSERT a row, or UPDATE the columns it carries where its key exists (MySQL, MariaDB).

    Args:
        table: the mirror table.
        columns: the columns the rows carry (default: all); others are left as stored.
        guard: a change-time column; an existing row is only overwritten by one at least as new.
        source: a SELECT of the rows, one column per name in `columns` (else executed with rows).

    Returns:
        The statement (etl.mirror.upsert.upsert_statement's semantics).
    """
    stmt = mysql.insert(table)
    names = list(columns) if columns is not None else [c.name for c in table.columns]
    if source is not None:
        stmt = stmt.from_select(names, source)
    keys = {c.name for c in table.primary_key.columns}
    assigned = [n for n in names if n not in keys]
    if not assigned:
        # Setting the key to itself writes nothing; INSERT IGNORE would also hide other errors.
        key = next(iter(keys))
        return stmt.on_duplicate_key_update({key: table.c[key]})
    compared = [n for n in assigned if n not in UNCOMPARED]
    guarded = guard if guard in compared else None
    condition: ColumnElement[bool] = differs(table, stmt, compared)
    if guarded is not None:
        stored, incoming = table.c[guarded], stmt.inserted[guarded]
        newer = or_(stored.is_(None), incoming.is_(None), incoming >= stored)
        condition = and_(newer, condition)
    first = [n for n in assigned if n in UNCOMPARED]
    order = first + [n for n in compared if n != guarded] + ([guarded] if guarded else [])
    return stmt.on_duplicate_key_update(
        [(n, case((condition, stmt.inserted[n]), else_=table.c[n])) for n in order]
    )


def differs(table: Table, stmt: Insert, names: list[str]) -> ColumnElement[bool]:
    """Whether the incoming row differs from the stored one in any named column (NULL-safe)."""
    if not names:
        return true()  # only uncompared columns: written as on the other databases
    return or_(*(_bytes(table.c[n]).is_distinct_from(_bytes(stmt.inserted[n])) for n in names))


def _bytes(column: Any) -> Any:
    # CAST(x AS BINARY): compared byte by byte, not by the collation's rules.
    if isinstance(column.type, String | JSON):
        return cast(column, LargeBinary)
    return column
