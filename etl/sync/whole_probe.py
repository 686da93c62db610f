"""Whole pulls that provably changed nothing are not read: one ShortQuery asks them all first.

In endpoint mode a resource without a change filter (claimprocs, paysplits, recalls, ...) is
listed whole on every run: 3,000 requests for 300,000 claimprocs, a second each on the Remote
API. Where the office allows SQL (etl.sync.query_detect), the run first asks, in one SELECT for
every such resource (a UNION ALL, MySQL 5.5 SQL, as etl.sync.change_probe's; its rows:
etl.sync.whole_sql), each table's `COUNT(*)` and `MAX(change column)`, and `NOW()`.

A complete pull remembers the answer of the probe made just before it (count C, newest stamp
M, office clock T0) in `odmirror_settings`, and only if the pull listed C rows itself
(etl.sync.whole_skip). A later run skips the pull when its probe finds the same C and M and M
is older than T0 less `sync.overlap_seconds`. Why that proves the list unchanged: every insert
and every edit stamps the change column with the database's clock, so a row written after T0
(or committed late with a stamp inside the overlap) would carry a stamp newer than M, unless
deleted again; the rows now are then all rows of T0, unedited, and as many as at T0: the same
rows. The pull listed C rows after T0 and before now, none of them newer than M: the same rows
again (a row inserted after T0 and deleted since would have made the pull list more than C). A
deletion lowers the count, an insert or an edit moves the newest stamp.

A table without a change column (scheduleops, payplanlinks) has no M: the probe asks instead a
fingerprint of its rows (the CRC32 sum of every column the endpoint maps, etl.sync.whole_sql),
remembered and compared as C is. A change after T0, during the pull or after it, makes the next
probe differ from the one kept: read again. What it cannot see: a row edited during a pull and
edited back, exactly, before the next probe (the pull may have listed the passing values), or a
CRC32 sum that collides (about one in four billion). A fingerprint names every column the
endpoint sends: an office whose database lacks one refuses the SELECT (400); it is asked again
once without them, and if that answers they are not asked again for a week
(`whole_probe:fingerprints refused`): those tables are read every run, as without SQL.

Captions the API derives from another table (paysplits' unearnedType and operatories'
operatoryType: definition.ItemName; benefits' procCode: procedurecode.ProcCode) change the list
but no stamp of the table: the probe also asks the same fingerprint of each source's key and
caption, remembered and compared with the rest (a rename is missed only if its CRC32 sum
collides, or if a caption renamed during a pull is renamed back before the next run). A caption
of another source: not probed.

The same SELECT also asks, a row each, whether the lists by change stamp (patients, ...),
patients' status passes and appointments' deletion feed would bring anything new
(etl.sync.pass_probe), which fan-outs' children changed (etl.sync.fan_probe), whether dated
windows did (etl.sync.window_probe), and lists whose cursor is their newest row
(etl.sync.rows_probe): those that would bring nothing are not read. It asks too the key
figures of whole pulls a read vouched for, so that one that changed a little reads only its
changed rows (etl.sync.whole_changes), and the whole child tables of fan-outs without a change
column, compared with the mirror's (etl.sync.fan_ranges).

A probe that fails (401, 400: a table the office lacks or refuses, 504), or an answer without
a table's row, pulls as before, with one line. `--full` never skips.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from etl.api import short_query
from etl.api.client import ApiClient
from etl.api.paginator import parse_query_time
from etl.api.short_query import QueryNotAllowed, QueryRefused, QueryTimedOut
from etl.catalog.resources import Resource
from etl.errors import ApiError
from etl.sync import (
    cadence,
    change_probe,
    fan_probe,
    fan_ranges,
    pass_probe,
    rows_probe,
    state,
    whole_changes,
    whole_skip,
    window_probe,
)
from etl.sync.query_detect import queries_allowed
from etl.sync.whole_skip import PREFIX as PREFIX
from etl.sync.whole_skip import UNCHANGED as UNCHANGED
from etl.sync.whole_sql import CAPTION_SOURCES, ROWS, prints_of, probe_sql, stamped
from etl.sync.whole_sql import probed as probed

log = logging.getLogger("etl.sync.run")


@dataclass
class WholeProbe:
    """The run's answer: per probed resource, its table's row count and newest change stamp.

    Attributes:
        clock: the office clock of the probe (T0 of the pulls that follow it); None: the
            probe did not answer (its requests are still charged).
        found: resource name: (count, newest stamp or None for an empty table).
        prints: caption source (`definition.ItemName`): its rows' count and CRC32 sum.
        requests: the calls the probe made (the Queries check included), charged once.
        passes: per status pass or deletion feed asked (etl.sync.pass_probe), its new rows;
            per fan-out or date window (etl.sync.fan_probe, window_probe), its rows counted.
        asked: the resources with such a row (charged as a whole pull would be).
        newest: per such row, the newest stamp among the rows it counted.
        overlap: the run's `sync.overlap_seconds` the rows were asked with (None: no rows).
    """

    clock: dt.datetime | None
    found: dict[str, tuple[int, dt.datetime | None]] = field(default_factory=dict)
    prints: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    passes: dict[str, int] = field(default_factory=dict)
    asked: set[str] = field(default_factory=set)
    newest: dict[str, dt.datetime | None] = field(default_factory=dict)
    overlap: dt.timedelta | None = None

    def take_charge(self, resource: Resource) -> int:
        """The probe's requests, for the first whole pull of the run (0 afterwards)."""
        if not probed(resource) and resource.name not in self.asked:
            return 0
        charge, self.requests = self.requests, 0
        return charge

    def of(self, resource: Resource) -> dict[str, object] | None:
        """What the probe found of a resource (count, newest, its captions), None if not all."""
        found = self.found.get(resource.name)
        sources = prints_of(resource)
        if self.clock is None or found is None or any(s not in self.prints for s in sources):
            return None
        prints = {s: self.prints[s] for s in sources}
        return {
            "count": found[0],
            "newest": None if found[1] is None else found[1].isoformat(),
            "captions": prints,
        }


