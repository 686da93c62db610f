"""Find the rows Open Dental deleted, by comparing key ranges of the office and the mirror.

Open Dental hard-deletes money rows routinely (claimproc estimates recalculated, paysplits
edited, recalls re-synced) and no feed lists those deletes. Through ShortQuery, one summary
(`MIN, MAX, COUNT, SUM(key % p)` of the table) is compared with the mirror's live rows
(etl.mirror.key_ranges); a range that differs is cut into at most 100 buckets
(`(key - low) DIV width`, one call), and only buckets that differ are cut again. A bucket of
fewer than 100 office rows is settled by its key list (one call): the mirror's rows it lacks
get `odmirror_gone_at`, rows marked gone that it has again are cleared. A million-row table
with a few deletes costs about three calls per delete, plus one.

Keys the office has and the mirror lacks (added after the mirror's read, or rows an endpoint
does not send) are counted, never marked. The SQL is MySQL 5.5's: no CTE, no window, no
comment. A 504 cuts the range in two and asks again, at most `MAX_SPLITS` times a table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, Table

from etl.api.client import ApiClient
from etl.api.short_query import QueryTimedOut, short_query
from etl.control import RunControl
from etl.errors import ApiError
from etl.mirror import key_ranges
from etl.mirror.key_ranges import MODULUS, Figures

#: Buckets asked of a range in one call, and rows a key-list call answers (ShortQuery's cap).
FANOUT = 100
#: How many times a table's ranges may be cut in two after a 504 before it is given up.
MAX_SPLITS = 24

#: A range's office count when it is not known (a key list then reads to an empty page).
UNKNOWN = -1
#: A range still to settle: [low, high) and at most how many office rows it holds.
Work = tuple[int, int, int]


@dataclass
class Outcome:
    """What reconciling one table found."""

    gone: int = 0
    back: int = 0
    unread: int = 0
    splits: int = 0

    def note(self, requests: int) -> str:
        """The run's note: what was marked, cleared and left alone, and what it cost."""
        return (
            f"reconciled: {self.gone} gone, {self.back} back, {self.unread} not yet read, "
            f"{requests} requests"
        )


@dataclass(frozen=True)
class Target:
    """One table to reconcile: Open Dental's names for the office, the mirror's for us."""

    od_table: str
    od_key: str
    table: Table
    key: str


