"""The decoders built once per field give exactly what `decode` gives, value for value."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.catalog.resources import RESOURCES, FieldSpec
from etl.mapping.fast_decoders import decoder_for
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
