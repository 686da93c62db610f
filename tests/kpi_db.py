"""Helpers of the KPI tests: store a simulated practice as Open Dental does, read views back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, MetaData, text

from etl.catalog.opendental import no_value
from etl.catalog.tables import MIRRORED, declare
from etl.simulator.money import Practice
from tests import kpi_reference as ref

SEED = 2403
TODAY_SQL = {
    "sqlite": "SELECT date('now', 'localtime')",
    "postgresql": "SELECT CURRENT_DATE",
    "mysql": "SELECT CURDATE()",
    "mariadb": "SELECT CURDATE()",
}


@dataclass
class Office:
    """A loaded practice: its database, its rows, and the database's current date."""

    engine: Engine
    practice: Practice
    today: date

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]

    def set_pref(self, name: str, value: str) -> None:
        """Change a report setting in the database and in the reference's rows."""
        with self.engine.begin() as conn:
            conn.execute(
                text("UPDATE preference SET valuestring = :v WHERE prefname = :n"),
                {"v": value, "n": name},
            )
        for pref in self.practice["preference"]:
            if pref["prefname"] == name:
                pref["valuestring"] = value


def db_today(engine: Engine) -> date:
    """The database's current date, the as-of date of the views."""
    with engine.connect() as conn:
        value = conn.execute(text(TODAY_SQL[engine.dialect.name])).scalar_one()
    return as_date(value)


def load_practice(engine: Engine, practice: Practice) -> None:
    """Create the practice's tables as the mirror declares them (Open Dental's columns, odmirror's
    own, the mirror's indexes) and insert every row, blanks filled as Open Dental does."""
    metadata = MetaData()
    tables = {name: declare(name, MIRRORED[name], metadata) for name in practice}
    metadata.create_all(engine)
    with engine.begin() as conn:
        for name, rows in practice.items():
            columns = tables[name].columns
            full = [{c.name: row.get(c.name, _blank(c.info)) for c in columns} for row in rows]
            unknown = {key for row in rows for key in row} - set(columns.keys())
            assert not unknown, f"{name} has no columns {unknown}"
            conn.execute(tables[name].insert(), full)
    analyze(engine, list(practice))


def analyze(engine: Engine, names: list[str]) -> None:
    """Give the planner the tables' statistics, as autovacuum (or a nightly job) would.

    Without them PostgreSQL guesses one row per table and nests loops over whole tables.
    """
    with engine.connect() as conn:
        if engine.dialect.name in ("postgresql", "sqlite"):
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text(f"ANALYZE TABLE {', '.join(names)}")).all()
        conn.commit()


def _blank(info: dict[str, Any]) -> Any:
    """What Open Dental stores for a value not given; NULL in odmirror's own columns."""
    return no_value(info["od_storage"]) if "od_storage" in info else None


def mark_gone(office: Office, table: str, key: str, value: int, gone: datetime | None) -> None:
    """Set (or clear, with None) `odmirror_gone_at` on one row, in the database and the rows."""
    with office.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE {table} SET odmirror_gone_at = :g WHERE {key} = :k"),
            {"g": gone, "k": value},
        )
    for row in office.practice[table]:
        if row[key] == value:
            row["odmirror_gone_at"] = gone


def as_date(value: Any) -> date:
    """A DATE as each driver returns it through a view (SQLite: text) as a `date`."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def cents(value: Any) -> Decimal:
    """A summed amount (float, Decimal or None) to the cent."""
    return Decimal(repr(round(float(value or 0), 2))).quantize(ref.CENT)


def by_day(office: Office, view: str, amount: str = "amount") -> dict[tuple[Any, ...], Decimal]:
    """The view's amount summed by day, provider and clinic."""
    sql = (
        f"SELECT day, provnum, clinicnum, SUM({amount}) FROM {view}"
        " GROUP BY day, provnum, clinicnum"
    )
    return {(as_date(d), p, c): cents(a) for d, p, c, a in office.rows(sql)}
