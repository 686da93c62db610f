"""SQLite: checkpoints run on a thread of their own after each saved page."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from etl.catalog.resources import PATIENTS
from etl.mapping.record import map_record
from etl.mirror import fast_checkpoints
from etl.mirror.engine import make_engine, upgrade
from etl.mirror.upsert import save_rows

# Tests of a fast path itself: it is on whatever ODMIRROR_PLAIN says.
pytestmark = pytest.mark.usefixtures("fast_paths_on")

SYNCED = dt.datetime(2026, 1, 2, 3, 4, 5)


def patients(count: int) -> list[dict[str, object]]:
    records = [
        {"PatNum": n, "LName": f"Name{n}", "DateTStamp": "2024-05-01 12:00:00"}
        for n in range(1, count + 1)
    ]
    return [map_record(PATIENTS, r).row for r in records]


def rows_in_file_alone(path: Path, tmp_path: Path) -> int:
    """Rows in the database file without its log: what checkpoints have copied into it."""
    copy = tmp_path / "copy.db"
    shutil.copy(path, copy)
    with sqlite3.connect(copy) as conn:
        return int(conn.execute("SELECT count(*) FROM patient").fetchone()[0])


def test_a_saved_page_reaches_the_database_file_on_the_checkpoint_thread(tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    save_rows(engine, PATIENTS, patients(50), SYNCED)
    fast_checkpoints.join(engine)
    # The pool keeps its connections open: SQLite's checkpoint on closing the last one has not
    # run, and the log is far below the automatic threshold.
    assert rows_in_file_alone(path, tmp_path) == 50
    engine.dispose()
    assert not [t for t in threading.enumerate() if t.name == "odmirror-wal"]


def test_the_automatic_checkpoint_stays_as_a_safety_net(tmp_path: Path) -> None:
    in_file = make_engine(f"sqlite:///{tmp_path / 'mirror.db'}")
    in_memory = make_engine("sqlite://")
    try:
        with in_file.connect() as conn:
            autocheckpoint = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert autocheckpoint == fast_checkpoints.AUTOCHECKPOINT_PAGES
        upgrade(in_memory)  # no file to checkpoint: no checkpointer, saving works as before
        save_rows(in_memory, PATIENTS, patients(3), SYNCED)
        fast_checkpoints.after_commit(in_memory)
        with in_memory.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM patient").scalar() == 3
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    finally:
        in_file.dispose()
        in_memory.dispose()


@pytest.mark.parametrize(("gap", "checkpoints"), [(0.0, 2), (3600.0, 1)])
def test_checkpoints_begin_at_most_once_a_gap_and_a_failed_one_is_logged(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    gap: float,
    checkpoints: int,
) -> None:
    monkeypatch.setattr(fast_checkpoints, "MIN_GAP", gap)
    checkpointer = fast_checkpoints.Checkpointer(str(tmp_path / "no such directory" / "mirror.db"))
    with caplog.at_level(logging.DEBUG, logger="etl.mirror.fast_checkpoints"):
        for _ in range(2):
            checkpointer.kick()
            checkpointer.join()
    failures = [r for r in caplog.records if "background checkpoint failed" in r.message]
    assert len(failures) == checkpoints
