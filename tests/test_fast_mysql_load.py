"""LOAD DATA of new rows into MariaDB (etl.mirror.fast_mysql_load): exact, or not at all."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, Table, create_engine, select
from sqlalchemy.dialects import mysql as mysql_types
from sqlalchemy.exc import DBAPIError

from etl.catalog import od_types
from etl.catalog.base import Extra, Timestamp
from etl.catalog.resources import PATIENTS
from etl.mapping.block import Block
from etl.mapping.record import map_record
from etl.mirror import fast_mysql_load, fast_mysql_text, mysql, mysql_local_files
from etl.mirror.engine import make_engine, upgrade
from etl.mirror.upsert import save_rows, upsert_statement
from tests.mariadb import fresh_mariadb
from tests.practice import (
    cycled_block,
    fast_and_plain_on_mariadb,
    held_rows,
    sync,
    twin_tables,
)

TEXTS = [
    "tab\there",
    "line\nbreak\r\nwindows",
    "back\\slash \\N \\t",
    "nul\0byte",
    'O\'Brien "quoted" `tick`',
    "Zoë 😀 山田 \u200b",
    "",
    "NULL",
    "\\N",
    " trailing space ",
    "100% %(x)s %s",
    "x" * 70_000,  # past TEXT's 64 KB: LONGTEXT
]
ROW_KINDS: dict[str, list[Any]] = {
    "note": [*TEXTS, None],
    "code": ["A\tB", "é" * 255, "", None],
    "day": [dt.date(1, 1, 1), dt.date(2025, 2, 28), dt.date(9999, 12, 31), None],
    "moment": [
        dt.datetime(1, 1, 1, 0, 0, 0),
        dt.datetime(2025, 1, 14, 23, 59, 59),
        dt.datetime(2025, 1, 14, 10, 0, 0, 999_999),  # cut to the second, as on INSERT
        None,
    ],
    "clock": [dt.time(0, 0, 0), dt.time(23, 59, 59), dt.time(8, 30, 0, 500_000), None],
    "span": [
        dt.timedelta(hours=-1, minutes=-30),
        dt.timedelta(hours=838, minutes=59),
        dt.timedelta(seconds=-1, microseconds=-500_000),  # cut toward zero, as on INSERT
        dt.timedelta(hours=25, microseconds=7),
        None,
    ],
    "ratio": [0.1, 1e300, -0.0, 5e-324, 1 / 3, 2.0**53 + 1, None],
    "single": [0.1, 3.4e38, -1.5, 1e-30, None],
    "amount": [Decimal("12.3400"), Decimal("-0.0001"), Decimal("1E+10"), Decimal("0"), None],
    "flag": [0, 255, True, False, None],
    "count": [0, -(2**31), 2**31 - 1, None],
    "big": [0, -(2**63), 2**63 - 1, None],
    "extra": [{"a": "tab\t", "b": [1, 2.5, None]}, {}, None],
    "precise": [dt.datetime(2025, 1, 14, 10, 0, 0, 5), dt.datetime(1, 1, 1), None],  # DATETIME(6)
    "stamp": [dt.datetime(2025, 1, 14, 10, 0, 0), None],
}


def _table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("num", BigInteger, primary_key=True, autoincrement=False),
        Column("note", od_types.text()),
        Column("code", od_types.indexed_text()),
        Column("day", od_types.date()),
        Column("moment", od_types.datetime()),
        Column("clock", od_types.time_of_day()),
        Column("span", od_types.time_span()),
        Column("ratio", od_types.double()),
        Column("single", od_types.single()),
        Column("amount", od_types.exact_money()),
        Column("flag", od_types.tinyint(unsigned=True)),
        Column("count", Integer),
        Column("big", od_types.bigint()),
        Column("extra", Extra),
        Column("precise", mysql_types.DATETIME(fsp=6)),
        Column("stamp", Timestamp),
    )


def _rows(n: int, first: int = 1) -> Block:
    """Rows that take every value of every kind."""
    return cycled_block(ROW_KINDS, n, first)


@pytest.fixture
def maria() -> Iterator[tuple[Engine, Table, Table]]:
    """A MariaDB mirror engine and two empty tables of every kind of column."""
    with fresh_mariadb() as url, twin_tables(url, _table, ("loaded", "inserted")) as made:
        yield made


def _insert(engine: Engine, table: Table, block: Block) -> None:
    with engine.begin() as conn:
        conn.execute(upsert_statement(table, conn.dialect.name), block.rows())


def test_every_kind_of_value_is_loaded_as_the_insert_stores_it(
    maria: tuple[Engine, Table, Table],
) -> None:
    engine, loaded, inserted = maria
    block = _rows(24)
    synced = {"stamp": dt.datetime(2025, 3, 1, 12, 0, 0, 123_456)}  # a constant, as synced_at
    rest = Block(block.columns[:-1], block.values[:-1])
    with engine.begin() as conn:
        assert fast_mysql_load.load_rows(conn, loaded, [*rest.columns, "stamp"], rest, synced)
    _insert(engine, inserted, Block(block.columns, [*block.values[:-1], [synced["stamp"]] * 24]))
    held = held_rows(engine, loaded)
    assert held == held_rows(engine, inserted)
    # Byte for byte, and NULL apart from '' and 'NULL'.
    notes = [row[1] for row in held]
    assert notes == [ROW_KINDS["note"][i % len(ROW_KINDS["note"])] for i in range(24)]
    # Doubles read back as written (-0.0 + 0.0 is 0.0: MariaDB keeps no negative zero).
    assert [repr(row[7]) for row in held[:6]] == [repr(v + 0.0) for v in ROW_KINDS["ratio"][:6]]
    assert held[0][-1] == dt.datetime(2025, 3, 1, 12, 0, 0)
    assert held[0][-2] == dt.datetime(2025, 1, 14, 10, 0, 0, 5)


def test_a_key_that_came_meanwhile_leaves_the_block_to_the_upsert(
    maria: tuple[Engine, Table, Table],
) -> None:
    engine, loaded, _ = maria
    _insert(engine, loaded, _rows(1, first=3))
    before = held_rows(engine, loaded)
    with engine.begin() as conn:
        assert not fast_mysql_load.load_rows(conn, loaded, _rows(5).columns, _rows(5))
    assert held_rows(engine, loaded) == before  # none of the five: the savepoint undid the load


@pytest.mark.usefixtures("fast_paths_on")
def test_a_page_whose_key_came_meanwhile_is_upserted_whole(
    maria: tuple[Engine, Table, Table], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `fresh`: the run found the table empty, so the page's keys are not looked up and the
    # load meets key 2, which another writer added: the upsert takes the page instead.
    engine = maria[0]
    upgrade(engine)
    synced = dt.datetime(2026, 1, 2, 3, 4, 5)
    theirs = {"PatNum": 2, "LName": "Theirs", "DateTStamp": "2024-04-01 12:00:00"}
    save_rows(engine, PATIENTS, [map_record(PATIENTS, theirs).row], synced)
    loads: list[Any] = []
    real_load = fast_mysql_load._load

    def noted(*args: Any) -> Any:  # the real load, its answer noted
        loads.append(real_load(*args))
        return loads[-1]

    monkeypatch.setattr(fast_mysql_load, "_load", noted)
    records = [
        {"PatNum": n, "LName": f"New{n}", "DateTStamp": "2024-05-01 12:00:00"} for n in (1, 2, 3)
    ]
    rows = [map_record(PATIENTS, r).row for r in records]
    assert save_rows(engine, PATIENTS, rows, synced, fresh=True).inserted == 3
    assert loads == [(2, 1)]  # two rows loaded, one warning (the duplicate key): undone
    with engine.connect() as conn:
        held = conn.execute(select(PATIENTS.table.c.lname).order_by(PATIENTS.table.c.patnum))
        assert list(held.scalars()) == ["New1", "New2", "New3"]


def test_a_value_strict_mode_refuses_is_refused_by_the_upsert(
    maria: tuple[Engine, Table, Table],
) -> None:
    engine, loaded, _ = maria
    block = _rows(3)
    block.values[block.columns.index("code")][1] = "x" * 256  # past VARCHAR(255)
    with engine.begin() as conn:
        assert not fast_mysql_load.load_rows(conn, loaded, block.columns, block)
    assert held_rows(engine, loaded) == []  # loaded cut, with a warning: undone
    with pytest.raises(DBAPIError, match="Data too long"):
        _insert(engine, loaded, block)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), b"\x00bytes"])
def test_a_value_load_data_cannot_carry_is_left_to_the_upsert(
    maria: tuple[Engine, Table, Table], value: Any
) -> None:
    engine, loaded, _ = maria
    block = Block(("num", "note"), [[1], [value]])
    with engine.begin() as conn:
        assert not fast_mysql_load.load_rows(conn, loaded, block.columns, block)
    assert held_rows(engine, loaded) == []


def test_a_server_that_refuses_local_loading_is_not_asked_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A client that does not offer LOCAL loading is refused as a server with local_infile=OFF
    # refuses it (the shared test server's setting stays as it is).
    monkeypatch.setattr(fast_mysql_load, "_refused", set())
    with fresh_mariadb() as url:
        engine = create_engine(url, connect_args=mysql.connect_args())  # no local_infile
        mysql.configure(engine)
        metadata = MetaData()
        table = _table(metadata, "refused")
        metadata.create_all(engine)
        caplog.set_level(logging.DEBUG, logger=fast_mysql_load.__name__)
        for first in (1, 10):
            with engine.begin() as conn:
                block = _rows(3, first)
                assert not fast_mysql_load.load_rows(conn, table, block.columns, block)
                conn.execute(upsert_statement(table, conn.dialect.name), block.rows())
        assert len(held_rows(engine, table)) == 6
        assert len([r for r in caplog.records if "no LOAD DATA LOCAL" in r.getMessage()]) == 1
        engine.dispose()


def test_a_first_load_fast_and_plain_gives_the_same_mirror_by_load_data(
    make_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[int] = []
    real_load = fast_mysql_load._load

    def counted(*args: Any) -> Any:  # the real load, counted: the fast way must have taken it
        done = real_load(*args)
        loads.append(done[0] if done else -1)
        return done

    monkeypatch.setattr(fast_mysql_load, "_load", counted)

    def dress(sim: Any) -> None:
        for patnum, name in enumerate(TEXTS[:-1], 1):
            sim.store.update(patnum, LName=name, FName=name[::-1], Address=name)

    fast = fast_and_plain_on_mariadb(make_sim, monkeypatch, 60, dress, lambda s, e: sync(s, e))
    assert loads and all(n > 0 for n in loads), loads  # the fast way took the load
    patients = fast["patients"]
    # The mapping drops NUL (PostgreSQL cannot store it); all else is kept as the office has it.
    kept = [text.replace("\0", "") for text in TEXTS[:-1]]
    assert [patients[n]["lname"] for n in range(1, len(TEXTS))] == kept


def test_a_statement_of_the_mirror_s_own_cannot_send_a_file_to_the_server(tmp_path: Any) -> None:
    # The installed PyMySQL keeps LOCAL loading behind the flag odmirror toggles (else a rename
    # would have turned the fast path off, and this test says so)...
    assert mysql_local_files.switchable()
    secret = tmp_path / "secret.txt"
    secret.write_text("1\t2\n")
    with fresh_mariadb() as url:
        engine = make_engine(url)
        metadata = MetaData()
        table = _table(metadata, "asked")
        metadata.create_all(engine)
        with engine.connect() as conn:  # the server would take the file: the client must refuse
            assert conn.exec_driver_sql("SELECT @@local_infile").scalar() == 1
        # ...and outside odmirror's own load, a server's request for a file is refused (PyMySQL
        # raises mid-answer, which leaves the session unusable: it is thrown away).
        with pytest.raises(DBAPIError), engine.connect() as conn:
            conn.exec_driver_sql(f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE asked")
        assert held_rows(engine, table) == []
        engine.dispose()


@pytest.mark.parametrize(
    "values",
    [
        [0.1, 1e300, -0.0, 5e-324, 1 / 3, 2.0**53 + 1],
        [1e308, 1e308],  # a sum past the largest double: each value is still one
        [Decimal("12.3400"), Decimal("-0.0001"), Decimal("0"), Decimal("-0.00"), Decimal("95")],
        [Decimal("0.0000001"), Decimal("1E+10"), Decimal("12.50")],  # str() would write E
        ["2025-01-14 10:00:00", dt.datetime(2025, 1, 14, 10, 0, 0, 999_999), None],
        ["2025-01-14", dt.date(2025, 2, 28), "2025-01-15"],
        ["plain", None, "", "NULL"],
        ["tab\there", "plain", None],
        ["2025-01-14", "x\ty", dt.date(2025, 2, 28)],
        [*TEXTS],
    ],
)
@pytest.mark.parametrize("whole_seconds", [True, False])
def test_a_column_s_texts_are_each_value_s_text(values: list[Any], whole_seconds: bool) -> None:
    """A column written whole (a few C calls) reads as each value written by its own path."""
    assert fast_mysql_text.texts(values, whole_seconds) == [
        fast_mysql_text.text_of(v, whole_seconds) for v in values
    ]


@pytest.mark.parametrize("odd", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity")])
def test_a_column_with_a_value_load_data_cannot_carry_is_refused_whole(odd: Any) -> None:
    plain = [1.5, 2.5] if isinstance(odd, float) else [Decimal("1.50"), Decimal("2")]
    with pytest.raises(fast_mysql_text.Unloadable):
        fast_mysql_text.texts([*plain, odd])


def test_columns_without_null_are_loaded_as_the_insert_stores_them(
    maria: tuple[Engine, Table, Table],
) -> None:
    engine, loaded, inserted = maria
    ratio = [0.1, 1e300, -0.0, 5e-324, 1 / 3, 2.0**53 + 1]
    amounts = [
        Decimal("12.3400"),
        Decimal("-0.0001"),
        Decimal("0"),
        Decimal("1E+3"),
        *[Decimal(1)] * 2,
    ]
    day = ["2025-01-14", dt.date(2025, 2, 28), *["0001-01-01"] * 4]
    block = Block(
        ("num", "ratio", "amount", "day"),
        [list(range(1, 7)), ratio, amounts, day],
    )
    with engine.begin() as conn:
        assert fast_mysql_load.load_rows(conn, loaded, block.columns, block)
    as_inserted = Block(block.columns, [*block.values[:3], [dt.date(2025, 1, 14), *day[1:]]])
    _insert(engine, inserted, Block(block.columns, [list(v) for v in as_inserted.values]))
    assert held_rows(engine, loaded) == held_rows(engine, inserted)
