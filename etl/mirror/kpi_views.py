"""KPI views that answer as Open Dental's own reports do: `kpi_*` beside the mirrored tables.

One row per transaction where Open Dental's report sums transactions (production, adjustments,
write-offs, collections), so a BI tool groups and filters them as it likes: every money view
has `day` (a DATE), `month` ('YYYY-MM'), `provnum`, `clinicnum` and `amount`. A filter on `day`
is a range on the table's own date column (procedurelog.procdate, paysplit.datepay, ...), so the
table's indexes answer it. Which rows count and on which date follow Open Dental 24.3's
`OpenDentBusiness/Reports` (RpProdInc.cs for production and income, Ledgers.cs for aging,
RpOutstandingIns.cs, Recalls.cs, RpProdGoal.cs); each view's docstring in `kpi_money` and
`kpi_accounts` names its rule. Report settings are read from the mirrored `preference` and
`definition` rows when the view is queried, so a change of setting in the office changes the
answer at the next sync.

The SQL is shared by SQLite, PostgreSQL and MySQL/MariaDB; the few expressions that differ
(today, date arithmetic, month text, minutes of a TIME, rounding) are `KpiDialect` here and
nowhere else. The views read Open Dental's tables by their lower-case names and columns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from etl.catalog.opendental import OD_TABLES


@dataclass(frozen=True)
class KpiDialect:
    """The expressions that differ between SQLite, PostgreSQL and MySQL/MariaDB."""

    today: str
    days_before_today: Callable[[int], str]
    day: Callable[[str], str]
    month: Callable[[str], str]
    days_since: Callable[[str], str]
    minutes_of_day: Callable[[str], str]
    round2: Callable[[str], str]
    concat: Callable[..., str]
    length: Callable[[str], str]
    as_text: Callable[[str], str]
    # A 0/1 flag as an integer: Open Dental's tinyint, or a BOOLEAN in older mirror tables.
    flag: Callable[[str], str]


_SQLITE_TODAY = "date('now', 'localtime')"

DIALECTS = {
    "sqlite": KpiDialect(
        today=_SQLITE_TODAY,
        days_before_today=lambda n: f"date('now', 'localtime', '-{n} days')",
        day=lambda x: f"date({x})",
        month=lambda x: f"strftime('%Y-%m', {x})",
        days_since=lambda x: f"CAST(julianday({_SQLITE_TODAY}) - julianday({x}) AS INTEGER)",
        minutes_of_day=lambda x: (
            f"(CAST(substr({x}, 1, 2) AS INTEGER) * 60 + CAST(substr({x}, 4, 2) AS INTEGER))"
        ),
        round2=lambda x: f"ROUND({x}, 2)",
        concat=lambda *parts: "(" + " || ".join(parts) + ")",
        length=lambda x: f"length({x})",
        as_text=lambda x: f"CAST({x} AS TEXT)",
        flag=lambda x: x,
    ),
    "postgresql": KpiDialect(
        today="CURRENT_DATE",
        days_before_today=lambda n: f"(CURRENT_DATE - {n})",
        day=lambda x: f"CAST({x} AS DATE)",
        month=lambda x: f"to_char({x}, 'YYYY-MM')",
        days_since=lambda x: f"(CURRENT_DATE - CAST({x} AS DATE))",
        minutes_of_day=lambda x: (
            f"CAST(EXTRACT(HOUR FROM {x}) * 60 + EXTRACT(MINUTE FROM {x}) AS INTEGER)"
        ),
        # PostgreSQL rounds only numeric to a number of places.
        round2=lambda x: f"CAST(ROUND(CAST({x} AS NUMERIC), 2) AS DOUBLE PRECISION)",
        concat=lambda *parts: "CONCAT(" + ", ".join(parts) + ")",
        length=lambda x: f"char_length({x})",
        as_text=lambda x: f"CAST({x} AS TEXT)",
        flag=lambda x: f"CAST({x} AS INTEGER)",
    ),
    "mysql": KpiDialect(
        today="CURDATE()",
        days_before_today=lambda n: f"(CURDATE() - INTERVAL {n} DAY)",
        day=lambda x: f"CAST({x} AS DATE)",
        month=lambda x: f"DATE_FORMAT({x}, '%Y-%m')",
        days_since=lambda x: f"DATEDIFF(CURDATE(), {x})",
        minutes_of_day=lambda x: f"(HOUR({x}) * 60 + MINUTE({x}))",
        round2=lambda x: f"ROUND({x}, 2)",
        concat=lambda *parts: "CONCAT(" + ", ".join(parts) + ")",
        length=lambda x: f"CHAR_LENGTH({x})",
        as_text=lambda x: f"CAST({x} AS CHAR)",
        flag=lambda x: x,
    ),
}
DIALECTS["mariadb"] = DIALECTS["mysql"]


def pref(name: str, default: str) -> str:
    """A preference's ValueString, or `default` when the office's row is not mirrored."""
    return (
        f"COALESCE((SELECT MAX(pf.valuestring) FROM preference pf WHERE pf.prefname = '{name}'),"
        f" '{default}')"
    )


# Paysplit unearned types hidden from income (definition category 29 with an ItemValue).
HIDDEN_UNEARNED = (
    "(SELECT hd.defnum FROM definition hd WHERE hd.category = 29 AND hd.itemvalue <> '')"
)


def kpi_view_sql(dialect_name: str) -> dict[str, str]:
    """Every KPI view's SELECT for one database, in creation order (views read earlier ones).

    Args:
        dialect_name: SQLAlchemy's dialect name ("sqlite", "postgresql", "mysql", "mariadb").

    Returns:
        View name -> SELECT text.
    """
    from etl.mirror import kpi_accounts, kpi_money

    dialect = DIALECTS.get(dialect_name)
    if dialect is None:
        raise ValueError(f"KPI views are not written for {dialect_name[:40]!r}")
    builders = {**kpi_money.VIEWS, **kpi_accounts.VIEWS}
    return {name: build(dialect) for name, build in builders.items()}


def kpi_view_names() -> list[str]:
    """The KPI views' names, in creation order."""
    return list(kpi_view_sql("sqlite"))