def ask(
    engine: Engine,
    client: ApiClient,
    mode: str,
    chosen: Sequence[Resource],
    full: bool,
    overlap: dt.timedelta | None = None,
) -> WholeProbe | None:
    """Probe the run's whole pulls once, before any is read.

    Args:
        engine: the mirror (where the Queries permission's answer is remembered).
        client: the office's API session.
        mode: `api.queries` (auto, on, off).
        chosen: the resources of the run, in order.
        full: a `--full` run: nothing is probed, nothing skipped.
        overlap: `sync.overlap_seconds`; given, the status passes and deletion feeds of the
            run are asked too (etl.sync.pass_probe).

    Returns:
        The answer, or None (every whole pull is read): a full run, no whole pull to probe, an
        office without SQL, or a probe that failed (one line says why).
    """
    if full:
        return None
    now = state.utcnow()  # those not due on their cadence are not run: not asked either
    due = [r for r in chosen if probed(r) and cadence.next_due(engine, r, now) is None]
    if whole_skip.prints_refused(engine):  # an office whose SQL lacks a column they name
        due = [r for r in due if stamped(r)]
    others = [r for r in chosen if r not in due and cadence.next_due(engine, r, now) is None]
    more = [] if overlap is None else pass_probe.asks(engine, others, overlap)
    if overlap is not None:  # fan-outs' children and dated windows (one row each)
        more += fan_probe.asks(engine, others, overlap) + window_probe.asks(engine, others, overlap)
        more += fan_ranges.asks(engine, others)
    # A deletion feed, a fan-out or a dated window never vouched for: the probe's clock alone
    # is worth a request, once (it starts what later runs skip by).
    unvouched = {r.name for r in others if overlap is not None and _unvouched(engine, r)}
    lists = [] if overlap is None else pass_probe.list_asks(engine, others, overlap)
    lists += [] if overlap is None else rows_probe.asks(engine, others, overlap)
    changes = [] if overlap is None else whole_changes.asks(engine, due, overlap)
    room = change_probe.ROWS_PER_CALL - 1 - len(CAPTION_SOURCES) - len(more + lists + changes)
    wanted = due[:room]
    if not wanted and not more and not unvouched:
        return None  # the lists alone are not worth a probe (etl.sync.pass_probe.list_asks)
    more += lists + [a for a in changes if a.resource in {r.name for r in wanted}]
    askers = {a.resource for a in more} | unvouched
    before = client.requests_made
    try:
        if not queries_allowed(engine, client, mode, asked=False):
            return _spent(client, before, askers)
        rows, wanted = _query(engine, client, wanted, [a.sql for a in more])
        answer = WholeProbe(change_probe.clock_of(rows), asked=askers, overlap=overlap)
    except (QueryNotAllowed, QueryRefused, QueryTimedOut, ApiError) as exc:
        log.warning("whole pulls not probed, each is read: %s", exc)
        return _spent(client, before, askers)
    by_table = {r.table_name: r.name for r in wanted if stamped(r)}
    by_rows = {f"{r.table_name}.{ROWS}": r.name for r in wanted if not stamped(r)}
    for row in rows:
        label = str(row.get("TableName"))
        name = by_table.get(label)  # the clock's row names no table
        found = _count_and_newest(row) if name is not None else None
        if label in by_rows:  # a table without a change column: its count, its fingerprint
            _count_and_print(answer, by_rows[label], label, row)
        elif label.startswith(pass_probe.LABEL):
            pass_count = _count_and_newest(row)
            if pass_count is not None:
                answer.passes[label], answer.newest[label] = pass_count
            if row.get("ServerNow") is not None:  # a fingerprint (etl.sync.rows_probe)
                answer.prints[label] = str(row.get("ServerNow"))
        elif name is not None and found is not None:
            answer.found[name] = found
        elif "." in label:  # a caption's fingerprint: compared as sent
            answer.prints[label] = f"{row.get('Changed')}:{row.get('Newest')}"
    missing = [r.name for r in wanted if answer.of(r) is None]
    if missing:
        log.warning("the probe did not answer for %s: read whole", ", ".join(missing))
    answer.requests = client.requests_made - before
    return answer


