"""What saving a block of rows will do: new to the mirror, changed, the same, or older.

The loader reads what the mirror holds of a page's keys once, in the saving transaction; the
counts come from it, and so does how each row is written (etl.load, etl.updates).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from sqlalchemy import Connection

from etl.catalog.resources import Resource
from etl.mapping.block import Block
from etl.mirror import future_stamps, lookup, updates

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


def classify(
    conn: Connection,
    resource: Resource,
    block: Block,
    counted: Container[Any],
    fresh: bool,
    trust_until: dt.datetime,
) -> tuple[LoadCounts, dict[Any, dict[str, Any]]]:
    """What saving the block will do, and what the mirror holds of its keys, by key.

    With a change time, what is held is the change time (and on SQLite the indexed columns an
    UPDATE compares); without one, every column the block carries.

    Args:
        conn: the connection (inside the saving transaction).
        resource: what the rows are.
        block: the rows, each key once.
        counted: keys this run already counted: they count again only if they update the mirror.
        fresh: the table held no row when the run began: only keys in `counted` are looked up.
        trust_until: a stored change time later than this does not guard its row
            (etl.mirror.future_stamps).
    """
    table, key, guard = resource.table, resource.key_column, resource.cursor_column
    if guard is None:
        if fresh and not any(k in counted for k in block.column(key)):
            # Nothing of this block can be held: the table was empty when the run began, and
            # this run saved none of its keys (a whole table's first pull is all such blocks).
            return LoadCounts(inserted=len(block)), {}
        return _classify_whole(conn, resource, block.rows(), counted)
    keys, stamps = block.column(key), block.column(guard)
    maybe = [k for k in keys if k in counted] if fresh else keys
    checked = updates.checked_on_update(conn.dialect.name, table, block.columns, guard)
    stored = lookup.stored(conn, table, key, [guard, *checked], maybe)
    future_stamps.release(conn, resource, keys, stamps, stored, trust_until)
    counts = LoadCounts()
    for key_value, stamp in zip(keys, stamps, strict=True):
        old = stored.get(key_value)
        if old is None:
            counts.inserted += 1
        elif stamp is None or old[guard] is None or stamp > old[guard]:
            counts.updated += 1
        elif key_value in counted:
            continue
        elif stamp == old[guard]:
            counts.unchanged += 1
        else:
            counts.stale += 1
    return counts, stored


def _classify_whole(
    conn: Connection, resource: Resource, rows: list[dict[str, Any]], counted: Container[Any]
) -> tuple[LoadCounts, dict[Any, dict[str, Any]]]:
    # Without a change time (tables pulled whole) a row is unchanged only if every value is.
    table, key = resource.table, resource.key_column
    compared = sorted({n for r in rows for n in r} - UNCOMPARED - {key})
    counts = LoadCounts()
    stored = lookup.stored(conn, table, key, compared, [r[key] for r in rows])
    for row in rows:
        old = stored.get(row[key])
        if old is None:
            counts.inserted += 1
        elif any(row[n] != old[n] for n in compared if n in row):
            counts.updated += 1
        elif row[key] not in counted:
            counts.unchanged += 1
    return counts, stored
