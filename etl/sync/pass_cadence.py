"""Status passes on a cadence: each read from where it was last read.

Without SQL, `patients` costs three requests on a run with nothing changed: the plain list and
the PatStatus=Deleted and =Archived passes (the vendor does not say whether the plain list
shows such patients, so the unhelpful reading is that it does not). With
`sync.whole_tables_every`, a user trades freshness for requests: the passes are then read at
most that often. A run that skips a pass moves the resource's cursor all the same, so a pass
keeps a cursor of its own (`pass_from:`): when it is next read, it reads from there, and every
patient whose status changed meanwhile comes then. The run's probe (etl.sync.pass_probe), when
the office allows SQL, counts a pass's rows from that cursor too.

Kept in odmirror_settings, per resource and pass, on every complete run (paced or not, so that
a cadence set later starts from a current cursor):
- `pass_read:<resource>:<filters>`: odmirror's clock when the pass was last read, or shown by
  the plain list, or vouched for by the probe;
- `pass_from:<resource>:<filters>`: the cursor that run left (the office's time).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, delete, insert

from etl.catalog.resources import Resource
from etl.mirror.bookkeeping import Setting
from etl.sync import cadence, state
from etl.sync.seen import ShownValues, filters_text

#: Where a pass's last read is kept (odmirror's clock), and the cursor it reads from next.
PASS_READ, PASS_FROM = "pass_read:", "pass_from:"


def pass_name(resource: Resource, filters: dict[str, str]) -> str:
    """A pass's name in the settings: `patients:PatStatus=Deleted`."""
    return f"{resource.name}:{filters_text(filters)}"


def pass_cursor(
    engine: Engine, resource: Resource, filters: dict[str, str], cursor: dt.datetime
) -> dt.datetime:
    """Where a status pass reads from on an incremental run: the resource's cursor, or the
    pass's own if older (a run left it out since)."""
    if not filters:
        return cursor
    own = cadence.kept_time(engine, PASS_FROM + pass_name(resource, filters))
    return cursor if own is None else min(own, cursor)  # none kept: every run read every pass


def plan(
    engine: Engine,
    resource: Resource,
    shown: ShownValues,
    cursor: dt.datetime,
    notes: list[str],
    paced: bool,
) -> dict[str, dt.datetime]:
    """Leave out of this run the status passes not yet due; the others' own cursors.

    Args:
        engine: the mirror.
        resource: the resource read.
        shown: the run's passes; those not due are deferred.
        cursor: the resource's cursor (an incremental run).
        notes: the run's notes, for each pass left out.
        paced: the run has no probe: `passes_every` (`whole_tables_every`) applies.

    Returns:
        Each due pass's cursor, by its name, where it is older than the resource's.
    """
    every, now = resource.passes_every if paced else None, state.utcnow()
    older: dict[str, dt.datetime] = {}
    for filters in cadence.status_passes(resource):
        name = pass_name(resource, filters)
        due = None if every is None else cadence.read_due(engine, PASS_READ + name, every, now)
        if due is not None:
            shown.defer(filters)
            waits = cadence.not_due_note(every or dt.timedelta(0), due)
            notes.append(f"{filters_text(filters)} pass {waits}")
            continue
        own = pass_cursor(engine, resource, filters, cursor)
        if own < cursor:
            older[name] = own
    return older


def remember(
    engine: Engine, resource: Resource, shown: ShownValues, left: dt.datetime | None
) -> None:
    """After a complete run: the status passes it did not leave out read from its cursor next.

    Args:
        engine: the mirror.
        resource: the resource read.
        shown: the run's passes (those deferred keep their cursor).
        left: the cursor the run left (the one it started from, if it kept it; None: none).
    """
    read, start = state.utcnow().isoformat(), None if left is None else left.isoformat()
    kept: dict[str, str | None] = {}
    for filters in cadence.status_passes(resource):
        if not shown.deferred(filters):
            name = pass_name(resource, filters)
            kept |= {PASS_READ + name: read, PASS_FROM + name: start}
    if not kept:
        return
    with engine.begin() as conn:  # one transaction for all of them: every run of the resource
        conn.execute(delete(Setting).where(Setting.name.in_(list(kept))))
        rows = [{"name": k, "value": v} for k, v in kept.items() if v is not None]
        conn.execute(insert(Setting), rows)
