"""Open Dental 24.3's tables as the mirror declares them: every column, in order, values exact."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select, text
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect

from etl.catalog.opendental import EXACT_MONEY, OD_TABLES, no_value, od_table
from tests.mariadb import DATABASES, mirror_url

SHARED_SCHEMA = Path("/work/shared/od-schema-24.3.json")
PACKAGED_SCHEMA = Path(__file__).parents[1] / "etl" / "catalog" / "od_schema_24_3.json"

# What each storage type must become on each database, written out rather than derived.
EXPECTED_DDL: dict[str, dict[str, str]] = {
    "sqlite": {
        "Long": "BIGINT",
        "Int": "INTEGER",
        "Interval": "INTEGER",
        "Byte": "INTEGER",
        "Bool": "INTEGER",
        "Double": "DOUBLE",
        "Float": "REAL",
        "String": 'TEXT COLLATE "NOCASE"',
        "EnumAsString": 'TEXT COLLATE "NOCASE"',
        "Date": "DATE",
        "DateT": "DATETIME",
        "Time": "TIME",
        "TSpan": "TEXT",
        "money": "NUMERIC(18, 4)",
    },
    "postgresql": {
        "Long": "BIGINT",
        "Int": "INTEGER",
        "Interval": "INTEGER",
        "Byte": "SMALLINT",
        "Bool": "SMALLINT",
        "Double": "DOUBLE PRECISION",
        "Float": "REAL",
        "String": "TEXT",
        "EnumAsString": "TEXT",
        "Date": "DATE",
        "DateT": "TIMESTAMP WITHOUT TIME ZONE",
        "Time": "TIME WITHOUT TIME ZONE",
        "TSpan": "INTERVAL",
        "money": "NUMERIC(18, 4)",
    },
    "mariadb": {
        "Long": "BIGINT",
        "Int": "INTEGER",
        "Interval": "INTEGER",
        "Byte": "TINYINT UNSIGNED",
        "Bool": "TINYINT",
        "Double": "DOUBLE",
        "Float": "FLOAT",
        "String": "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        "EnumAsString": "LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
        "Date": "DATE",
        "DateT": "DATETIME",
        "Time": "TIME",
        "TSpan": "TIME",
        "money": "NUMERIC(18, 4)",
    },
}
DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
    "mariadb": mysql.dialect(is_mariadb=True),
}
# What each database reports back for the tables it made (information_schema / PRAGMA).
REFLECTED: dict[str, dict[str, str]] = {
    "sqlite": {**EXPECTED_DDL["sqlite"], "String": "TEXT", "EnumAsString": "TEXT"},
    "postgresql": {
        **{k: v.lower() for k, v in EXPECTED_DDL["postgresql"].items()},
        "money": "numeric",
        "DateT": "timestamp without time zone",
        "Time": "time without time zone",
    },
    "mariadb": {
        **{k: v.split()[0].lower() for k, v in EXPECTED_DDL["mariadb"].items()},
        "Integer": "int",
        "Int": "int",
        "Interval": "int",
        "money": "decimal",
    },
}


def _kind(table: str, column: str, storage: str) -> str:
    return "money" if (table, column.lower()) in EXACT_MONEY else storage


def _expected_columns(source: dict[str, list[list[Any]]]) -> dict[str, list[tuple[str, str]]]:
    return {
        t.lower(): [(c.lower(), _kind(t.lower(), c, s)) for c, s, _ in cols]
        for t, cols in source.items()
    }


def test_packaged_schema_is_open_dentals() -> None:
    """The JSON shipped in the package is the reference file, unchanged."""
    if not SHARED_SCHEMA.exists():
        pytest.skip("the shared reference schema is not on this machine")
    assert json.loads(PACKAGED_SCHEMA.read_text()) == json.loads(SHARED_SCHEMA.read_text())


@pytest.mark.parametrize("database", DATABASES)
def test_declarations_match_the_schema_file(database: str) -> None:
    """All 458 tables: names, order and each column's type on each database."""
    source = json.loads(PACKAGED_SCHEMA.read_text())
    assert len(source) == len(OD_TABLES) == 458
    metadata = MetaData()
    declared = {}
    for name in source:
        table = od_table(name, metadata)
        declared[table.name] = [
            (col.name, col.type.compile(dialect=DIALECTS[database])) for col in table.columns
        ]
        assert [col.info["od_name"] for col in table.columns] == [c for c, _, _ in source[name]]
        assert [col.info["od_enum"] for col in table.columns] == [e for _, _, e in source[name]]
        assert list(table.primary_key.columns) == [next(iter(table.columns))]
        assert all(col.nullable for col in list(table.columns)[1:])
    expected = {
        t: [(c, EXPECTED_DDL[database][kind]) for c, kind in cols]
        for t, cols in _expected_columns(source).items()
    }
    assert declared == expected


def _reflected_columns(conn: Any, database: str) -> dict[str, list[tuple[str, str]]]:
    if database == "sqlite":
        names = [
            r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
        ]
        return {
            t: [(r[1], r[2]) for r in conn.execute(text(f"PRAGMA table_info('{t}')"))]
            for t in names
        }
    where = (
        "table_schema = current_schema()"
        if database == "postgresql"
        else "table_schema = DATABASE()"
    )
    rows = conn.execute(
        text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            f"WHERE {where} ORDER BY table_name, ordinal_position"
        )
    )
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, []).append((column, data_type.lower()))
    return tables


