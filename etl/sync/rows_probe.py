"""Lists whose cursor is their newest row, proved unchanged by the run's probe: not read.

claims, claimpayments, inssubs, treatplans, refattaches and commlogs send no serverDateTime:
their cursor is the newest change stamp a read saved (etl.sync.cursor, row_stamps), and a read
asks `stamp >= S`, S the cursor less the overlap (etl.sync.cursor.window_start). That row is
always in the window, so "nothing stamped since" (etl.sync.pass_probe) is never true. Instead
the run's probe (etl.sync.whole_probe) asks one row per such list, about the office rows of the
window: their count n, newest stamp m and fingerprint f, `SUM(CRC32(CONCAT_WS('|', key,
stamp)))` (as etl.sync.whole_sql's); the mirror's rows of the same window give the same three,
computed here in Python. A complete read keeps the clock T_L of the probe made before it and
its own window's start S_L (`odmirror_settings`, `rows_probe:<resource>`), forgotten as the
next read starts. The list is recorded as read, with no request and its cursor kept, when:
the office's (n, m, f) equal the mirror's, S_L <= S, and m < T_L less the overlap (or n = 0;
"less the overlap" is etl.sync.cursor.window_start's, an hour more at night).

Why a read would then change nothing. It would save the office rows stamped at or after S,
each as it is now. Take one, X, stamped s. Its key and stamp are the mirror's (f: but for a
CRC32 collision, about one in four billion, the windows hold the same keys at the same stamps).
Every write stamps the row, and a write committed at time c carries a stamp no earlier than c
less the overlap (the overlap's own premise, elsewhere too): X's version, stamped s < T_L less
the overlap, was committed before T_L, and nothing was written to X since (that write's stamp
would be later than s). The read L, after T_L, listed its window, which holds X (s >= S >=
S_L), and saved that very version; no read began since (a read forgets L), so the mirror holds
it. What the fingerprint adds: a row L's paging missed (a deletion in front of it while it
read) is absent from the mirror, or there at an older stamp: the sums differ, and it is read.
Rows stamped before S: a read would not ask for them either. A later write to any row carries
a stamp later than the cursor less the overlap, in this window or the next run's (the cursor
stays where it was): read then. Inserts move n or m, edits m, both f.

Captions the API derives from another table (claimpayments' payType and payGroup:
definition.ItemName) change the list but no stamp: the probe also asks that table's fingerprint
(etl.sync.whole_sql.CAPTION_SOURCES), a read keeps the one of the probe before it, and a skip
needs the same. What none of this sees: a CRC32 sum that collides; a caption renamed during a
read and back before the next probe; a caption of a row older than the window (a read would
not ask for it either: `--full` does); a row L's paging missed whose mirror copy an earlier
read took at the very stamp it carries now, in the second it was written twice.

Deletions: these lists show none (no feed, no whole list), now as before. A row deleted inside
the window leaves the mirror's window larger than the office's: read every run, as before,
until the cursor moves past it or the reconciliation (etl.sync.reconcile) marks it gone: the
mirror's window counts its live rows only. A live row the office lacks, or one marked gone
that it has (until the reconciliation clears the mark), makes the windows differ: read.

Times are office times on both sides (the stamps, the probe's NOW(), the cursor read from the
stamps); a NULL stamp is in neither window. No cursor (a first read), nothing kept (a read
without a probe before it, a failed read), `--full`, a refused probe (400: read as before,
etl.sync.whole_probe) or an answer without the row: read.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, insert, select

from etl.catalog.query_tables import change_column
from etl.catalog.resources import Resource
from etl.mirror.bookkeeping import Setting
from etl.sync import state, whole_skip
from etl.sync.cursor import window_start
from etl.sync.pass_probe import LABEL, Ask
from etl.sync.state import RunResult
from etl.sync.whole_sql import captions, fingerprint
from etl.sync.whole_sql import label as caption_label

if TYPE_CHECKING:  # whole_probe asks this module's rows
    from etl.sync.whole_probe import WholeProbe

#: Where a complete read's probe clock and window start are kept (the resource's name next).
PREFIX = "rows_probe:"
SAME_ROWS = "its window's rows are the mirror's: not read (change probe)"
#: How the probe writes a time in SQL, and CONCAT_WS a DATETIME (MySQL's text of it).
TIME_TEXT = "%Y-%m-%d %H:%M:%S"


def from_rows(resource: Resource) -> bool:
    """Whether a resource is a plain list whose cursor is its newest row's change stamp."""
    stamp = change_column(resource.table_name)
    plain = resource.fan_out is None and resource.window is None and resource.deletions is None
    return (
        plain
        and captions(resource) is not None
        and resource.cursor_from_rows
        and resource.passes == ({},)
        and stamp is not None
        and (resource.cursor_param or "").lower() == stamp.lower()
    )


def label(resource: Resource) -> str:
    """The probe row's label (it starts as etl.sync.pass_probe's: read as theirs are)."""
    return f"{LABEL}{resource.name}:rows"


def row_sql(resource: Resource, since: dt.datetime) -> str:
    """The probe's row: the window's count, fingerprint (as ServerNow) and newest stamp."""
    stamp = change_column(resource.table_name)
    text = f"CONCAT_WS('|', {resource.key}, {stamp})"
    start = since.replace(microsecond=0).strftime(TIME_TEXT)
    return (
        f"SELECT '{label(resource)}', COUNT(*), SUM(CRC32({text})), MAX({stamp}) "
        f"FROM {resource.table_name} WHERE {stamp} >= '{start}'"
    )


