"""A whole pull whose table changed a little reads only its changed rows, through ShortQuery.

In endpoint mode claimprocs, paysplits, recalls, patplans and claimtrackings have no change
filter: where the office allows SQL the run's probe (etl.sync.whole_probe) skips them when
nothing changed, but one changed row cost the whole list (3,000 requests for 300,000
claimprocs). Now, when a complete read has left its probe's clock T0 (etl.sync.whole_skip), the
probe also asks of the table, at its own clock T1, its key figures (`COUNT(*)` and the sum of
its keys modulo a prime, as etl.sync.reconcile's) and how many rows are stamped since S, T0
less the overlap (etl.sync.cursor.window_start). If at most a quarter are, the run reads
those rows, `S <= stamp < T1` by keyset (etl.api.paginator.KeysetPaginator), and saves them as
the endpoint would have sent them: only the columns the endpoint sends (the others stay NULL,
as a list leaves them), codes and flags as the database holds them (as the list's names map),
a caption the list derives from another table (paysplits' unearnedType) as the mirror's rows
with the same code show it (a code the mirror has not seen: the list is read whole).

Why the mirror then holds the table as of T1. The mirror held it as of T0 (a complete read
after the probe of T0, or this same proof before). A row written since carries a stamp no
earlier than its commit less the overlap, so at or after S: read, unless written at or after
T1 (then its stamp is at or after T1 less the overlap, and the next run, whose S is T1 less the
overlap, reads it). Rows deleted since are found by the key figures: the mirror's live rows
must give the probe's count and key sum; if not, the keys are reconciled by ranges
(etl.sync.reconcile: the rows the office no longer has are marked gone), and compared again.
Equal, the probe of T1 is kept as a complete read's would be (the next run may skip the table
or read from T1); not equal (a row deleted after T1, one inserted before T1 and edited after),
only T0 is kept: the next run reads from S again, and skips nothing until a read is vouched.

Not read so (the list is read whole, as before): no read vouched since the last whole one
(a first load, a failed or cut-short run, `--full`), more than a quarter of the rows changed,
a stamp later than the probe's clock, a caption renamed since (the probe's fingerprint of
definitions), a mirror row holding something the list sent beyond the table's columns
(`odmirror_extra`), a resource whose caption is not named as a column of its table.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, select

from etl.catalog.query_tables import as_stored, change_column
from etl.catalog.resources import FieldSpec, Resource
from etl.mirror.key_ranges import MODULUS, Figures, span
from etl.sync import whole_skip
from etl.sync.cursor import window_start
from etl.sync.pass_probe import LABEL, Ask
from etl.sync.rows_probe import TIME_TEXT
from etl.sync.whole_sql import probed, stamped

log = logging.getLogger("etl.sync.run")

#: Read whole when more than one row in SHARE changed (a keyset by stamp sorts what it reads).
SHARE = 4


@dataclass(frozen=True)
class Plan:
    """What a read of a table's changed rows reads, and what vouches for it.

    Attributes:
        since: the office time the read starts at (the kept probe's clock less the overlap).
        until: the run's probe clock (rows stamped at or after it wait for the next run).
        before: the kept probe's clock (kept again if the read is not vouched for).
        office: the office table's live key figures at the probe.
        changed: the office rows stamped since `since`, at the probe.
    """

    since: dt.datetime
    until: dt.datetime
    before: dt.datetime
    office: Figures
    changed: int


def eligible(resource: Resource) -> bool:
    """Whether a whole pull may read its changed rows instead (see the module's notes)."""
    if not (probed(resource) and stamped(resource)) or resource.aliases:
        return False
    names = {str(c.info["od_name"]).lower() for c in resource.table.columns if "od_name" in c.info}
    derived = [c.info["derived_from"] for c in resource.table.columns if "derived_from" in c.info]
    return all(key.lower() in names for key in derived)


def label(resource: Resource) -> str:
    """The probe row's label (it starts as etl.sync.pass_probe's: read as theirs are)."""
    return f"{LABEL}{resource.name}:keys"


def asks(engine: Engine, due: list[Resource], overlap: dt.timedelta) -> list[Ask]:
    """The probe's rows: key figures and rows stamped since, of tables a read vouched for."""
    found = []
    for resource in due:
        kept = whole_skip.remembered(engine, resource.name) if eligible(resource) else None
        if kept is not None:
            since = window_start(dt.datetime.fromisoformat(str(kept["before"])), overlap)
            found.append(Ask(resource.name, label(resource), _sql(resource, since)))
    return found


def _sql(resource: Resource, since: dt.datetime) -> str:
    key, stamp = resource.key, change_column(resource.table_name)
    start = since.replace(microsecond=0).strftime(TIME_TEXT)
    figures = f"CONCAT_WS(':', SUM({key} % {MODULUS}), SUM({stamp} >= '{start}'))"
    table = resource.table_name
    return f"SELECT '{label(resource)}', COUNT(*), {figures}, MAX({stamp}) FROM {table}"


def plan(engine: Engine, resource: Resource, probe: Any, overlap: dt.timedelta) -> Plan | None:
    """The read of a table's changed rows this run, or None: the list is read whole.

    Args:
        engine: the mirror.
        resource: the whole pull.
        probe: the run's probe (etl.sync.whole_probe.WholeProbe), if any.
        overlap: `sync.overlap_seconds`.
    """
    kept = whole_skip.remembered(engine, resource.name) if eligible(resource) else None
    now = None if probe is None else probe.of(resource)
    if kept is None or now is None or kept.get("captions") != now["captions"]:
        return None
    row, newest = probe.passes.get(label(resource)), probe.newest.get(label(resource))
    parts = str(probe.prints.get(label(resource), "")).split(":")
    if row is None or len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None  # not asked, or an answer without figures (an empty table: whole)
    checksum, changed = (int(p) for p in parts)
    if newest is not None and newest > probe.clock:
        return None  # a stamp later than the office's clock: only a whole read sees it
    if changed * SHARE > row or _extras(engine, resource):
        return None
    before = dt.datetime.fromisoformat(str(kept["before"]))
    since = window_start(before, overlap)
    return Plan(since, probe.clock, before, Figures(row, checksum), changed)


def _extras(engine: Engine, resource: Resource) -> bool:
    # A list that sent keys beyond the table's columns: rows read by SQL would lack them.
    extra = resource.table.c.odmirror_extra
    with engine.connect() as conn:
        return conn.execute(select(extra).where(extra.isnot(None)).limit(1)).first() is not None


def mirror_figures(engine: Engine, resource: Resource) -> Figures:
    """The mirror's live rows' key figures, as the probe's are taken of the office's."""
    with engine.connect() as conn:
        return span(conn, resource.table, resource.key_column).live


def sql_view(resource: Resource) -> Resource:
    """The resource as its table's rows come by SQL: codes and flags as the integers held."""
    view = _views.get(resource.name)
    if view is None or view.path != resource.path:
        values = {f.name: getattr(resource, f.name) for f in fields(resource)}
        view = _views[resource.name] = _SqlView(**values)
    return view


@dataclass(frozen=True)
class _SqlView(Resource):
    @cached_property
    def fields(self) -> tuple[FieldSpec, ...]:
        """The list's FieldSpecs, enum and flag columns read as the integers held."""
        return tuple(as_stored(spec) for spec in super().fields)


_views: dict[str, _SqlView] = {}
