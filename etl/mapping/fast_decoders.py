"""Decoders built once per field: `decode` with short paths for the values the API usually sends.

`decode` checks a value's kind and shape on every call; a sync calls it about fifty times a row.
These closures give exactly what it gives (and raise Invalid where it does), but take values that
already have the column's type, enum names and plain ASCII dates without its isinstance chains and
regexes, and remember recent dates (they repeat across rows).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from etl.catalog.resources import FieldSpec
from etl.mapping.values import (
    _DECODERS,
    Invalid,
    _bool,
    _date,
    _datetime,
    _enum,
    _int,
    _text,
    decode,
)


def decoder_for(spec: FieldSpec) -> Callable[[Any], Any]:
    """`decode` for one field, built once: the values the API usually sends take a short path.

    Gives exactly what `decode(spec, value)` gives (and raises Invalid where it does).
    """
    if spec.kind == "enum":
        return _enum_decoder(spec.enum)
    if spec.kind == "date":
        return _cached(_plain_date)
    if spec.kind == "datetime":
        return _cached(_plain_datetime)
    if spec.kind == "int" and spec.bounds != FieldSpec.bounds:
        low, high = spec.bounds
        return lambda v: v if type(v) is int and low <= v < high else _bounded(spec, v)
    if spec.kind in _FAST:
        return _FAST[spec.kind]
    slow = _DECODERS[spec.kind]
    return lambda value: None if value is None else slow(value)


def _fast_text(value: Any) -> Any:
    # ASCII always encodes: only a NUL would need cleaning.
    if type(value) is str and value.isascii() and "\x00" not in value:
        return value
    return None if value is None else _text(value)


def _bounded(spec: FieldSpec, value: Any) -> Any:
    return None if value is None else decode(spec, value)


def _fast_int(value: Any) -> Any:
    if type(value) is int and -(2**63) <= value < 2**63:
        return value
    return None if value is None else _int(value)


def _fast_bool(value: Any) -> Any:
    if value is None:
        return None
    if value is True or value is False:
        return int(value)
    if value == "true" and type(value) is str:
        return 1
    if value == "false" and type(value) is str:
        return 0
    return _bool(value)


# ASCII digits only: decode's \d also takes other scripts' digits, which it then refuses.
DATE_SHAPE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
MOMENT_SHAPE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}"
_DATE_SHAPE, _MOMENT_SHAPE = re.compile(DATE_SHAPE), re.compile(MOMENT_SHAPE)
_FAST: dict[str, Callable[[Any], Any]] = {"text": _fast_text, "int": _fast_int, "bool": _fast_bool}


def _plain_date(value: Any) -> dt.date | None:
    # "yyyy-MM-dd" in ASCII digits: what the regex would match, parsed in C. Open Dental's
    # "no date", 0001-01-01, is a date like any other.
    if not _date_shape(value):
        return _date(value)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(value) from None


def _plain_datetime(value: Any) -> dt.datetime | None:
    # "yyyy-MM-dd HH:mm:ss" in ASCII digits: what the regex would match, parsed in C.
    if not _moment_shape(value):
        return _datetime(value)
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(value) from None


def _date_shape(value: Any) -> bool:
    return type(value) is str and _DATE_SHAPE.fullmatch(value) is not None


def _moment_shape(value: Any) -> bool:
    return type(value) is str and _MOMENT_SHAPE.fullmatch(value) is not None


def _enum_decoder(names: tuple[str, ...]) -> Callable[[Any], Any]:
    codes: dict[str, int] = {}
    for code, name in enumerate(names):
        codes.setdefault(name, code)  # names.index(): the first one

    def decoder(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is str and value in codes:
            return codes[value]
        return _enum(value, names)

    return decoder


def _cached(slow: Callable[[Any], Any], size: int = 4096) -> Callable[[Any], Any]:
    # Dates repeat across rows ("0001-01-01", a day's appointments); a parse is a regex match.
    memo: dict[str, Any] = {}

    def decoder(value: Any) -> Any:
        if type(value) is not str:
            return None if value is None else slow(value)
        if value in memo:
            return memo[value]
        decoded = slow(value)
        if len(memo) >= size:
            memo.clear()
        memo[value] = decoded
        return decoded

    return decoder
