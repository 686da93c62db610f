"""Rows that left Open Dental: hard deletions listed by a history feed, rows that a table
pulled whole no longer returns, and rows a fan-out parent's list or a date window's answer no
longer returns (`mark_missing_within`).

Both run only after a resource's pull completed, so a failed or cut-short pull never removes
or marks anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Container, Iterable
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, bindparam, delete, or_, select, update

from etl.api.client import ApiClient
from etl.catalog.resources import Resource
from etl.mapping.record import Invalid, decode, parse_server_time
from etl.mirror.lookup import chunked

_CHUNK = 500
_STREAM_ROWS = 10_000  # the mirror's keys read a batch at a time


def deleted_keys(client: ApiClient, resource: Resource) -> dict[int, dt.datetime | None]:
    """The keys the resource's deletion feed lists, with the latest deletion time of each.

    Raises:
        ApiError: the feed cannot be read.
    """
    feed = resource.deletions
    assert feed is not None
    spec = resource.by_key[resource.key]
    found: dict[int, dt.datetime | None] = {}
    for page in client.pages(feed.path, dict(feed.params)):
        for row in page.rows:
            # A server that ignored the filter must not make a "Changed" row delete anything.
            if not isinstance(row, dict) or any(
                name in row and str(row[name]) != value for name, value in feed.params.items()
            ):
                continue
            key = _key(spec, row.get(feed.key))
            if key is None:
                continue
            stamp = parse_server_time(row.get(feed.stamp)) if feed.stamp else None
            found[key] = _later(found.get(key, stamp), stamp)
    return found


def _key(spec: Any, value: Any) -> int | None:
    try:
        key = decode(spec, value)
    except Invalid:
        return None
    return key if isinstance(key, int) and key > 0 else None


def _later(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None or b is None:
        return None  # no time: delete whatever the mirror holds
    return max(a, b)


def delete_rows(engine: Engine, resource: Resource, keys: dict[int, dt.datetime | None]) -> int:
    """Delete the listed rows; a row changed after its deletion time (not the same row) stays.

    Returns:
        How many rows the mirror dropped.
    """
    table, key = resource.table, resource.table.c[resource.key_column]
    stmt = delete(table).where(key == bindparam("k"))
    guard = resource.cursor_column
    if guard is not None:
        column = table.c[guard]
        stmt = stmt.where(or_(bindparam("s").is_(None), column.is_(None), column <= bindparam("s")))
    removed = 0
    with engine.begin() as conn:
        for k, s in keys.items():  # one by one: each needs its own row count, and they are few
            removed += conn.execute(stmt, {"k": k, "s": s}).rowcount
    return removed


def mark_missing(
    engine: Engine, resource: Resource, present: Container[Any], now: dt.datetime
) -> tuple[int, int]:
    """Stamp `odmirror_gone_at` on rows a complete pull did not return; clear it on those it did.

    Args:
        engine: the mirror.
        resource: what was pulled whole.
        present: the keys the pull returned (a run's SeenKeys: about a bit a key).
        now: the time to stamp.

    Returns:
        (rows newly marked gone, rows that came back).
    """
    table = resource.table
    key, gone = table.c[resource.key_column], table.c["odmirror_gone_at"]
    missing, back = [], []
    with engine.begin() as conn:
        # The mirror's keys are read once, streamed (memory flat in the table's size), and
        # compared here: only the rows that change state are written (none, most runs), never
        # a statement holding every key of the table.
        every = select(key, gone.is_not(None)).execution_options(yield_per=_STREAM_ROWS)
        held = conn.execute(every)
        for k, was_gone in held:
            if was_gone and k in present:
                back.append(k)
            elif not was_gone and k not in present:
                missing.append(k)
        missing.sort()
        back.sort()
        for chunk in chunked(missing, _CHUNK):
            conn.execute(update(table).where(key.in_(chunk)).values({gone: now}))
        for chunk in chunked(back, _CHUNK):
            conn.execute(update(table).where(key.in_(chunk)).values({gone: None}))
    return len(missing), len(back)


def mark_missing_within(
    engine: Engine,
    resource: Resource,
    scopes: Iterable[ColumnElement[bool]],
    present: Container[Any],
    now: dt.datetime,
) -> tuple[int, int]:
    """Stamp `odmirror_gone_at` on rows inside the scopes that the run did not return; clear it
    on rows it returned.

    Args:
        engine: the mirror.
        resource: the fan-out or date window that was read.
        scopes: parts of the table that complete answers listed whole
            (etl.sync.requests.listed_scopes); a row outside all of them is left as it is.
        present: the keys the run returned (any list, any pass).
        now: the time to stamp.

    Returns:
        (rows newly marked gone, rows that came back).
    """
    table = resource.table
    key, gone = table.c[resource.key_column], table.c["odmirror_gone_at"]
    with engine.begin() as conn:
        # The keys are read first and compared here: a scope holds few rows, the run's keys
        # may be many, and neither goes into one statement whole.
        missing: set[Any] = set()
        for scope in scopes:
            inside = conn.execute(select(key).where(and_(scope, gone.is_(None)))).scalars()
            missing.update(k for k in inside if k not in present)
        marked_before = conn.execute(select(key).where(gone.is_not(None))).scalars()
        back = sorted(k for k in marked_before if k in present)
        for chunk in chunked(sorted(missing), _CHUNK):
            conn.execute(update(table).where(key.in_(chunk)).values({gone: now}))
        for chunk in chunked(back, _CHUNK):
            conn.execute(update(table).where(key.in_(chunk)).values({gone: None}))
    return len(missing), len(back)
