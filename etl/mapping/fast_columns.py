"""Decode a whole column of a page for the short path (etl.columnar).

A plain column (all text, all whole numbers, all known enum names, all ISO dates) is taken by a
few C-level calls (etl.mapping.fast_plain). Any other is decoded value by value, texts that
repeat once each, and a value the short path does not take becomes `SLOW`: its record then goes
to map_record.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from itertools import count
from typing import Any

from etl.catalog.resources import FieldSpec
from etl.mapping.fast_decoders import decoder_for
from etl.mapping.fast_plain import (
    BOOLS,
    HI,
    LO,
    Dates,
    only,
    plain_bools,
    plain_dates,
    plain_enums,
    plain_floats,
    plain_ints,
    plain_text,
)
from etl.mapping.pii import DROP, HMAC, KEEP, PiiPolicy
from etl.mapping.values import Invalid, clean_text

__all__ = ["SLOW", "SLOW_MADE", "Column", "Dates", "column_decoder", "only"]

SLOW = object()  # a value the short path does not take: its record goes through map_record
SLOW_MADE = count()  # moves on each time a decoder gives SLOW (next() is atomic)
_INF = float("inf")
_MEMO_SIZE = 4096  # texts remembered a column: enough for those that repeat; memory flat in N
Column = Callable[[Sequence[Any]], list[Any]]
_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,13}(?:\.[0-9]+)?")  # ASCII digits: Decimal takes others


def column_decoder(spec: FieldSpec, action: str, policy: PiiPolicy) -> Column:
    """How the short path decodes a whole column of this field under this PHI action."""
    if action == DROP:
        return lambda col: [None] * len(col)  # erases what an earlier policy let in
    if action == HMAC:
        return lambda col: _text([policy.digest(v) for v in col])
    assert action == KEEP
    one = decoder_for(spec)
    if spec.kind == "text":
        return _whole(plain_text, _text)
    if spec.kind == "int":  # in the column's bounds (a Byte's 0-255), else decoded one by one
        low, high = spec.bounds
        return _whole(
            functools.partial(plain_ints, low=low, high=high), _int_column(one, low, high)
        )
    if spec.kind == "bool":
        return _whole(
            plain_bools,
            lambda col: [
                int(v)
                if v is True or v is False
                else BOOLS[v]
                if type(v) is str and v in BOOLS
                else _try(one, v)
                for v in col
            ],
        )
    if spec.kind == "enum":
        codes = _codes(spec.enum)
        return _whole(
            functools.partial(plain_enums, codes),
            lambda col: [codes[v] if type(v) is str and v in codes else _try(one, v) for v in col],
        )
    if spec.kind in ("date", "datetime"):
        return _whole(functools.partial(plain_dates, spec.kind), _memo_column(one))
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
            plain_floats,
            lambda col: [
                v
                if type(v) is float and -_INF < v < _INF
                else float(v)
                if type(v) is int and LO <= v < HI
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


def _text(col: Sequence[Any]) -> list[Any]:
    # A text value that had to be cleaned is reported by map_record: not the short path.
    return [
        v
        if type(v) is str and ((v.isascii() and "\x00" not in v) or clean_text(v) is v)
        else _off_text(v)
        for v in col
    ]


def _int_column(one: Callable[[Any], Any], low: int, high: int) -> Column:
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
        if type(v) is int and low <= v < high
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
