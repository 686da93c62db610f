"""Requests the run's one SQL probe proves empty: lists by change stamp, status passes, feeds.

`patients` is read three times (the plain list, then PatStatus=Deleted and =Archived, as the
vendor does not say whether the plain list shows them) and `appointments` reads its deletion
feed (`histappointments`, no change filter) whole on every run. Where the office allows SQL,
the run's probe (etl.sync.whole_probe) asks, in the same ShortQuery, one row more for each:

- a status pass: how many rows of that status (its raw code, etl.catalog.enums) carry a change
  stamp at or after the cursor less the overlap (the window the pass would read). None: the
  pass would return nothing the mirror lacks, and is not read. The run's cursor then goes no
  later than the probe's clock T0 (a row written after the probe is in the next run's window,
  as it would be after a read); a late commit stamped before T0 is in it too, by the overlap
  (etl.sync.change_probe). Rows stamped at or after T0 are counted too: a frozen or repeated
  second costs a read, never a row. A pass that runs without SQL left out (on its cadence) is
  counted from its own, older cursor (etl.sync.pass_cadence).
- a deletion feed: how many history rows of the delete action carry a stamp at or after the
  clock of the probe before its last complete read (or skip) less the overlap. None: every
  deletion the feed lists was listed then, and applied; the feed is not read, and the clock
  of this probe is remembered as if it had been.

- a list by change stamp (patients, appointments, procedurelogs, providers, procedurecodes:
  the filter is the table's change column): how many rows carry a stamp at or after the cursor
  less the overlap, whatever their status. None, with every status pass and the deletion feed
  quiet too: the resource is not read at all, and its cursor stays (the next run asks from the
  same time, so a row written after the probe, or committed late inside the overlap, is read
  then, as the list would have read it). Asked only when the run probes anyway.

No cursor, nothing remembered, `--full`, a refused probe or an answer without the row: the
request is made as before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, insert, select

from etl.catalog.enums import ENUM_NAMES
from etl.catalog.opendental import OD_TABLES
from etl.catalog.query_tables import change_column
from etl.catalog.resources import Resource
from etl.mirror.bookkeeping import Setting
from etl.sync import pass_cadence, state, whole_skip
from etl.sync.cursor import window_start
from etl.sync.seen import filters_text
from etl.sync.state import RunResult

if TYPE_CHECKING:  # whole_probe asks this module's rows
    from etl.sync.whole_probe import WholeProbe

#: Codes the catalog's enums lack: OpenDentBusiness/TableTypes/HistAppointment.cs (0 to 4).
MORE_ENUMS = {"HistAppointmentAction": ("Created", "Changed", "Missed", "Cancelled", "Deleted")}
#: Where the probe clock of a deletion feed's last complete read is kept (resource's name next).
FEED_PREFIX = "deletions_probe:"
NOTHING_NEW = "nothing stamped since the cursor: not read (change probe)"
#: The probe rows' labels start so (never a table's name, nor a caption's `table.column`).
LABEL = "pass:"


@dataclass(frozen=True)
class Ask:
    """One row of the probe: a pass or a feed of a resource, and its SELECT."""

    resource: str
    label: str
    sql: str


def codes(enum: str | None) -> tuple[str, ...]:
    """The names of an Open Dental enum, in code order (empty if unknown)."""
    found = ENUM_NAMES.get(enum or "") or MORE_ENUMS.get(enum or "")
    return tuple(found or ())


def feed_table(resource: Resource) -> str | None:
    """The Open Dental table of a resource's deletion feed (`histappointments`: histappointment)."""
    feed = resource.deletions
    table = None if feed is None else feed.path.rstrip("s")
    return table if table in OD_TABLES else None


def count_sql(table: str, label: str, stamp: str, where: dict[str, str], since: dt.datetime) -> str:
    """One row of the probe: the rows of `where` (enum names, sent as codes) stamped since then.

    Raises:
        KeyError: a filter that is not an Open Dental enum column of the table.
    """
    columns = {c.name: c for c in OD_TABLES[table]}
    tests = []
    for name, value in where.items():
        names = codes(columns[name].enum) if name in columns else ()
        if value not in names:
            raise KeyError(name)  # not an Open Dental enum column: not asked
        tests.append(f"{name} = {names.index(value)}")
    start = f"'{since.replace(microsecond=0).isoformat(sep=' ')}'"
    tests.append(f"{stamp} >= {start}")  # no upper bound: a row stamped since is counted too
    return (
        f"SELECT '{label}', COUNT(*), NULL, MAX({stamp}) FROM {table} WHERE {' AND '.join(tests)}"
    )


