"""Decode one JSON value of the Open Dental API for its column's type. Pure, no I/O.

Each value is stored as Open Dental's own database holds it (the mirror answers Open Dental's
SQL as Open Dental does): enums arrive as names and are stored as their integer codes; booleans
arrive as "true"/"false" (or "True"/"False") and are stored as 0/1, as Open Dental's tinyint;
"0001-01-01", Open Dental's "no date", is kept as that date; "" for an unset foreign key is 0;
colours sent as "r,g,b" are the ARGB integer Open Dental stores; numbers may come as text;
intervals sent as "1y6m2w3d" are the integer Open Dental packs them into. Times carry no zone.
Text is made storable: PostgreSQL text cannot hold NUL, nor UTF-8 a lone surrogate. Only a
missing value (null) becomes NULL.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from etl.catalog.resources import FieldSpec

_INT = re.compile(r"-?\d{1,19}")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T]00:00:00)?")
_RGB = re.compile(r"\d{1,3},\d{1,3},\d{1,3}")
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}")
_SPAN = re.compile(r"(-)?(?:(\d+)\.)?(\d{1,3}):([0-5]\d):([0-5]\d)")
_INTERVAL = re.compile(r"(?:(\d{1,3})y)?(?:(\d{1,3})m)?(?:(\d{1,3})w)?(?:(\d{1,3})d)?")
_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?")


class Invalid(ValueError):
    """A value that cannot be decoded as its field's type."""


def decode(spec: FieldSpec, value: Any) -> Any:
    """Decode one JSON value for its field; None stays None.

    Raises:
        Invalid: the value does not fit the field.
    """
    if value is None:
        return None
    if spec.kind == "enum":
        return _enum(value, spec.enum)
    decoded = _DECODERS[spec.kind](value)
    if spec.kind == "int" and not spec.bounds[0] <= decoded < spec.bounds[1]:
        raise Invalid(value)  # a 32768 in a SMALLINT: refused by the plain write, wrapped by COPY
    return decoded


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise Invalid(value)
    if isinstance(value, str) and (value == "" or _RGB.fullmatch(value)):
        return _argb(value)
    whole_float = isinstance(value, float) and value.is_integer()
    if not (isinstance(value, int) or whole_float or _is_int_text(value)):
        raise Invalid(value)
    number = int(value)
    # BIGINT's range: one larger number would fail its whole page, run after run.
    if not -(2**63) <= number < 2**63:
        raise Invalid(value)
    return number


def _argb(value: str) -> int:
    # "" is an unset key or definition: Open Dental stores 0. "r,g,b" is a colour: Open Dental
    # stores Color.ToArgb(), an opaque colour's signed 32-bit ARGB. "0,0,0" is how the API shows
    # Color.Empty, the default "no colour", which Open Dental stores as 0 (an opaque black would
    # show the same; schedules and providers do not use it: text is black).
    if value == "":
        return 0
    red, green, blue = (int(part) for part in value.split(","))
    if max(red, green, blue) > 255:
        raise Invalid(value)
    if red == green == blue == 0:
        return 0
    return (0xFF << 24 | red << 16 | green << 8 | blue) - (1 << 32)


def _is_int_text(value: Any) -> bool:
    return isinstance(value, str) and _INT.fullmatch(value.strip()) is not None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # e.g. Zip sent as a bare number in one vendor example
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise Invalid(value)


def _enum(value: Any, names: tuple[str, ...]) -> int:
    if isinstance(value, str) and value in names:
        return names.index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return value
    raise Invalid(value)


def _bool(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return int(value.strip().lower() == "true")
    if isinstance(value, int) and value in (0, 1):
        return value
    raise Invalid(value)


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str):
        raise Invalid(value)
    if value.strip() == "":
        return None
    match = _DATE.fullmatch(value.strip())
    if not match:
        raise Invalid(value)
    year, month, day = (int(part) for part in match.groups())
    return _day(value, year, month, day)


def _day(value: str, year: int, month: int, day: int) -> dt.date:
    # 0001-01-01 is Open Dental's "no date": kept, as Open Dental keeps it.
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise Invalid(value) from None


def _datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        raise Invalid(value)
    if value.strip() == "":
        return None
    match = _DATETIME.fullmatch(value.strip())
    if not match:
        raise Invalid(value)
    return _moment(value, *(int(part) for part in match.groups()))


def _moment(value: str, *parts: int) -> dt.datetime:
    year, month, day, hour, minute, second = parts
    try:
        return dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise Invalid(value) from None


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(value)
    try:
        # str() first: Decimal(111.9) would carry the binary float's long tail.
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid(value) from None
    if not number.is_finite() or abs(number) >= Decimal(10) ** 14:
        raise Invalid(value)
    return number


def _double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(value)
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise Invalid(value) from None
    if not math.isfinite(number):
        raise Invalid(value)
    return number


def _time(value: Any) -> dt.time:
    if not isinstance(value, str) or not _TIME.fullmatch(value.strip()):
        raise Invalid(value)
    try:
        return dt.time.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(value) from None


def _timespan(value: Any) -> dt.timedelta:
    # A C# TimeSpan: "[-][d.]hh:mm:ss", may pass 24 hours.
    match = _SPAN.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise Invalid(value)
    sign, days, hours, minutes, seconds = match.groups()
    span = dt.timedelta(
        days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=int(seconds)
    )
    return -span if sign else span


def _interval(value: Any) -> int:
    # Open Dental's Interval (OpenDentBusiness/Db/Interval.cs) shows as "1y3m1w1d", each part
    # left out when 0 ("" is no interval), and is stored as one int: a byte each for days,
    # weeks, months and years, low to high (6m1d = 6 << 16 | 1). Each part holds up to 255,
    # years up to 127 (the int stays positive). The stored int itself is taken as it is.
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 2**31:
            raise Invalid(value)
        return value
    if _is_int_text(value):
        return _interval(int(value))
    match = _INTERVAL.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    if match is None:
        raise Invalid(value)
    years, months, weeks, days = (int(part or 0) for part in match.groups())
    if max(months, weeks, days) > 255 or years > 127:
        raise Invalid(value)
    return years << 24 | months << 16 | weeks << 8 | days


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "int": _int,
    "text": _text,
    "bool": _bool,
    "date": _date,
    "datetime": _datetime,
    "decimal": _decimal,
    "double": _double,
    "time": _time,
    "timespan": _timespan,
    "interval": _interval,
}


def clean_text(value: str) -> str:
    """Make text storable: PostgreSQL text cannot hold NUL, nor UTF-8 a lone surrogate."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def sanitize_json(value: Any) -> Any:
    """Apply `clean_text` to every string inside a JSON value."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): sanitize_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitize_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def parse_server_time(value: Any) -> dt.datetime | None:
    """Parse a `serverDateTime` ("yyyy-MM-dd HH:mm:ss", office local time); None if unusable.

    Open Dental's "no date" (year 1) is no time to read from: None too.
    """
    try:
        moment = _datetime(value)
    except Invalid:
        return None
    return moment if moment is not None and moment.year > 1 else None
