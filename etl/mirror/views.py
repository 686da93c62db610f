"""Readable views for BI tools: `<table>_v` beside each mirrored table.

The tables hold what Open Dental stores (0/1 flags, 0001-01-01 for "no date", integer codes),
so that Open Dental's own SQL answers on them as on Open Dental. The views are the friendly
layer: each has the table's columns (without `odmirror_extra`, and without the patient's SSN)
with Open Dental's "no date" as NULL and flags as true/false, then `<column>_label` for every
integer code (the name Open Dental shows, e.g. aptstatus 1 -> 'Scheduled'), then a few joins a
report always wants: provider and clinic names, the patient's age. The SQL is plain enough for
SQLite, PostgreSQL and MySQL; the few date functions and the joining of text differ by dialect.
`odmirror init` (and `alembic upgrade`) drops them before migrating and makes them again after
(migrations/env.py): SQLite cannot rebuild a table a view names, and a view only shows the
columns and joins the database has at that revision.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Column, Connection, Table, inspect
from sqlalchemy.dialects import mysql as mysql_dialect
from sqlalchemy.dialects import registry

from etl.catalog.enums import ENUM_NAMES
from etl.catalog.resources import RESOURCES
from etl.catalog.tables import DERIVED_FLAGS
from etl.mirror import mysql

SUFFIX = "_v"
HIDDEN = {"odmirror_extra", "patient.ssn", "provider.ssn"}
CLAIM_STATUS = {"U": "Unsent", "H": "Hold", "W": "Waiting", "S": "Sent", "R": "Received",
                "I": "Hold for In Process"}  # fmt: skip
NO_DATE, NO_MOMENT = "'0001-01-01'", "'0001-01-01 00:00:00'"


def _day_or_null(column: str) -> str:
    return f"NULLIF({column}, {NO_DATE})"


def _moment_or_null(column: str) -> str:
    return f"NULLIF({column}, {NO_MOMENT})"


@dataclass(frozen=True)
class Dialect:
    """The few expressions that differ between SQLite, PostgreSQL and MySQL."""

    day: Callable[[str], str]
    month: Callable[[str], str]
    age: Callable[[str], str]
    #: A provider's "first last" from the table alias (MySQL's || is OR, not concatenation).
    name: Callable[[str], str] = lambda a: f"{a}.fname || ' ' || {a}.lname"


DIALECTS = {
    "sqlite": Dialect(
        day=lambda x: f"date({x})",
        month=lambda x: f"strftime('%Y-%m', {x})",
        age=lambda x: (
            f"(CAST(strftime('%Y', 'now') AS INTEGER) - CAST(strftime('%Y', {x}) AS INTEGER)"
            f" - (strftime('%m-%d', 'now') < strftime('%m-%d', {x})))"
        ),
    ),
    "postgresql": Dialect(
        day=lambda x: f"CAST({x} AS DATE)",
        month=lambda x: f"to_char({x}, 'YYYY-MM')",
        age=lambda x: f"CAST(date_part('year', age(CURRENT_DATE, {x})) AS INTEGER)",
    ),
    "mysql": Dialect(
        day=lambda x: f"CAST({x} AS DATE)",
        month=lambda x: f"DATE_FORMAT({x}, '%Y-%m')",
        age=lambda x: f"TIMESTAMPDIFF(YEAR, {x}, CURDATE())",
        name=lambda a: f"CONCAT({a}.fname, ' ', {a}.lname)",
    ),
}
DIALECTS["mariadb"] = DIALECTS["mysql"]

# Extra columns and joins per table: (select expressions, joins).
_EXTRAS: dict[str, Callable[[Dialect], tuple[list[str], list[str]]]] = {
    "patient": lambda d: (
        [f"{_age(d, _day_or_null('t.birthdate'))} AS age",
         f"{d.month(_day_or_null('t.datefirstvisit'))} AS first_visit_month",
         f"{d.name('p')} AS priprov_name", "c.description AS clinic_description"],
        ["LEFT JOIN provider p ON p.provnum = t.priprov",
         "LEFT JOIN clinic c ON c.clinicnum = t.clinicnum"],
    ),
    "appointment": lambda d: (
        [f"{d.day(_moment_or_null('t.aptdatetime'))} AS apt_date",
         f"{d.month(_moment_or_null('t.aptdatetime'))} AS apt_month",
         f"{d.name('p')} AS prov_name", f"{d.name('h')} AS provhyg_name",
         "c.description AS clinic_description", "o.opname AS op_name",
         "pt.lname AS patient_lname", "pt.fname AS patient_fname"],
        ["LEFT JOIN provider p ON p.provnum = t.provnum",
         "LEFT JOIN provider h ON h.provnum = t.provhyg",
         "LEFT JOIN clinic c ON c.clinicnum = t.clinicnum",
         "LEFT JOIN operatory o ON o.operatorynum = t.op",
         "LEFT JOIN patient pt ON pt.patnum = t.patnum"],
    ),
    "procedurelog": lambda d: (
        [f"{d.month(_day_or_null('t.procdate'))} AS proc_month", f"{d.name('p')} AS prov_name",
         "c.description AS clinic_description", "pc.proccode AS proccode",
         "pc.descript AS proc_descript"],
        ["LEFT JOIN provider p ON p.provnum = t.provnum",
         "LEFT JOIN clinic c ON c.clinicnum = t.clinicnum",
         "LEFT JOIN procedurecode pc ON pc.codenum = t.codenum"],
    ),
    "provider": lambda d: ([f"{d.name('t')} AS full_name"], []),
    "claim": lambda d: (
        [_case("t.claimstatus", CLAIM_STATUS) + " AS claimstatus_label",
         f"{d.name('p')} AS provtreat_name"],
        ["LEFT JOIN provider p ON p.provnum = t.provtreat"],
    ),
}  # fmt: skip


def _age(d: Dialect, born: str) -> str:
    # Born after today: no age (the databases would disagree on a negative one, and it is none).
    return f"CASE WHEN {born} > CURRENT_DATE THEN NULL ELSE {d.age(born)} END"


def _no_extras(_dialect: Dialect) -> tuple[list[str], list[str]]:
    return [], []


def _case(column: str, labels: dict[str, str] | dict[int, str]) -> str:
    whens = " ".join(
        f"WHEN {value!r} THEN '{label}'"
        if isinstance(value, str)
        else f"WHEN {value} THEN '{label}'"
        for value, label in labels.items()
    )
    return f"CASE {column} {whens} END"


def view_select(table: Table, dialect: str, present: Mapping[str, Any] | None = None) -> str:
    """The SELECT of a table's readable view, for one dialect.

    Args:
        table: the mirror table.
        dialect: "sqlite", "postgresql", "mysql" or "mariadb".
        present: the columns the database has, with their types as it reports them (default:
            all the model's); a migration passes what exists at its revision, so a later
            model's columns are not named too early, nor an older type mistaken for today's.
    """
    d, quote = DIALECTS[dialect], _quoter(dialect)
    shown = [
        c
        for c in table.columns
        if (present is None or c.name in present)
        and c.name not in HIDDEN
        and f"{table.name}.{c.name}" not in HIDDEN
    ]
    stored = {} if present is None else present
    columns = [_readable(c, quote, stored.get(c.name)) for c in shown]
    for column in shown:
        names = ENUM_NAMES.get(column.info.get("od_enum") or "")
        if names:
            labels = {i: name for i, name in enumerate(names) if name}
            label = quote(f"{column.name}_label")
            columns.append(f"{_case('t.' + quote(column.name), labels)} AS {label}")
    extra, joins = _EXTRAS.get(table.name, _no_extras)(d)
    body = ",\n  ".join(columns + extra)
    return f"SELECT\n  {body}\nFROM {table.name} t\n" + "\n".join(joins)


def _readable(column: Column[Any], quote: Callable[[str], str], stored_as: Any = None) -> str:
    """A column as the view shows it: "no date" as NULL, a flag as true/false."""
    storage, name = column.info.get("od_storage"), quote(column.name)
    ref = f"t.{name}"
    if isinstance(stored_as, Boolean):
        return ref  # a mirror before revision 0006 keeps flags as booleans
    if storage == "Date":
        return f"{_day_or_null(ref)} AS {name}"
    if storage == "DateT":
        return f"{_moment_or_null(ref)} AS {name}"
    if storage == "Bool" or column.name in DERIVED_FLAGS:
        return f"({ref} <> 0) AS {name}"
    return ref


@functools.lru_cache(maxsize=8)
def _quoter(dialect: str) -> Callable[[str], str]:
    # A name the dialect reserves is quoted its way (patient.position on MariaDB); others stay
    # bare. `mariadb://` URLs name a dialect that the registry gives as MySQL's, told apart.
    if dialect == "mariadb":
        made = mysql_dialect.dialect(is_mariadb=True)
    else:
        made = registry.load(dialect)()
    quote: Callable[[str], str] = made.identifier_preparer.quote
    return quote


def _needs(table: str) -> set[str]:
    # The table itself and every table its joins read ("LEFT JOIN provider p ON ...").
    _extra, joins = _EXTRAS.get(table, _no_extras)(DIALECTS["sqlite"])
    return {table} | {join.split()[2] for join in joins}


def view_names() -> list[str]:
    """The readable views, one per mirrored table."""
    return [r.table.name + SUFFIX for r in RESOURCES.values()]


def create_views(conn: Connection) -> None:
    """Create (or re-create) every readable view on this connection."""
    drop_views(conn)
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    for resource in RESOURCES.values():
        if not _needs(resource.table.name) <= tables:
            continue  # a table it reads is not there at this revision
        present = {c["name"]: c["type"] for c in inspector.get_columns(resource.table.name)}
        sql = view_select(resource.table, conn.dialect.name, present)
        if mysql.is_mysql(conn.dialect.name):
            sql = sql.replace("%", "%%")  # PyMySQL formats even a statement without parameters
        conn.exec_driver_sql(f"CREATE VIEW {resource.table.name}{SUFFIX} AS\n{sql}")


def drop_views(conn: Connection) -> None:
    """Drop every readable view that exists."""
    for name in view_names():
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
