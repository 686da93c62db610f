"""Open Dental 24.3's tables, declared from its schema file for SQLite, PostgreSQL and MySQL.

`od_schema_24_3.json` (shipped beside this module) lists Open Dental 24.3's 458 tables as
`{table: [[column, storage type, enum name or null], ...]}` in Open Dental's column order, the
first column being the primary key. `od_table()` turns any of them into a SQLAlchemy Core `Table`:
lower-case table and column names (as the mirror has always used), all columns in Open Dental's
order, the key a BIGINT that is never generated here, and types from `etl.catalog.od_types` that
hold Open Dental's stored values exactly (0/1 tinyints, "0001-01-01", '', enum integer codes).

Every column but the key is nullable, although Open Dental declares them NOT NULL: in the mirror
NULL means "not known" (an API endpoint that does not send the column), never a value Open Dental
stores. `no_value()` gives Open Dental's own "no value" of each storage type, for the code that
stores what Open Dental stores.

Each column's `info` carries `od_name` (Open Dental's spelling), `od_storage` and `od_enum`, so
the mapping and the views can read them.

Money. Open Dental keeps amounts as doubles. The mirror keeps exact NUMERIC(18,4) for the ten
amount columns it has always kept exact (`EXACT_MONEY`: patient balances, procedure fees,
claim amounts, claim payment totals), so that sums stay exact and mirrors that exist keep their
type; every other Double column is a DOUBLE, as in Open Dental. On an amount Open Dental wrote
with cents (all of its money), both give the same value; a SUM over DOUBLE may differ from
Open Dental's in the 13th digit, as Open Dental's own does from run to run, never at the cent.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from sqlalchemy import Column, MetaData, Table
from sqlalchemy.types import TypeEngine

from etl.catalog import od_types

SCHEMA_FILE = Path(__file__).with_name("od_schema_24_3.json")
OD_VERSION = "24.3"

# (table, column) in lower case: the amounts the mirror has always kept exact.
EXACT_MONEY: frozenset[tuple[str, str]] = frozenset(
    {
        ("patient", "estbalance"),
        ("patient", "baltotal"),
        ("procedurelog", "procfee"),
        ("procedurelog", "discount"),
        ("claim", "claimfee"),
        ("claim", "inspayest"),
        ("claim", "inspayamt"),
        ("claim", "dedapplied"),
        ("claim", "writeoff"),
        ("claimpayment", "checkamt"),
    }
)

_TYPES: dict[str, Callable[[], TypeEngine[Any]]] = {
    "Long": od_types.bigint,
    "Int": od_types.integer,
    "Interval": od_types.integer,
    "Byte": lambda: od_types.tinyint(unsigned=True),
    "Bool": od_types.tinyint,
    "Double": od_types.double,
    "Float": od_types.single,
    "String": od_types.text,
    "EnumAsString": od_types.text,
    "Date": od_types.date,
    "DateT": od_types.datetime,
    "Time": od_types.time_of_day,
    "TSpan": od_types.time_span,
}

# What Open Dental stores for "no value" in each storage type (its columns are NOT NULL).
NOT_NULL_SENTINELS: Mapping[str, Any] = MappingProxyType(
    {
        "Long": 0,
        "Int": 0,
        "Interval": 0,
        "Byte": 0,
        "Bool": 0,
        "Double": 0.0,
        "Float": 0.0,
        "String": "",
        "EnumAsString": "",
        "Date": dt.date(1, 1, 1),
        "DateT": dt.datetime(1, 1, 1),
        "Time": dt.time(0, 0, 0),
        "TSpan": dt.timedelta(0),
    }
)


class OdColumn(NamedTuple):
    """One column of an Open Dental table, as its schema file lists it."""

    name: str
    storage: str
    enum: str | None


def _load(path: Path) -> Mapping[str, tuple[OdColumn, ...]]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    tables = {
        table.lower(): tuple(OdColumn(name, storage, enum) for name, storage, enum in columns)
        for table, columns in raw.items()
    }
    unknown = {col.storage for cols in tables.values() for col in cols} - set(_TYPES)
    if unknown:
        raise ValueError(f"{path.name}: storage types without a column type: {sorted(unknown)}")
    return MappingProxyType(tables)


# Table name (lower case) -> its columns in Open Dental's order; the first is the key.
OD_TABLES: Mapping[str, tuple[OdColumn, ...]] = _load(SCHEMA_FILE)


def no_value(storage: str) -> Any:
    """Open Dental's stored "no value" for a storage type ('0001-01-01', '', 0, ...).

    Args:
        storage: an Open Dental storage type, e.g. "Date".

    Returns:
        The value Open Dental's NOT NULL column holds when nothing was entered.
    """
    return NOT_NULL_SENTINELS[storage]


def column_type(table: str, column: OdColumn) -> TypeEngine[Any]:
    """The mirror's type for one Open Dental column (see the module docstring for money)."""
    if column.storage == "Double" and (table, column.name.lower()) in EXACT_MONEY:
        return od_types.exact_money()
    return _TYPES[column.storage]()


def od_table(
    name: str, metadata: MetaData, *, indexed_text: Collection[str] = (), schema: str | None = None
) -> Table:
    """Declare one Open Dental table, all of its columns, in Open Dental's order.

    Args:
        name: the table's name in any case ("ProcedureLog" or "procedurelog").
        metadata: where the table is declared.
        indexed_text: lower-case names of text columns the mirror will index (VARCHAR on MySQL).
        schema: a database schema for the table, if not the connection's default.

    Returns:
        The `Table`, named in lower case, with nullable columns except the key.

    Raises:
        KeyError: Open Dental 24.3 has no such table.
    """
    table = name.lower()
    columns = OD_TABLES[table]
    declared = [
        _column(table, col, index, col.name.lower() in indexed_text)
        for index, col in enumerate(columns)
    ]
    return Table(table, metadata, *declared, schema=schema)


def _column(table: str, column: OdColumn, position: int, indexed: bool) -> Column[Any]:
    info = {"od_name": column.name, "od_storage": column.storage, "od_enum": column.enum}
    if position == 0:
        return Column(
            column.name.lower(), od_types.bigint(), primary_key=True, autoincrement=False, info=info
        )
    sqltype = (
        od_types.indexed_text()
        if indexed and column.storage == "String"
        else column_type(table, column)
    )
    return Column(column.name.lower(), sqltype, nullable=True, info=info)
