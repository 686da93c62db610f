"""Rows a complete read no longer lists get `odmirror_gone_at` (and lose it when they return).

A whole pull (no change filter) lists the whole table; a fan-out parent's list and a date
window's answer each list their own part whole (etl.sync.requests.listed_scopes). Called only
after every pass of the read completed: a failed read has raised before, and marks nothing.
"""

from __future__ import annotations

from sqlalchemy import Engine

from etl.catalog.resources import Resource
from etl.sync import removals, requests, state
from etl.sync.seen import SeenKeys


def mark_unlisted(
    engine: Engine, resource: Resource, seen: SeenKeys, listed: list[dict[str, str]], fresh: bool
) -> list[str]:
    """Mark what the read's lists no longer show; the run's notes of it.

    Args:
        engine: the mirror.
        resource: the resource read.
        seen: the keys the read saved.
        listed: the extra parameters of each request series read to its end.
        fresh: the table was empty when the run began (it holds only what the run wrote).
    """
    now, notes = state.utcnow(), []
    if resource.mark_missing and resource.cursor_param is None and not fresh:
        notes.append(removals.mark_missing(engine, resource, seen, now))
    scopes = requests.listed_scopes(resource, listed)
    if scopes:
        notes.append(removals.mark_missing_within(engine, resource, scopes, seen, now))
    return [
        f"{marked} no longer listed (odmirror_gone_at set), {back} back"
        for marked, back in notes
        if marked or back
    ]
