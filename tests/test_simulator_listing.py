"""The simulator's list tables page from a kept listing, yet serve every change; practice shapes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from etl.api.client import ApiClient
from etl.api.short_query import short_query
from etl.config.settings import ApiSettings
from etl.simulator import OfficeClock, Simulator, SimulatorConfig
from etl.simulator.clock import format_datetime
from etl.simulator.office_db import OfficeDatabase
from etl.simulator.rest_sql import copy_named_tables
from etl.simulator.tables import Table, Tables

START = datetime(2031, 3, 14, 9, 0, 0)


def office() -> Tables:
    clock = OfficeClock("America/Chicago", start=START)
    table = Table("things", "ThingNum", "DateTStamp", ("PatNum",))
    tables = Tables(clock, [table])
    tables.load("things", [{"ThingNum": n, "PatNum": n % 3, "DateTStamp": format_datetime(START)}
                           for n in range(1, 26)])  # fmt: skip
    return tables


def keys(tables: Tables, **params: str) -> list[int]:
    rows = tables.serve("things", params, cap=1000, inclusive=True) or []
    return [row["ThingNum"] for row in rows]


def test_pages_are_slices_of_the_whole_list() -> None:
    tables = office()
    pages = [keys(tables, PatNum="1", Limit="3", Offset=str(at)) for at in range(0, 12, 3)]
    listed = [key for page in pages for key in page]
    assert listed == keys(tables, PatNum="1") == [n for n in range(1, 26) if n % 3 == 1]


def test_a_row_taken_out_between_pages_is_gone_from_the_next() -> None:
    tables = office()
    assert keys(tables, Limit="10") == list(range(1, 11))
    tables["things"].rows.pop(12)
    assert keys(tables, Limit="10", Offset="10") == [11, *range(13, 22)]


def test_a_row_changed_between_pages_is_listed_as_it_is_now() -> None:
    tables = office()
    assert keys(tables, PatNum="2", Limit="2") == [2, 5]
    tables.update("things", 8, PatNum=0)
    assert keys(tables, PatNum="2", Limit="2", Offset="2") == [11, 14]
    tables.clock.advance(60)
    tables.update("things", 20, PatNum=1)
    since = format_datetime(tables.clock.now())
    assert keys(tables, DateTStamp=since, Limit="5", Offset="0") == [20]


def test_a_filter_by_parent_sees_rows_moved_to_it_and_added() -> None:
    """The listing by an equality filter (a fan-out's parent) comes from an index of that field;
    it is made again after any change."""
    tables = office()
    assert keys(tables, PatNum="0") == [3, 6, 9, 12, 15, 18, 21, 24]
    tables.update("things", 2, PatNum=0)
    tables["things"].rows[26] = {"ThingNum": 26, "PatNum": 0}
    tables["things"].rows.pop(24)
    assert keys(tables, PatNum="0") == [2, 3, 6, 9, 12, 15, 18, 21, 26]
    assert keys(tables, PatNum="7") == []


def test_rows_given_as_a_plain_dict_are_served_and_counted() -> None:
    tables = office()
    assert keys(tables, Limit="5", Offset="5") == list(range(6, 11))
    tables["things"].rows = {n: {"ThingNum": n, "PatNum": 0} for n in (40, 41, 42)}
    assert keys(tables, Limit="2", Offset="1") == [41, 42]
    tables["things"].rows[39] = {"ThingNum": 39, "PatNum": 0}
    assert keys(tables, Limit="2", Offset="1") == [40, 41]


def test_the_issue_shape_has_its_rows_per_patient() -> None:
    sim = Simulator(800, clock=OfficeClock("America/Chicago", start=START)).fill_practice("issue")
    assert sim.tables is not None
    per_patient = {name: len(sim.tables.all(name)) / 800 for name in
                   ("procedurelogs", "claimprocs", "paysplits", "appointments")}  # fmt: skip
    # Issue 23: 8 procedures, 6 claimprocs, 3 paysplits, 2 appointments a patient (about).
    expected = {"procedurelogs": 8, "claimprocs": 6, "paysplits": 3, "appointments": 2}
    for name, count in expected.items():
        assert count * 0.75 <= per_patient[name] <= count * 1.25, (name, per_patient[name])


def test_an_unknown_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="no practice shape 'huge'"):
        Simulator(10).fill_practice("huge")


def test_kept_office_copies_are_made_again_only_after_a_change() -> None:
    """keep_office_copies (the benchmarks'): ShortQuery copies a REST list into the office
    database once, and again only after its rows changed."""
    clock = OfficeClock("America/Chicago", start=START)
    sim = Simulator(20, SimulatorConfig(keep_office_copies=True), clock=clock).fill_practice()
    assert sim.tables is not None
    office_db = OfficeDatabase(clock)
    body = json.dumps({"SqlCommand": "SELECT COUNT(*) FROM recall"}).encode()
    count = len(sim.tables["recalls"].rows)

    def copy() -> bool:
        assert sim.tables is not None
        return copy_named_tables(office_db, sim.tables, body, keep=True)

    assert copy() and len(office_db.rows("recall")) == count
    first = min(sim.tables["recalls"].rows)
    office_db.delete("recall", first)  # only a new copy would bring it back
    assert not copy() and len(office_db.rows("recall")) == count - 1
    sim.tables.update("recalls", first, Note="changed")
    assert copy() and len(office_db.rows("recall")) == count


def test_a_copied_list_without_its_change_column_is_stamped_as_mysql_would() -> None:
    """operatory's list sends no DateTStamp: its rows are old at the first copy, an unchanged
    row keeps its stamp on the next copy, an edited or new row takes the office clock."""
    clock = OfficeClock("America/Chicago", start=START)
    sim = Simulator(20, clock=clock).fill_practice()
    assert sim.tables is not None
    office_db = OfficeDatabase(clock)
    body = json.dumps({"SqlCommand": "SELECT COUNT(*) FROM operatory"}).encode()

    def stamps() -> dict[int, str]:
        assert sim.tables is not None
        copy_named_tables(office_db, sim.tables, body)
        return {row["OperatoryNum"]: row["DateTStamp"] for row in office_db.rows("operatory")}

    first = stamps()
    assert set(first.values()) == {"2030-03-14T09:00:00"}
    clock.advance(600)
    sim.tables.update("operatories", 2, OpName="Hygiene 9")
    again = stamps()
    assert again == {**first, 2: "2031-03-14T09:10:00"}


def test_kept_copies_of_the_patients_are_made_again_only_after_a_change(make_sim: Any) -> None:
    """The patients too (served by their own store): a ShortQuery copied 100,000 patients into
    the office database every time, seconds of the benchmark's incremental run."""
    sim = make_sim(20, keep_office_copies=True)
    client = ApiClient(
        ApiSettings(
            base_url=sim.base_url,
            developer_key=sim.config.developer_key,
            customer_key=sim.config.customer_key,
        )
    )

    def count() -> int:
        rows = short_query(client, "SELECT COUNT(*) AS n FROM patient")
        return int(rows[0]["n"])

    assert count() == 20
    assert sim.office_db is not None
    sim.office_db.delete("patient", 1)  # only a new copy would bring it back
    assert count() == 19
    sim.store.update(2, City="Springfield")
    assert count() == 20
