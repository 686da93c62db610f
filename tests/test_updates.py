"""A newer version of a stored row is UPDATEd (on SQLite without the indexed columns it keeps)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from etl.catalog.resources import PATIENTS
from etl.mapping.record import map_record
from etl.mirror.classify import LoadCounts
from etl.mirror.engine import make_engine, upgrade
from etl.mirror.upsert import save_rows
from tests.test_load import stored

# Tests of a fast path itself: it is on whatever ODMIRROR_PLAIN says.
pytestmark = pytest.mark.usefixtures("fast_paths_on")

SYNCED = dt.datetime(2026, 1, 2, 3, 4, 5)
OLD, NEW = "2024-05-01 12:00:00", "2024-05-02 08:30:00"


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def record(patnum: int, stamp: str, **fields: Any) -> dict[str, Any]:
    base = {"PatNum": patnum, "LName": "Old", "PatStatus": "Patient", "Guarantor": patnum}
    return {**base, "ClinicNum": 2, "City": "Oldtown", "DateTStamp": stamp, **fields}


def save(engine: Engine, *records: dict[str, Any]) -> LoadCounts:
    return save_rows(engine, PATIENTS, [map_record(PATIENTS, r).row for r in records], SYNCED)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL the engine sends while the block runs."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def set_columns(update: str) -> set[str]:
    assignments = update.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    return {part.split(" = ")[0].strip('"') for part in assignments.split(", ")}


def test_a_newer_version_sets_only_the_indexed_columns_it_changes(sqlite: Engine) -> None:
    save(sqlite, record(1, OLD), record(2, OLD))
    newer = [record(1, NEW, City="Newtown"), record(2, NEW, PatStatus="Inactive")]
    with statements(sqlite) as seen:
        counts = save(sqlite, *newer)
    assert counts == LoadCounts(updated=2)
    updates = [set_columns(s) for s in seen if s.startswith("UPDATE")]
    assert not [s for s in seen if s.startswith("INSERT")]
    # The indexed columns are read with the change times: one query for the page.
    assert len([s for s in seen if s.startswith("SELECT")]) == 1
    indexed = {"patstatus", "guarantor", "clinicnum"}
    assert sorted(len(u & indexed) for u in updates) == [0, 1]
    assert all({"city", "lname", "datetstamp", "odmirror_synced_at"} <= u for u in updates)
    assert any("patstatus" in u for u in updates)
    for patnum, newer_record in enumerate(newer, start=1):
        assert stored(sqlite, patnum) == stored_as(newer_record)


def stored_as(newer_record: dict[str, Any]) -> dict[str, Any]:
    """The whole row a record alone makes: None in every column it does not carry."""
    empty = {c.name: None for c in PATIENTS.table.columns if c.name != "odmirror_synced_at"}
    row = map_record(PATIENTS, newer_record).row
    return empty | {k: v for k, v in row.items() if k != "odmirror_synced_at"}


@contextmanager
def meddle(engine: Engine, sql: str) -> Iterator[None]:
    """Run `sql` on the writing connection just before its UPDATE: another writer's change."""

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE") and not done:
            cursor.connection.execute(sql)
            done.append(True)

    done: list[bool] = []
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert done == [True]


def test_newer_versions_are_updated_whole_not_upserted(engine: Engine) -> None:
    save(engine, record(1, OLD), record(2, OLD), record(3, OLD))
    newer = [record(1, NEW, City="Newtown"), record(3, NEW, LName="New", ClinicNum=5)]
    with statements(engine) as seen:
        counts = save(engine, *newer, record(2, OLD), record(4, NEW))
    assert counts == LoadCounts(inserted=1, updated=2, unchanged=1)
    updates = [s for s in seen if s.startswith("UPDATE")]
    upserts = [s for s in seen if s.startswith("INSERT")]
    assert updates and len(upserts) == 1  # the new and the unchanged row only
    expected = [stored_as(newer[0]), stored_as(record(2, OLD))]
    expected += [stored_as(newer[1]), stored_as(record(4, NEW))]
    assert [stored(engine, n) for n in (1, 2, 3, 4)] == expected


def test_a_row_deleted_after_it_was_read_is_inserted_not_lost(engine: Engine) -> None:
    save(engine, record(1, OLD), record(2, OLD))
    newer = [record(1, NEW, City="Newtown"), record(2, NEW, City="Newtown")]
    with meddle(engine, "DELETE FROM patient WHERE patnum = 2"):
        counts = save(engine, *newer)
    assert counts == LoadCounts(updated=2)  # as the page was read
    assert [stored(engine, n) for n in (1, 2)] == [stored_as(r) for r in newer]


def test_a_row_made_newer_after_it_was_read_keeps_the_newer_version(engine: Engine) -> None:
    save(engine, record(1, OLD))
    later = "UPDATE patient SET lname = 'Theirs', datetstamp = '2024-06-01 00:00:00'"
    with meddle(engine, f"{later} WHERE patnum = 1"):
        save(engine, record(1, NEW, LName="Ours"))
    row = stored(engine, 1)
    assert (row["lname"], row["datetstamp"]) == ("Theirs", dt.datetime(2024, 6, 1))
