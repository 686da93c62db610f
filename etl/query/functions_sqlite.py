"""MySQL's functions for SQLite, as Python functions registered on the connection `query` opens.

Each follows MySQL's rules, not SQLite's nearest builtin: DATE_ADD clamps to the month's last
day (2024-01-31 + 1 month = 2024-02-29, where SQLite's date() says 2024-03-02); DATEDIFF counts
days between the dates only; NOW()/CURDATE()/CURTIME() are the office's local time (SQLite's
CURRENT_DATE is UTC) and fixed for the statement, as MySQL's are; CONCAT is NULL when any part
is. Dates are read as the mirror stores them ("2024-01-31", "2024-01-31 08:00:00"); text that is
not a date gives NULL, as MySQL does (with a warning there).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import sqlite3
from collections.abc import Callable
from typing import Any

from etl.query.dates import MONTHS, WEEKDAYS, format_mysql

_DATE = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?)?\s*$"
)
_DATE_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}


def _moment(value: Any) -> tuple[dt.datetime, bool] | None:
    """A stored date or date-time, and whether it had a time part; None if not a date."""
    match = _DATE.match(str(value)) if value is not None else None
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:
        return None
    return moment, hour is not None


def _day_text(moment: dt.datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"


def _moment_text(moment: dt.datetime) -> str:
    return f"{_day_text(moment)} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def date_add(value: Any, amount: Any, unit: str) -> str | None:
    """MySQL's DATE_ADD(value, INTERVAL amount unit); a negative amount subtracts."""
    parsed = _moment(value)
    if parsed is None or amount is None:
        return None
    moment, timed = parsed
    unit = unit.upper()
    steps = int(float(amount))
    try:
        if unit in ("MONTH", "QUARTER", "YEAR"):
            moment = _add_months(moment, steps * {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[unit])
        else:
            seconds = {"WEEK": 604800, "DAY": 86400, "HOUR": 3600, "MINUTE": 60, "SECOND": 1}[unit]
            moment += dt.timedelta(seconds=steps * seconds)
    except (ValueError, OverflowError):
        return None
    return _moment_text(moment) if timed or unit not in _DATE_UNITS else _day_text(moment)


def datediff(later: Any, earlier: Any) -> int | None:
    """MySQL's DATEDIFF: whole days between the two dates, times ignored."""
    first, second = _moment(later), _moment(earlier)
    if first is None or second is None:
        return None
    return (first[0].date() - second[0].date()).days


def _part(pick: Callable[[dt.datetime], Any]) -> Callable[[Any], Any]:
    def function(value: Any) -> Any:
        parsed = _moment(value)
        return None if parsed is None else pick(parsed[0])

    return function


def date_format(value: Any, pattern: Any) -> str | None:
    """MySQL's DATE_FORMAT with MySQL's % codes (English month and day names)."""
    parsed = _moment(value)
    if parsed is None or pattern is None:
        return None
    return format_mysql(parsed[0], str(pattern))


def timestampdiff(unit: str, start: Any, end: Any) -> int | None:
    """MySQL's TIMESTAMPDIFF for DAY, WEEK, MONTH, QUARTER, YEAR, HOUR, MINUTE, SECOND."""
    first, second = _moment(start), _moment(end)
    if first is None or second is None:
        return None
    a, b = first[0], second[0]
    unit = unit.upper()
    if unit in ("MONTH", "QUARTER", "YEAR"):
        months = (b.year - a.year) * 12 + b.month - a.month
        rest_b, rest_a = (b.day, b.time()), (a.day, a.time())
        if months > 0 and rest_b < rest_a:
            months -= 1
        elif months < 0 and rest_b > rest_a:
            months += 1
        return int(months / {"MONTH": 1, "QUARTER": 3, "YEAR": 12}[unit])
    seconds = {"WEEK": 604800, "DAY": 86400, "HOUR": 3600, "MINUTE": 60, "SECOND": 1}[unit]
    return int((b - a).total_seconds() / seconds)


def mysql_text(value: Any) -> str:
    """A value as MySQL turns it into text (12e0 is '12', 0.1e0 is '0.1')."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def concat(*parts: Any) -> str | None:
    """MySQL's CONCAT: NULL when any part is NULL."""
    return None if any(p is None for p in parts) else "".join(mysql_text(p) for p in parts)


def concat_ws(separator: Any, *parts: Any) -> str | None:
    """MySQL's CONCAT_WS: skips NULL parts; NULL only when the separator is."""
    if separator is None:
        return None
    return mysql_text(separator).join(mysql_text(p) for p in parts if p is not None)


def left(text: Any, count: Any) -> str | None:
    """MySQL's LEFT."""
    return None if text is None or count is None else mysql_text(text)[: max(int(count), 0)]


def right(text: Any, count: Any) -> str | None:
    """MySQL's RIGHT."""
    if text is None or count is None:
        return None
    whole, count = mysql_text(text), int(count)
    return whole[len(whole) - count :] if count > 0 else ""


def substring_index(text: Any, delimiter: Any, count: Any) -> str | None:
    """MySQL's SUBSTRING_INDEX (the delimiter matched case-sensitively, as MySQL does)."""
    if text is None or delimiter is None or count is None:
        return None
    whole, separator, number = mysql_text(text), mysql_text(delimiter), int(count)
    if not separator or number == 0:
        return ""
    pieces = whole.split(separator)
    return separator.join(pieces[:number] if number > 0 else pieces[number:])


def mysql_format(number: Any, decimals: Any) -> str | None:
    """MySQL's FORMAT(x, d): '1,234.57'."""
    if number is None or decimals is None:
        return None
    return f"{float(number):,.{max(int(decimals), 0)}f}"


class GroupConcat:
    """MySQL's GROUP_CONCAT([DISTINCT] value [ORDER BY key [DESC]] SEPARATOR sep), one key."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, str]] = []
        self.separator = ","
        self.distinct = False
        self.descending = False

    def step(self, value: Any, separator: Any, distinct: Any, key: Any, descending: Any) -> None:
        """Take one row's value (NULL values are skipped, as MySQL does)."""
        self.separator = mysql_text(separator) if separator is not None else ","
        self.distinct, self.descending = bool(distinct), bool(descending)
        if value is not None:
            self.items.append((key, mysql_text(value)))

    def finalize(self) -> str | None:
        """The joined text, or NULL when no row had a value."""
        items = sorted(
            self.items, key=lambda item: (item[0] is not None, item[0]), reverse=self.descending
        )
        texts = [text for _, text in items]
        if self.distinct:
            texts = list(dict.fromkeys(texts))
        return self.separator.join(texts) if texts else None


def register(connection: sqlite3.Connection, now: dt.datetime | None = None) -> None:
    """Register MySQL's functions on a SQLite connection, NOW() fixed at `now` (local time).

    Args:
        connection: a sqlite3 connection (the one under SQLAlchemy's pool).
        now: the statement's time; the local time at registration when not given.
    """
    moment = (now or dt.datetime.now()).replace(microsecond=0)
    fixed: dict[str, Callable[..., Any]] = {
        "NOW": lambda: _moment_text(moment),
        "SYSDATE": lambda: _moment_text(moment),
        "CURDATE": lambda: _day_text(moment),
        "CURTIME": lambda: f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}",
    }
    for name, function in fixed.items():
        connection.create_function(name, 0, function)
    pure: dict[str, tuple[int, Callable[..., Any]]] = {
        "DATE_ADD": (3, date_add),
        "DATEDIFF": (2, datediff),
        "DATE_FORMAT": (2, date_format),
        "TIMESTAMPDIFF": (3, timestampdiff),
        "YEAR": (1, _part(lambda m: m.year)),
        "MONTH": (1, _part(lambda m: m.month)),
        "DAY": (1, _part(lambda m: m.day)),
        "QUARTER": (1, _part(lambda m: (m.month - 1) // 3 + 1)),
        "DAYOFWEEK": (1, _part(lambda m: m.isoweekday() % 7 + 1)),
        "DAYNAME": (1, _part(lambda m: WEEKDAYS[m.weekday()])),
        "MONTHNAME": (1, _part(lambda m: MONTHS[m.month - 1])),
        "LAST_DAY": (
            1,
            _part(lambda m: _day_text(_add_months(m.replace(day=1), 1) - dt.timedelta(days=1))),
        ),
        "CONCAT": (-1, concat),
        "CONCAT_WS": (-1, concat_ws),
        "MYSQL_LEFT": (2, left),
        "MYSQL_RIGHT": (2, right),
        "SUBSTRING_INDEX": (3, substring_index),
        "MYSQL_FORMAT": (2, mysql_format),
    }
    for name, (arity, function) in pure.items():
        connection.create_function(name, arity, function, deterministic=True)
    connection.create_aggregate("MYSQL_GROUP_CONCAT", 5, GroupConcat)  # type: ignore[arg-type]
