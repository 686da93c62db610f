"""Values as LOAD DATA's text reads them back: what the upsert would store, or Unloadable.

A line a row, fields separated by tabs; NULL as \\N; in text only the five characters LOAD DATA
reads specially are escaped. A column is written whole by a few C calls where its values allow
it (all text without those characters, all whole numbers, all finite floats, all decimals str()
writes without an exponent), else value by value (`text_of`), which gives the same text.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

NULL = "\\N"  # LOAD DATA's NULL; the text 'NULL' is text when fields are not enclosed
_SPECIAL = ("\\", "\t", "\n", "\r", "\0")
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\0", "\\0"))  # \\ first


class Unloadable(Exception):
    """A value LOAD DATA's text cannot carry as the upsert would (the upsert then takes it)."""


def texts(values: list[Any], whole_seconds: bool = False) -> list[str]:
    """A column's values as LOAD DATA's text reads them back (NULL as \\N).

    With `whole_seconds`, times lose their microseconds here, as the server cuts them on INSERT
    (MariaDB always, MySQL with TIME_TRUNCATE_FRACTIONAL): the server has no cut to note.
    """
    kinds = set(map(type, values)) - {type(None)}  # type() is exact: bool is not int here
    if kinds <= {int}:
        if None not in values:
            return list(map(str, values))
        return [NULL if v is None else str(v) for v in values]
    if str in kinds:
        # One scan of the whole column's texts: most hold none of the special characters. A
        # column of dates holds the API's texts, and a parsed date where one is not known.
        texts = values if kinds == {str} and None not in values else _onlytexts(values)
        if any(c in "".join(texts) for c in _SPECIAL):
            return [text_of(v, whole_seconds) for v in values]
        if texts is values:
            return values
        if kinds == {str}:
            return [NULL if v is None else v for v in values]
        return [v if type(v) is str else text_of(v, whole_seconds) for v in values]
    if kinds == {float} and None not in values and _finite(values):
        return list(map(repr, values))  # the shortest text that reads back as the same double
    if kinds == {Decimal} and None not in values:
        # str() writes what format(value, "f") writes unless it writes an exponent, or the
        # value is not finite (NaN, Infinity): then each by text_of, which refuses those.
        texts = list(map(str, values))
        if not any(c in "".join(texts) for c in "EIN"):
            return texts
    if kinds == {dt.date}:
        return [NULL if v is None else v.isoformat() for v in values]
    if kinds in ({dt.datetime}, {dt.time}) and all(
        v.tzinfo is None for v in values if v is not None
    ):
        # PyMySQL's escape_datetime and escape_time write the same digits (microseconds only
        # when there are some); timespec "seconds" cuts them, as the server would.
        spec = "seconds" if whole_seconds else "auto"
        if kinds == {dt.time}:
            return [NULL if v is None else v.isoformat(spec) for v in values]
        return [NULL if v is None else v.isoformat(" ", spec) for v in values]
    return [text_of(v, whole_seconds) for v in values]


def _onlytexts(values: list[Any]) -> list[str]:
    return [v for v in values if type(v) is str]


def _finite(values: list[float]) -> bool:
    """Whether every float is finite (fsum is not if one is not; it raises if the sum is)."""
    try:
        return math.isfinite(math.fsum(values))
    except OverflowError:
        return False


def _escaped(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text or "\0" in text:
        # Five replace() calls: a tenth of translate()'s time with a dict (1000 names, measured)
        for plain, escape in _ESCAPES:
            text = text.replace(plain, escape)
    return text


def text_of(value: Any, whole_seconds: bool) -> str:
    if value is None:
        return NULL
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            raise Unloadable  # the upsert refuses it, as it always did
        return repr(value)  # the shortest text that reads back as the same double
    if kind is Decimal:
        if not value.is_finite():
            raise Unloadable
        return format(value, "f")  # PyMySQL's escape_decimal: never an exponent
    if kind is int:
        return str(value)
    if kind is str:
        return _escaped(value)
    if kind is bool:
        return "1" if value else "0"
    if kind is dt.timedelta:
        return _span(value, whole_seconds)
    if kind is dt.date:
        return value.isoformat()  # type: ignore[no-any-return]
    if kind in (dt.datetime, dt.time) and value.tzinfo is None:
        return texts([value], whole_seconds)[0]
    raise Unloadable  # bytes, aware times, anything else: the upsert's own escaping


def _span(value: dt.timedelta, whole_seconds: bool) -> str:
    """A span as MySQL's TIME reads it: signed, hours past 24 (as PyMySQL's escape_timedelta)."""
    sign = "-" if value.days < 0 else ""
    value = abs(value)
    minutes, seconds = divmod(value.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    hours += value.days * 24
    # Cut toward zero, as the server cuts a TIME's fraction.
    fraction = f".{value.microseconds:06d}" if value.microseconds and not whole_seconds else ""
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}{fraction}"
