"""Fan-outs whose children have no change column: the whole child table compared, then narrowed.

payplans (by patient) and treatplanattaches (by treatment plan) have no change column. Without
SQL a run reads the parents that changed, those with account activity and the sweep's slice;
etl.sync.fan_prints compares those candidates first, one ShortQuery per 100. That still asks
about a seventh of all parents every run. Here the run's probe (etl.sync.whole_probe) asks the
whole child table's count and fingerprint instead (`SUM(CRC32(row text))`, etl.sync.whole_sql's
row text; its lowest and highest parent key), and the mirror's live rows give the same, each
value rendered as MySQL writes it (etl.sync.fan_prints.mysql_text). Equal: no parent is read,
and no sweep is needed (every child of every parent is in the sum). Otherwise the key range
is narrowed as etl.sync.reconcile narrows keys: one ShortQuery cuts a range into at most 100
buckets of parent keys (`(parent - low) DIV width`); a bucket that differs is cut again, or,
when the mirror holds at most 90 parents in it, asked parent by parent (`GROUP BY parent`,
at most 100 rows); the parents whose children differ are read.

Only children of a parent the parent table holds are compared (the office's `IN (SELECT PatNum
FROM patient)`, the mirror's live parents): an orphan (a patient number 0, a patient deleted)
is never listed, the lists being asked by the mirror's parents.

Stateless: each run compares anew, so nothing is kept and nothing has to be vouched for. What
none of this sees is fan_prints': a CRC32 sum that collides. A value the mirror cannot render
(Unsure) makes its bucket, then its parent, differ: read every run, as before. A refused or
timed-out query, an answer out of shape, or a run without the probe's row: the candidates are
compared as before (etl.sync.fan_prints.differing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, ColumnElement, Engine, select

from etl.api import short_query
from etl.api.client import ApiClient
from etl.api.short_query import QueryNotAllowed, QueryRefused, QueryTimedOut
from etl.catalog.resources import Resource
from etl.catalog.tables import TABLES
from etl.control import RunControl
from etl.errors import ApiError
from etl.outside_text import shown
from etl.sync import state
from etl.sync.fan_prints import fingerprinted, mirror_groups
from etl.sync.pass_probe import LABEL, Ask
from etl.sync.rows_probe import sum_number
from etl.sync.whole_sql import mapped, row_text

log = logging.getLogger("etl.sync.run")

_ROWS = 100  # ShortQuery's rows a call (Remote)
_LISTED = 90  # at most this many parents in the mirror's range: asked parent by parent
#: The fewest calls a narrowing may take (one for buckets, one for each of a few that differ).
CALLS = 4
#: A group's figures: its rows' count and fingerprint (None: the mirror cannot render one).
Figures = tuple[int, int | None]


def label(resource: Resource) -> str:
    """The probe row's label (it starts as etl.sync.pass_probe's: read as theirs are)."""
    return f"{LABEL}{resource.name}:table"


def asks(engine: Engine, chosen: list[Resource]) -> list[Ask]:
    """The probe's rows: the whole child table of each such fan-out read before."""
    return [
        Ask(r.name, label(r), table_sql(r))
        for r in chosen
        if fingerprinted(r) and state.get_cursor(engine, r.name) is not None
    ]


def table_sql(resource: Resource) -> str:
    """The probe's row: `count:fingerprint:lowest parent:highest parent` (as ServerNow)."""
    assert resource.fan_out is not None
    parent, text = resource.fan_out.param, row_text(mapped(resource))
    figures = f"CONCAT_WS(':', COUNT(*), SUM(CRC32({text})), MIN({parent}), MAX({parent}))"
    table = resource.table_name
    return (
        f"SELECT '{label(resource)}', 0, {figures}, NULL FROM {table} WHERE {_parented(resource)}"
    )