@pytest.mark.parametrize("database", DATABASES)
def test_all_tables_are_created(database: str, tmp_path: Path) -> None:
    """Each database makes all 458 tables and reports back the declared columns and types."""
    metadata = MetaData()
    for name in OD_TABLES:
        od_table(name, metadata)
    source = json.loads(PACKAGED_SCHEMA.read_text())
    expected = {
        t: [(c, REFLECTED[database][kind]) for c, kind in cols]
        for t, cols in _expected_columns(source).items()
    }
    with mirror_url(database, tmp_path) as url:
        engine = create_engine(url)
        try:
            metadata.create_all(engine, checkfirst=False)  # an empty database
            with engine.connect() as conn:
                assert _reflected_columns(conn, database) == expected
        finally:
            engine.dispose()


ROUND_TRIP_TABLES = ("patient", "procedurelog", "recall", "clockevent", "claimtracking", "claim")


def _edge(storage: str, money: bool) -> Any:
    """A value at an edge of what Open Dental stores in this storage type."""
    if money:
        return Decimal("-12345678.9012")
    return {
        "Long": 2**63 - 1,
        "Int": -1,
        "Interval": 2**31 - 1,
        "Byte": 255,
        "Bool": 1,
        "Double": 0.1 + 0.2,
        "Float": 0.15625,
        "String": 'Zoë O\'Brien-Łukasz 😀 "Smith"\n',
        "EnumAsString": "Fixed",
        "Date": dt.date(9999, 12, 31),
        "DateT": dt.datetime(2024, 2, 29, 23, 59, 59),
        "Time": dt.time(23, 59, 59),
        "TSpan": dt.timedelta(hours=838, minutes=59, seconds=59),
    }[storage]


def _rows(table: str) -> list[dict[str, Any]]:
    """Open Dental's "no value" sentinels, edge values, a negative span, and an unknown row."""
    columns = OD_TABLES[table]
    sentinels = {c.name.lower(): no_value(c.storage) for c in columns}
    edges = {
        c.name.lower(): _edge(c.storage, (table, c.name.lower()) in EXACT_MONEY) for c in columns
    }
    negative = {
        c.name.lower(): -dt.timedelta(hours=1, minutes=30) if c.storage == "TSpan" else -1
        for c in columns
        if c.storage in ("TSpan", "Long", "Int")
    }
    unknown = dict.fromkeys((c.name.lower() for c in columns), None)
    key = columns[0].name.lower()
    for number, row in enumerate((sentinels, edges, negative, unknown), start=1):
        row[key] = number if number != 2 else 2**63 - 1
    for money in (k for t, k in EXACT_MONEY if t == table):
        sentinels[money] = Decimal("0.0000")
    return [sentinels, edges, negative, unknown]


@pytest.mark.parametrize("database", DATABASES)
def test_open_dental_values_round_trip(database: str, tmp_path: Path) -> None:
    """Sentinels, extremes and unicode come back exactly as written, on each database."""
    metadata = MetaData()
    tables = [od_table(name, metadata) for name in ROUND_TRIP_TABLES]
    with mirror_url(database, tmp_path) as url:
        engine = create_engine(url)
        try:
            metadata.create_all(engine, checkfirst=False)  # an empty database
            for table in tables:
                rows = _rows(table.name)
                with engine.begin() as conn:
                    for row in rows:
                        conn.execute(table.insert().values(row))
                with engine.connect() as conn:
                    key = next(iter(table.columns))
                    back = [dict(r._mapping) for r in conn.execute(select(table).order_by(key))]
                expected = sorted(
                    ({c.name: row.get(c.name) for c in table.columns} for row in rows),
                    key=lambda r: int(r[key.name] or 0),
                )
                assert back == expected, table.name
        finally:
            engine.dispose()


def test_sqlite_stores_open_dentals_text_forms(tmp_path: Path) -> None:
    """On SQLite the stored text is Open Dental's: no microseconds, spans as MySQL prints them."""
    metadata = MetaData()
    table = od_table("clockevent", metadata)
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert().values(
                clockeventnum=1,
                timedisplayed1=dt.datetime(1, 1, 1),
                otimehours=dt.timedelta(hours=-1, minutes=-30),
                adjust=dt.timedelta(hours=838, minutes=59, seconds=59),
            )
        )
        stored = conn.execute(
            text("SELECT timedisplayed1, otimehours, adjust, typeof(clockeventnum) FROM clockevent")
        ).one()
    engine.dispose()
    assert tuple(stored) == ("0001-01-01 00:00:00", "-01:30:00", "838:59:59", "integer")


def test_unknown_table_is_a_key_error() -> None:
    """Asking for a table Open Dental 24.3 does not have fails plainly."""
    with pytest.raises(KeyError):
        od_table("nosuchtable", MetaData())
    assert od_table("ProcedureLog", MetaData()).name == "procedurelog"


def test_exact_money_is_where_the_mirror_kept_it() -> None:
    """EXACT_MONEY names the Open Dental columns today's mirror models keep as NUMERIC."""
    from sqlalchemy import Float, Numeric

    import etl.catalog.tables  # noqa: F401 (registers the models)
    from etl.catalog.base import Base

    numeric = {
        (table.name, column.name)
        for table in Base.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, Numeric)
        and not isinstance(column.type, Float)
        and table.name in OD_TABLES
    }
    assert numeric == set(EXACT_MONEY)
