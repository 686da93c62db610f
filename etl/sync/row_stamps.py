"""Each key's change time a run saved, kept only where the cursor and its closing check need it.

A resource whose endpoint sends no `serverDateTime` (claims, refattaches, ...) takes its cursor
from its rows: the newest change time the run saved that is not later than any office clock now
(etl.mapping.office_clock). After several pages, the closing check (etl.sync.cursor) asks for
what changed since that cursor less a second, and a row it returns is news unless the run saved
that key at that change time.

Keeping every key's time made memory grow with the table (160,000 claims: about 20 MB). Only
two kinds of entry can ever be asked for: the newest trusted time, and keys at a time no more
than a second older than it (the check's rows), or later than any clock (counted, not trusted).
The newest trusted time only rises as pages come, so an entry older than the newest trusted so
far less a second can be dropped: it is older than anything the check can return. A key that
is not kept is news, as it was before: a compliant server returns no row older than the check's
time, and an unhelpful one that does costs a second reading, never a missed change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from etl.mapping import office_clock

#: The closing check asks for changes since the cursor less this (etl.sync.cursor).
CHECK_MARGIN = dt.timedelta(seconds=1)
#: Entries kept before the first drop of old ones (then twice what a drop left, at least this).
FIRST_LIMIT = 4096


class RowStamps:
    """The change time each key was saved at, for the keys the closing check may return."""

    def __init__(self) -> None:
        self._stamps: dict[Any, dt.datetime | None] = {}
        self._limit = FIRST_LIMIT

    def __len__(self) -> int:
        return len(self._stamps)

    def note(self, keys: Iterable[Any], stamps: Iterable[dt.datetime | None]) -> None:
        """Note saved rows' keys and change times (a key's newest time is kept).

        Args:
            keys: the rows' keys.
            stamps: their change times, in the same order (None where a row has none).
        """
        kept = self._stamps
        for key, stamp in zip(keys, stamps, strict=True):
            if key not in kept:
                kept[key] = stamp
            elif stamp is not None:
                old = kept[key]
                if old is None or stamp > old:
                    kept[key] = stamp
        if len(kept) > self._limit:
            self._drop_old(office_clock.latest_possible())

    def newest_trusted(self, latest: dt.datetime) -> tuple[dt.datetime | None, int]:
        """The newest change time not later than `latest`, and how many keys carry a later one."""
        stamps = [s for s in self._stamps.values() if s is not None]
        beyond = sum(1 for s in stamps if s > latest)
        return max((s for s in stamps if s <= latest), default=None), beyond

    def is_news(self, key: Any, stamp: dt.datetime | None) -> bool:
        """Whether a row the closing check returned is not one this run saved at that time."""
        if key not in self._stamps:
            return True
        return (stamp or dt.datetime.min) > (self._stamps[key] or dt.datetime.min)

    def _drop_old(self, latest: dt.datetime) -> None:
        # `latest` only grows during a run, so the newest trusted time now is never later than
        # the one the cursor will take: what is older than it less the margin is never asked.
        newest, _ = self.newest_trusted(latest)
        if newest is not None:
            floor = newest - CHECK_MARGIN
            self._stamps = {k: s for k, s in self._stamps.items() if s is not None and s >= floor}
        self._limit = max(FIRST_LIMIT, 2 * len(self._stamps))