def _parented(resource: Resource) -> str:
    # Children of a parent the office has: an orphan (a parent 0, one deleted) is never read
    # (the list is asked by the mirror's parents), so it is compared on neither side.
    assert resource.fan_out is not None
    fan_out = resource.fan_out
    key = TABLES[fan_out.parent_table].c[fan_out.parent_key].info["od_name"]
    return f"{fan_out.param} IN (SELECT {key} FROM {fan_out.parent_table})"


def parents_to_read(
    engine: Engine,
    client: ApiClient,
    resource: Resource,
    prints: dict[str, str],
    candidates: int,
    control: RunControl | None = None,
) -> list[int] | None:
    """The parents whose children differ from the mirror's, in key order (None: not known).

    Bounded by what the candidates would cost: a table that differs in more places than that
    (a column the list never sends, so NULL in the mirror and not in the office, makes every
    parent differ, every run) is left to the candidates after at most `CALLS` calls or
    ceil(candidates / 100), and if more parents differ than there are candidates.

    Args:
        engine: the mirror.
        client: the office's API session.
        resource: a fan-out whose rows are fingerprinted (etl.sync.fan_prints.fingerprinted).
        prints: the run's probe answers (`WholeProbe.prints`).
        candidates: how many parents the run would read without SQL.
        control: stop requests, checked between calls.
    """
    office = _whole(prints.get(label(resource)))
    if office is None or resource.fan_out is None:
        return None
    count, total, low, high = office
    mine = _mirror(engine, resource, None, None, lambda _parent: 0).get(0, (0, 0))
    if (count, total) == mine:
        return []
    ends = [k for k in (low, high, *_mirror_ends(engine, resource)) if k is not None]
    if not ends:
        return []
    budget = _Budget(max(CALLS, -(-candidates // _ROWS)), max(candidates, _ROWS))
    try:
        return _narrow(engine, client, resource, (min(ends), max(ends) + 1), budget, control)
    except (QueryNotAllowed, QueryRefused, QueryTimedOut, ApiError, _OverBudget) as exc:
        log.warning("%s: child table not compared, candidates compared: %s", resource.name, exc)
        return None


class _OverBudget(Exception):
    """The narrowing would cost more than comparing the candidates."""


class _Budget:
    def __init__(self, calls: int, parents: int) -> None:
        self.calls, self.parents = calls, parents

    def spend(self, found: int) -> None:
        self.check(found)
        if self.calls <= 0:
            raise _OverBudget("it differs in more places than the candidates' calls would find")
        self.calls -= 1

    def check(self, found: int) -> None:
        if found > self.parents:
            raise _OverBudget(f"more than {self.parents} parents differ")


def _narrow(
    engine: Engine,
    client: ApiClient,
    resource: Resource,
    span: tuple[int, int],
    budget: _Budget,
    control: RunControl | None,
) -> list[int]:
    found: list[int] = []
    work = [span]

    def office(low: int, high: int, width: int | None) -> dict[int, Figures] | None:
        budget.spend(len(found))
        return _office(client, resource, low, high, width)

    while work:  # every range asked is narrower than the one it came from: it ends
        if control is not None:
            control.check()
        low, high = work.pop()
        parents = _mirror(engine, resource, low, high, lambda p: p)
        if len(parents) <= _LISTED:
            listed = office(low, high, None)
            if listed is not None:  # at most 100 parents in the office too: settled
                found += _differing(listed, parents)
                continue
        width = -(-(high - low) // _ROWS)
        buckets = office(low, high, width)
        assert buckets is not None  # at most 100 buckets by the width's choice
        mirror = _regrouped(parents, _bucket_of(low, width))  # no second scan of the range
        for bucket in _differing(buckets, mirror):
            start = low + bucket * width
            if width == 1:
                found.append(start)
            else:
                work.append((start, min(high, start + width)))
    budget.check(len(found))
    return sorted(found)


def _bucket_of(low: int, width: int) -> Callable[[int], int]:
    return lambda parent: (parent - low) // width


def _regrouped(parents: dict[int, Figures], group: Callable[[int], int]) -> dict[int, Figures]:
    """Per-parent figures summed by `group(parent)` (a fingerprint unknown stays unknown)."""
    found: dict[int, Figures] = {}
    for parent, (count, total) in parents.items():
        had, print_ = found.get(group(parent), (0, 0))
        found[group(parent)] = (
            had + count,
            None if print_ is None or total is None else print_ + total,
        )
    return found


def _differing(office: dict[int, Figures], mirror: dict[int, Figures]) -> list[int]:
    return [g for g in sorted(office.keys() | mirror.keys()) if office.get(g) != mirror.get(g)]


def groups_sql(resource: Resource, low: int, high: int, width: int | None) -> str:
    """The office's children of parents in [low, high): count and fingerprint by parent (width
    None, at most 101 rows: more than 100 parents says so) or by bucket of `width` keys."""
    assert resource.fan_out is not None
    parent, text = resource.fan_out.param, row_text(mapped(resource))
    group = parent if width is None else f"({parent} - {int(low)}) DIV {int(width)}"
    return (
        f"SELECT {group} AS g, COUNT(*) AS n, SUM(CRC32({text})) AS f FROM "
        f"{resource.table_name} WHERE {parent} >= {int(low)} AND {parent} < {int(high)} "
        f"AND {_parented(resource)} GROUP BY g LIMIT {_ROWS + 1}"
    )


def _office(
    client: ApiClient, resource: Resource, low: int, high: int, width: int | None
) -> dict[int, Figures] | None:
    """The office's groups of [low, high): parents (None: over 100 of them), or buckets."""
    rows = short_query.short_query(client, groups_sql(resource, low, high, width))
    if len(rows) > _ROWS:
        if width is None:
            return None
        raise ApiError(f"more than {_ROWS} buckets of {resource.table_name} were sent")
    # A group outside the range asked (a hostile or broken server) would send the narrowing
    # outside it: refused, the candidates are compared instead.
    first, end = (low, high) if width is None else (0, -(-(high - low) // width))
    found: dict[int, Figures] = {}
    for row in rows:
        key, count, total = sum_number(row.get("g")), sum_number(row.get("n")), row.get("f")
        if key is None or count is None or sum_number(total) is None or not first <= key < end:
            raise ApiError(f"an answer not about the groups asked: {shown(str(row), 80)}")
        found[key] = (count, sum_number(total))
    return found


def _mirror(
    engine: Engine,
    resource: Resource,
    low: int | None,
    high: int | None,
    group: Callable[[int], int],
) -> dict[int, Figures]:
    """The mirror's live children of parents in [low, high) (None: all), by `group(parent)`."""

    assert resource.fan_out is not None
    parents = TABLES[resource.fan_out.parent_table]
    known = parents.c[resource.fan_out.parent_key]
    live = select(known).where(parents.c.odmirror_gone_at.is_(None))

    def within(parent: Column[Any]) -> list[ColumnElement[bool]]:
        ranged = [] if low is None or high is None else [parent >= low, parent < high]
        return [*ranged, parent.in_(live)]

    return mirror_groups(engine, resource, group, within)


def _mirror_ends(engine: Engine, resource: Resource) -> tuple[int | None, int | None]:
    assert resource.fan_out is not None
    table = resource.table
    parent = next(c for c in table.columns if c.info.get("od_name") == resource.fan_out.param)
    with engine.connect() as conn:
        low = conn.execute(select(parent).order_by(parent).limit(1)).scalar()
        high = conn.execute(select(parent).order_by(parent.desc()).limit(1)).scalar()
    return (None if low is None else int(low)), (None if high is None else int(high))


def _whole(text: str | None) -> tuple[int, int, int | None, int | None] | None:
    # "count:fingerprint:low:high"; an empty table sends "0" (its SUM, MIN, MAX are NULL).
    parts = [sum_number(p) for p in (text or "").split(":")]
    if not parts or any(p is None for p in parts) or len(parts) not in (1, 4):
        return None
    if len(parts) == 1:
        return (parts[0] or 0, 0, None, None) if parts[0] == 0 else None
    count, total, low, high = parts
    assert count is not None and total is not None
    return count, total, low, high
