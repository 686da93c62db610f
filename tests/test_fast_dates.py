"""Dates sent as the API's own text (etl.mapping.block): stored as the plain path stores them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from etl import fast_paths
from etl.api.client import Page
from etl.catalog.resources import RESOURCES
from etl.mapping.block import Block
from etl.mapping.fast_columns import Dates
from etl.mapping.fast_page import map_page
from etl.mapping.pii import DEFAULT_POLICY
from etl.mirror.engine import make_engine
from etl.sync import state
from etl.sync.saver import PageSaver

PROCS = RESOURCES["procedurelogs"]
CLEAN_DAY, CLEAN_MOMENT = "2025-01-14", "2025-01-14 10:00:00"
#: Values of a DATETIME column: the API's usual form, and what the short path must not keep.
MOMENTS = [
    "0001-01-01 00:00:00",  # Open Dental's "no date"
    "2099-12-31 23:59:59",
    "2024-02-29 12:30:00",
    "2024-01-02T03:04:05",  # parsed alike, stored with a space
    "2024-01-02 03:04:05.123456",  # cut to the second
    "2024-01-02 03:04:05.5",
    "2024-01-02 24:00:00",  # no hour of the day (some Pythons read the next midnight)
    "2023-02-29 00:00:00",  # no day of the calendar
    "0000-01-01 00:00:00",
    "\uff12\uff10\uff12\uff14-01-02 03:04:05",  # digits of another script
    " 2024-01-02 03:04:05 ",
    "",
    None,
    "not a date",
    20240102,
]
DAYS = [
    "0001-01-01",
    "2099-01-01",
    "2024-02-29",
    "2024-02-30",
    "2024-1-2",
    "0000-12-31",
    "2024-01-02 00:00:00",
    "",
    None,
    "soon",
]


def record(num: int, day: Any = CLEAN_DAY, moment: Any = CLEAN_MOMENT, note: Any = "x") -> Any:
    """A procedure as the API lists it, with the values given."""
    return {
        "ProcNum": num,
        "PatNum": num % 7 + 1,
        "ProcDate": day,
        "DateEntryC": "0001-01-01",
        "DateTStamp": moment,
        "BillingNote": note,
    }


def hostile_pages() -> list[list[Any]]:
    """Pages each of a few clean records and one odd value, in a date column or beside it."""
    pages: list[list[Any]] = [[record(n) for n in range(1, 6)]]
    num = 10
    for moment in MOMENTS:
        pages.append([record(num + i) for i in range(3)] + [record(num + 3, moment=moment)])
        num += 10
    for day in DAYS:
        pages.append([record(num + i) for i in range(3)] + [record(num + 3, day=day)])
        num += 10
    # The date columns clean, a record beside them off the short path (map_record's row fills
    # its place in the block: its texts are then not known), or in a key order of its own.
    pages.append([record(num + i) for i in range(3)] + [record(num + 3, note="nul\0")])
    reordered = dict(reversed(record(num + 4, moment="2024-03-01 08:00:00").items()))
    pages.append([record(num + 5), reordered, record(num + 6, day="2024-1-2")])
    pages.append([record(num + 7, note="nul\0"), record(num + 8), record(num + 9)])  # first
    pages.append([record(num + 10 + i, moment=m) for i, m in enumerate(MOMENTS[:3])])
    return pages


def test_a_column_in_isoformats_own_form_keeps_its_texts() -> None:
    records = [record(1), record(2, day="0001-01-01", moment="2099-12-31 23:59:59")]
    block = map_page(PROCS, records, DEFAULT_POLICY).block
    assert block is not None
    assert block.texts == {
        "procdate": [CLEAN_DAY, "0001-01-01"],
        "dateentryc": ["0001-01-01", "0001-01-01"],
        "datetstamp": [CLEAN_MOMENT, "2099-12-31 23:59:59"],
    }
    assert block.column("datetstamp") == [
        dt.datetime(2025, 1, 14, 10, 0, 0),
        dt.datetime(2099, 12, 31, 23, 59, 59),
    ]


@pytest.mark.parametrize("moment", ["2024-01-02T03:04:05", "2024-01-02 24:00:00", None])
def test_a_column_not_in_that_form_keeps_none(moment: Any) -> None:
    block = map_page(PROCS, [record(1), record(2, moment=moment)], DEFAULT_POLICY).block
    assert block is not None
    assert "datetstamp" not in block.texts
    assert "procdate" in block.texts


def test_a_blocks_texts_follow_its_rows() -> None:
    block = Block(("k", "d"), [[1, 2, 3], ["a", "b", "c"]], {"d": ["ta", "tb", "tc"]})
    assert block.pick([2, 0]).texts == {"d": ["tc", "ta"]}
    assert block.pick([1]).texts == {"d": ["tb"]}
    assert block.without({1}).texts == {"d": ["ta", "tc"]}
    block.put(0, {"k": 9, "d": "z"})
    block.append({"k": 4, "d": "e"})
    assert block.by_name() == {"k": [9, 2, 3, 4], "d": ["z", "b", "c", "e"]}
    assert block.texts == {"d": [None, "tb", "tc", None]}


def test_dates_is_a_list_of_its_values() -> None:
    dates = Dates([dt.date(1, 1, 1)], ["0001-01-01"])
    assert dates == [dt.date(1, 1, 1)]
    assert dates.texts == ["0001-01-01"]


@pytest.fixture
def engine(db_url_all: str) -> Iterator[Engine]:
    """A mirror at the current schema on each database, MariaDB too."""
    eng = make_engine(db_url_all)
    yield eng
    eng.dispose()


def _saved(engine: Engine, pages: list[list[Any]]) -> list[tuple[Any, ...]]:
    """Save the pages as a first load; the table's rows as the database gives them back."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {PROCS.table.name}")
    stats = state.RunStats()
    saver = PageSaver(engine, PROCS, DEFAULT_POLICY, stats)
    saver.fresh = True
    for rows in pages:
        saver.save(Page(rows, 0, time.monotonic(), time.monotonic()))
    # Raw: on SQLite the stored text itself, not what SQLAlchemy would parse it into.
    columns = [c.name for c in PROCS.table.columns if c.name != "odmirror_synced_at"]
    with engine.connect() as conn:
        result = conn.exec_driver_sql(
            f"SELECT {', '.join(columns)} FROM {PROCS.table.name} ORDER BY {PROCS.key_column}"
        )
        return [tuple(row) for row in result]


def test_odd_dates_are_stored_as_the_plain_path_stores_them(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(fast_paths.PLAIN_ENV, raising=False)
    fast = _saved(engine, hostile_pages())
    monkeypatch.setenv(fast_paths.PLAIN_ENV, "all")
    plain = _saved(engine, hostile_pages())
    assert len(plain) == sum(len(page) for page in hostile_pages())
    assert fast == plain
    if engine.dialect.name == "sqlite":  # the text itself: what any reader of the file sees
        at = [c.name for c in PROCS.table.columns].index("datetstamp")
        stored = {row[at] for row in plain}
        assert {"0001-01-01 00:00:00", "2099-12-31 23:59:59", "2024-01-02 03:04:05"} <= stored
