"""Fan-outs the run's SQL probe vouches for: only the parents of children stamped since are read.

Without SQL a fan-out (etl.catalog.reading.FanOut) reads the parents that changed and the
sweep's slice of the others (etl.sync.sweep), as a child can change under a parent that did not.
Where the office allows SQL and the child table has a change column (adjustment, payplancharge,
proctp: etl.catalog.query_tables.change_column), the run's probe (etl.sync.whole_probe) asks,
in the same SELECT, how many children carry a stamp at or after a bound B. None: nothing is
read. Some: one ShortQuery asks their parents (`SELECT DISTINCT`, by keyset, 100 a call), and
those parents are read, with the parents that changed; the sweep is not needed.

The bound is where the mirror is known to hold every child change before it (invariant I(B)):
- after a complete read at probe clock T0 that read every parent (a first load, a fan-out whose
  parents have no change column) or every parent of the children stamped at or after a bound
  B' for which I(B') held, I(T0 less `sync.overlap_seconds`) holds: a child stamped before that
  and since B' had its parent read after T0 (a late commit is inside the overlap, as in
  etl.sync.change_probe). T0 is kept in `odmirror_settings`; a failed read keeps the older one
  (the mirror only learns more, so it still holds);
- before any such read, the sweep's own guarantee: every parent was read again within
  `all_parents_every` before the last complete run began, by runs that each started after the
  child changes before then. The fan-out's cursor is its parents' newest stamp read when that
  run began (office time, no later than its clock): B is the cursor less the period, less the
  overlap, less an hour for the clocks' drift.

Children deleted are not stamped: etl.sync.reconcile finds them where SQL is allowed (the
sweep's lists did, before). A probe that fails, an answer without the row, a parent key that is
not an integer (one line; never put into SQL) or a refused query: read as without SQL.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from sqlalchemy import Engine, delete, insert, select

from etl.api import short_query
from etl.api.client import ApiClient
from etl.api.short_query import QueryNotAllowed, QueryRefused, QueryTimedOut
from etl.catalog.query_tables import change_column
from etl.catalog.resources import Resource
from etl.errors import ApiError
from etl.mirror.bookkeeping import Setting
from etl.sync import fan_prints, fan_ranges, requests, state
from etl.sync.cursor import window_start
from etl.sync.pass_probe import LABEL, Ask

log = logging.getLogger("etl.sync.run")

#: Where the probe clock of a fan-out's last vouching read is kept (resource's name next).
PREFIX = "fanout_probe:"
_ROWS = 100  # ShortQuery's rows a call (Remote)
_DRIFT = dt.timedelta(hours=1)
_KEY = re.compile(r"[0-9]{1,19}")


def stamp_of(resource: Resource) -> str | None:
    """The change column of a fan-out's child table (None: not a fan-out, or none)."""
    return None if resource.fan_out is None else change_column(resource.table_name)


def bound(engine: Engine, resource: Resource, overlap: dt.timedelta) -> dt.datetime | None:
    """B: the mirror holds every child change stamped before it (None: not known)."""
    fan_out = resource.fan_out
    if fan_out is None or stamp_of(resource) is None:
        return None
    cursor, kept = state.get_cursor(engine, resource.name), _kept(engine, resource.name)
    if cursor is None and fan_out.parent_change is not None:
        return None  # a first load (or a state set back): every parent is read
    if kept is not None:
        return window_start(kept, overlap)
    period = fan_out.all_parents_every
    if cursor is None or fan_out.parent_change is None or period is None:
        return None  # a read of every parent will start the chain
    return window_start(cursor - period, overlap) - _DRIFT


def unvouched(engine: Engine, resource: Resource) -> bool:
    """Whether a fan-out the probe could vouch for has no probe clock kept yet."""
    return stamp_of(resource) is not None and _kept(engine, resource.name) is None


def label(resource: Resource, since: dt.datetime) -> str:
    """The probe row's label: the resource and the bound it counts from."""
    return f"{LABEL}{resource.name}:children>={_literal(since)}"


def asks(engine: Engine, chosen: list[Resource], overlap: dt.timedelta) -> list[Ask]:
    """The probe's rows for the run's fan-outs: children stamped at or after their bound."""
    found = []
    for resource in chosen:
        since, stamp = bound(engine, resource, overlap), stamp_of(resource)
        if since is None or stamp is None:
            continue
        found.append(Ask(resource.name, label(resource, since), count_sql(resource, since)))
    return found


def count_sql(resource: Resource, since: dt.datetime) -> str:
    """The probe's row of a fan-out: its children stamped at or after `since`, and the newest."""
    stamp = stamp_of(resource)
    return (
        f"SELECT '{label(resource, since)}', COUNT(*), NULL, MAX({stamp}) "
        f"FROM {resource.table_name} WHERE {stamp} >= '{_literal(since)}'"
    )


