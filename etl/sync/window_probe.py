"""Date windows (schedules, payments) the run's SQL probe proves unchanged are not read.

Schedules and payments have no change filter: each run lists its window of dates again
(etl.sync.series; payments' is "on or after" a date, its end open: up to `OPEN_END`, and a
first read that asked no date listed from `NO_START`).
Where the office allows SQL, the run's probe (etl.sync.whole_probe) asks, in the same SELECT,
the `COUNT(*)` and `MAX(DateTStamp)` of the rows dated inside the run's window W (its dates in
the row's label). A complete read remembers, in `odmirror_settings`, the range W' it listed and
the clock T0 of the probe made before it. A later run skips the read when W lies inside W',
the newest stamp in W is older than T0 less `sync.overlap_seconds`, and the count equals the
mirror's rows dated in W and not marked gone.

Why that proves the mirror's W current. Every insert and edit stamps the row with the office's
clock (a late commit falls inside the overlap, as in etl.sync.change_probe), so each row dated
in W now was, with the values it has now, in the office since before T0; being dated in W'
then, the read after T0 listed it: the mirror holds it as it is, not marked gone (a read marks
only rows its ranges did not list; a later failed read writes what it reads and marks
nothing). So the office's rows of W are all among the mirror's rows of W; as many of each,
they are the same rows. A row deleted since, or moved out of W (its new stamp is outside the
count), leaves the mirror one row more: read. A window that moved past W' (a new day: its far
end was never listed, while its rows can be old) is read, once a day. (A single day of more
rows than a page is paged with Offset, which may miss a row in that unstable order: the mirror
then has one row fewer, the counts differ, and the window is read again.)

No cursor (a first run), nothing remembered, `--full`, a failed probe or an answer without the
row (the window differs from the one the probe asked): read as without SQL.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, func, insert, select

from etl.catalog.query_tables import change_column
from etl.catalog.resources import Resource
from etl.mirror.bookkeeping import Setting
from etl.sync import requests, state, whole_skip
from etl.sync.cursor import window_start
from etl.sync.pass_probe import LABEL, Ask

if TYPE_CHECKING:  # whole_probe asks this module's rows
    from etl.sync.whole_probe import WholeProbe

#: Where a complete read's range and probe clock are kept (the resource's name follows).
PREFIX = "window_probe:"
UNCHANGED = "unchanged in its window since its last read: not read (change probe)"


#: The last date of a window "on or after" its start (payments' DateEntry): no end.
OPEN_END = dt.date.max
#: The first date of a read that asked no date at all (a first run): every row was listed.
NO_START = dt.date.min


def probed(resource: Resource) -> bool:
    """Whether a resource is a dated window the probe can vouch for."""
    window = resource.window
    dated = window is not None and window.date_field is not None
    return dated and change_column(resource.table_name) is not None


def unvouched(engine: Engine, resource: Resource) -> bool:
    """Whether a dated window the probe could vouch for has no read remembered yet."""
    return probed(resource) and _kept(engine, resource.name) is None


def run_window(
    engine: Engine, resource: Resource, overlap: dt.timedelta
) -> tuple[dt.date, dt.date] | None:
    """The dates an incremental read of the resource would list now (None: not probed)."""
    cursor = state.get_cursor(engine, resource.name)
    window = resource.window
    if not probed(resource) or cursor is None or window is None:
        return None
    since, today = window_start(cursor, overlap), requests.office_today(engine)
    if window.end_param is not None:
        return requests.window_range(window, since, today)
    starts = [
        p[window.start_param] for p in requests.request_params(engine, resource, since, today)
    ]
    return (dt.date.fromisoformat(starts[0]), OPEN_END) if starts else None


def label(resource: Resource, dates: tuple[dt.date, dt.date]) -> str:
    """The probe row's label: the resource and its window."""
    return f"{LABEL}{resource.name}:dated {dates[0]}..{dates[1]}"


def asks(engine: Engine, chosen: list[Resource], overlap: dt.timedelta) -> list[Ask]:
    """The probe's rows for the run's dated windows: their rows' count and newest stamp."""
    found = []
    for resource in chosen:
        dates = run_window(engine, resource, overlap)
        if dates is None or resource.window is None or resource.window.date_field is None:
            continue
        found.append(Ask(resource.name, label(resource, dates), count_sql(resource, dates)))
    return found


def count_sql(resource: Resource, dates: tuple[dt.date, dt.date]) -> str:
    """The probe's row of a dated window: its rows' count and newest stamp."""
    assert resource.window is not None
    stamp, dated = change_column(resource.table_name), resource.window.date_field
    return (
        f"SELECT '{label(resource, dates)}', COUNT(*), NULL, MAX({stamp}) "
        f"FROM {resource.table_name} WHERE {dated} BETWEEN '{dates[0]}' AND '{dates[1]}'"
    )


def skip_if_unchanged(
    engine: Engine, resource: Resource, probe: WholeProbe | None, overlap: dt.timedelta
) -> state.RunResult | None:
    """Record the resource as read without reading it, if the probe proves its window current.

    Returns:
        The run's result, or None: the window is to be read.
    """
    if probe is None or probe.clock is None or resource.window is None:
        return None  # before any query: most resources, every run
    dates = run_window(engine, resource, overlap)
    kept = _kept(engine, resource.name)
    if dates is None or kept is None:
        return None
    name = label(resource, dates)
    count, newest = probe.passes.get(name), probe.newest.get(name)
    first, last, before = kept
    inside = first <= dates[0] and dates[1] <= last
    if count is None or not inside or (count and newest is None):
        return None
    if newest is not None and newest >= window_start(before, overlap):
        return None
    if count != _mirrored(engine, resource, dates):
        return None
    return whole_skip.record_unread(engine, resource, probe, UNCHANGED)


def remember(
    engine: Engine, resource: Resource, clock: dt.datetime | None, listed: list[dict[str, str]]
) -> None:
    """Keep the range a complete read listed and the probe clock before it."""
    window = resource.window
    if clock is None or window is None or not probed(resource) or not listed:
        return
    ranges = [_listed_range(window.start_param, window.end_param, p) for p in listed]
    value = {"first": min(r[0] for r in ranges), "last": max(r[1] for r in ranges)}
    value["before"] = clock.isoformat()
    with engine.begin() as conn:
        conn.execute(delete(Setting).where(Setting.name == PREFIX + resource.name))
        conn.execute(insert(Setting).values(name=PREFIX + resource.name, value=json.dumps(value)))


def _listed_range(start: str, end: str | None, params: dict[str, str]) -> tuple[str, str]:
    # A series' dates: no date asked lists every row, no end date every row from its start.
    first = params.get(start, NO_START.isoformat())
    return first, params[end] if end is not None and params else OPEN_END.isoformat()


def _mirrored(engine: Engine, resource: Resource, dates: tuple[dt.date, dt.date]) -> int:
    window, table = resource.window, resource.table
    assert window is not None and window.date_field is not None
    column = table.c[resource.by_key[window.date_field].column]
    query = select(func.count()).where(
        column.between(*dates), table.c["odmirror_gone_at"].is_(None)
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _kept(engine: Engine, name: str) -> tuple[dt.date, dt.date, dt.datetime] | None:
    with engine.connect() as conn:
        text = conn.execute(select(Setting.value).where(Setting.name == PREFIX + name)).scalar()
    try:
        saved = json.loads(text or "")
        first, last = (dt.date.fromisoformat(saved[k]) for k in ("first", "last"))
        return first, last, dt.datetime.fromisoformat(saved["before"])
    except (ValueError, KeyError, TypeError):
        return None
