"""Column types that hold Open Dental's stored values exactly on SQLite, PostgreSQL and MySQL.

One type per Open Dental storage type (the `PIn` reader type of its data layer). Choices that are
not obvious:

- Bool and Byte stay integers (tinyint on MySQL, SMALLINT on PostgreSQL, INTEGER on SQLite), never
  BOOLEAN: Open Dental's queries say `IsHidden=0` and `SUM(IsNewPatient)`. Byte is unsigned on
  MySQL, as C#'s byte is 0-255.
- Text compares case-insensitively in Open Dental (utf8 `*_general_ci` collations), so text
  columns carry `utf8mb4_general_ci` on MySQL and `NOCASE` on SQLite (ASCII letters only).
  PostgreSQL keeps its default collation: a nondeterministic one would make LIKE fail before
  PostgreSQL 18; `odmirror query` compares text case-insensitively there instead.
- Text is TEXT everywhere. MySQL cannot index TEXT without a prefix, so a text column the mirror
  indexes is declared with `indexed_text()`: VARCHAR(255) on MySQL, TEXT elsewhere.
- Date-times are written on SQLite without a microseconds suffix ("0001-01-01 00:00:00"),
  as Open Dental shows them; times of day likewise ("08:30:00").
- TSpan (a C# TimeSpan in a MySQL TIME column) may be negative or exceed 24 hours (MySQL's TIME
  runs -838:59:59 to 838:59:59): TIME on MySQL, INTERVAL on PostgreSQL (its TIME stops at
  24:00:00), text "[-]HH:MM:SS" on SQLite; Python sees a `timedelta` on all three.
- Money: see `etl.catalog.opendental` (exact NUMERIC where the mirror had it, else DOUBLE).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Dialect,
    Double,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    Time,
)
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.types import TypeDecorator, TypeEngine

_MYSQL = ("mysql", "mariadb")
_CI_COLLATION = "utf8mb4_general_ci"
_SPAN_TEXT = re.compile(r"^(-?)(\d+):([0-5]\d):([0-5]\d)$")


def _on_mysql(base: TypeEngine[Any], mysql_type: TypeEngine[Any]) -> TypeEngine[Any]:
    return base.with_variant(mysql_type, *_MYSQL)


def span_text(value: dt.timedelta) -> str:
    """A timedelta as MySQL prints a TIME: "-01:30:00", "838:59:59" (whole seconds)."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


class _MysqlSpan(mysql.TIME):
    """MySQL's TIME read as the driver's `timedelta` (SQLAlchemy's would fold it into a day)."""

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """No conversion: pymysql already gives a signed `timedelta`."""
        return None


class TimeSpan(TypeDecorator[dt.timedelta]):
    """A signed duration that may pass 24 hours (Open Dental's TSpan), as a `timedelta`."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """TIME on MySQL, INTERVAL on PostgreSQL, text on SQLite."""
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(_MysqlSpan())
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.INTERVAL())
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Text on SQLite; the drivers take a `timedelta` as it is."""
        if value is None or dialect.name != "sqlite":
            return value
        return span_text(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.timedelta | None:
        """A `timedelta` from any of the three."""
        if value is None or isinstance(value, dt.timedelta):
            return value
        match = _SPAN_TEXT.match(str(value))
        if match is None:
            raise ValueError(f"not a time span: {str(value)[:40]!r}")
        sign, hours, minutes, seconds = match.groups()
        span = dt.timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds))
        return -span if sign else span


def bigint() -> TypeEngine[Any]:
    """Long: a 64-bit integer (keys, foreign keys: 0 = none)."""
    return BigInteger()


def integer() -> TypeEngine[Any]:
    """Int and Interval: a 32-bit integer (enums are their integer codes)."""
    return Integer()


def tinyint(unsigned: bool = False) -> TypeEngine[Any]:
    """Bool (0/1) and Byte (0-255): never a BOOLEAN, so `SUM(flag)` and `flag=0` work."""
    return _on_mysql(SmallInteger(), mysql.TINYINT(unsigned=unsigned)).with_variant(
        Integer(), "sqlite"
    )


def double() -> TypeEngine[Any]:
    """Double: an 8-byte float (DOUBLE / double precision / REAL)."""
    return Double(asdecimal=False)


def single() -> TypeEngine[Any]:
    """Float: a 4-byte float (FLOAT on MySQL, real on PostgreSQL; SQLite's REAL is 8 bytes)."""
    return _on_mysql(postgresql.REAL(), mysql.FLOAT()).with_variant(sqlite.REAL(), "sqlite")


def exact_money() -> TypeEngine[Any]:
    """An amount kept exact (4 decimals), where the mirror has always kept it so."""
    return Numeric(18, 4, asdecimal=True)


def text() -> TypeEngine[Any]:
    """String and EnumAsString: text that keeps '' and compares case-insensitively."""
    # LONGTEXT on MySQL: its TEXT stops at 64 KB, and a note over that is stored whole elsewhere.
    return _on_mysql(
        Text(), mysql.LONGTEXT(charset="utf8mb4", collation=_CI_COLLATION)
    ).with_variant(sqlite.TEXT(collation="NOCASE"), "sqlite")


def indexed_text() -> TypeEngine[Any]:
    """A text column the mirror indexes: VARCHAR(255) on MySQL (TEXT cannot be indexed whole)."""
    return _on_mysql(
        Text(), mysql.VARCHAR(255, charset="utf8mb4", collation=_CI_COLLATION)
    ).with_variant(sqlite.TEXT(collation="NOCASE"), "sqlite")


def date() -> TypeEngine[Any]:
    """Date: a day; "0001-01-01" is Open Dental's "none" and is kept."""
    return Date()


def datetime() -> TypeEngine[Any]:
    """DateT: a local date-time without zone; "0001-01-01 00:00:00" is kept."""
    return DateTime(timezone=False).with_variant(
        sqlite.DATETIME(  # type: ignore[no-untyped-call]
            storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
        ),
        "sqlite",
    )


def time_of_day() -> TypeEngine[Any]:
    """Time: a time of day (00:00:00-23:59:59)."""
    return Time(timezone=False).with_variant(
        sqlite.TIME(  # type: ignore[no-untyped-call]
            storage_format="%(hour)02d:%(minute)02d:%(second)02d"
        ),
        "sqlite",
    )


def time_span() -> TypeEngine[Any]:
    """TSpan: a signed duration, may pass 24 hours."""
    return TimeSpan()