def _query(
    engine: Engine, client: ApiClient, wanted: list[Resource], more: list[str]
) -> tuple[list[dict[str, object]], list[Resource]]:
    # The rows' fingerprints name every column an endpoint sends: an office whose database
    # lacks one (an older version) refuses the SELECT (400). Asked again without them, once;
    # if that answers, not for a week (the tables are read every run meanwhile, as before).
    try:
        return short_query.short_query(client, probe_sql(wanted, more)), wanted
    except QueryRefused as exc:
        stamped_only = [r for r in wanted if stamped(r)]
        if len(stamped_only) == len(wanted):
            raise
        rows = short_query.short_query(client, probe_sql(stamped_only, more))
        printed = ", ".join(r.name for r in wanted if not stamped(r))
        log.warning("the probe of %s was refused (%s): they are read every run", printed, exc)
        whole_skip.refuse_prints(engine)
        return rows, stamped_only


def _unvouched(engine: Engine, resource: Resource) -> bool:
    return (
        pass_probe.unvouched_feed(engine, resource)
        or fan_probe.unvouched(engine, resource)
        or window_probe.unvouched(engine, resource)
    )


def _spent(client: ApiClient, before: int, asked: set[str]) -> WholeProbe | None:
    # No answer, but requests to charge (the summary's requests add up to the run's).
    spent = client.requests_made - before
    return WholeProbe(None, requests=spent, asked=asked) if spent else None


def _count_and_print(answer: WholeProbe, name: str, label: str, row: dict[str, object]) -> None:
    # Nothing newest to compare (no change column): the fingerprint, in `prints`, stands for it.
    try:
        count = int(str(row.get("Changed")))
    except ValueError:
        return  # no count: not answered, read whole
    answer.found[name] = (count, None)
    answer.prints[label] = f"{count}:{row.get('Newest')}"


def _count_and_newest(row: dict[str, object]) -> tuple[int, dt.datetime | None] | None:
    try:  # a UNION's column may come as text
        count = int(str(row.get("Changed")))
    except ValueError:
        return None
    newest = parse_query_time(row.get("Newest"))
    if count and newest is None:
        return None  # rows without a readable stamp: nothing is proved
    return count, newest
