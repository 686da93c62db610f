"""Any of Open Dental's tables, mirrored whole through ShortQuery (query mode).

`sync.tables` names Open Dental tables to read with SQL (`SELECT *`, so every column, with the
database's raw values). A table the endpoints already mirror (etl.catalog.tables.TABLES) is
that same table; any other is declared from the schema file on `QUERY_METADATA`, its own
MetaData, so Alembic's autogenerate (which compares `Base.metadata`) leaves it alone: the sync
creates it when it is missing (etl.sync.query_mode) and a later Open Dental schema change is
its to make, not a migration's.

Each table is read by keyset on its change column (`change_column`): SecDateTEdit or DateTStamp
(set by the database on every change), else the per-table choice in `CHANGE_OVERRIDES`. A
table with none is read whole on every run; rows a whole read no longer returns get
`odmirror_gone_at`, as the endpoints' whole tables do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import MetaData, Table

from etl.catalog.base import NAMING_CONVENTION
from etl.catalog.opendental import OD_TABLES
from etl.catalog.resources import OWN_COLUMNS, RESOURCES, FieldSpec, Resource, _spec
from etl.catalog.tables import TABLES, Mirrored, declare
from etl.errors import ConfigError

#: Columns Open Dental's database stamps on every change of a row, in order of preference.
CHANGE_STAMPS = ("SecDateTEdit", "DateTStamp")
#: Tables whose only time column is another one (claimtracking: DateTimeEntry, which its
#: rows carry as their last edit; vendor notes in shared/opendental-api-tables.md).
CHANGE_OVERRIDES = {"claimtracking": "DateTimeEntry"}

#: Where tables outside the endpoints' catalog are declared (kept out of autogenerate).
QUERY_METADATA = MetaData(naming_convention=NAMING_CONVENTION)
_declared: dict[str, Table] = {}


def change_column(table: str) -> str | None:
    """The column, as Open Dental spells it, that says when a row last changed; None if none."""
    columns = {c.name: c.storage for c in OD_TABLES[table]}
    override = CHANGE_OVERRIDES.get(table)
    if override is not None:
        return override
    return next((c for c in CHANGE_STAMPS if columns.get(c) == "DateT"), None)


def query_table(name: str) -> Table:
    """The mirror table of an Open Dental table read in query mode (declared once)."""
    if name in TABLES:
        return TABLES[name]
    table = _declared.get(name)
    if table is None:
        how = Mirrored(whole=change_column(name) is None, indexes=_indexes(name))
        table = _declared[name] = declare(name, how, QUERY_METADATA)
    return table


def _indexes(name: str) -> tuple[str, ...]:
    stamp = change_column(name)
    return (stamp.lower(),) if stamp else ()


@dataclass(frozen=True)
class QueryResource(Resource):
    """An Open Dental table read through ShortQuery: the resource the sync's saving takes.

    Its values are the database's own: enum and flag columns come as integers and map as
    integers (a code newer than the catalog's names is kept, not refused).
    """

    @property
    def table(self) -> Table:
        """The mirror table."""
        return query_table(self.table_name)

    @cached_property
    def columns_not_sent(self) -> tuple[str, ...]:
        """None: `SELECT *` sends every one of Open Dental's columns."""
        return ()

    @cached_property
    def fields(self) -> tuple[FieldSpec, ...]:
        """One FieldSpec per Open Dental column (derived text never comes by SQL)."""
        specs = (
            _spec(column)
            for column in self.table.columns
            if column.name not in OWN_COLUMNS and "derived_from" not in column.info
        )
        return tuple(as_stored(spec) for spec in specs)


def as_stored(spec: FieldSpec) -> FieldSpec:
    """A FieldSpec as its column comes by SQL: an enum or a flag is the integer held."""
    # The database's own integers: an enum code newer than the catalog, a tinyint flag that
    # holds 2, are what Open Dental stores, kept as they are.
    return dataclasses.replace(spec, kind="int") if spec.kind in ("enum", "bool") else spec


def query_resource(name: str) -> QueryResource:
    """The query-mode resource of one Open Dental table (named like the table).

    Raises:
        ConfigError: Open Dental 24.3 has no such table, or an endpoint resource has its name.
    """
    table = name.strip().lower()
    if table not in OD_TABLES:
        raise ConfigError(f"{name!r} is not one of Open Dental 24.3's tables")
    if table in RESOURCES:
        raise ConfigError(f"{name!r} is an endpoint resource's name; list it in sync.resources")
    key = OD_TABLES[table][0].name
    stamp = change_column(table)
    return QueryResource(
        name=table,
        path="queries/ShortQuery",
        table_name=table,
        key=key,
        cursor_param=None,
        cursor_field=stamp,
        # A table the endpoints' catalog declares without odmirror_gone_at keeps removed rows.
        mark_missing=stamp is None and "odmirror_gone_at" in query_table(table).c,
    )


def check_tables(names: Any) -> tuple[str, ...]:
    """`sync.tables` checked: Open Dental table names in lower case, each once, in order.

    Raises:
        ConfigError: not a list of names, or a name that is not an Open Dental table.
    """
    items = names.split(",") if isinstance(names, str) else names
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError("must be a list of Open Dental table names")
    chosen = [query_resource(item).name for item in items if item.strip()]
    return tuple(dict.fromkeys(chosen))
