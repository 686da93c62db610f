"""Mapping a page column by column gives, record for record, the row `map_record` gives."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.catalog.resources import PATIENTS, RESOURCES, FieldSpec, Resource
from etl.mapping import office_clock
from etl.mapping.block import newest_per_key
from etl.mapping.fast_page import map_page
from etl.mapping.pii import DEFAULT_POLICY, DROP, HMAC, KEEP, PiiPolicy
from etl.mapping.record import RejectedRecord, map_record
from etl.mapping.values import parse_server_time
from etl.simulator.data import make_many_patients
from tests.test_decode_fast import VALUES

# Tests of a fast path itself: it is on whatever ODMIRROR_PLAIN says.
pytestmark = pytest.mark.usefixtures("fast_paths_on")

POLICIES = [
    DEFAULT_POLICY,
    PiiPolicy(MappingProxyType({"SSN": KEEP})),
    PiiPolicy(MappingProxyType({"SSN": DROP, "LName": HMAC, "Nope": DROP}), secret=b"s"),
    PiiPolicy(MappingProxyType({"Birthdate": HMAC}), secret=b"s"),  # a date: into extras
]
KEYS = sorted({f.key for r in RESOURCES.values() for f in r.fields} | {"serverDateTime", "Nope"})
ANY_SPEC = {f.key: f for r in RESOURCES.values() for f in r.fields}


def typed(row: dict[str, Any] | None) -> Any:
    """A row with each value's type, so that 1 and True, or a date and a datetime, differ."""
    return None if row is None else {k: (type(v).__name__, v) for k, v in row.items()}


def expected(resource: Resource, record: Any, policy: PiiPolicy) -> Any:
    try:
        return typed(map_record(resource, record, policy).row)
    except RejectedRecord:
        return "rejected"


def page_rows(resource: Resource, records: list[Any], policy: PiiPolicy) -> list[Any]:
    """For each record, the short path's row as a dict, or None."""
    page = map_page(resource, records, policy)
    assert len(page.at) == len(records)
    taken = sum(at is not None for at in page.at)
    assert len(page.block or ()) == taken + len(page.holes) and (taken or not page.holes)
    return [page.row(i) for i in range(len(records))]


def assert_agrees(resource: Resource, records: list[Any], policy: PiiPolicy) -> int:
    """Every row the short path gives is map_record's, and so is every row of the page's blocks
    once map_record's rows are in; returns how many records the short path took."""
    rows = page_rows(resource, records, policy)
    assert len(rows) == len(records)
    for record, row in zip(records, rows, strict=True):
        if row is not None:
            assert typed(row) == expected(resource, record, policy), record
    assert_blocks_agree(resource, records, policy)
    return sum(row is not None for row in rows)


def assert_blocks_agree(resource: Resource, records: list[Any], policy: PiiPolicy) -> None:
    mapped: dict[int, dict[str, Any]] = {}
    for index, record in enumerate(records):
        with contextlib.suppress(RejectedRecord):
            mapped[index] = map_record(resource, record, policy).row
    page = map_page(resource, records, policy)
    others = {i: row for i, row in mapped.items() if page.at[i] is None}
    key, guard = resource.key_column, resource.cursor_column
    got = [block.rows() for block in page.blocks(others, key, guard)]
    want = newest_per_key(list(mapped.values()), key, guard)
    assert canonical([r for rows in got for r in rows]) == canonical(want)


def canonical(rows: list[dict[str, Any]]) -> list[str]:
    """Rows as text, whatever their order or their columns' order."""
    return sorted(repr(sorted(typed(row).items())) for row in rows)


