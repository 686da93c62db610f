"""A whole column of a page taken by a few C-level calls, if every value is plain: or None.

Each check gives exactly what decoding every value of the column would give (etl.mapping.values),
or None when some value needs that decoding: a join proves a column is all text, a type set and
a min and max that it is all whole numbers in BIGINT's range, a lookup that it is all names of an
enum, a translate that it is all dates in isoformat's own form.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from etl.mapping.fast_decoders import DATE_SHAPE, MOMENT_SHAPE

LO, HI = -(2**63), 2**63  # BIGINT's range
BOOLS = {"true": 1, "false": 0}  # the API's flags as text, as decode() reads them
_SHAPES = {  # a whole column of ASCII dates (or moments), one a line
    kind: re.compile(rf"(?:{shape}\n)*{shape}")
    for kind, shape in (("date", DATE_SHAPE), ("datetime", MOMENT_SHAPE))
}
# The form the API usually sends, which is also isoformat's: each ASCII digit read as a 0.
_ZEROS = bytes.maketrans(b"0123456789", b"0" * 10)
_ISO_FORMS = {"date": b"0000-00-00", "datetime": b"0000-00-00 00:00:00"}


class Dates(list[Any]):
    """A column of dates parsed from texts that are exactly their isoformat: `texts`.

    (`date.isoformat()`, or `datetime.isoformat(" ", "seconds")`: the text SQLite and MySQL
    store, which the writer can then send as it came; etl.mapping.block.)
    """

    __slots__ = ("texts",)

    def __init__(self, values: Iterable[Any], texts: list[str | None]) -> None:
        super().__init__(values)
        self.texts = texts


def only(col: Sequence[Any], kind: type) -> bool:
    """Whether every value of the column has exactly this type."""
    return set(map(type, col)) == {kind}


# A page is decoded JSON: its only text type is str, so a join that takes the whole column
# proves every value is text, without a type() call a value.
def plain_text(col: Sequence[Any]) -> list[Any] | None:
    """The column, if all of it is ASCII text without NUL (text that needs no cleaning)."""
    try:
        joined = "".join(col)
    except TypeError:
        return None
    return list(col) if joined.isascii() and "\x00" not in joined else None


def plain_ints(col: Sequence[Any], low: int = LO, high: int = HI) -> list[Any] | None:
    """The column, if all of it is whole numbers in [low, high), BIGINT's range by default."""
    return list(col) if only(col, int) and min(col) >= low and max(col) < high else None


def plain_bools(col: Sequence[Any]) -> list[Any] | None:
    """The flags as 0 and 1, if all of them are "true" and "false", or all are booleans."""
    try:  # the API's flags as text: "true", "false"
        return list(map(BOOLS.__getitem__, col))
    except (KeyError, TypeError):
        pass
    return list(map(int, col)) if only(col, bool) else None


def plain_floats(col: Sequence[Any]) -> list[Any] | None:
    """The column, if all of it is finite floats."""
    # fsum is not finite if a value is not (inf, nan), and raises if the sum overflows.
    if not only(col, float):
        return None
    try:
        return list(col) if math.isfinite(math.fsum(col)) else None
    except OverflowError:
        return None


def plain_enums(codes: dict[str, int], col: Sequence[Any]) -> list[Any] | None:
    """The codes of the names, if every value is one of the enum's names."""
    try:  # the codes' keys are all text: any other value is not found
        return list(map(codes.__getitem__, col))
    except (KeyError, TypeError):
        return None


def plain_dates(kind: str, col: Sequence[Any]) -> list[Any] | None:
    """The dates ("date") or moments ("datetime"), if every value is one in ASCII digits.

    `Dates`, which keep the texts, where every text is its value's isoformat.
    """
    # The column joined by newlines (which no date has) is checked whole: in isoformat's own
    # form by one translate (a twentieth of the regex's time), else by the regex, which also
    # takes a "T" between day and time. Then fromisoformat parses every value in C. Year 1
    # (0001-01-01) is Open Dental's "no date", kept as it is; year 0 is no day: its value's own
    # path refuses it.
    try:
        joined = "\n".join(col)
    except TypeError:
        return None
    iso = _in_iso_form(kind, joined, len(col))
    if not iso and _SHAPES[kind].fullmatch(joined) is None:
        return None
    parse = dt.date.fromisoformat if kind == "date" else dt.datetime.fromisoformat
    try:
        values = list(map(parse, col))
    except ValueError:  # not a day of the calendar: the value's own path says so
        return None
    return Dates(values, list(col)) if iso else values


def _in_iso_form(kind: str, joined: str, size: int) -> bool:
    """Whether every line of `joined` (`size` of them) is a date in isoformat's own form."""
    if kind == "datetime" and " 24:" in joined:
        return False  # an hour some Pythons read as the next day's midnight: not its own text
    try:
        shape = joined.encode("ascii").translate(_ZEROS)
    except UnicodeEncodeError:
        return False
    return shape == _iso_lines(kind, size)


@functools.lru_cache(maxsize=16)  # a page's size, and its last page's
def _iso_lines(kind: str, size: int) -> bytes:
    return b"\n".join([_ISO_FORMS[kind]] * size)
