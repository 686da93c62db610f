"""Readable views for BI tools: `<table>_v` beside each mirrored table.

The tables hold what Open Dental stores (0/1 flags, 0001-01-01 for "no date", integer codes),
so that Open Dental's own SQL answers on them as on Open Dental. The views are the friendly
layer: each has the table's columns (without `odmirror_extra`, and without the patient's SSN)
with Open Dental's "no date" as NULL and flags as true/false, then `<column>_label` for every
integer code (the name Open Dental shows, e.g. aptstatus 1 -> 'Scheduled'), then a few joins a
report always wants: provider and clinic names, the patient's age. The SQL is plain enough for
SQLite and PostgreSQL; the few date functions differ by dialect.
`odmirror init` (and `alembic upgrade`) drops them before migrating and makes them again after
(migrations/env.py): SQLite cannot rebuild a table a view names, and a view only shows the
columns and joins the database has at that revision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Column, Connection, Table, inspect

from etl.catalog.enums import ENUM_NAMES
from etl.catalog.resources import RESOURCES
from etl.catalog.tables import DERIVED_FLAGS

SUFFIX = "_v"
HIDDEN = {"odmirror_extra", "patient.ssn", "provider.ssn"}
CLAIM_STATUS = {"U": "Unsent", "H": "Hold", "W": "Waiting", "S": "Sent", "R": "Received",
                "I": "Hold for In Process"}  # fmt: skip
_PROV = "{a}.fname || ' ' || {a}.lname"
NO_DATE, NO_MOMENT = "'0001-01-01'", "'0001-01-01 00:00:00'"


def _day_or_null(column: str) -> str:
    return f"NULLIF({column}, {NO_DATE})"


def _moment_or_null(column: str) -> str:
    return f"NULLIF({column}, {NO_MOMENT})"


@dataclass(frozen=True)
class Dialect:
    """The few expressions that differ between SQLite and PostgreSQL."""

    day: Callable[[str], str]
    month: Callable[[str], str]
    age: Callable[[str], str]


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
}

# Extra columns and joins per table: (select expressions, joins).
_EXTRAS: dict[str, Callable[[Dialect], tuple[list[str], list[str]]]] = {
    "patient": lambda d: (
        [f"{d.age(_day_or_null('t.birthdate'))} AS age",
         f"{d.month(_day_or_null('t.datefirstvisit'))} AS first_visit_month",
         f"{_PROV.format(a='p')} AS priprov_name", "c.description AS clinic_description"],
        ["LEFT JOIN provider p ON p.provnum = t.priprov",
         "LEFT JOIN clinic c ON c.clinicnum = t.clinicnum"],
    ),
    "appointment": lambda d: (
        [f"{d.day(_moment_or_null('t.aptdatetime'))} AS apt_date",
         f"{d.month(_moment_or_null('t.aptdatetime'))} AS apt_month",
         f"{_PROV.format(a='p')} AS prov_name", f"{_PROV.format(a='h')} AS provhyg_name",
         "c.description AS clinic_description", "o.opname AS op_name",
         "pt.lname AS patient_lname", "pt.fname AS patient_fname"],
        ["LEFT JOIN provider p ON p.provnum = t.provnum",
         "LEFT JOIN provider h ON h.provnum = t.provhyg",
         "LEFT JOIN clinic c ON c.clinicnum = t.clinicnum",
         "LEFT JOIN operatory o ON o.operatorynum = t.op",
         "LEFT JOIN patient pt ON pt.patnum = t.patnum"],
    ),
    "procedurelog": lambda d: (
        [f"{d.month(_day_or_null('t.procdate'))} AS proc_month",
         f"{_PROV.format(a='p')} AS prov_name",
         "c.description AS clinic_description", "pc.proccode AS proccode",
         "pc.descript AS proc_descript"],
        ["LEFT JOIN provider p ON p.provnum = t.provnum",
         "LEFT JOIN clinic c ON c.clinicnum = t.clinicnum",
         "LEFT JOIN procedurecode pc ON pc.codenum = t.codenum"],
    ),
    "provider": lambda d: ([f"{_PROV.format(a='t')} AS full_name"], []),
    "claim": lambda d: (
        [_case("t.claimstatus", CLAIM_STATUS) + " AS claimstatus_label",
         f"{_PROV.format(a='p')} AS provtreat_name"],
        ["LEFT JOIN provider p ON p.provnum = t.provtreat"],
    ),
}  # fmt: skip


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
        dialect: "sqlite" or "postgresql".
        present: the columns the database has, with their types as it reports them (default:
            all the model's); a migration passes what exists at its revision, so a later
            model's columns are not named too early, nor an older type mistaken for today's.
    """
    d = DIALECTS[dialect]
    shown = [
        c
        for c in table.columns
        if (present is None or c.name in present)
        and c.name not in HIDDEN
        and f"{table.name}.{c.name}" not in HIDDEN
    ]
    columns = [_readable(c, None if present is None else present[c.name]) for c in shown]
    for column in shown:
        names = ENUM_NAMES.get(column.info.get("od_enum") or "")
        if names:
            labels = {i: name for i, name in enumerate(names) if name}
            columns.append(f"{_case('t.' + column.name, labels)} AS {column.name}_label")
    extra, joins = _EXTRAS.get(table.name, _no_extras)(d)
    body = ",\n  ".join(columns + extra)
    return f"SELECT\n  {body}\nFROM {table.name} t\n" + "\n".join(joins)


def _readable(column: Column[Any], stored_as: Any = None) -> str:
    """A column as the view shows it: "no date" as NULL, a flag as true/false."""
    storage, ref = column.info.get("od_storage"), f"t.{column.name}"
    if isinstance(stored_as, Boolean):
        return ref  # a mirror before revision 0004 keeps flags as booleans
    if storage == "Date":
        return f"{_day_or_null(ref)} AS {column.name}"
    if storage == "DateT":
        return f"{_moment_or_null(ref)} AS {column.name}"
    if storage == "Bool" or column.name in DERIVED_FLAGS:
        return f"({ref} <> 0) AS {column.name}"
    return ref


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
        conn.exec_driver_sql(f"CREATE VIEW {resource.table.name}{SUFFIX} AS\n{sql}")


def drop_views(conn: Connection) -> None:
    """Drop every readable view that exists."""
    for name in view_names():
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
