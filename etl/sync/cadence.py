"""Whether a resource declared with its own cadence (`every`) is due on this run.

Whole pulls of tables that change little (fees, benefits, carriers) need not be read every 15
minutes: a resource with `every` is skipped by runs that come sooner than that after its last
complete run. The times are odmirror's own (when it last succeeded), not the office's clock.

The other whole pulls (claimprocs, paysplits, recalls, ...: no change filter, so every page on
every run unless the office allows SQL and the run's probe vouches for them) take
`sync.whole_tables_every` as their cadence when it is set: on the Remote API, where each page
costs a second, a user may trade their freshness for requests. So does a fan-out that reads
every parent on every run (payplancharges: one request per payment plan, whose table has no
change time), a deletion feed, listed whole (appointments' Deleted history), and a date
window's far reaches (payments entered in the last 30 days, schedules 8 days back to 121
ahead): between whole reads a run reads from a day back to a week ahead, so new payments and
this week's schedule changes still come each run. And the status passes of a list by change
stamp (patients' PatStatus=Deleted and =Archived), each then read from where it was last read
(etl.sync.pass_cadence).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Engine, delete, insert, select

from etl.catalog.resources import Resource
from etl.mirror.bookkeeping import Setting, SyncState
from etl.sync import state

#: Where a deletion feed's last complete read is kept (odmirror_settings; the resource next).
FEED_READ = "deletions_read:"
#: Where a date window's last complete read of the whole window is kept.
WINDOW_READ = "window_read:"
#: Between whole reads, a paced window reads from a day back to a week ahead of the office's day.
NEAR_BACK, NEAR_AHEAD = dt.timedelta(days=1), dt.timedelta(days=7)


def reads_whole(resource: Resource) -> bool:
    """Whether the endpoint lists the whole table every run: no change filter, no window, and
    no parent, or every parent on every run (their table has no change time: payplancharges,
    one request per payment plan)."""
    fan_out = resource.fan_out
    every_parent = fan_out is None or fan_out.parent_change is None
    plain = resource.cursor_param is None and resource.window is None
    return plain and every_parent and resource.passes == ({},)


def status_passes(resource: Resource) -> list[dict[str, str]]:
    """The passes of a list by change stamp beside its plain list (PatStatus=Deleted, ...)."""
    passes = resource.passes
    if resource.cursor_param is None or {} not in passes:
        return []
    return [filters for filters in passes if filters]


def with_whole_cadence(resources: Sequence[Resource], every: dt.timedelta | None) -> list[Resource]:
    """The resources, those read whole every run given `every` (`sync.whole_tables_every`),
    and deletion feeds (listed whole: appointments' Deleted history), date windows' far
    reaches and status passes too."""
    if every is None:
        return list(resources)
    paced = []
    for r in resources:
        if r.every is None and reads_whole(r):
            r = dataclasses.replace(r, every=every)
        if r.deletions is not None and r.deletions.every is None:
            r = dataclasses.replace(r, deletions=dataclasses.replace(r.deletions, every=every))
        if r.window is not None and r.window.every is None:
            r = dataclasses.replace(r, window=dataclasses.replace(r.window, every=every))
        if r.passes_every is None and status_passes(r):
            r = dataclasses.replace(r, passes_every=every)
        paced.append(r)
    return paced


def feed_due(engine: Engine, resource: Resource, now: dt.datetime) -> dt.datetime | None:
    """When a resource's deletion feed is next due, or None if now (or it has no cadence)."""
    feed = resource.deletions
    if feed is None or feed.every is None:
        return None
    return read_due(engine, FEED_READ + resource.name, feed.every, now)


def feed_read(engine: Engine, resource: Resource, now: dt.datetime) -> None:
    """Keep when a resource's deletion feed was last read to its end (odmirror's clock)."""
    keep_read(engine, FEED_READ + resource.name, now)


def narrowed(engine: Engine, resource: Resource, now: dt.datetime) -> tuple[Resource, str] | None:
    """The resource with its date window narrowed, between reads of the whole window, and the
    run's note of it; None: the whole window is due (or has no cadence)."""
    window = resource.window
    if window is None or window.every is None:
        return None
    due = read_due(engine, WINDOW_READ + resource.name, window.every, now)
    if due is None:
        return None
    near = dataclasses.replace(
        window, back=min(window.back, NEAR_BACK), ahead=min(window.ahead, NEAR_AHEAD)
    )
    whole = not_due_note(window.every, due)
    note = f"window narrowed to a day back and a week ahead; the whole window {whole}"
    return dataclasses.replace(resource, window=near), note


def window_read(engine: Engine, resource: Resource, now: dt.datetime) -> None:
    """Keep when a resource's whole date window was last read (a complete run, not narrowed):
    kept with or without a cadence, so that one set later counts from it."""
    if resource.window is not None:
        keep_read(engine, WINDOW_READ + resource.name, now)


def read_due(
    engine: Engine, name: str, every: dt.timedelta, now: dt.datetime
) -> dt.datetime | None:
    """When what was last read at the time kept under `name` is next due; None: now (never
    read, unreadable, or read later than now by this machine's clock)."""
    last = kept_time(engine, name)
    if last is None:
        return None  # never read whole (or unreadable): now
    due = last + every
    return due if last <= now < due else None


def kept_time(engine: Engine, name: str) -> dt.datetime | None:
    """The time kept under `name` in odmirror_settings; None: none, or unreadable."""
    with engine.connect() as conn:
        text = conn.execute(select(Setting.value).where(Setting.name == name)).scalar()
    try:
        return dt.datetime.fromisoformat(text or "")
    except ValueError:
        return None


def keep_read(engine: Engine, name: str, now: dt.datetime) -> None:
    """Keep under `name` when something was last read (odmirror's clock)."""
    with engine.begin() as conn:
        conn.execute(delete(Setting).where(Setting.name == name))
        conn.execute(insert(Setting).values(name=name, value=now.isoformat()))


def next_due(engine: Engine, resource: Resource, now: dt.datetime) -> dt.datetime | None:
    """When the resource is next due, or None if it is due now (or has no cadence).

    Args:
        engine: the mirror, whose bookkeeping holds the resource's last complete run.
        resource: the resource to run.
        now: this machine's clock in UTC (etl.sync.state.utcnow).
    """
    if resource.every is None:
        return None
    with engine.connect() as conn:
        last = conn.execute(
            select(SyncState.last_success_at).where(SyncState.resource == resource.name)
        ).scalar_one_or_none()
    if last is None or last > now:  # never ran, or a clock that went back: run now
        return None
    due = last + resource.every
    return due if due > now else None


def not_due_note(every: dt.timedelta, due: dt.datetime) -> str:
    """The run's note of something skipped until its cadence."""
    return f"not due: read every {_span(every)}, next at {due:%Y-%m-%d %H:%M} UTC"


def skipped(resource: Resource, due: dt.datetime) -> state.RunResult:
    """The result of a run that skipped a resource not yet due."""
    note = not_due_note(resource.every or dt.timedelta(0), due)
    return state.RunResult(resource.name, "skipped", state.RunStats(), 0.0, None, False, [note])


def _span(every: dt.timedelta) -> str:
    hours = every.total_seconds() / 3600
    return f"{hours:g}h" if hours >= 1 else f"{every.total_seconds() / 60:g}m"
