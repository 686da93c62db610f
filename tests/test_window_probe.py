"""Schedules with SQL (issue 23 item 1): a window the probe proves current is not read.

The run's probe counts the office's rows dated in the window and their newest stamp
(etl.sync.window_probe): the same count as the mirror's rows there, nothing stamped since the
last read's probe clock less the overlap, and a window inside the range that read listed: the
window is not read. An edit, a deletion or a new day reads it.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, insert, text, update

from etl.catalog.opendental import od_table
from etl.catalog.resources import RESOURCES
from etl.mirror.bookkeeping import Setting
from etl.sync import window_probe
from tests.conftest import DATABASES
from tests.mariadb import fresh_mariadb
from tests.practice import assert_mirrors, office_clock, sync
from tests.test_fanout_gone import assert_gone_exactly, remove

SCHEDULES = RESOURCES["schedules"]
NAMES = ("patients", "schedules")


@pytest.fixture
def practice(make_sim: Any) -> Any:
    return make_sim(20, clock=office_clock()).fill_practice()


def schedule_requests(sim: Any) -> int:
    return sum(r.path.strip("/").lower() == "api/v1/schedules" for r in sim.requests)


def run(sim: Any, engine: Engine, seconds: int = 600) -> Any:
    """Advance the office's clock, sync, and return the schedules' result."""
    sim.clock.advance(seconds)
    sim.requests.clear()
    return next(r for r in sync(sim, engine, NAMES) if r.resource == "schedules")


def in_window(sim: Any) -> dict[str, Any]:
    today = sim.clock.now().date()
    return next(r for r in sim.tables.all("schedules") if r["SchedDate"] == str(today))


@pytest.mark.parametrize("db_url", DATABASES, indirect=True)
def test_a_window_is_read_only_when_a_row_in_it_changed(engine: Engine, practice: Any) -> None:
    sync(practice, engine, NAMES)  # the first read: every date of the first window
    quiet = run(practice, engine)
    assert schedule_requests(practice) == 0 and window_probe.UNCHANGED in quiet.notes
    edited = in_window(practice)
    practice.tables.update("schedules", edited["ScheduleNum"], Note="moved to the afternoon")
    assert schedule_requests(practice) == 0
    read = run(practice, engine)
    assert schedule_requests(practice) > 0 and read.stats.updated >= 1
    assert_mirrors(engine, practice, SCHEDULES)
    # A deletion stamps nothing: the count tells.
    gone = remove(practice, SCHEDULES, in_window(practice)["ScheduleNum"])
    run(practice, engine)
    assert schedule_requests(practice) > 0
    assert_gone_exactly(engine, practice, SCHEDULES, [gone])
    run(practice, engine)
    assert schedule_requests(practice) == 0  # the mirror's rows (not gone) count as the office's


def test_a_window_past_the_range_last_read_is_read(engine: Engine, practice: Any) -> None:
    sync(practice, engine, NAMES)
    run(practice, engine)
    assert schedule_requests(practice) == 0
    # Its last day was never listed (a new day): rows there can be old, and the mirror lacks
    # them, while a deletion elsewhere would keep the counts equal.
    name = window_probe.PREFIX + "schedules"
    with engine.begin() as conn:
        value = json.loads(conn.execute(text("SELECT value FROM odmirror_settings WHERE name = :n"),
                                        {"n": name}).scalar_one())  # fmt: skip
        value["last"] = str(dt.date.fromisoformat(value["last"]) - dt.timedelta(days=1))
        conn.execute(update(Setting).where(Setting.name == name).values(value=json.dumps(value)))
    run(practice, engine)
    assert schedule_requests(practice) > 0
    run(practice, engine)
    assert schedule_requests(practice) == 0


def test_a_new_office_day_reads_the_window_once(engine: Engine, practice: Any) -> None:
    sync(practice, engine, NAMES)
    # The office's today is its clock's newest reading the mirror has (a patient's change).
    practice.clock.advance(24 * 3600)
    practice.store.update(practice.store.all()[0]["PatNum"], EstBalance="12.00")
    run(practice, engine)  # the window moved a day
    assert schedule_requests(practice) > 0
    run(practice, engine)
    assert schedule_requests(practice) == 0
    assert_mirrors(engine, practice, SCHEDULES)


def test_the_probe_row_runs_on_a_real_mariadb() -> None:
    with fresh_mariadb() as url:
        office = create_engine(url)
        table = od_table("schedule", MetaData())
        table.metadata.create_all(office)
        with office.connect() as conn:  # closed: an open session holds up DROP DATABASE
            now = conn.execute(text("SELECT NOW()")).scalar()
        assert isinstance(now, dt.datetime)
        day = now.date()
        days = [dt.timedelta(days=n) for n in (0, 2, 9, -1)]
        stamps = [now - dt.timedelta(days=3), now, now, now]
        rows = [(k, day + d, s) for k, (d, s) in enumerate(zip(days, stamps, strict=True), 1)]
        with office.begin() as conn:
            conn.execute(insert(table), [{"schedulenum": k, "scheddate": d, "datetstamp": s}
                                         for k, d, s in rows])  # fmt: skip
        dates = (day, day + dt.timedelta(days=2))  # both ends inclusive
        with office.connect() as conn:
            found = conn.exec_driver_sql(window_probe.count_sql(SCHEDULES, dates)).all()
        office.dispose()
    assert [(r[0], int(r[1]), r[3]) for r in found] == [
        (window_probe.label(SCHEDULES, dates), 2, now.replace(microsecond=0))
    ]
