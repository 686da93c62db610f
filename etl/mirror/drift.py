"""A mirror changed by hand: a table or column dropped, a column retyped. Found, and repaired.

Someone with the database's rights can drop or retype what a migration made; the revision
Alembic records still says all is well, and the next save fails deep inside a COPY with a
traceback. `check_schema` compares the live tables with the models before a sync writes
anything, and names the first table and column that differ; `odmirror init` repairs them.

A repaired column's values are gone (a dropped one) or may not have survived (a retyped one is
converted back if it can be, else emptied): the cursors of the resources concerned are cleared,
so that the next sync reads everything again and writes every row whose values differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Connection, Engine, Table, inspect, text, update
from sqlalchemy.exc import SQLAlchemyError

from etl.catalog.base import Base
from etl.catalog.resources import RESOURCES
from etl.mirror.bookkeeping import SyncState
from etl.mirror.views import create_views, drop_views

# One query for every column of the mirror's schema (the information_schema views take longer).
_PG_COLUMNS = text(
    "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
    " JOIN pg_class c ON c.oid = a.attrelid WHERE c.relnamespace = current_schema()::regnamespace"
    " AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
)
_MYSQL_COLUMNS = text(
    "SELECT table_name, column_name, column_type FROM information_schema.columns"
    " WHERE table_schema = DATABASE()"
)
_SQLITE_COLUMNS = text(
    "SELECT m.name, p.name, lower(p.type) FROM sqlite_master m, pragma_table_info(m.name) p"
    " WHERE m.type = 'table'"
)


@dataclass(frozen=True)
class Drift:
    """One difference between a mirror table and its model.

    Attributes:
        table: the table's name.
        column: the column's name (None: the whole table is missing).
        found: the live column's type, None if the column (or table) is missing.
        wanted: the type the model gives it.
    """

    table: str
    column: str | None
    found: str | None
    wanted: str

    def describe(self) -> str:
        """The difference in words, for one line."""
        if self.column is None:
            return f"the mirror table {self.table} is missing"
        if self.found is None:
            return f"the column {self.column} of the mirror table {self.table} is missing"
        return (
            f"the column {self.column} of the mirror table {self.table} is {self.found}, "
            f"odmirror needs {self.wanted}"
        )


def find(conn: Connection) -> list[Drift]:
    """Every table and column of the models that the database lacks or types otherwise.

    Types are compared on PostgreSQL only: SQLite keeps whatever type a column is given, and
    MySQL reports its own spellings of them (tables and columns are still compared there).
    """
    postgres = conn.dialect.name == "postgresql"
    columns_query = {"postgresql": _PG_COLUMNS, "sqlite": _SQLITE_COLUMNS}
    live: dict[str, dict[str, str]] = {}
    for table, column, kind in conn.execute(columns_query.get(conn.dialect.name, _MYSQL_COLUMNS)):
        live.setdefault(str(table), {})[str(column)] = _plain(str(kind))
    found = []
    for table in Base.metadata.sorted_tables:
        columns = live.get(table.name)
        if columns is None:
            found.append(Drift(table.name, None, None, "a table"))
            continue
        for column in table.columns:
            wanted = _plain(column.type.compile(conn.dialect))
            held = columns.get(column.name)
            if held is None or (postgres and held != wanted):
                found.append(Drift(table.name, column.name, held, wanted))
    return found


def repair(conn: Connection) -> list[Drift]:
    """Make every table and column the models have, with their types; return what was fixed.

    Run inside the caller's transaction, at the schema's head revision.
    """
    drifts = find(conn)
    if not drifts:
        return []
    drop_views(conn)  # a view stands in the way of retyping the columns it reads
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    for drift in drifts:
        table = tables[drift.table]
        if drift.column is None:
            table.create(conn)
        elif drift.found is None:
            _add(conn, table, table.c[drift.column])
        else:
            _retype(conn, table, table.c[drift.column])
    create_views(conn)
    touched = {d.table for d in drifts}
    names = [r.name for r in RESOURCES.values() if r.table.name in touched]
    if names:
        conn.execute(update(SyncState).where(SyncState.resource.in_(names)).values(cursor=None))
    return drifts


def add_missing_columns(engine: Engine, table: Table) -> list[str]:
    """Add to a live table the columns its declaration has and it lacks; return their names.

    For the tables query mode creates itself (outside the migrations): one made by an older
    version lacks the columns odmirror added since (odmirror_gone_at).
    """
    with engine.begin() as conn:
        held = {c["name"] for c in inspect(conn).get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in held]
        for column in missing:
            _add(conn, table, column)
    return [c.name for c in missing]


def _add(conn: Connection, table: Table, column: Column[object]) -> None:
    quote = conn.dialect.identifier_preparer.quote
    kind = column.type.compile(conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(column.name)} {kind}")


def _retype(conn: Connection, table: Table, column: Column[object]) -> None:
    quote = conn.dialect.identifier_preparer.quote
    kind = column.type.compile(conn.dialect)
    alter = f"ALTER TABLE {quote(table.name)} ALTER COLUMN {quote(column.name)} TYPE {kind}"
    try:
        with conn.begin_nested():  # the values converted back, if they all convert
            conn.exec_driver_sql(f"{alter} USING {quote(column.name)}::{kind}")
    except SQLAlchemyError:  # a value does not convert: the column's values cannot be kept
        conn.exec_driver_sql(f"{alter} USING NULL")


def _plain(kind: str) -> str:
    return kind.lower().replace(" ", "")
