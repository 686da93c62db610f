"""The list requests of one run of a resource, from how it is declared to be read.

A plain resource makes one request series per pass. A fan-out (etl.catalog.reading.FanOut)
makes one per parent key, read from the mirror's parent table: on an incremental run only the
parents changed since the last complete run, less the overlap, and the slice of the others that
the slow sweep (etl.sync.sweep) says is due. A date window
(etl.catalog.reading.DateWindow) makes one per window of dates (one for the whole range when
adaptive, etl.sync.series halving it), or one "on or after" request.

The office's today is not known before the first answer: it is the date of the newest cursor
that came from the office's clock (the patients read earlier in the same run), else this
machine's UTC date; each window has a day more on each side, which covers every time zone.

What a series read to its end proves (`listed_scopes`): a parent's list holds all its children,
a window's answer every row dated inside it. Each window's own dates bound what it proves (not
the office's today, which a zone can move): a row dated outside every window is never marked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, func, or_, select, true

from etl.catalog.reading import DateWindow, FanOut
from etl.catalog.resources import RESOURCES, Resource
from etl.catalog.tables import TABLES
from etl.mirror.lookup import chunked
from etl.sync import state, sweep

_MARGIN = dt.timedelta(days=1)  # office zones lie within a day of UTC
_DAY = dt.timedelta(days=1)


def request_params(
    engine: Engine,
    resource: Resource,
    since: dt.datetime | None,
    today: dt.date | None,
    parents: list[int] | None = None,
) -> Iterator[dict[str, str]]:
    """The extra query parameters of each request series of one pass.

    Args:
        engine: the mirror (a fan-out reads its parent keys there).
        resource: what the run pulls.
        since: where an incremental run starts reading; None on a first or full run.
        today: the office's date (etl.sync.requests.office_today), for a date window.
        parents: for a fan-out, the parents to read (etl.sync.fan_probe); None: as declared.

    Yields:
        One dict of parameters per request series ({} for a plain resource).
    """
    fan_out = resource.fan_out
    if fan_out is not None:
        keys = _fan_out_keys(engine, resource, fan_out, since) if parents is None else parents
        for key in keys:
            yield {fan_out.param: str(key)}
    elif resource.window is not None:
        yield from _windows(resource.window, since, today or office_today(engine))
    else:
        yield {}


def office_today(engine: Engine) -> dt.date:
    """The office's date: its clock's newest reading the mirror has, else this machine's (UTC)."""
    clocked = {r.name for r in RESOURCES.values() if r.cursor_param or r.cursor_from_rows}
    cursors = [s.cursor for s in state.states(engine) if s.resource in clocked and s.cursor]
    return max(cursors).date() if cursors else state.utcnow().date()


def parent_keys(
    engine: Engine,
    fan_out: FanOut,
    since: dt.datetime | None,
    slots: tuple[int, int] | None = (0, -1),
    active_since: dt.datetime | None = None,
) -> list[object]:
    """The parent keys to read children for, in key order.

    Args:
        engine: the mirror.
        fan_out: the declaration.
        since: on an incremental run, the parents changed since then; None: every parent.
        slots: the sweep's slots due as well (etl.sync.sweep.slots_due; None: every parent).
        active_since: the parents that the declaration's `activity` tables name in rows
            odmirror wrote since then (odmirror's clock) as well.
    """
    parent = TABLES[fan_out.parent_table]
    key = parent.c[fan_out.parent_key]
    query = select(key).where(key.is_not(None)).distinct().order_by(key)
    if since is not None and fan_out.parent_change is not None:
        changed = parent.c[fan_out.parent_change] >= since
        also = [sweep.in_slots(key, slots)]
        if active_since is not None:
            also += [key.in_(_written_since(name, column, active_since))
                     for name, column in fan_out.activity]  # fmt: skip
        query = query.where(or_(changed, *also))
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def _fan_out_keys(
    engine: Engine, resource: Resource, fan_out: FanOut, since: dt.datetime | None
) -> list[object]:
    if since is None or fan_out.parent_change is None:
        return parent_keys(engine, fan_out, since)
    last, now = sweep.run_starts(engine, resource.name)
    period = fan_out.all_parents_every
    slots = sweep.slots_due(last, now, period) if period is not None else (0, -1)
    return parent_keys(engine, fan_out, since, slots, last)


def _written_since(name: str, column: str, moment: dt.datetime) -> Select[Any]:
    # After the second the last complete run began: the resources that write these tables run
    # before the fan-out, so what they wrote in that second was there when it read its parents.
    table = TABLES[name]
    return select(table.c[column]).where(table.c["odmirror_synced_at"] > moment)


def parent_high_water(engine: Engine, fan_out: FanOut) -> dt.datetime | None:
    """The newest parent change time in the mirror: a fan-out's cursor when its run completes.

    Read before the children: a parent changed during the run is newer, so the next run reads
    its children again. None when the parents have no change column (every run reads all).
    """
    if fan_out.parent_change is None:
        return None
    column = TABLES[fan_out.parent_table].c[fan_out.parent_change]
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(column))).scalar()
    return newest if isinstance(newest, dt.datetime) else None


def _windows(
    window: DateWindow, since: dt.datetime | None, today: dt.date
) -> Iterator[dict[str, str]]:
    back = window.back if since is not None else window.first_back
    if back is None:
        yield {}  # a first run of an "on or after" window: everything
        return
    start = today - back - _MARGIN
    if window.end_param is None:
        yield {window.start_param: start.isoformat()}
        return
    last = today + window.ahead + _MARGIN
    # Adaptive (no step): the whole range in one series, halved as its answers say.
    step = max(window.step or (last - start + _DAY), _DAY)
    while start <= last:
        end = min(start + step - _DAY, last)
        yield {window.start_param: start.isoformat(), window.end_param: end.isoformat()}
        start = end + _DAY


def window_range(
    window: DateWindow, since: dt.datetime | None, today: dt.date
) -> tuple[dt.date, dt.date] | None:
    """The first and last dates a dated window's run asks for (None: no end date, or no date)."""
    extras = list(_windows(window, since, today))
    if window.end_param is None or not extras or not extras[0]:
        return None
    first, last = extras[0][window.start_param], extras[-1][window.end_param]
    return dt.date.fromisoformat(first), dt.date.fromisoformat(last)


def listed_scopes(resource: Resource, series: list[dict[str, str]]) -> list[ColumnElement[bool]]:
    """The parts of the mirror table that these request series, each read to its end, list whole.

    Args:
        resource: a fan-out or a date window (any other: no scope, see etl.sync.removals).
        series: the extra parameters (etl.sync.requests.request_params) of each series of the
            unfiltered pass read to its end; a pass with filters lists only part of its scope.

    Returns:
        Conditions on the table's rows: those inside and not listed are gone.
    """
    table = resource.table
    if resource.fan_out is not None:
        column = table.c[resource.by_key[resource.fan_out.param].column]
        parents = sorted({int(p[resource.fan_out.param]) for p in series})
        return [column.in_(chunk) for chunk in chunked(parents, 500)]
    window = resource.window
    if window is None:
        return []
    scopes: list[ColumnElement[bool]] = []
    for params in series:
        if not params:  # no date asked: the whole table
            scopes.append(true())
        elif window.date_field is not None:
            date = table.c[resource.by_key[window.date_field].column]
            start = dt.date.fromisoformat(params[window.start_param])
            if window.end_param is None:
                scopes.append(date >= start)
            else:
                scopes.append(date.between(start, dt.date.fromisoformat(params[window.end_param])))
    return scopes