def asks(engine: Engine, chosen: list[Resource], overlap: dt.timedelta) -> list[Ask]:
    """The probe's rows for the run's such lists a complete read has left its clock for."""
    found: list[Ask] = []
    sources: dict[tuple[str, str, str], str] = {}
    for resource in chosen:
        if not from_rows(resource):
            continue
        cursor = state.get_cursor(engine, resource.name)
        if cursor is not None and _kept(engine, resource) is not None:
            sql = row_sql(resource, window_start(cursor, overlap))
            found.append(Ask(resource.name, label(resource), sql))
        for source in captions(resource) or ():  # kept by a read, compared by a skip: each once
            sources.setdefault(source, resource.name)
    for (table, key, column), name in sorted(sources.items()):
        tag = caption_label((table, key, column))
        found.append(Ask(name, tag, fingerprint(table, tag, (key, column))))
    return found


def skip_if_same(
    engine: Engine, resource: Resource, probe: WholeProbe | None, overlap: dt.timedelta
) -> RunResult | None:
    """Record the list as read with no request, if the probe proves a read would change nothing.

    Returns:
        The run's result, or None: the list is read.
    """
    name = label(resource)
    if probe is None or probe.clock is None or name not in probe.passes or not from_rows(resource):
        return None  # before any query: most resources, every run
    cursor = state.get_cursor(engine, resource.name)
    kept = _kept(engine, resource)
    if cursor is None or kept is None:
        return None
    before, kept_since, kept_captions = kept
    if kept_captions != _captions(resource, probe):
        return None  # a caption renamed since the last read's probe (or not asked)
    since = window_start(cursor, overlap)
    count, newest = probe.passes[name], probe.newest.get(name)
    office = (count, newest, sum_number(probe.prints.get(name)) if count else 0)
    if kept_since is not None and kept_since > since:
        return None  # the last read did not list the whole of this window
    if newest is not None and newest >= window_start(before, overlap):
        return None  # written too close to the last read's probe: it may not hold them
    if office != mirror_window(engine, resource, since):
        return None
    return whole_skip.record_unread(engine, resource, probe, SAME_ROWS)


def mirror_window(
    engine: Engine, resource: Resource, since: dt.datetime
) -> tuple[int, dt.datetime | None, int]:
    """The mirror's live rows stamped at or after `since`: count, newest stamp, fingerprint."""
    table = resource.table
    key, stamp = table.c[resource.key_column], table.c[resource.cursor_column or ""]
    live = table.c.odmirror_gone_at.is_(None)  # marked deleted by the reconciliation
    count, newest, total = 0, None, 0
    with engine.connect() as conn:
        for row_key, row_stamp in conn.execute(select(key, stamp).where(stamp >= since, live)):
            count += 1
            newest = row_stamp if newest is None else max(newest, row_stamp)
            total += zlib.crc32(f"{row_key}|{row_stamp.strftime(TIME_TEXT)}".encode())
    return count, newest, total


def forget(engine: Engine, resource: Resource) -> None:
    """A read starts: what the last one kept no longer vouches (a failed read keeps nothing)."""
    if from_rows(resource):
        with engine.begin() as conn:
            conn.execute(delete(Setting).where(Setting.name == PREFIX + resource.name))


def remember(
    engine: Engine, resource: Resource, probe: WholeProbe | None, cursor: dt.datetime | None
) -> None:
    """Keep, after a complete read, the clock of the probe made before it and its window."""
    if probe is None or probe.clock is None or probe.overlap is None or not from_rows(resource):
        return
    since = None if cursor is None else window_start(cursor, probe.overlap)
    shown = _captions(resource, probe)
    if shown is None:
        return  # a caption's source not fingerprinted: nothing vouched
    value = {
        "before": probe.clock.isoformat(),
        "since": None if since is None else since.isoformat(),
        "captions": shown,
    }
    with engine.begin() as conn:
        conn.execute(delete(Setting).where(Setting.name == PREFIX + resource.name))
        conn.execute(insert(Setting).values(name=PREFIX + resource.name, value=json.dumps(value)))


def _kept(
    engine: Engine, resource: Resource
) -> tuple[dt.datetime, dt.datetime | None, dict[str, str]] | None:
    with engine.connect() as conn:
        text = conn.execute(
            select(Setting.value).where(Setting.name == PREFIX + resource.name)
        ).scalar()
    try:
        kept = json.loads(text or "")
        since = kept["since"]
        return (
            dt.datetime.fromisoformat(kept["before"]),
            None if since is None else dt.datetime.fromisoformat(since),
            dict(kept["captions"]),
        )
    except (ValueError, KeyError, TypeError):
        return None  # nothing kept (or unreadable): read


def _captions(resource: Resource, probe: WholeProbe) -> dict[str, str] | None:
    # The fingerprints of the tables the list's captions come from (claimpayments' payType:
    # definition.ItemName); None if one is not in the probe's answer.
    labels = [caption_label(source) for source in captions(resource) or ()]
    shown = {tag: probe.prints.get(tag) for tag in labels}
    return None if None in shown.values() else {k: str(v) for k, v in shown.items()}


def sum_number(value: object) -> int | None:
    """MySQL's SUM, sent as a DECIMAL's text ("123", "123.0"): None if not a number."""
    try:
        return int(Decimal(str(value) if value is not None else ""))
    except (InvalidOperation, ValueError):
        return None
