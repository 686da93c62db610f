"""The values the loader hands the driver are those SQLAlchemy's own processing gives."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Date, DateTime, create_engine
from sqlalchemy.dialects import sqlite

from etl.catalog.resources import RESOURCES
from etl.mapping.block import Block
from etl.mirror import fast_copy

# Tests of a fast path itself: it is on whatever ODMIRROR_PLAIN says.
pytestmark = pytest.mark.usefixtures("fast_paths_on")

SQLITE = create_engine("sqlite://").dialect
DATED = sorted(
    {
        (r.table.name, c.name): c
        for r in RESOURCES.values()
        for c in r.table.columns
        if isinstance(c.type, Date | DateTime)
    }.items()
)
ZONES = st.sampled_from([None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=-6))])
MOMENTS = st.one_of(
    st.none(),
    st.dates(),
    st.datetimes(timezones=ZONES),
    st.datetimes().map(lambda d: d.replace(microsecond=0)),
)


@pytest.mark.parametrize("column", [c for _, c in DATED], ids=[f"{t}.{n}" for (t, n), _ in DATED])
@settings(max_examples=60, deadline=None)
@given(values=st.lists(MOMENTS, max_size=8))
def test_sqlite_dates_are_the_text_sqlalchemy_writes(column: Column[Any], values: Any) -> None:
    process = column.type._cached_bind_processor(SQLITE)
    assert process is not None
    expected = [process(value) for value in values]
    convert = fast_copy._converter(SQLITE, column)
    assert convert is not None and convert(values) == expected


def test_every_kind_of_sqlite_date_column_takes_the_short_way() -> None:
    # If SQLAlchemy renamed its storage format, the text would still be right, only slower.
    for _, column in DATED:
        impl = column.type.dialect_impl(SQLITE)
        assert isinstance(impl, sqlite.DATE | sqlite.DATETIME), column
        assert fast_copy._ISO.get(getattr(impl, "_storage_format", "")), column


def test_driver_values_take_each_row_in_order_with_constants_in_place() -> None:
    table = RESOURCES["patients"].table
    block = Block(("patnum", "birthdate"), [[1, 2], [dt.date(2001, 2, 3), None]])
    synced = dt.datetime(2030, 1, 2, 3, 4, 5)
    with create_engine("sqlite://").connect() as conn:
        values = fast_copy.driver_values(
            conn, table, ["patnum", "odmirror_synced_at", "birthdate"], block,
            {"odmirror_synced_at": synced},
        )  # fmt: skip
    assert values == [(1, "2030-01-02 03:04:05", "2001-02-03"), (2, "2030-01-02 03:04:05", None)]
