"""What the KPI views' SQL shares: the expressions that differ by database, report settings.

`KpiDialect` holds the few expressions SQLite, PostgreSQL and MySQL/MariaDB write differently
(today, date arithmetic, month text, minutes of a TIME, rounding); `pref` reads one of the
office's report settings from the mirrored `preference` rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


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


def live(alias: str) -> str:
    """The condition that a row of `alias` is one Open Dental still has.

    Every mirrored table has `odmirror_gone_at`, set when odmirror finds that Open Dental
    deleted the row (whole pulls, fan-outs, key-range reconciliation): a view counts only the
    rows it is NULL on, in every table it reads, so a removed row counts as if never mirrored.
    """
    return f"{alias}.odmirror_gone_at IS NULL"


def pref(name: str, default: str) -> str:
    """A preference's ValueString, or `default` when the office's row is not mirrored."""
    return (
        f"COALESCE((SELECT MAX(pf.valuestring) FROM preference pf WHERE pf.prefname = '{name}'"
        f" AND {live('pf')}), '{default}')"
    )


# Paysplit unearned types hidden from income (definition category 29 with an ItemValue).
HIDDEN_UNEARNED = (
    "(SELECT hd.defnum FROM definition hd WHERE hd.category = 29 AND hd.itemvalue <> ''"
    f" AND {live('hd')})"
)
