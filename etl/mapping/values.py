"""Decode one JSON value of the Open Dental API for its column's type. Pure, no I/O.

Encodings (from the vendor's docs): enums arrive as names and are stored as Open Dental's integer
codes; booleans arrive as the strings "true"/"false"; "0001-01-01" means no date; times carry no
zone. Text is made storable: PostgreSQL text cannot hold NUL, nor UTF-8 a lone surrogate.
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
    return _DECODERS[spec.kind](value)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise Invalid(value)
    whole_float = isinstance(value, float) and value.is_integer()
    if not (isinstance(value, int) or whole_float or _is_int_text(value)):
        raise Invalid(value)
    number = int(value)
    # BIGINT's range: one larger number would fail its whole page, run after run.
    if not -(2**63) <= number < 2**63:
        raise Invalid(value)
    return number


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


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
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


def _day(value: str, year: int, month: int, day: int) -> dt.date | None:
    if year <= 1:
        return None  # Open Dental's "no date"
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


def _moment(value: str, *parts: int) -> dt.datetime | None:
    year, month, day, hour, minute, second = parts
    if year <= 1:
        return None
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


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "int": _int,
    "text": _text,
    "bool": _bool,
    "date": _date,
    "datetime": _datetime,
    "decimal": _decimal,
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
    """Parse a `serverDateTime` ("yyyy-MM-dd HH:mm:ss", office local time); None if unusable."""
    try:
        return _datetime(value)
    except Invalid:
        return None
