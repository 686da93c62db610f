"""A stored change time later than any office clock can be does not guard its row.

The upsert keeps the newest version of a row: one whose stored change time is later than an
incoming one's is not overwritten. A row once stamped in 2099 (a server clock set wrong, then
put right) would so refuse every real later edit of itself, fetched and never saved. Such a
stamp is stored as sent, but it stops guarding: a version with another change time replaces it
(its change time is cleared first, which the upsert and the UPDATE both take as "older").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import MutableMapping, Sequence
from typing import Any

from sqlalchemy import Connection, update

from etl.catalog.resources import Resource
from etl.mirror.lookup import chunked, param_limit


def release(
    conn: Connection,
    resource: Resource,
    keys: Sequence[Any],
    stamps: Sequence[Any],
    stored: MutableMapping[Any, dict[str, Any]],
    trust_until: dt.datetime,
) -> int:
    """Clear the stored change times later than `trust_until` that an incoming row replaces.

    Args:
        conn: the saving transaction's connection.
        resource: a resource with a change-time column.
        keys: the incoming rows' keys.
        stamps: their change times, in the same order.
        stored: by key, what the mirror holds (its change time is set to None here too).
        trust_until: the latest change time a stored row may carry and still be trusted.

    Returns:
        How many rows stopped being guarded.
    """
    guard = resource.cursor_column
    assert guard is not None
    released = [
        key
        for key, stamp in zip(keys, stamps, strict=True)
        if (old := stored.get(key)) is not None
        and (held := old[guard]) is not None
        and held > trust_until
        and stamp != held  # the same version again is not a later edit
    ]
    if not released:
        return 0
    table = resource.table
    column = table.c[resource.key_column]
    for chunk in chunked(released, param_limit(conn.dialect.name)):
        conn.execute(update(table).where(column.in_(chunk)).values({guard: None}))
    for key in released:
        stored[key][guard] = None
    return len(released)