class Reconciler:
    """Reconcile one table's keys with the office's, once.

    Args:
        engine: the mirror.
        client: the office's API session (ShortQuery allowed).
        target: the table.
        now: the time to stamp on rows found gone (this machine's clock, UTC).
        control: stop requests, checked before each call.
        drop: delete the rows found gone instead of marking them (`sync.removed_rows: delete`).
    """

    def __init__(
        self,
        engine: Engine,
        client: ApiClient,
        target: Target,
        now: dt.datetime,
        control: RunControl | None = None,
        drop: bool = False,
    ) -> None:
        self.engine, self.client, self.target, self.now = engine, client, target, now
        self.control = control or RunControl()
        self.drop = drop
        self.outcome = Outcome()
        self.calls = 0

    def run(self) -> Outcome:
        """Compare, narrow and mark; returns what was found.

        Raises:
            QueryNotAllowed, QueryRefused: the office refused the SQL (the table is skipped).
            QueryTimedOut: still 504 after `MAX_SPLITS` cuts.
            StopRequested: a stop was asked for (what was marked so far stays marked).
        """
        t = self.target
        with self.engine.connect() as conn:
            mine = key_ranges.span(conn, t.table, t.key)
        try:
            row = self._ask(
                f"SELECT MIN({t.od_key}) AS lo, MAX({t.od_key}) AS hi, COUNT(*) AS n, "
                f"SUM({t.od_key} % {MODULUS}) AS s FROM {t.od_table}"
            )
        except QueryTimedOut:  # narrow the mirror's keys alone: rows to mark are among them
            row = [{"n": -1}]
        first = row[0] if len(row) == 1 else {}
        office = Figures(_number(first.get("n")) or 0, _number(first.get("s")) or 0)
        ends = [v for v in (_number(first.get("lo")), _number(first.get("hi"))) if v is not None]
        ends += [v for v in (mine.low, mine.high) if v is not None]
        if office.same(mine.live) or not ends:
            return self.outcome
        most = office.count if office.count >= 0 else FANOUT  # unknown: cut it in buckets
        work: list[Work] = [(min(ends), max(ends) + 1, most)]
        while work:
            self.control.check()  # between calls: what is marked so far is committed
            low, high, most = work.pop()
            work += self._leaf(low, high, most) if most < FANOUT else self._narrow(low, high, most)
        return self.outcome

    def _narrow(self, low: int, high: int, most: int) -> list[Work]:
        """Compare the buckets of [low, high); return those that differ."""
        t = self.target
        width = -(-(high - low) // FANOUT)
        try:
            rows = self._ask(
                f"SELECT ({t.od_key} - {low}) DIV {width} AS b, COUNT(*) AS n, "
                f"SUM({t.od_key} % {MODULUS}) AS s, MIN({t.od_key}) AS lo, "
                f"MAX({t.od_key}) AS hi FROM {t.od_table} "
                f"WHERE {t.od_key} >= {low} AND {t.od_key} < {high} "
                f"GROUP BY b ORDER BY b LIMIT {FANOUT}"
            )
        except QueryTimedOut:
            return self._split(low, high, most)
        office = {b: _figures(r) for r in rows if (b := _number(r.get("b"))) is not None}
        # An answer cut short (a server's cap below 100) lacks the top buckets: those above the
        # highest one answered are settled by their key list, never marked on an absence.
        top = max(office, default=-1)
        work: list[Work] = []
        with self.engine.begin() as conn:
            mine = key_ranges.buckets(conn, t.table, t.key, low, high, width)
            if any(b > top for b in mine):
                work.append((low + (top + 1) * width, high, UNKNOWN))
            for b in sorted(set(office) | {b for b in mine if b <= top}):
                start = low + b * width
                end = min(start + width, high)
                theirs, ours = office.get(b), mine.get(b, Figures(0, 0))
                if theirs is None:  # the office has no row left there
                    self.outcome.gone += key_ranges.mark_gone(
                        conn, t.table, t.key, start, end, [], self.now, self.drop
                    )
                elif theirs.same(ours):
                    continue
                elif ours.count == 0 and ours.gone == 0:
                    self.outcome.unread += theirs.count  # rows read after the mirror's read
                else:
                    work.append(_narrowed(start, end, theirs, ours))
        return work

    def _leaf(self, low: int, high: int, most: int) -> list[Work]:
        """Settle [low, high) by the office's key list (one call unless rows were added).

        The list is complete when a page is empty, or short once `most` keys (the office's
        count, if known) are in: a server that answers fewer than 100 rows is not taken as done.
        """
        t = self.target
        keys: list[int] = []
        after = low - 1
        while True:
            try:
                rows = self._ask(
                    f"SELECT {t.od_key} AS k FROM {t.od_table} WHERE {t.od_key} > {after} "
                    f"AND {t.od_key} < {high} ORDER BY {t.od_key} LIMIT {FANOUT}"
                )
            except QueryTimedOut:
                return self._split(low, high, UNKNOWN)
            page = [_number(r.get("k")) or 0 for r in rows]
            if any(k <= after or k >= high for k in page) or page != sorted(set(page)):
                raise ApiError(f"{t.od_table}: the office answered keys out of the range asked")
            keys += page
            if not page or (len(page) < FANOUT and 0 <= most <= len(keys)):
                break
            after = keys[-1]  # keyset: strictly higher every call, so the loop ends
            self.control.check()
        with self.engine.begin() as conn:
            held = key_ranges.present(conn, t.table, t.key, keys)
            self.outcome.unread += len(keys) - len(held)
            self.outcome.back += key_ranges.clear_gone(conn, t.table, t.key, sorted(held))
            self.outcome.gone += key_ranges.mark_gone(
                conn, t.table, t.key, low, high, keys, self.now, self.drop
            )
        return []

    def _split(self, low: int, high: int, most: int) -> list[Work]:
        """After a 504: the two halves of the range, unless cut too often already."""
        self.outcome.splits += 1
        if self.outcome.splits > MAX_SPLITS or high - low < 2:
            raise QueryTimedOut(
                f"{self.target.od_table}: key ranges still time out (504) after "
                f"{self.outcome.splits - 1} cuts"
            )
        middle = low + (high - low) // 2
        return [(middle, high, most), (low, middle, most)]

    def _ask(self, sql: str) -> list[dict[str, Any]]:
        # Narrowing costs at most about a key read of the whole table (rows / 100 calls, when
        # differences are everywhere); `api.max_pages` bounds it as it bounds any list.
        self.calls += 1
        ceiling = self.client.settings.max_pages
        if self.calls > ceiling:
            raise ApiError(
                f"{self.target.od_table}: reconciling took more than {ceiling} calls "
                "(the ceiling is api.max_pages)"
            )
        return short_query(self.client, sql)


def _narrowed(start: int, end: int, theirs: Figures, ours: Figures) -> Work:
    """A bucket to settle, cut to the keys either side has (sparse keys narrow at once)."""
    ends = [v for v in (theirs.low, theirs.high, ours.low, ours.high) if v is not None]
    return min(ends, default=start), max(ends, default=end - 1) + 1, theirs.count


def _figures(row: dict[str, Any]) -> Figures:
    """One bucket of the office's answer."""
    count, checksum = _number(row.get("n")) or 0, _number(row.get("s")) or 0
    return Figures(count, checksum, 0, _number(row.get("lo")), _number(row.get("hi")))


def _number(value: Any) -> int | None:
    """An integer as ShortQuery sends it (a number, or text for MySQL's DECIMAL sums)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        raise ApiError(f"ShortQuery answered {value!r} where a whole number was due") from None
