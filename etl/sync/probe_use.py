"""What the run's one SQL probe changes in one resource's read (etl.sync.resource).

The probe (etl.sync.whole_probe) is asked once, before any resource is read; each resource
then asks here whether the probe proves it needs no request at all (a whole pull unchanged, a
dated window current, a list with nothing stamped since its cursor, one whose window's rows
are the mirror's), which of its status passes
and whether its deletion feed need none, and what a complete read leaves for the next run's
probe to vouch by.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from etl.api.client import ApiClient
from etl.catalog.resources import Resource
from etl.sync import (
    cadence,
    fan_probe,
    pass_probe,
    removals,
    rows_probe,
    state,
    whole_skip,
    window_probe,
)
from etl.sync.seen import ShownValues, filters_text
from etl.sync.whole_probe import WholeProbe


def skip_if_proved(
    engine: Engine, resource: Resource, probe: WholeProbe | None, overlap: dt.timedelta
) -> state.RunResult | None:
    """Record the resource as read with no request, if the probe proves nothing to read.

    Returns:
        The run's result, or None: the resource is read.
    """
    return (
        whole_skip.skip_if_unchanged(engine, resource, probe, overlap)
        or window_probe.skip_if_unchanged(engine, resource, probe, overlap)
        or pass_probe.skip_if_quiet(engine, resource, probe)
        or rows_probe.skip_if_same(engine, resource, probe, overlap)
    )


def before_pull(engine: Engine, resource: Resource, probe: WholeProbe | None) -> int:
    """Forget what the last read left to vouch by (this read replaces it); the probe's charge."""
    rows_probe.forget(engine, resource)
    return whole_skip.before_pull(engine, resource, probe)


def parents(
    engine: Engine,
    client: ApiClient,
    resource: Resource,
    probe: WholeProbe | None,
    overlap: dt.timedelta,
    since: dt.datetime | None,
) -> list[int] | None:
    """The parents a fan-out reads this run, as the probe chose them (None: as without SQL)."""
    if resource.fan_out is None or probe is None:
        return None
    return fan_probe.parents_to_read(
        engine, client, resource, probe.passes, overlap, since, probe.prints
    )


def vouch_quiet_passes(
    resource: Resource, probe: WholeProbe | None, shown: ShownValues, notes: list[str]
) -> dt.datetime | None:
    """Take the status passes the probe found nothing new for as read (etl.sync.pass_probe).

    Returns:
        The probe's clock, the cursor's limit, if a pass was vouched for; else None.
    """
    if probe is None:
        return None
    quiet = pass_probe.quiet_passes(probe.passes, probe.clock, resource)
    for filters in quiet:
        shown.vouch(filters)
    if not quiet:
        return None
    named = ", ".join(map(filters_text, quiet))
    notes.append(f"{named} not read: nothing new since the cursor (change probe)")
    return probe.clock


def read_deletions(
    engine: Engine, client: ApiClient, resource: Resource, probe: WholeProbe | None
) -> str | None:
    """Read the deletion feed whole, unless the probe found no deletion since its last read.

    Returns:
        The run's note of it, if any.
    """
    clock, feed = None if probe is None else probe.clock, resource.deletions
    assert feed is not None
    due = cadence.feed_due(engine, resource, state.utcnow())
    note = None
    if probe is not None and pass_probe.quiet_feed(probe.passes, clock, resource):
        note = f"{feed.path} not read: no deletion since its last read (change probe)"
    elif due is not None and feed.every is not None:  # `sync.whole_tables_every`
        return f"{feed.path} {cadence.not_due_note(feed.every, due)}"
    else:
        keys = removals.deleted_keys(client, resource)
        gone = removals.delete_rows(engine, resource, keys)
        if gone:
            note = f"{gone} deleted in Open Dental, removed from the mirror"
        cadence.feed_read(engine, resource, state.utcnow())
    pass_probe.remember_feed(engine, resource, clock)
    return note


def remember(
    engine: Engine,
    resource: Resource,
    probe: WholeProbe | None,
    cursor: dt.datetime | None,
    parents_chosen: bool,
    listed: list[dict[str, str]],
) -> None:
    """What the probe before a complete read vouches for the next run (fan-outs, windows).

    Args:
        engine: the mirror.
        resource: the resource read.
        probe: the run's probe.
        cursor: the cursor the read started from (None: a first or full read).
        parents_chosen: a fan-out read the parents the probe named.
        listed: the request series read to their end.
    """
    clock = None if probe is None else probe.clock
    fan_out = resource.fan_out
    every = fan_out is not None and (cursor is None or fan_out.parent_change is None)
    fan_probe.remember(engine, resource, clock, every or parents_chosen)
    window_probe.remember(engine, resource, clock, listed)
    rows_probe.remember(engine, resource, probe, cursor)