def good(spec: FieldSpec | None) -> st.SearchStrategy[Any]:
    """Values as the API usually sends them for a field (the short path's)."""
    kind = spec.kind if spec else "text"
    if kind == "enum":
        assert spec is not None
        return st.sampled_from(spec.enum)
    moments = st.datetimes(min_value=dt.datetime(1, 1, 1)).map(lambda d: d.replace(microsecond=0))
    return {
        "int": st.integers(-(2**63), 2**63 - 1),
        "bool": st.sampled_from(["true", "false", True, False]),
        "date": st.dates().map(dt.date.isoformat) | st.just("0001-01-01"),
        "datetime": moments.map(lambda d: d.isoformat(sep=" ")),
        "decimal": st.floats(-1e14, 1e14) | st.integers(-(10**15), 10**15),
        "double": st.floats() | st.integers(-(2**70), 2**70) | st.sampled_from(["1.5", " 2 "]),
    }.get(kind, st.text(max_size=12))


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> Any:
    """`usual` nine times in ten, else `rare`."""
    return st.integers(0, 9).flatmap(lambda i: rare if i == 0 else usual)


@st.composite
def pages(draw: st.DrawFn) -> tuple[Resource, list[Any], PiiPolicy]:
    resource = draw(st.sampled_from(sorted(RESOURCES.values(), key=lambda r: r.name)))
    own = [f.key for f in resource.fields]
    layout = draw(
        st.lists(mostly(st.sampled_from(own), st.sampled_from(KEYS)), max_size=10, unique=True)
    )
    if draw(st.integers(0, 9)) > 0:  # mostly with the key, at some place
        at = draw(st.integers(0, len(layout)))
        layout = [k for k in layout if k != resource.key]
        layout = [*layout[:at], resource.key, *layout[at:]]
    specs = {k: resource.by_key.get(k) or ANY_SPEC.get(k) for k in layout}
    # Mostly usual values, so that many records take the short path; now and then anything.
    values = {k: mostly(good(spec), VALUES) for k, spec in specs.items()}
    values[resource.key] = mostly(st.integers(1, 2**62), VALUES)
    odd = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4) | VALUES
    records = draw(st.lists(mostly(st.fixed_dictionaries(values), odd), min_size=1, max_size=6))
    return resource, records, draw(st.sampled_from(POLICIES))


@pytest.mark.reliability
@settings(max_examples=400, deadline=None)  # a page takes long on a loaded machine
@given(pages())
def test_the_short_path_gives_map_records_row_or_leaves_the_record(page: Any) -> None:
    resource, records, policy = page
    assert_agrees(resource, records, policy)


@pytest.mark.parametrize("policy", POLICIES[:3], ids=["default", "ssn-kept", "hmac-text"])
def test_a_plain_page_takes_the_short_path(policy: PiiPolicy) -> None:
    # As the API sends them: through JSON text, dates as text, enums as names.
    records = json.loads(json.dumps(make_many_patients(500, now=dt.datetime(2030, 1, 1))))
    taken = assert_agrees(PATIENTS, records, policy)
    # The synthetic office's hostile few (a Zip sent as a number, ...) go through map_record.
    assert taken >= 490


def test_a_policy_that_puts_a_value_into_extras_leaves_the_page_to_map_record() -> None:
    records = json.loads(json.dumps(make_many_patients(5, now=dt.datetime(2030, 1, 1))))
    assert page_rows(PATIENTS, records, POLICIES[3]) == [None] * 5


def test_records_of_another_key_order_or_kind_are_left_to_map_record() -> None:
    first = {"PatNum": 1, "LName": "A", "FName": "B"}
    records: list[Any] = [first, {"LName": "C", "PatNum": 2, "FName": "D"}, [1], {"PatNum": 3}]
    records.append({"PatNum": 0, "LName": "E", "FName": "F"})  # no usable key: refused
    rows = page_rows(PATIENTS, records, DEFAULT_POLICY)
    assert (
        rows == [{**{"patnum": 1, "lname": "A", "fname": "B"}, "odmirror_extra": None}] + [None] * 4
    )
    assert page_rows(PATIENTS, [], DEFAULT_POLICY) == []
    assert page_rows(PATIENTS, [[1], first], DEFAULT_POLICY) == [None, None]


def test_a_pages_blocks_hold_every_row_once_by_columns() -> None:
    records: list[Any] = [{"PatNum": n, "LName": "A", "FName": "B"} for n in (1, 2, 3)]
    records.insert(1, {"PatNum": 4, "FName": "D", "LName": "C"})  # another order: map_record's
    records.append({"PatNum": 5, "LName": "E"})  # other columns
    page = map_page(PATIENTS, records, DEFAULT_POLICY)
    others = {i: map_record(PATIENTS, records[i]).row for i in (1, 4)}
    blocks = page.blocks(others, "patnum", "datetstamp")
    assert [b.rows() for b in blocks] == [
        [row(1, "A", "B"), row(2, "A", "B"), row(3, "A", "B"), row(4, "C", "D")],
        [{"patnum": 5, "lname": "E", "odmirror_extra": None}],
    ]


