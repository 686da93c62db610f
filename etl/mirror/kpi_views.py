"""KPI views that answer as Open Dental's own reports do: `kpi_*` beside the mirrored tables.

One row per transaction where Open Dental's report sums transactions (production, adjustments,
write-offs, collections), so a BI tool groups and filters them as it likes: every money view
has `day` (a DATE), `month` ('YYYY-MM'), `provnum`, `clinicnum` and `amount`. A filter on `day`
is a range on the table's own date column (procedurelog.procdate, paysplit.datepay, ...), so the
table's indexes answer it. Which rows count and on which date follow Open Dental 24.3's
`OpenDentBusiness/Reports` (RpProdInc.cs for production and income, Ledgers.cs for aging,
RpOutstandingIns.cs, Recalls.cs, RpProdGoal.cs); each view's docstring in `kpi_money` and
`kpi_accounts` names its rule. Every table a view reads is read without the rows odmirror
marked removed (`odmirror_gone_at` set, `kpi_sql.live`): a removed row counts as if it had
never been mirrored. Report settings are read from the mirrored `preference` and
`definition` rows when the view is queried, so a change of setting in the office changes the
answer at the next sync.

The SQL is shared by SQLite, PostgreSQL and MySQL/MariaDB; the few expressions that differ
(today, date arithmetic, month text, minutes of a TIME, rounding) are `KpiDialect` in
`kpi_sql` and nowhere else. The views read Open Dental's tables by their lower-case names
and columns.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from etl.catalog.opendental import OD_TABLES
from etl.mirror import kpi_accounts, kpi_money
from etl.mirror.kpi_sql import DIALECTS


def kpi_view_sql(dialect_name: str) -> dict[str, str]:
    """Every KPI view's SELECT for one database, in creation order (views read earlier ones).

    Args:
        dialect_name: SQLAlchemy's dialect name ("sqlite", "postgresql", "mysql", "mariadb").

    Returns:
        View name -> SELECT text.
    """

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
        fallback = kpi_money.FALLBACKS.get(name)
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
