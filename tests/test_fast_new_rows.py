"""Rows new to the mirror: written into a binary COPY in one piece, they give the table
`write_row` gives."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    MetaData,
    Numeric,
    Table,
    Text,
)
from sqlalchemy.exc import IntegrityError

from etl.mapping.block import Block
from etl.mirror import fast_copy, fast_new_rows
from tests.conftest import empty_database
from tests.practice import cycled_block, held_rows, twin_tables

# Tests of a fast path itself: it is on whatever ODMIRROR_PLAIN says.
pytestmark = pytest.mark.usefixtures("fast_paths_on")

VALUES: dict[str, list[Any]] = {
    "note": ["plain", "tab\there", "", "Zoë 😀 山田", "x" * 70_000, None],
    "day": [dt.date(1, 1, 1), dt.date(2025, 2, 28), dt.date(9999, 12, 31), None],
    "moment": [dt.datetime(1, 1, 1), dt.datetime(2025, 1, 14, 23, 59, 59, 5), None],
    "amount": [Decimal("12.3400"), Decimal("-0.00"), Decimal("1E+10"), Decimal("0"), None],
    "ratio": [0.1, 1e300, -0.0, 5e-324, float("inf"), None],
    "flag": [True, False, None],
    "extra": [{"a": "tab\t", "b": [1, 2.5, None]}, {}, None],
}


def _table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("num", BigInteger, primary_key=True, autoincrement=False),
        Column("note", Text),
        Column("day", Date),
        Column("moment", DateTime),
        Column("amount", Numeric(20, 4)),
        Column("ratio", Float(53)),
        Column("flag", Boolean),
        Column("extra", JSON),
    )


def _rows(n: int, first: int = 1) -> Block:
    """Rows that take every value of every kind."""
    return cycled_block(VALUES, n, first)


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[tuple[Engine, Table, Table]]:
    """A PostgreSQL engine and two empty tables of every kind of column."""
    with (
        empty_database("postgresql", tmp_path) as url,
        twin_tables(url, _table, ("whole", "by_row")) as made,
    ):
        yield made


def _copy(engine: Engine, table: Table, block: Block, whole: bool) -> None:
    """fast_copy.copy_rows, its rows written whole or a row at a time."""
    real = fast_new_rows.write_rows
    with pytest.MonkeyPatch.context() as patch, engine.begin() as conn:
        patch.setattr(fast_new_rows, "write_rows", lambda copy, rows: real(copy, rows, whole))
        fast_copy.copy_rows(conn, table, [*block.columns], block)


@pytest.mark.parametrize("rows", [0, 1, 7, 1000])
def test_rows_written_whole_are_the_rows_write_row_writes(
    pg: tuple[Engine, Table, Table], rows: int
) -> None:
    engine, whole, by_row = pg
    block = _rows(rows)
    _copy(engine, whole, block, True)
    _copy(engine, by_row, block, False)
    assert held_rows(engine, whole) == held_rows(engine, by_row)
    assert len(held_rows(engine, whole)) == rows


def test_a_block_larger_than_the_buffer_is_sent_on_the_way(
    pg: tuple[Engine, Table, Table], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, whole, by_row = pg
    monkeypatch.setattr(fast_new_rows, "_BATCH", 3)
    monkeypatch.setattr(fast_new_rows, "_FLUSH", 100)
    block = _rows(50)
    _copy(engine, whole, block, True)
    _copy(engine, by_row, block, False)
    assert held_rows(engine, whole) == held_rows(engine, by_row)


def test_a_key_the_table_holds_fails_the_copy_as_write_row_does(
    pg: tuple[Engine, Table, Table],
) -> None:
    engine, whole, _ = pg
    _copy(engine, whole, _rows(3), True)
    with pytest.raises(IntegrityError):
        _copy(engine, whole, _rows(3, first=3), True)
    assert [row[0] for row in held_rows(engine, whole)] == [1, 2, 3]


def test_psycopg_s_own_formatter_is_found() -> None:
    # Were it not, every COPY would take the plain twin (correct, but slower): say so here.
    assert fast_new_rows.formatter() is not None