def asks(engine: Engine, chosen: list[Resource], overlap: dt.timedelta) -> list[Ask]:
    """The probe's rows for the run's status passes and deletion feeds (those it can answer)."""
    found = []
    for resource in chosen:
        stamp, cursor = change_column(resource.table_name), state.get_cursor(engine, resource.name)
        for filters in resource.passes:
            if not filters or stamp is None or cursor is None or not resource.cursor_param:
                continue
            label = f"{LABEL}{resource.name}:{filters_text(filters)}"
            # A pass a run without SQL left out (etl.sync.pass_cadence) is counted from its own
            # cursor, where its next read starts.
            own = pass_cadence.pass_cursor(engine, resource, filters, cursor)
            try:
                sql = count_sql(
                    resource.table_name, label, stamp, filters, window_start(own, overlap)
                )
            except KeyError:
                continue
            found.append(Ask(resource.name, label, sql))
        table, last = feed_table(resource), _feed_clock(engine, resource.name)
        if table is not None and last is not None and resource.deletions is not None:
            feed, label = resource.deletions, f"{LABEL}{resource.name}:deletions"
            stamp = feed.stamp or ""
            try:
                sql = count_sql(table, label, stamp, feed.params, window_start(last, overlap))
            except KeyError:
                continue
            found.append(Ask(resource.name, label, sql))
    return found


def list_asks(engine: Engine, chosen: list[Resource], overlap: dt.timedelta) -> list[Ask]:
    """The probe's rows for the run's lists by change stamp: their rows stamped since the cursor.

    Asked only when the run probes anyway (etl.sync.whole_probe): alone, the probe would cost
    the request it saves, and one more when a list changed.
    """
    found = []
    for resource in chosen:
        if not listed_by_stamp(resource):
            continue
        stamp, cursor = change_column(resource.table_name), state.get_cursor(engine, resource.name)
        if stamp is not None and cursor is not None:
            since, label = window_start(cursor, overlap), list_label(resource)
            sql = count_sql(resource.table_name, label, stamp, {}, since)
            found.append(Ask(resource.name, label, sql))
    return found


def listed_by_stamp(resource: Resource) -> bool:
    """Whether a resource's list asks for rows whose table's change column is since a time.

    Not a list whose cursor is its newest row's own stamp (claims, commlogs, ...): that row is
    always in the window the probe would count, so the list is always read.
    """
    stamp = change_column(resource.table_name)
    plain = resource.fan_out is None and resource.window is None and not resource.cursor_from_rows
    return plain and stamp is not None and (resource.cursor_param or "").lower() == stamp.lower()


def list_label(resource: Resource) -> str:
    """The probe row's label of a resource's plain list (its rows stamped since the cursor)."""
    return f"{LABEL}{resource.name}:list"


def skip_if_quiet(engine: Engine, resource: Resource, probe: WholeProbe | None) -> RunResult | None:
    """Record the resource as read without a request, if the probe found nothing to read.

    Nothing to read: no row of its table stamped since the cursor less the overlap (the list
    and every status pass would return none of the mirror lacks), and no deletion in its feed
    since that was last read. The cursor stays (the next run asks from the same time).

    Returns:
        The run's result, or None: the resource is read.
    """
    clock = None if probe is None else probe.clock
    if probe is None or clock is None or probe.passes.get(list_label(resource)) != 0:
        return None
    if len(quiet_passes(probe.passes, clock, resource)) != len(resource.passes) - 1:
        return None
    if feed_table(resource) is not None and not quiet_feed(probe.passes, clock, resource):
        return None
    if resource.deletions is not None and feed_table(resource) is None:
        return None  # a feed the probe cannot ask: read
    remember_feed(engine, resource, clock)  # as a read of the feed would
    return whole_skip.record_unread(engine, resource, probe, NOTHING_NEW)


def quiet_passes(
    counts: dict[str, int], clock: dt.datetime | None, resource: Resource
) -> list[dict[str, str]]:
    """The status passes of a resource the probe found nothing for (none without a clock)."""
    if clock is None:
        return []
    prefix = f"{LABEL}{resource.name}:"
    return [f for f in resource.passes if f and counts.get(prefix + filters_text(f)) == 0]


def quiet_feed(counts: dict[str, int], clock: dt.datetime | None, resource: Resource) -> bool:
    """Whether the probe found no deletion since the feed's last complete read."""
    return clock is not None and counts.get(f"{LABEL}{resource.name}:deletions") == 0


def cap(cursor: dt.datetime | None, clock: dt.datetime | None) -> dt.datetime | None:
    """A cursor no later than the probe's clock (a pass skipped vouched only up to it)."""
    if cursor is None or clock is None:
        return cursor
    return min(cursor, clock)


def remember_feed(engine: Engine, resource: Resource, clock: dt.datetime | None) -> None:
    """Keep the probe clock before a complete read (or a proved skip) of a deletion feed."""
    if clock is None or feed_table(resource) is None:
        return  # no probe before the read: what was kept (an older clock) still holds
    name = FEED_PREFIX + resource.name
    with engine.begin() as conn:
        conn.execute(delete(Setting).where(Setting.name == name))
        conn.execute(insert(Setting).values(name=name, value=clock.isoformat()))


def unvouched_feed(engine: Engine, resource: Resource) -> bool:
    """Whether a resource has a deletion feed the probe could ask for, with no clock kept yet."""
    return feed_table(resource) is not None and _feed_clock(engine, resource.name) is None


def _feed_clock(engine: Engine, name: str) -> dt.datetime | None:
    with engine.connect() as conn:
        text = conn.execute(
            select(Setting.value).where(Setting.name == FEED_PREFIX + name)
        ).scalar()
    try:
        return dt.datetime.fromisoformat(text or "")
    except ValueError:
        return None
