"""Decode a whole column of a page for the short path (etl.columnar).

A plain column (all text, all whole numbers, all known enum names, all ISO dates) is taken by a
few C-level calls: a join, a min and max, a lookup, a translate. Any other is decoded value by
value, and a value the short path does not take becomes `SLOW`: its record then goes to map_record.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from itertools import count
from typing import Any

from etl.catalog.resources import FieldSpec
from etl.mapping.fast_decoders import DATE_SHAPE, MOMENT_SHAPE, decoder_for
from etl.mapping.pii import DROP, HMAC, KEEP, PiiPolicy
from etl.mapping.values import Invalid, clean_text

SLOW = object()  # a value the short path does not take: its record goes through map_record
SLOW_MADE = count()  # moves on each time a decoder gives SLOW (next() is atomic)
_LO, _HI = -(2**63), 2**63
_INF = float("inf")
_BOOLS = {"true": 1, "false": 0}  # the API's flags as text, as decode() reads them
_MEMO_SIZE = 4096  # dates remembered a column: enough for those that repeat; memory flat in N
Column = Callable[[Sequence[Any]], list[Any]]
_SHAPES = {  # a whole column of ASCII dates (or moments), one a line
    kind: re.compile(rf"(?:{shape}\n)*{shape}")
    for kind, shape in (("date", DATE_SHAPE), ("datetime", MOMENT_SHAPE))
}
_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,13}(?:\.[0-9]+)?")  # ASCII digits: Decimal takes others
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


def column_decoder(spec: FieldSpec, action: str, policy: PiiPolicy) -> Column:
    """How the short path decodes a whole column of this field under this PHI action."""
    if action == DROP:
        return lambda col: [None] * len(col)  # erases what an earlier policy let in
    if action == HMAC:
        return lambda col: _text([policy.digest(v) for v in col])
    assert action == KEEP
    one = decoder_for(spec)
    if spec.kind == "text":
        return _whole(_plain_text, _text)
    if spec.kind == "int":
        return _whole(_plain_ints, _int_column(one))
    if spec.kind == "bool":
        return _whole(
            _plain_bools,
            lambda col: [
                int(v)
                if v is True or v is False
                else _BOOLS[v]
                if type(v) is str and v in _BOOLS
                else _try(one, v)
                for v in col
            ],
        )
    if spec.kind == "enum":
        codes = _codes(spec.enum)
        return _whole(
            functools.partial(_plain_enums, codes),
            lambda col: [codes[v] if type(v) is str and v in codes else _try(one, v) for v in col],
        )
    if spec.kind in ("date", "datetime"):
        return _whole(functools.partial(_plain_dates, spec.kind), _memo_column(one))
    if spec.kind == "decimal":
        # Well inside the range decode() takes (below 10**14), a float's repr is the very text
        # decode() turns into a Decimal, and so is plain decimal text ("95.00": no space, no
        # exponent, at most 13 digits before the point). Amounts repeat (a fee schedule's fees,
        # 0.00): each text's Decimal is made once.
        memo: dict[str, Decimal] = {}

        def text(v: str) -> Any:
            if not _DECIMAL_TEXT.fullmatch(v):
                return _try(one, v)
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            made = memo[v] = Decimal(v)
            return made

        return lambda col: [
            d
            if type(v) is str and (d := memo.get(v)) is not None
            else Decimal(repr(v))
            if type(v) is float and -1e13 < v < 1e13
            else text(v)
            if type(v) is str
            else _try(one, v)
            for v in col
        ]
    if spec.kind == "double":
        # A finite float is its own value; a whole number in range is its float (as decode()).
        return _whole(
            _plain_floats,
            lambda col: [
                v
                if type(v) is float and -_INF < v < _INF
                else float(v)
                if type(v) is int and _LO <= v < _HI
                else _try(one, v)
                for v in col
            ],
        )
    # Times, spans and intervals: each text decoded once (they repeat: "6m", "00:30:00").
    return _memo_column(one)


def _whole(plain: Callable[[Sequence[Any]], list[Any] | None], each: Column) -> Column:
    """A column decoded whole by `plain` (a few C calls) if it can, else value by value."""

    def column(col: Sequence[Any]) -> list[Any]:
        decoded = plain(col)
        return each(col) if decoded is None else decoded

    return column


def only(col: Sequence[Any], kind: type) -> bool:
    """Whether every value of the column has exactly this type."""
    return set(map(type, col)) == {kind}


# A page is decoded JSON: its only text type is str, so a join that takes the whole column
# proves every value is text, without a type() call a value.
def _plain_text(col: Sequence[Any]) -> list[Any] | None:
    try:
        joined = "".join(col)
    except TypeError:
        return None
    return list(col) if joined.isascii() and "\x00" not in joined else None


def _plain_ints(col: Sequence[Any]) -> list[Any] | None:
    return list(col) if only(col, int) and min(col) >= _LO and max(col) < _HI else None


def _plain_bools(col: Sequence[Any]) -> list[Any] | None:
    try:  # the API's flags as text: "true", "false"
        return list(map(_BOOLS.__getitem__, col))
    except (KeyError, TypeError):
        pass
    return list(map(int, col)) if only(col, bool) else None


def _plain_floats(col: Sequence[Any]) -> list[Any] | None:
    # fsum is not finite if a value is not (inf, nan), and raises if the sum overflows.
    if not only(col, float):
        return None
    try:
        return list(col) if math.isfinite(math.fsum(col)) else None
    except OverflowError:
        return None


def _plain_enums(codes: dict[str, int], col: Sequence[Any]) -> list[Any] | None:
    try:  # the codes' keys are all text: any other value is not found
        return list(map(codes.__getitem__, col))
    except (KeyError, TypeError):
        return None


def _plain_dates(kind: str, col: Sequence[Any]) -> list[Any] | None:
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


def _text(col: Sequence[Any]) -> list[Any]:
    # A text value that had to be cleaned is reported by map_record: not the short path.
    return [
        v
        if type(v) is str and ((v.isascii() and "\x00" not in v) or clean_text(v) is v)
        else _off_text(v)
        for v in col
    ]


def _int_column(one: Callable[[Any], Any]) -> Column:
    # Whole numbers as they are; texts ("", "0,0,0" colours, "12") decoded once each.
    memo: dict[str, Any] = {}

    def miss(value: Any) -> Any:
        decoded = _try(one, value)
        if type(value) is str and decoded is not SLOW and decoded is not None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[value] = decoded
        return decoded

    return lambda col: [
        v
        if type(v) is int and _LO <= v < _HI
        else d
        if type(v) is str and (d := memo.get(v)) is not None
        else miss(v)
        for v in col
    ]


def _memo_column(one: Callable[[Any], Any]) -> Column:
    # Dates repeat across rows (no-date, a day's appointments, change times).
    memo: dict[str, Any] = {}

    def miss(value: Any) -> Any:
        decoded = _try(one, value)
        if type(value) is str and decoded is not SLOW:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            memo[value] = decoded
        return decoded

    return lambda col: [memo[v] if type(v) is str and v in memo else miss(v) for v in col]


def _codes(names: tuple[str, ...]) -> dict[str, int]:
    codes: dict[str, int] = {}
    for code, name in enumerate(names):
        codes.setdefault(name, code)  # names.index(): the first one
    return codes


def _try(decoder: Callable[[Any], Any], value: Any) -> Any:
    try:
        return decoder(value)
    except Invalid:
        return _slow()


def _off_text(value: Any) -> Any:
    return None if value is None else _slow()


def _slow() -> object:
    next(SLOW_MADE)  # map_page then looks for it: most pages have none
    return SLOW