def test_rows_map_record_gives_take_their_records_places_in_the_block() -> None:
    records: list[Any] = [{"PatNum": n, "LName": "A", "Zip": "1"} for n in range(1, 6)]
    records[1]["Zip"] = 12345  # a number: map_record's, same columns
    records[2]["PatNum"] = 0  # no usable key: refused
    records[3]["LName"] = "Null\x00"  # cleaned by map_record: same columns
    page = map_page(PATIENTS, records, DEFAULT_POLICY)
    assert page.at == [0, None, None, None, 4]
    others = {1: map_record(PATIENTS, records[1]).row, 3: map_record(PATIENTS, records[3]).row}
    [block] = page.blocks(others, "patnum", "datetstamp")
    assert block.rows() == [
        {"patnum": 1, "lname": "A", "zip": "1", "odmirror_extra": None},
        others[1],
        {"patnum": 4, "lname": "Null", "zip": "1", "odmirror_extra": None},
        {"patnum": 5, "lname": "A", "zip": "1", "odmirror_extra": None},
    ]
    assert others[1]["zip"] == "12345"  # made text by map_record, which the short path does not


def test_a_key_twice_in_a_page_keeps_the_newest_then_the_last() -> None:
    def record(lname: str, stamp: str) -> dict[str, Any]:
        return {"PatNum": 7, "LName": lname, "DateTStamp": stamp}

    records = [record("Old", "2030-01-02 00:00:00"), record("New", "2030-01-03 00:00:00")]
    records += [
        record("Older", "2030-01-01 00:00:00"),
        {"DateTStamp": "2030-01-03 00:00:00", "PatNum": 7, "LName": "Last"},
    ]
    page = map_page(PATIENTS, records, DEFAULT_POLICY)
    assert page.at == [0, 1, 2, None]
    blocks = page.blocks({3: map_record(PATIENTS, records[3]).row}, "patnum", "datetstamp")
    assert [r["lname"] for b in blocks for r in b.rows()] == ["Last"]


def row(patnum: int, lname: str, fname: str) -> dict[str, Any]:
    return {"patnum": patnum, "lname": lname, "fname": fname, "odmirror_extra": None}


# Money as text: the short path's own reading ("95.00") and what it leaves to decode().
DECIMAL_TEXTS = (
    *("95.00", "-0.50", "-0", "0.000", "1234567890123.45", "99999999999999.99"),
    *("100000000000000", "1e3", " 12.5 ", "95.", ".5", "+1", "\uff19", "NaN", ""),
)
# Values a whole column's check (one regex, one join, min and max) must not let through,
# each put into a page whose other records are plain: the column is tried whole first.
ODD_IN_A_PLAIN_PAGE = [
    ("Birthdate", "20240101"),  # fromisoformat reads the basic format; the API's shape is not
    ("Birthdate", "2024-W01-1"),  # an ISO week date
    ("Birthdate", "\uff12\uff10\uff12\uff14-01-01"),  # fullwidth digits
    ("Birthdate", "2024-02-30"),  # no such day
    ("Birthdate", "0000-01-01"),
    ("Birthdate", "0001-01-01"),  # the API's "no date"
    ("Birthdate", "2024-01-01T00:00:00"),
    ("DateTStamp", "2024-01-01"),
    ("DateTStamp", "2024-01-01T10:00"),
    ("DateTStamp", "2024-01-01 10:00:00.5"),
    ("DateTStamp", "2024-01-01 10:00:00+05:00"),
    ("DateTStamp", "2024-01-01T10:00:00"),
    ("DateTStamp", "0001-01-01 00:00:00"),
    ("LName", "a\ud800b"),  # a lone surrogate: cleaned, and so reported, by map_record
    ("LName", "Zoë"),
    ("LName", "nul\x00"),
    ("LName", 12),
    ("Guarantor", 2**63),
    ("Guarantor", -(2**63) - 1),
    ("Guarantor", True),
    ("Guarantor", 1.0),
    ("Gender", "female"),
    ("Gender", None),
    ("Gender", 1),  # a code, not a name
    ("Gender", True),
    ("Gender", ["Female"]),  # unhashable: not a name either
    ("Birthdate", 20240101),
    ("Birthdate", None),
    ("LName", None),
    ("LName", ["Smith"]),
    ("PatNum", "7"),  # a key as text
    ("PatNum", 0),
    *(("EstBalance", text) for text in DECIMAL_TEXTS),
]