def parents_sql(resource: Resource, since: dt.datetime, after: int) -> str:
    """The parents (keys over `after`, 100 at most) of children stamped at or after `since`."""
    assert resource.fan_out is not None
    column, stamp = resource.fan_out.param, stamp_of(resource)
    return (
        f"SELECT DISTINCT {column} FROM {resource.table_name} WHERE {stamp} >= "
        f"'{_literal(since)}' AND {column} > {int(after)} ORDER BY {column} LIMIT {_ROWS}"
    )


def stamped_parents(
    engine: Engine,
    client: ApiClient,
    resource: Resource,
    counts: dict[str, int],
    overlap: dt.timedelta,
) -> list[int] | None:
    """The parents of the children stamped since the bound (None: read as without SQL).

    Args:
        engine: the mirror.
        client: the office's API session (one ShortQuery per 100 parents, none if no child).
        resource: a fan-out.
        counts: the probe's rows (etl.sync.whole_probe.WholeProbe.passes).
        overlap: `sync.overlap_seconds`.
    """
    since, stamp, fan_out = bound(engine, resource, overlap), stamp_of(resource), resource.fan_out
    count = None if since is None else counts.get(label(resource, since))
    if since is None or stamp is None or fan_out is None or count is None:
        return None
    if count == 0:
        return []
    column, found, after = fan_out.param, [], 0
    # Bounded: the children counted can name no more parents than their count (a few more
    # calls for children stamped since the probe); past that, read as without SQL.
    for _call in range(count // _ROWS + 3):
        try:
            rows = short_query.short_query(client, parents_sql(resource, since, after))
            keys = [_key(row.get(column)) for row in rows]
        except (QueryNotAllowed, QueryRefused, QueryTimedOut, ApiError) as exc:
            log.warning("%s: parents not asked, read as without SQL: %s", resource.name, exc)
            return None
        found += keys
        if len(rows) < _ROWS:
            return found
        after = keys[-1]
    log.warning("%s: more parents than children counted: read as without SQL", resource.name)
    return None


def parents_to_read(
    engine: Engine,
    client: ApiClient,
    resource: Resource,
    counts: dict[str, int],
    overlap: dt.timedelta,
    since: dt.datetime | None,
    prints: dict[str, str] | None = None,
) -> list[int] | None:
    """The parents a fan-out reads this run, in key order (None: as without SQL).

    Those of the children stamped since the bound (`stamped_parents`), and, if any, those that
    changed since `since` (an incremental run's start), as without SQL; none if no child did.
    Children without a change column: those whose rows differ, the whole child table compared
    (etl.sync.fan_ranges, from the probe's `prints`), else the candidates (etl.sync.fan_prints).
    """
    fan_out = resource.fan_out
    if fan_out is not None and since is not None and fan_prints.fingerprinted(resource):
        # No change column: the candidates read without SQL, those whose rows differ.
        asked = requests.request_params(engine, resource, since, None)
        candidates = [int(p[fan_out.param]) for p in asked]
        ranged = fan_ranges.parents_to_read(engine, client, resource, prints or {}, len(candidates))
        return (
            ranged
            if ranged is not None
            else fan_prints.differing(engine, client, resource, candidates)
        )
    stamped = stamped_parents(engine, client, resource, counts, overlap)
    if not stamped or fan_out is None:  # None (as without SQL), or no child changed
        return stamped
    changed = []
    if since is not None and fan_out.parent_change is not None:
        changed = requests.parent_keys(engine, fan_out, since, (0, -1))
    return sorted(set(stamped) | {int(str(key)) for key in changed})


def remember(
    engine: Engine, resource: Resource, clock: dt.datetime | None, every_parent: bool
) -> None:
    """Keep the probe clock before a complete read that vouches (see the module's notes)."""
    if clock is None or not every_parent or stamp_of(resource) is None:
        return
    name = PREFIX + resource.name
    with engine.begin() as conn:
        conn.execute(delete(Setting).where(Setting.name == name))
        conn.execute(insert(Setting).values(name=name, value=clock.isoformat()))


def _key(value: object) -> int:
    text = str(value)
    if isinstance(value, bool) or not _KEY.fullmatch(text):
        raise ApiError(f"a parent key the office sent is not an integer: {text[:40]!r}")
    return int(text)


def _kept(engine: Engine, name: str) -> dt.datetime | None:
    with engine.connect() as conn:
        text = conn.execute(select(Setting.value).where(Setting.name == PREFIX + name)).scalar()
    try:
        return dt.datetime.fromisoformat(text or "")
    except ValueError:
        return None


def _literal(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat(sep=" ")