_TABLE_REF = re.compile(r"\b(?:FROM|JOIN) ([a-z_]+)\b")


def tables_read(select: str) -> set[str]:
    """The Open Dental tables and KPI views a view's SELECT reads."""
    names = set(_TABLE_REF.findall(select))
    return {n for n in names if n in OD_TABLES or n.startswith("kpi_")}


def create_kpi_views(conn: Connection) -> dict[str, str]:
    """Make (or remake) every KPI view the mirror can answer.

    A view over a table the mirror lacks (claimsnapshot is read only in query mode), or over a
    column it lacks, is not made, and says why: without its data it would answer wrongly. A
    view with a second way to be made (scheduled production without the discount columns the
    REST procedurelogs omit, `discount` then NULL) is made that way. The others are made.

    Args:
        conn: An open connection; the caller commits.

    Returns:
        The views not made, each with one line saying why; empty when all were made.
    """
    from etl.mirror.kpi_money import FALLBACKS  # kpi_money imports this module

    selects = kpi_view_sql(conn.dialect.name)
    dialect = DIALECTS[conn.dialect.name]
    drop_kpi_views(conn)
    present = set(inspect(conn).get_table_names())
    skipped: dict[str, str] = {}
    for name, select in selects.items():
        missing = sorted(tables_read(select) - present)
        if missing:
            skipped[name] = f"needs {', '.join(missing)}"
            continue
        refusal = _create(conn, name, select)
        fallback = FALLBACKS.get(name)
        if refusal and fallback is not None and _create(conn, name, fallback(dialect)) is None:
            refusal = None
        if refusal:
            skipped[name] = refusal
        else:
            present.add(name)
    return skipped


def _create(conn: Connection, name: str, select: str) -> str | None:
    """Create one view and read it once; the database's refusal as one cut line, else None."""
    # A failed statement spoils a PostgreSQL transaction unless it ran in a savepoint; SQLite
    # makes a view over a missing column and refuses only when it is read; MySQL commits DDL.
    guard: AbstractContextManager[Any] = (
        conn.begin_nested() if conn.dialect.name == "postgresql" else nullcontext()
    )
    try:
        with guard:
            conn.execute(text(f"CREATE VIEW {name} AS {select}"))
            conn.execute(text(f"SELECT * FROM {name} WHERE 1 = 0"))
    except DBAPIError as exc:
        conn.execute(text(f"DROP VIEW IF EXISTS {name}"))
        detail = " ".join(str(exc.orig).split())
        return f"the database refused it: {detail[:200]!r}"
    return None


def drop_kpi_views(conn: Connection) -> None:
    """Drop every KPI view that exists, later ones first (they read the earlier ones).

    Args:
        conn: An open connection; the caller commits.
    """
    for name in reversed(kpi_view_names()):
        conn.execute(text(f"DROP VIEW IF EXISTS {name}"))
