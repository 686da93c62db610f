"""Mapping API records to mirror rows, from saved JSON, asserting whole rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from etl.resources import PATIENTS
from etl.transform import RejectedRecord, clean_text, map_record, sanitize_json
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
    "premed": False,
    "ward": "",
    "preferconfirmmethod": 0,
    "prefercontactmethod": 4,
    "preferrecallmethod": 8,
    "language": "spa",
    "admitdate": None,
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


def test_every_model_column_is_filled_by_the_vendor_example() -> None:
    columns = {c.name for c in PATIENTS.table.columns} - {"odmirror_synced_at"}
    assert set(VENDOR_ROW) == columns


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
        "birthdate": None,
        "zip": "97301",
        "premed": True,
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
        ("DateTStamp", "0001-01-01 00:00:00", "datetstamp", None),
        ("DateTStamp", "2024-02-29T23:59:59", "datetstamp", dt.datetime(2024, 2, 29, 23, 59, 59)),
        ("Birthdate", "", "birthdate", None),
        ("Birthdate", "2001-07-04 00:00:00", "birthdate", dt.date(2001, 7, 4)),
        ("Premed", "False", "premed", False),
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
        ("DateTStamp", "yesterday"),
        ("LName", ["x"]),
    ],
)
def test_undecodable_values_are_kept_in_extra(key: str, value: Any) -> None:
    mapped = map_record(PATIENTS, {"PatNum": 1, key: value})
    assert mapped.invalid == [key]
    column = next(f.column for f in PATIENTS.fields if f.key == key)
    assert mapped.row[column] is None
    assert mapped.row["odmirror_extra"] == sanitize_json({key: value})
