"""Mapping API records to mirror rows, from saved JSON, asserting whole rows."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from etl.catalog.resources import PATIENTS
from etl.catalog.tables import MIRRORED
from etl.mapping.record import NOT_DATA, RejectedRecord, clean_text, map_record, sanitize_json
from etl.mirror.upsert import save_rows
from tests.conftest import load_json

VENDOR_ROW: dict[str, Any] = {
    "patnum": 48,
    "lname": "Smith",
    "fname": "Jane",
    "middlei": "",
    "preferred": "",
    "patstatus": 0,
    "gender": 1,
    "position": 0,
    "birthdate": dt.date(1976, 5, 24),
    "ssn": None,  # SSN is dropped by the default PHI policy
    "address": "125 Satin Heights",
    "address2": "",
    "city": "San Jose",
    "state": "CA",
    "zip": "97301",
    "hmphone": "(536)624-5871",
    "wkphone": "",
    "wirelessphone": "",
    "guarantor": 48,
    "email": "smithfam@yahoo.com",
    "estbalance": Decimal("0.0"),
    "priprov": 1,
    "priprov_abbr": "DOC",
    "secprov": 0,
    "secprov_abbr": "",
    "feesched": 0,
    "billingtype_name": "Standard Account",
    "imagefolder": "SmithJane48",
    "famfinurgnote": "CC on file expiring soon",
    "chartnumber": "",
    "medicaidid": "",
    "baltotal": Decimal("111.9"),
    "employernum": 0,
    "datefirstvisit": dt.date(2021, 12, 16),
    "clinicnum": 0,
    "clinic_abbr": "",
    "premed": 0,
    "ward": "",
    "preferconfirmmethod": 0,
    "prefercontactmethod": 4,
    "preferrecallmethod": 8,
    "language": "spa",
    "admitdate": dt.date(1, 1, 1),  # Open Dental's "no date", kept as Open Dental stores it
    "site_desc": "",
    "datetstamp": dt.datetime(2021, 12, 8, 15, 34, 34),
    "superfamily": 0,
    "txtmsgok": 0,
    "secdateentry": dt.date(2021, 12, 4),
    "odmirror_extra": None,
}


def test_vendor_example_patient_maps_to_the_whole_expected_row() -> None:
    mapped = map_record(PATIENTS, load_json("vendor_example_patient.json"))
    assert mapped.row == VENDOR_ROW
    assert mapped.unknown == [] and mapped.invalid == []


def test_the_vendor_example_fills_every_column_the_endpoint_sends() -> None:
    how = MIRRORED["patient"]
    sent = {key.lower() for key in how.sent} | set(how.derived.values()) | {"odmirror_extra"}
    assert set(VENDOR_ROW) == sent
    # The patient table's other columns are Open Dental's, left NULL: the endpoint omits them.
    others = {c.name for c in PATIENTS.table.columns} - sent - {"odmirror_synced_at"}
    assert {"billingtype", "bal_0_30", "bal_31_60", "bal_61_90", "balover90", "insest"} <= others


def test_hostile_text_numbers_as_text_and_unknown_fields() -> None:
    page = load_json("patients_odd_page.json")
    mapped = map_record(PATIENTS, page[0])
    assert mapped.row == {
        "patnum": 7,
        "lname": "O'Brien'); DROP TABLE patient;--",
        "fname": "Zoë 山田 😀",
        "patstatus": 4,
        "gender": 3,
        "position": 4,
        "birthdate": dt.date(1, 1, 1),
        "zip": "97301",
        "premed": 1,
        "estbalance": Decimal("12.345"),
        "baltotal": Decimal("-0.1"),
        "famfinurgnote": "line one\nline\ttwo \\ backslash",
        "txtmsgok": 1,
        "prefercontactmethod": 8,
        "datetstamp": dt.datetime(2024, 3, 1, 8, 0, 0),
        "secdateentry": dt.date(2020, 1, 31),
        "odmirror_extra": {"NewField2027": {"a": 1}},
    }
    assert mapped.unknown == ["NewField2027"]


def test_a_key_absent_from_the_record_is_absent_from_the_row() -> None:
    mapped = map_record(PATIENTS, load_json("patients_odd_page.json")[1])
    assert mapped.row == {
        "patnum": 8,
        "lname": "Older",
        "fname": "Version",
        "patstatus": 3,
        "datetstamp": dt.datetime(2024, 3, 1, 8, 0, 1),
        "odmirror_extra": None,
    }


def test_values_that_do_not_decode_become_null_and_are_kept_as_sent() -> None:
    mapped = map_record(PATIENTS, load_json("patients_odd_page.json")[2])
    assert mapped.row == {
        "patnum": 9,
        "lname": "Odd",
        "patstatus": None,
        "birthdate": None,
        "premed": None,
        "guarantor": 9,
        "clinicnum": 2,
        "datetstamp": dt.datetime(2024, 3, 1, 8, 0, 2),
        "odmirror_extra": {"PatStatus": "Zombie", "Birthdate": "1999-02-30", "Premed": "maybe"},
    }
    assert sorted(mapped.invalid) == ["Birthdate", "PatStatus", "Premed"]


@pytest.mark.reliability
def test_a_key_beyond_bigint_is_refused() -> None:
    with pytest.raises(RejectedRecord):
        map_record(PATIENTS, {"PatNum": 2**63})


@pytest.mark.parametrize("index", [3, 4])
def test_records_without_a_key_or_not_objects_are_refused(index: int) -> None:
    with pytest.raises(RejectedRecord):
        map_record(PATIENTS, load_json("patients_odd_page.json")[index])


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a\x00b", "ab"), ("\ud800x", "?x"), ("plain", "plain"), ("", "")],
)
def test_clean_text_makes_text_storable(value: str, expected: str) -> None:
    assert clean_text(value) == expected


@pytest.mark.parametrize(
    ("key", "value", "column", "expected"),
    [
        ("DateTStamp", "0001-01-01 00:00:00", "datetstamp", dt.datetime(1, 1, 1)),
        ("AdmitDate", "0001-01-01", "admitdate", dt.date(1, 1, 1)),
        ("DateTStamp", "2024-02-29T23:59:59", "datetstamp", dt.datetime(2024, 2, 29, 23, 59, 59)),
        ("Birthdate", "", "birthdate", None),
        ("Birthdate", "2001-07-04 00:00:00", "birthdate", dt.date(2001, 7, 4)),
        ("Premed", "False", "premed", 0),
        ("Premed", "true", "premed", 1),
        ("PriProv", "", "priprov", 0),  # "" for an unset key: Open Dental stores 0
        ("Gender", 2, "gender", 2),
        ("EstBalance", "15.50", "estbalance", Decimal("15.50")),
        ("Zip", 2.0, "zip", "2"),
        ("LName", None, "lname", None),
    ],
)
def test_single_field_encodings(key: str, value: Any, column: str, expected: Any) -> None:
    row = map_record(PATIENTS, {"PatNum": 1, key: value}).row
    assert row == {"patnum": 1, column: expected, "odmirror_extra": None}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Gender", 9),
        ("Gender", True),
        ("EstBalance", float("inf")),
        ("EstBalance", "1e30"),
        ("PriProv", "DOC"),
        ("PriProv", 1.5),
        ("PriProv", 2**63),
        ("PriProv", 9.3e18),
        ("Guarantor", "9999999999999999999"),
        ("DateTStamp", "yesterday"),
        ("LName", ["x"]),
        # Outside what Open Dental's column holds (a SMALLINT's COPY would wrap 32768 to
        # -32768; the plain insert would fail the page): a Byte, an Int.
        ("CanadianEligibilityCode", 32768),
        ("CanadianEligibilityCode", 256),
        ("CanadianEligibilityCode", -1),
        ("CanadianEligibilityCode", "300"),
        ("AskToArriveEarly", 2**31),
        ("AskToArriveEarly", -(2**31) - 1),
    ],
)
def test_undecodable_values_are_kept_in_extra(key: str, value: Any) -> None:
    mapped = map_record(PATIENTS, {"PatNum": 1, key: value})
    assert mapped.invalid == [key]
    column = next(f.column for f in PATIENTS.fields if f.key == key)
    assert mapped.row[column] is None
    assert mapped.row["odmirror_extra"] == sanitize_json({key: value})


# --- properties (hypothesis) --------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=30)  # NUL, surrogates too
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from([f.key for f in PATIENTS.fields if f.key != "PatNum"]) | ANY_TEXT
RECORDS = st.dictionaries(KEYS, JSON, max_size=12).map(
    lambda r: {k: v for k, v in r.items() if k != "PatNum"}
)
PATNUMS = st.integers(1, 2**62)


def storable(value: Any) -> bool:
    """Text PostgreSQL and UTF-8 can hold, all the way down."""
    if isinstance(value, str):
        return "\x00" not in value and value.encode("utf-8", "strict") is not None
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(storable(v) for v in value)
    return True


@pytest.mark.reliability
@given(JSON)
def test_any_json_value_maps_or_is_rejected_never_crashes(value: Any) -> None:
    try:
        mapped = map_record(PATIENTS, value)
    except RejectedRecord:
        return
    assert isinstance(mapped.row[PATIENTS.key_column], int)


@pytest.mark.reliability
@given(PATNUMS, RECORDS)
def test_every_key_of_a_record_is_accounted_for(patnum: int, record: dict[str, Any]) -> None:
    mapped = map_record(PATIENTS, {**record, "PatNum": patnum})
    extra = mapped.row["odmirror_extra"] or {}
    assert mapped.row["patnum"] == patnum
    for key in record:
        spec = PATIENTS.by_key.get(key)
        if key in NOT_DATA:
            assert key not in extra
        elif key == "SSN":
            assert mapped.row["ssn"] is None and "SSN" not in extra  # dropped by default
        elif spec is None:
            assert key in mapped.unknown and clean_text(key) in extra
        else:
            assert spec.column in mapped.row
            assert (key in mapped.invalid) == (clean_text(key) in extra)
    assert storable(mapped.row)


@pytest.mark.reliability
@given(PATNUMS, RECORDS)
def test_no_value_is_dropped_silently(patnum: int, record: dict[str, Any]) -> None:
    # A value either decodes into its column, or is kept in extra, or the record is flagged.
    mapped = map_record(PATIENTS, {**record, "PatNum": patnum})
    for key, value in record.items():
        spec = PATIENTS.by_key.get(key)
        if spec is None or key in ("SSN", *NOT_DATA) or key in mapped.invalid:
            continue
        stored = mapped.row[spec.column]
        if stored is None:
            # Only "nothing" may become NULL: null, blank, or Open Dental's 0001-01-01.
            assert value is None or (isinstance(value, str) and _no_date(value)), (key, value)
        elif spec.kind == "text" and isinstance(value, str) and stored != value:
            assert key in mapped.cleaned and mapped.flaws is not None


def _no_date(value: str) -> bool:
    return value.strip() == "" or value.strip().startswith("0001-") or value.strip()[:4] == "0000"


@pytest.mark.reliability
@given(st.dates(min_value=dt.date(2, 1, 1)), st.datetimes(min_value=dt.datetime(2, 1, 1)))
def test_dates_round_trip(day: dt.date, moment: dt.datetime) -> None:
    moment = moment.replace(microsecond=0)
    record = {
        "PatNum": 1,
        "Birthdate": day.isoformat(),
        "DateTStamp": moment.isoformat(sep=" "),
    }
    row = map_record(PATIENTS, record).row
    assert (row["birthdate"], row["datetstamp"]) == (day, moment)


@pytest.mark.reliability
@given(st.decimals(min_value=-(10**13), max_value=10**13, places=4, allow_nan=False))
def test_money_round_trips_exactly(amount: Decimal) -> None:
    for sent in (str(amount), float(amount)):
        row = map_record(PATIENTS, {"PatNum": 1, "BalTotal": sent}).row
        assert row["baltotal"] == Decimal(str(sent))


_next_patnum = itertools.count(1)


@pytest.mark.reliability
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(RECORDS)
def test_any_mapped_row_loads_and_reads_back_whole(engine: Engine, record: dict[str, Any]) -> None:
    patnum = next(_next_patnum)
    record = {**record, "PatNum": patnum}
    for key in ("EstBalance", "BalTotal"):  # NUMERIC(18, 4): more places are the column's limit
        if key in record and not isinstance(record[key], int | str | None):
            del record[key]
    mapped = map_record(PATIENTS, record)
    save_rows(engine, PATIENTS, [mapped.row], dt.datetime(2030, 1, 1))
    with engine.connect() as conn:
        got = dict(
            conn.execute(select(PATIENTS.table).where(PATIENTS.table.c.patnum == patnum))
            .mappings()
            .one()
        )
    got.pop("odmirror_synced_at")
    expected = dict.fromkeys(got) | mapped.row
    for key in ("estbalance", "baltotal"):
        if expected[key] is not None:
            expected[key] = Decimal(expected[key]).quantize(Decimal("0.0001"))
            got[key] = Decimal(got[key]).quantize(Decimal("0.0001"))
    assert got == expected