@pytest.mark.parametrize("text", DECIMAL_TEXTS)
def test_decimal_text_is_the_very_decimal_map_record_gives(text: str) -> None:
    records = json.loads(json.dumps(make_many_patients(3, now=dt.datetime(2030, 1, 1))))
    for record in records:
        record.update(EstBalance=text)
    rows = page_rows(PATIENTS, records, DEFAULT_POLICY)
    for record, row in zip(records, rows, strict=True):
        if row is not None:  # repr: Decimal("95.00") == Decimal("95"), but is not stored alike
            mapped = map_record(PATIENTS, record, DEFAULT_POLICY).row
            assert repr(row["estbalance"]) == repr(mapped["estbalance"]), text


@pytest.mark.parametrize(("key", "value"), ODD_IN_A_PLAIN_PAGE)
def test_an_odd_value_in_a_plain_column_gets_map_records_answer(key: str, value: Any) -> None:
    records = json.loads(json.dumps(make_many_patients(5, now=dt.datetime(2030, 1, 1))))
    for record in records:
        record.update(Zip="12345")  # the synthetic office's hostile few are not this test's
    records[2][key] = value
    assert assert_agrees(PATIENTS, records, DEFAULT_POLICY) >= 4


@pytest.mark.parametrize(
    "records",
    [
        [{"serverDateTime": "2025-01-14 10:00:00"}, {"serverDateTime": "2025-01-14 10:00:05"}],
        [{"serverDateTime": ["2099-01-01 00:00:00"]}, {"serverDateTime": "2025-01-14 10:00:00"}],
        [{"serverDateTime": {"x": 1}}, {"serverDateTime": 5}, {"a": 1}],
        [["2099-01-01 00:00:00"], {"serverDateTime": "2025-01-14 10:00:00"}, None],
        [{"serverDateTime": "0001-01-01 00:00:00"}, {"serverDateTime": "9999-12-31 23:59:59"}],
        [{"serverDateTime": " 2025-01-14 10:00:00"}, {"serverDateTime": None}],
        [],
    ],
)
def test_the_office_clock_a_page_reports_is_read_from_its_text_values_only(
    records: list[Any],
) -> None:
    """The latest usable serverDateTime text of the page's dict records, as one read a record
    at a time finds it (a list, an object, a number is no time)."""
    texts = [r.get("serverDateTime") for r in records if type(r) is dict]
    times = [parse_server_time(t) for t in texts if type(t) is str]
    want = max((t for t in times if t is not None), default=None)
    assert office_clock.reported(records) == want
    assert office_clock.reported(iter(records)) == want


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CanadianEligibilityCode", 32768),
        ("CanadianEligibilityCode", -1),
        ("CanadianEligibilityCode", "256"),
        ("AskToArriveEarly", 2**31),
    ],
)
def test_a_number_outside_its_columns_bounds_gets_map_records_answer(key: str, value: Any) -> None:
    # A Byte (0-255) and an Int (32 bits) column on every record: the short path's whole
    # column, then the value past its bounds in one record (map_record: NULL, in extras).
    records = json.loads(json.dumps(make_many_patients(5, now=dt.datetime(2030, 1, 1))))
    for record in records:
        record.update(Zip="12345", CanadianEligibilityCode=3, AskToArriveEarly=15)
    records[2][key] = value
    assert assert_agrees(PATIENTS, records, DEFAULT_POLICY) >= 4
    assert map_record(PATIENTS, records[2]).invalid == [key]
