"""The decoders built once per field give exactly what `decode` gives, value for value."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.catalog.resources import RESOURCES, FieldSpec
from etl.mapping.fast_columns import SLOW, column_decoder
from etl.mapping.fast_decoders import decoder_for
from etl.mapping.pii import DEFAULT_POLICY, KEEP
from etl.mapping.values import Invalid, decode

# Tests of a fast path itself: it is on whatever ODMIRROR_PLAIN says.
pytestmark = pytest.mark.usefixtures("fast_paths_on")

SPECS = sorted(
    {spec for resource in RESOURCES.values() for spec in resource.fields},
    key=lambda s: (s.kind, s.key),
)
ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=30)  # NUL, surrogates too
TYPICAL: st.SearchStrategy[Any] = st.sampled_from(
    [
        *("true", "false", " True", "", " ", "12", " 12 ", "1e3", "Patient", "Female"),
        *("x\x00y", "\ud800", "é", 2**63, -(2**63), 2**63 - 1, 1.5, 2.0, float("nan")),
        *(True, False, None, [], {}),
        *("0001-01-01", "0000-01-01", "2020-02-30", "2024-05-06", " 2024-05-06", "2024-13-01"),
        *("2024-05-06 07:08:09", "2024-05-06T07:08:09", "2024-05-06T07:08:09.5"),
        *("0001-01-01 00:00:00", "2024-05-06 24:00:00", "2024-05-06 00:00:00"),
        "\uff12\uff10\uff12\uff14-01-01",  # full-width digits: \\d matches them
        *("2024-05-0\uff16", "2024-05-06\n", "2024-05-06 07:08:09\n", "2024-05-06 07:08:0\u0669"),
    ]
)
#: Texts a column repeats, which the column decoders remember.
TYPICAL_COLUMN: st.SearchStrategy[Any] = st.sampled_from(
    ["", "0,0,0", "255,0,0", "256,0,0", "160.00", "-0.00", "0.00", "6m", "1y2w", "08:00:00", "7"]
)
VALUES: st.SearchStrategy[Any] = (
    TYPICAL | st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT
)


def outcome(decoder: Any, value: Any) -> tuple[str, Any]:
    try:
        result = decoder(value)
    except Invalid:
        return ("invalid", None)
    return (type(result).__name__, result)


def same(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    # NaN is never equal to itself; a decoder never returns one, but compare safely anyway.
    return a[0] == b[0] and (a[1] == b[1] or a[1] != a[1])


@given(st.sampled_from(SPECS), VALUES)
def test_built_decoder_agrees_with_decode(spec: FieldSpec, value: Any) -> None:
    expected = outcome(lambda v: decode(spec, v), value)
    assert same(outcome(decoder_for(spec), value), expected)


@given(st.sampled_from(SPECS), st.lists(VALUES, max_size=6))
def test_a_remembered_decoding_is_the_same_on_every_use(spec: FieldSpec, values: list[Any]) -> None:
    decoder = decoder_for(spec)
    for value in values + values:
        assert same(outcome(decoder, value), outcome(lambda v: decode(spec, v), value))


def test_text_the_fast_path_takes_is_returned_as_the_same_object() -> None:
    spec = next(s for s in SPECS if s.kind == "text")
    value = "Jane O'Brien"
    assert decoder_for(spec)(value) is value
    assert decoder_for(spec)("a\x00b") == "ab"


@given(st.sampled_from(SPECS), st.lists(VALUES | TYPICAL_COLUMN, max_size=8))
def test_a_whole_column_decodes_as_decode_each_time(spec: FieldSpec, values: list[Any]) -> None:
    """A column decoder (which remembers texts it decoded) gives decode's value for each value
    decode takes, on every use, and SLOW for the others."""
    column = column_decoder(spec, KEEP, DEFAULT_POLICY)
    for col in (values, values[::-1], values, [v for v in values if v is not None]):
        for value, got in zip(col, column(col), strict=True):
            expected = outcome(lambda v: decode(spec, v), value)
            if got is SLOW:
                continue  # map_record's to decode (the short path need not take every value)
            assert same((type(got).__name__, got), expected), (spec.kind, value)
            if isinstance(got, Decimal):
                assert repr(got) == repr(expected[1])  # 95.00 is not stored as 95


@pytest.mark.parametrize("kind", ["int", "bool", "decimal", "double", "interval", "time"])
def test_plain_columns_take_the_short_path_and_give_decodes_values(kind: str) -> None:
    spec = next(s for s in SPECS if s.kind == kind)
    plains: dict[str, list[Any]] = {
        "int": ["", "0,0,0", "255,0,0", "12", 7, " 7 "],
        "bool": ["true", "false", "false"],
        "decimal": ["160.00", "0.00", "-0.00", "160.00", 1.5, -0.0],
        "double": [1.5, -0.0, 2.0, 1e300],
        "interval": ["6m", "1y", "", "2w3d", "6m", 5],
        "time": ["08:00:00", "08:00:00", "23:59:59"],
    }
    plain = plains[kind]
    column = column_decoder(spec, KEEP, DEFAULT_POLICY)
    for _ in range(2):  # the second time from what the decoder remembers
        got = column(plain * 3)
        want = [decode(spec, v) for v in plain * 3]
        assert [(type(g), repr(g)) for g in got] == [(type(w), repr(w)) for w in want]


def test_a_column_of_doubles_that_is_not_finite_is_decoded_value_by_value() -> None:
    spec = next(s for s in SPECS if s.kind == "double")
    column = column_decoder(spec, KEEP, DEFAULT_POLICY)
    for odd in (float("nan"), float("inf"), -float("inf")):
        assert column([1.0, odd, 2.0]) == [1.0, SLOW, 2.0]
    assert column([1e308, 1e308]) == [1e308, 1e308]  # a sum past the largest float: no matter
