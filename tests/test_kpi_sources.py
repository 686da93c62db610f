"""What the KPI tables' endpoints send that is not spelled as Open Dental's column, mapped whole.

The refattaches list sends RefType as `ReferralType` (an enum name), userods send ProvNum as
`ProviderNum` (both declared as aliases on their resource), and recalls send RecallInterval as
Open Dental's text form ("6m1d"), which the mirror stores as the integer Open Dental packs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from etl.catalog.resources import RESOURCES, FieldSpec
from etl.mapping.fast_page import map_page
from etl.mapping.pii import DEFAULT_POLICY
from etl.mapping.record import map_record
from etl.mapping.values import Invalid, decode

# The vendor's RefAttaches GET example (API RefAttaches, 25.x).
REFATTACH = {
    "RefAttachNum": 1,
    "ReferralNum": 3,
    "referralName": "Steve N Stevens, DDS",
    "PatNum": 25,
    "ItemOrder": 0,
    "RefDate": "2022-01-05",
    "ReferralType": "RefFrom",
    "RefToStatus": "None",
    "Note": "",
    "IsTransitionOfCare": "false",
    "ProcNum": 0,
    "DateProcComplete": "0001-01-01",
    "ProvNum": 0,
    "DateTStamp": "2022-01-05 10:13:12",
}
REFATTACH_ROW = {
    "refattachnum": 1,
    "referralnum": 3,
    "patnum": 25,
    "itemorder": 0,
    "refdate": dt.date(2022, 1, 5),
    "reftype": 1,
    "reftostatus": 0,
    "note": "",
    "istransitionofcare": 0,
    "procnum": 0,
    "dateproccomplete": dt.date(1, 1, 1),
    "provnum": 0,
    "datetstamp": dt.datetime(2022, 1, 5, 10, 13, 12),
    # A caption of the referral's name, not a refattach column.
    "odmirror_extra": {"referralName": "Steve N Stevens, DDS"},
}
# The keys of the vendor's Userods GET example (25.1.10: userGroupNums replaces UserGroupNum).
USEROD = {
    "UserNum": 7,
    "UserName": "Dr Pat",
    "userGroupNums": [1, 4],
    "EmployeeNum": 0,
    "ClinicNum": 2,
    "ProviderNum": 3,
    "IsHidden": "false",
    "UserNumCEMT": 0,
}
USEROD_ROW = {
    "usernum": 7,
    "username": "Dr Pat",
    "employeenum": 0,
    "clinicnum": 2,
    "provnum": 3,
    "ishidden": 0,
    "usernumcemt": 0,
    "odmirror_extra": {"userGroupNums": [1, 4]},
}


def test_refattach_referral_type_fills_reftype() -> None:
    mapped = map_record(RESOURCES["refattaches"], REFATTACH)
    assert mapped.row == REFATTACH_ROW
    assert mapped.invalid == []
    assert mapped.unknown == ["referralName"]


def test_userod_provider_num_fills_provnum() -> None:
    mapped = map_record(RESOURCES["userods"], USEROD)
    assert mapped.row == USEROD_ROW
    assert mapped.invalid == []


def test_the_short_path_maps_the_renamed_keys_as_the_plain_one() -> None:
    records = [
        {k: v for k, v in REFATTACH.items() if k != "referralName"},
        {**REFATTACH, "RefAttachNum": 2, "ReferralType": "RefTo", "RefToStatus": "Complete"},
    ]
    del records[1]["referralName"]
    page = map_page(RESOURCES["refattaches"], records, DEFAULT_POLICY)
    expected = [map_record(RESOURCES["refattaches"], r).row for r in records]
    assert [page.row(i) for i in range(2)] == expected
    assert [row["reftype"] for row in expected] == [1, 0]
    assert expected[1]["reftostatus"] == 5


def test_renamed_columns_count_as_sent() -> None:
    assert "reftype" not in RESOURCES["refattaches"].columns_not_sent
    assert "provnum" not in RESOURCES["userods"].columns_not_sent


INTERVAL = FieldSpec("RecallInterval", "recallinterval", "interval")


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("6m1d", 6 << 16 | 1),  # 393217, shared/opendental-api-tables.md's example
        ("6m", 393216),
        ("1y", 1 << 24),
        ("2w", 2 << 8),
        ("1y3m1w1d", 1 << 24 | 3 << 16 | 1 << 8 | 1),
        ("127y255m255w255d", 127 << 24 | 255 << 16 | 255 << 8 | 255),
        ("", 0),  # Interval.ToString() of no interval
        (393217, 393217),  # the stored integer (query mode) as it is
        ("393217", 393217),
        (None, None),
    ],
)
def test_recall_interval_text_is_stored_as_open_dental_packs_it(sent: Any, stored: Any) -> None:
    assert decode(INTERVAL, sent) == stored


@pytest.mark.parametrize("sent", ["6 months", "1d6m", "256d", "128y", "y", -1, 2**31, 1.5, True])
def test_an_interval_open_dental_cannot_hold_is_refused(sent: Any) -> None:
    with pytest.raises(Invalid):
        decode(INTERVAL, sent)


def test_a_recall_with_a_bad_interval_is_set_aside_with_its_reason() -> None:
    recalls = RESOURCES["recalls"]
    good = {"RecallNum": 1, "PatNum": 4, "RecallInterval": "6m1d", "Priority": "ASAP"}
    bad = {"RecallNum": 2, "PatNum": 4, "RecallInterval": "half a year", "Priority": "ASAP"}
    assert map_record(recalls, good).row == {
        "recallnum": 1,
        "patnum": 4,
        "recallinterval": 393217,
        "priority": 1,
        "odmirror_extra": None,
    }
    mapped = map_record(recalls, bad)
    assert mapped.row == {
        "recallnum": 2,
        "patnum": 4,
        "recallinterval": None,
        "priority": 1,
        "odmirror_extra": {"RecallInterval": "half a year"},
    }
    assert mapped.flaws == "undecodable RecallInterval (NULL, kept in extra)"
    page = map_page(recalls, [good, bad], DEFAULT_POLICY)
    assert page.row(0) == map_record(recalls, good).row
    assert page.row(1) is None  # the short path leaves it to map_record, which says why
