"""The change times a run keeps for its cursor (etl.sync.row_stamps): few, and enough."""

from __future__ import annotations

import datetime as dt
import random

from etl.mapping import office_clock
from etl.sync.row_stamps import FIRST_LIMIT, RowStamps

BASE = dt.datetime(2026, 11, 2, 8, 0, 0)


def test_a_table_of_keys_keeps_only_the_newest_seconds_and_answers_as_if_it_kept_all() -> None:
    shuffled = random.Random(7)
    # 100,000 keys in key order with change times spread over a year, as a claims list sends.
    stamps = {key: BASE - dt.timedelta(seconds=shuffled.randrange(365 * 86400)) for key in
              range(1, 100_001)}  # fmt: skip
    newest = max(stamps.values())
    at_newest = [k for k, s in stamps.items() if s >= newest - dt.timedelta(seconds=1)]
    kept = RowStamps()
    keys = list(stamps)
    for first in range(0, len(keys), 1000):  # a page at a time
        page = keys[first : first + 1000]
        kept.note(page, [stamps[k] for k in page])
    assert len(kept) <= 2 * FIRST_LIMIT
    latest = office_clock.latest_possible()
    assert kept.newest_trusted(latest) == (newest, 0)
    # What the closing check can return (changed since the cursor less a second) is known...
    for key in at_newest:
        assert not kept.is_news(key, stamps[key])
        assert kept.is_news(key, stamps[key] + dt.timedelta(seconds=5))
    # ...and a key never saved is news.
    assert kept.is_news(100_001, newest)


def test_a_later_time_for_a_key_replaces_it_and_an_earlier_or_none_does_not() -> None:
    kept = RowStamps()
    kept.note([1, 2, 3], [BASE, None, BASE])
    kept.note([1, 2, 3], [BASE + dt.timedelta(seconds=30), BASE, None])
    kept.note([1], [BASE])
    assert kept.newest_trusted(office_clock.latest_possible()) == (
        BASE + dt.timedelta(seconds=30),
        0,
    )
    assert not kept.is_news(1, BASE + dt.timedelta(seconds=30))
    assert not kept.is_news(2, BASE)
    assert not kept.is_news(3, BASE)
    assert kept.is_news(3, BASE + dt.timedelta(seconds=1))


def test_times_later_than_any_clock_are_counted_not_trusted_and_never_dropped() -> None:
    future = dt.datetime(2099, 1, 1)
    kept = RowStamps()
    keys = list(range(1, 3 * FIRST_LIMIT))
    kept.note(keys, [future if k % 1000 == 0 else BASE - dt.timedelta(days=k) for k in keys])
    newest, beyond = kept.newest_trusted(office_clock.latest_possible())
    assert (newest, beyond) == (BASE - dt.timedelta(days=1), len(keys) // 1000)
    assert len(kept) < FIRST_LIMIT
    assert not kept.is_news(1000, future)
