"""Saving mapped rows: whole rows on SQLite and PostgreSQL, from saved JSON, no HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text

from etl.catalog.resources import PATIENTS, RESOURCES
from etl.mapping.block import blocks_of
from etl.mapping.record import map_record
from etl.mirror.classify import LoadCounts
from etl.mirror.engine import make_engine
from etl.mirror.upsert import save_blocks, save_rows
from tests.conftest import load_json
from tests.test_transform import VENDOR_ROW


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """These tests run on MariaDB too (tests/conftest.py)."""
    return db_url_all


SYNCED = dt.datetime(2026, 1, 2, 3, 4, 5)
TABLE = PATIENTS.table
# The vendor's example as stored: the columns the endpoint does not send are NULL (not known).
VENDOR_STORED = {
    **{c.name: None for c in TABLE.columns if c.name != "odmirror_synced_at"},
    **VENDOR_ROW,
}


def stored(engine: Engine, patnum: int) -> dict[str, Any]:
    """The whole stored row, without our write time."""
    with engine.connect() as conn:
        row = conn.execute(select(TABLE).where(TABLE.c.patnum == patnum)).mappings().one()
    return {k: v for k, v in row.items() if k != "odmirror_synced_at"}


def rows_of(records: list[Any]) -> list[dict[str, Any]]:
    return [map_record(PATIENTS, r).row for r in records]


def test_vendor_example_round_trips_whole(engine: Engine) -> None:
    vendor = load_json("vendor_example_patient.json")
    counts = save_rows(engine, PATIENTS, rows_of([vendor]), SYNCED)
    assert counts == LoadCounts(inserted=1)
    assert stored(engine, 48) == VENDOR_STORED


def test_hostile_text_round_trips(engine: Engine) -> None:
    odd = load_json("patients_odd_page.json")[:3]
    save_rows(engine, PATIENTS, rows_of(odd), SYNCED)
    row = stored(engine, 7)
    assert row["lname"] == "O'Brien'); DROP TABLE patient;--"
    assert row["fname"] == "Zoë 山田 😀"
    assert row["famfinurgnote"] == "line one\nline\ttwo \\ backslash"
    assert row["odmirror_extra"] == {"NewField2027": {"a": 1}}
    assert stored(engine, 9)["odmirror_extra"] == {
        "PatStatus": "Zombie",
        "Birthdate": "1999-02-30",
        "Premed": "maybe",
    }


def test_a_field_absent_from_a_response_never_erases(engine: Engine) -> None:
    save_rows(engine, PATIENTS, rows_of([load_json("vendor_example_patient.json")]), SYNCED)
    newer = {"PatNum": 48, "LName": "Smith-Jones", "DateTStamp": "2022-01-01 10:00:00"}
    counts = save_rows(engine, PATIENTS, rows_of([newer]), SYNCED)
    assert counts == LoadCounts(updated=1)
    expected = {**VENDOR_STORED, "lname": "Smith-Jones", "datetstamp": dt.datetime(2022, 1, 1, 10)}
    assert stored(engine, 48) == expected


def test_an_older_version_never_overwrites_a_newer_one(engine: Engine) -> None:
    new = {"PatNum": 5, "LName": "New", "DateTStamp": "2024-05-01 12:00:00"}
    old = {"PatNum": 5, "LName": "Old", "DateTStamp": "2024-05-01 11:59:59"}
    save_rows(engine, PATIENTS, rows_of([new]), SYNCED)
    counts = save_rows(engine, PATIENTS, rows_of([old]), SYNCED)
    assert counts == LoadCounts(stale=1)
    assert stored(engine, 5)["lname"] == "New"


def row_version(engine: Engine, patnum: int) -> tuple[Any, ...]:
    """What changes when a row is written: its write time and, on PostgreSQL, its xmin."""
    written = select(TABLE.c.odmirror_synced_at).where(TABLE.c.patnum == patnum)
    with engine.connect() as conn:
        synced_at = conn.execute(written).scalar_one()
        if engine.dialect.name != "postgresql":
            return (synced_at,)
        xmin = text("SELECT xmin::text FROM patient WHERE patnum = :n")
        return synced_at, conn.execute(xmin, {"n": patnum}).scalar_one()


def test_same_version_again_is_unchanged_and_not_rewritten(engine: Engine) -> None:
    record = {**load_json("vendor_example_patient.json"), "PatNum": 5, "Later": [1]}
    save_rows(engine, PATIENTS, rows_of([record]), SYNCED)
    before = row_version(engine, 5)
    counts = save_rows(engine, PATIENTS, rows_of([record]), SYNCED + dt.timedelta(hours=1))
    assert counts == LoadCounts(unchanged=1)
    assert row_version(engine, 5) == before
    assert stored(engine, 5)["odmirror_extra"] == {"Later": [1]}  # JSON compared too


def test_same_stamp_with_other_content_is_rewritten(engine: Engine) -> None:
    record = {"PatNum": 5, "LName": "Same", "DateTStamp": "2024-05-01 12:00:00"}
    save_rows(engine, PATIENTS, rows_of([record]), SYNCED)
    before = row_version(engine, 5)
    fixed = {**record, "LName": "Fixed", "NewField": 1}
    save_rows(engine, PATIENTS, rows_of([fixed]), SYNCED + dt.timedelta(hours=1))
    assert row_version(engine, 5) != before
    assert stored(engine, 5)["lname"] == "Fixed"
    assert stored(engine, 5)["odmirror_extra"] == {"NewField": 1}


def test_duplicates_in_one_page_keep_the_newest(engine: Engine) -> None:
    page = [
        {"PatNum": 3, "LName": "B", "DateTStamp": "2024-01-01 00:00:02"},
        {"PatNum": 3, "LName": "A", "DateTStamp": "2024-01-01 00:00:01"},
    ]
    counts = save_rows(engine, PATIENTS, rows_of(page), SYNCED)
    assert counts == LoadCounts(inserted=1)
    assert stored(engine, 3)["lname"] == "B"


def test_blocks_with_a_key_twice_are_refused_before_anything_is_written(engine: Engine) -> None:
    first, second = rows_of([{"PatNum": 3, "LName": "A"}, {"PatNum": 3, "LName": "B"}])
    with pytest.raises(ValueError, match="patients key comes twice"):
        save_blocks(engine, PATIENTS, [*blocks_of([first]), *blocks_of([second])], SYNCED)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TABLE)).scalar_one() == 0


def test_blocks_of_the_same_columns_in_another_order_save_whole_rows(engine: Engine) -> None:
    page = [{"PatNum": 1, "LName": "A", "FName": "B"}, {"FName": "D", "PatNum": 2, "LName": "C"}]
    [block] = blocks_of(rows_of(page))
    assert len(block) == 2
    assert save_blocks(engine, PATIENTS, [block], SYNCED) == LoadCounts(inserted=2)
    assert [(stored(engine, n)["lname"], stored(engine, n)["fname"]) for n in (1, 2)] == [
        ("A", "B"),
        ("C", "D"),
    ]


def test_a_page_larger_than_the_parameter_limit(engine: Engine) -> None:
    base = load_json("vendor_example_patient.json")
    # 2,500 rows x 50 columns is 125,000 parameters: over both SQLite's and PostgreSQL's limit.
    page = [{**base, "PatNum": n, "Guarantor": n} for n in range(1, 2501)]
    counts = save_rows(engine, PATIENTS, rows_of(page), SYNCED)
    assert counts == LoadCounts(inserted=2500)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(TABLE)).scalar_one() == 2500
    assert stored(engine, 2500) == {**VENDOR_STORED, "patnum": 2500, "guarantor": 2500}


def test_rows_with_different_keys_in_one_page(engine: Engine) -> None:
    page = [
        {"PatNum": 1, "LName": "Full", "FName": "Row", "DateTStamp": "2024-01-01 00:00:00"},
        {"PatNum": 2, "LName": "Short", "DateTStamp": "2024-01-01 00:00:00"},
    ]
    save_rows(engine, PATIENTS, rows_of(page), SYNCED)
    assert stored(engine, 1)["fname"] == "Row"
    assert stored(engine, 2)["fname"] is None


def test_rows_already_counted_count_again_only_when_they_update(engine: Engine) -> None:
    first = [{"PatNum": n, "LName": "A", "DateTStamp": "2024-01-01 00:00:00"} for n in (1, 2, 3)]
    save_rows(engine, PATIENTS, rows_of(first), SYNCED)
    again = [
        {"PatNum": 1, "LName": "A", "DateTStamp": "2024-01-01 00:00:00"},  # the same
        {"PatNum": 2, "LName": "B", "DateTStamp": "2024-01-01 00:00:01"},  # newer
        {"PatNum": 3, "LName": "C", "DateTStamp": "2023-12-31 23:59:59"},  # older
        {"PatNum": 4, "LName": "D", "DateTStamp": "2024-01-01 00:00:00"},  # new, not counted
    ]
    counts = save_rows(engine, PATIENTS, rows_of(again), SYNCED, counted={1, 2, 3})
    assert counts == LoadCounts(inserted=1, updated=1)
    assert [stored(engine, n)["lname"] for n in (1, 2, 3, 4)] == ["A", "B", "A", "D"]


@pytest.mark.parametrize("name", ["clinics", "definitions", "operatories"])
def test_a_whole_table_row_read_back_compares_equal_value_for_value(
    engine: Engine, name: str
) -> None:
    # Tables pulled whole have no change time: each stored value is read back and compared.
    resource = RESOURCES[name]
    typical = {"bool": "true", "int": 7, "text": "Zoë's", "enum": 1, "double": 0.1,
               "decimal": "2.50", "date": "0001-01-01", "datetime": "2024-01-02 03:04:05",
               "time": "08:30:00", "timespan": "-1:30:00"}  # fmt: skip
    record = {f.key: typical[f.kind] for f in resource.fields} | {"NewField2031": {"a": [1]}}
    record[resource.key] = 3
    row = map_record(resource, record).row
    assert save_rows(engine, resource, [row], SYNCED) == LoadCounts(inserted=1)
    assert save_rows(engine, resource, [dict(row)], SYNCED) == LoadCounts(unchanged=1)
    flag = next(f.column for f in resource.fields if f.kind == "bool")
    changed = {**row, flag: 0}  # a flag as the mapping gives it: 0/1, as Open Dental stores it
    assert save_rows(engine, resource, [changed], SYNCED) == LoadCounts(updated=1)


def test_a_key_another_writer_adds_before_the_write_is_updated_not_lost(engine: Engine) -> None:
    # Rows the mirror did not hold when the page was read go in whole (COPY on PostgreSQL);
    # a key that came meanwhile (no second sync runs, but a person might write) is upserted.
    records = [
        {"PatNum": n, "LName": f"New{n}", "DateTStamp": "2024-05-01 12:00:00"} for n in (1, 2, 3)
    ]
    other = make_engine(engine.url.render_as_string(hide_password=False))
    added: list[bool] = []

    def meanwhile(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not added and statement.upper().startswith(("SAVEPOINT", "INSERT INTO PATIENT")):
            with other.begin() as writer:
                writer.execute(TABLE.insert().values(patnum=2, lname="Theirs"))
            added.append(True)

    event.listen(engine, "before_cursor_execute", meanwhile)
    try:
        counts = save_rows(engine, PATIENTS, rows_of(records), SYNCED)
    finally:
        event.remove(engine, "before_cursor_execute", meanwhile)
        other.dispose()
    assert added == [True]
    assert counts == LoadCounts(inserted=3)  # as the page was read
    assert [stored(engine, n)["lname"] for n in (1, 2, 3)] == ["New1", "New2", "New3"]


@pytest.mark.usefixtures("fast_paths_on")
def test_rows_the_mirror_does_not_hold_skip_the_upsert(engine: Engine) -> None:
    # COPY on PostgreSQL; on SQLite an INSERT whose conflicts do nothing (the upsert's DO UPDATE
    # costs 9% more CPU even where no key conflicts).
    records = [{"PatNum": n, "DateTStamp": "2024-05-01 12:00:00"} for n in (1, 2)]
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.upper().split()))

    event.listen(engine, "before_cursor_execute", note)
    try:
        assert save_rows(engine, PATIENTS, rows_of(records), SYNCED) == LoadCounts(inserted=2)
        newer = [{**r, "DateTStamp": "2024-05-02 12:00:00"} for r in records]
        assert save_rows(engine, PATIENTS, rows_of(newer), SYNCED) == LoadCounts(updated=2)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert not [s for s in seen if "DO UPDATE" in s]
    if engine.dialect.name == "sqlite":
        assert [s for s in seen if s.startswith("INSERT")] == [
            next(s for s in seen if s.endswith("ON CONFLICT (PATNUM) DO NOTHING"))
        ]
    assert [stored(engine, n)["datetstamp"] for n in (1, 2)] == [dt.datetime(2024, 5, 2, 12)] * 2


def test_on_a_table_fresh_this_run_only_this_runs_keys_are_looked_up(engine: Engine) -> None:
    def record(patnum: int, lname: str, day: int) -> dict[str, Any]:
        return {"PatNum": patnum, "LName": lname, "DateTStamp": f"2024-05-0{day} 12:00:00"}

    lookups: list[Any] = []

    def note(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if statement.upper().startswith("SELECT") and "FROM PATIENT" in statement.upper():
            lookups.append(params)

    event.listen(engine, "before_cursor_execute", note)
    try:
        first = save_rows(engine, PATIENTS, rows_of([record(1, "A", 1)]), SYNCED, fresh=True)
        assert (first, lookups) == (LoadCounts(inserted=1), [])
        later = rows_of([record(1, "B", 2), record(2, "C", 2)])
        counts = save_rows(engine, PATIENTS, later, SYNCED, counted={1}, fresh=True)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert counts == LoadCounts(inserted=1, updated=1)
    assert len(lookups) == 1 and "2" not in str(lookups[0]) and "1" in str(lookups[0])
    assert [stored(engine, n)["lname"] for n in (1, 2)] == ["B", "C"]


def test_a_sqlite_mirror_writes_ahead_and_syncs_at_checkpoints(tmp_path: Any) -> None:
    # WAL lets a BI tool read while a sync writes; NORMAL: a commit does not wait for the disk.
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    engine.dispose()


def test_a_page_of_two_column_sets_never_erases_what_one_of_them_lacks(engine: Engine) -> None:
    # Two blocks in one transaction go through the staging table one after the other on
    # PostgreSQL: the second must not see the first's rows (without City, so NULL there).
    stamp = "2024-05-01 12:00:00"
    first = [
        {"PatNum": n, "LName": f"L{n}", "City": f"City{n}", "DateTStamp": stamp} for n in (1, 2)
    ]
    save_rows(engine, PATIENTS, rows_of(first), SYNCED)
    again = [
        {"PatNum": 1, "LName": "Renamed", "DateTStamp": stamp},
        {"PatNum": 2, "LName": "L2", "City": "Moved", "DateTStamp": stamp},
    ]
    save_rows(engine, PATIENTS, rows_of(again), SYNCED)
    assert [(stored(engine, n)["lname"], stored(engine, n)["city"]) for n in (1, 2)] == [
        ("Renamed", "City1"),
        ("L2", "Moved"),
    ]
