"""The mirror's side of removed-row reconciliation: counts and key checksums by key range.

Reconciliation (etl.sync.reconcile) compares, range by range, what the office's table holds
with what the mirror holds, so that only ranges that differ are narrowed. The mirror's figures
count rows not marked gone (`odmirror_gone_at IS NULL`): a row marked gone that the office has
again shows up as a difference, and is cleared. The checksum of a range is the sum of its keys
modulo `MODULUS` (a plain sum of Open Dental's random 64-bit keys would overflow SQLite's
integers); with the count it tells apart any two ranges that differ by one row, and any whose
differences are rows added above the keys removed (Open Dental's keys only grow).

The one difference between the databases is the integer division of the bucket number, in
`_bucket`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Table,
    and_,
    case,
    delete,
    func,
    literal_column,
    select,
)
from sqlalchemy import update as sql_update

from etl.mirror.lookup import chunked

#: The checksum adds keys modulo this prime (the office's SQL uses the same).
MODULUS = 1_000_000_007
_CHUNK = 500


@dataclass(frozen=True)
class Figures:
    """How many live rows a key range holds and their checksum; `gone` rows marked gone."""

    count: int
    checksum: int
    gone: int = 0
    low: int | None = None  # the lowest and highest key of any row (sparse keys narrow fast)
    high: int | None = None

    def same(self, other: Figures) -> bool:
        """Whether the live rows of two ranges match (by count and checksum)."""
        return self.count == other.count and self.checksum == other.checksum


@dataclass(frozen=True)
class Span:
    """The keys the mirror holds: lowest and highest of all its rows, and the live figures."""

    low: int | None
    high: int | None
    live: Figures


def span(conn: Connection, table: Table, key: str) -> Span:
    """The mirror's key span (any row, gone or not) and its live rows' figures."""
    k, gone = table.c[key], table.c["odmirror_gone_at"]
    live = gone.is_(None)
    row = conn.execute(
        select(
            func.min(k),
            func.max(k),
            func.sum(_when(live, literal_column("1"))),
            func.sum(_when(live, k.op("%")(MODULUS))),
        )
    ).one()
    low, high, count, checksum = row
    return Span(_int(low), _int(high), Figures(_int(count) or 0, _int(checksum) or 0))


def buckets(
    conn: Connection, table: Table, key: str, low: int, high: int, width: int
) -> dict[int, Figures]:
    """The figures of each bucket `(key - low) DIV width` of keys in [low, high).

    Buckets with no row at all are left out; `gone` counts the rows marked gone in each.
    """
    k, gone = table.c[key], table.c["odmirror_gone_at"]
    live = gone.is_(None)
    bucket = _bucket(conn, k, low, width).label("b")
    query = (
        select(
            bucket,
            func.sum(_when(live, literal_column("1"))),
            func.sum(_when(live, k.op("%")(MODULUS))),
            func.count(),
            func.min(k),
            func.max(k),
        )
        .where(k >= low, k < high)
        .group_by(literal_column("b"))
    )
    found = {}
    for b, count, checksum, total, least, most in conn.execute(query):
        count = _int(count) or 0
        found[int(b)] = Figures(
            count, _int(checksum) or 0, int(total) - count, _int(least), _int(most)
        )
    return found


def present(conn: Connection, table: Table, key: str, keys: Sequence[int]) -> set[int]:
    """Which of `keys` the mirror has a row of (gone or not)."""
    k = table.c[key]
    found: set[int] = set()
    for chunk in chunked(sorted(keys), _CHUNK):
        found.update(int(v) for v in conn.execute(select(k).where(k.in_(chunk))).scalars())
    return found


def mark_gone(
    conn: Connection,
    table: Table,
    key: str,
    low: int,
    high: int,
    kept: Sequence[int],
    now: dt.datetime,
    drop: bool = False,
) -> int:
    """Mark gone (or, with `drop`, delete) the live rows of [low, high) whose key is not kept.

    `kept` is the office's complete key list of the range (empty: it has none of it).

    Returns:
        How many rows were marked (or deleted).
    """
    k, gone = table.c[key], table.c["odmirror_gone_at"]
    where: ColumnElement[bool] = and_(k >= low, k < high, gone.is_(None))
    if kept:
        where = and_(where, k.not_in(sorted(kept)))
    if drop:
        return int(conn.execute(delete(table).where(where)).rowcount)
    return int(conn.execute(sql_update(table).where(where).values({gone: now})).rowcount)


def clear_gone(conn: Connection, table: Table, key: str, keys: Sequence[int]) -> int:
    """Clear `odmirror_gone_at` of the rows of `keys` marked gone: the office has them again.

    Returns:
        How many rows came back.
    """
    k, gone = table.c[key], table.c["odmirror_gone_at"]
    back = 0
    for chunk in chunked(sorted(keys), _CHUNK):
        stmt = sql_update(table).where(k.in_(chunk), gone.is_not(None)).values({gone: None})
        back += int(conn.execute(stmt).rowcount)
    return back


def _bucket(conn: Connection, k: Column[int], low: int, width: int) -> ColumnElement[int]:
    # Integer division: MySQL's DIV; SQLite and PostgreSQL divide integers as integers. The
    # numbers are written as literals (they are ints): PostgreSQL would take a large bound
    # parameter as NUMERIC and divide with decimals.
    shifted = (k - literal_column(str(int(low)))).self_group()
    divide = "DIV" if conn.dialect.name in ("mysql", "mariadb") else "/"
    return shifted.op(divide)(literal_column(str(int(width))))


def _when(live: ColumnElement[bool], value: ColumnElement[int]) -> ColumnElement[int]:
    return case((live, value), else_=literal_column("0"))


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
