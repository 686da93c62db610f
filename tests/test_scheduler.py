"""`odmirror run`: scheduler wiring, schedules and backoff on a controlled clock (no waiting)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import threading
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from etl.config.operations import schedule_period
from etl.config.settings import ScheduleSettings, Settings
from etl.control import RunControl
from etl.mirror.lock import mirror_lock
from etl.scheduler import JOB_ID, MISFIRE_GRACE_SECONDS, Backoff, SyncJob, build_scheduler
from tests.conftest import settings_for
from tests.test_sync import mirror

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def with_schedule(settings: Settings, **schedule: Any) -> Settings:
    return dataclasses.replace(settings, schedule=ScheduleSettings(**schedule))


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def test_the_scheduled_job_runs_at_once_and_syncs(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(120)
    settings = settings_for(sim, url_of(engine))
    done = threading.Event()
    outcome: list[Any] = []

    def listener(event: JobExecutionEvent) -> None:
        outcome.append(event.retval if event.exception is None else event.exception)
        done.set()

    scheduler = build_scheduler(settings, BackgroundScheduler())
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    job = scheduler.get_job(JOB_ID)
    assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 3600)
    assert job.trigger.interval == dt.timedelta(minutes=15)  # sync.interval_minutes fallback
    scheduler.start()
    try:
        assert done.wait(timeout=60)
    finally:
        scheduler.shutdown(wait=True)
    assert outcome == [True]
    assert len(mirror(engine)) == 120


def test_every_and_cron_schedules_on_an_explicit_clock(make_sim: Any, tmp_path: Any) -> None:
    base = settings_for(make_sim(0), f"sqlite:///{tmp_path / 'm.db'}")
    every = build_scheduler(with_schedule(base, every="20m"), BackgroundScheduler())
    trigger = every.get_job(JOB_ID).trigger
    assert isinstance(trigger, IntervalTrigger)
    first = trigger.get_next_fire_time(None, T0)
    assert trigger.get_next_fire_time(first, first) - first == dt.timedelta(minutes=20)

    nightly = with_schedule(base, cron="0 2 * * *", timezone="America/Chicago")
    job = build_scheduler(nightly, BackgroundScheduler()).get_job(JOB_ID)
    assert isinstance(job.trigger, CronTrigger) and job.misfire_grace_time == MISFIRE_GRACE_SECONDS
    chicago = ZoneInfo("America/Chicago")
    # 12:00 UTC on 2 March is 06:00 in Chicago: the next run is 02:00 there on 3 March.
    assert job.trigger.get_next_fire_time(None, T0) == dt.datetime(2026, 3, 3, 2, tzinfo=chicago)
    assert schedule_period(job.trigger, T0) == dt.timedelta(days=1)


def test_backoff_doubles_the_wait_up_to_the_cap_and_success_resets() -> None:
    backoff = Backoff(period=dt.timedelta(minutes=15), cap=dt.timedelta(hours=4))
    waits = []
    for _ in range(7):
        backoff.record(False, T0)
        waits.append(backoff.wait() // dt.timedelta(minutes=1))
    assert waits == [15, 30, 60, 120, 240, 240, 240]
    # The tick 4 h on runs even if a little early: the hold ends half a period before.
    assert backoff.holds(T0 + dt.timedelta(hours=3, minutes=45))
    assert not backoff.holds(T0 + dt.timedelta(hours=3, minutes=59))
    backoff.record(True, T0)
    assert backoff.wait() == dt.timedelta(0) and not backoff.holds(T0)


def test_a_nightly_schedule_never_skips_a_night() -> None:
    backoff = Backoff(period=dt.timedelta(days=1), cap=dt.timedelta(hours=4))
    for night in range(5):
        started = T0 + dt.timedelta(days=night)
        assert not backoff.holds(started)
        backoff.record(False, started)
    assert backoff.wait() == dt.timedelta(days=1)


def test_failing_runs_back_off_on_the_schedule_ticks(
    engine: Engine, make_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="etl.scheduler")
    sim = make_sim(5)
    sim.office_online = False
    settings = with_schedule(settings_for(sim, url_of(engine), max_retries=0), every="15m")
    clock = FakeClock(T0)
    job = SyncJob(settings, clock=clock)
    ran = []
    for tick in range(49):
        # Ticks come a few milliseconds late or early; the backoff must not care.
        jitter = dt.timedelta(milliseconds=tick * 5 % 7 - 3)
        clock.now = T0 + tick * dt.timedelta(minutes=15) + jitter
        if tick == 47:
            sim.office_online = True
        outcome = job()
        if outcome is not None:
            ran.append((tick, outcome))
    assert ran == [
        (0, False), (1, False), (3, False), (7, False), (15, False), (31, False),
        (47, True), (48, True),
    ]  # fmt: skip
    assert "sync failed (3 in a row): the office is unreachable (400)" in caplog.text
    # The third failure started at 12:45 (give or take the jitter): an hour's wait.
    third = r"\(3 in a row\): the office .* not before 2026-03-02 13:4[45] UTC"
    assert re.search(third, caplog.text)
    assert "run skipped: backing off after 6 failures in a row" in caplog.text
    assert len(mirror(engine)) == 5


def test_a_run_that_finds_the_lock_taken_is_skipped_not_failed(
    engine: Engine, make_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(make_sim(3), url_of(engine))
    job = SyncJob(settings, clock=FakeClock(T0))
    with mirror_lock(settings.database.url):
        assert job() is None
    assert "run skipped: another odmirror is syncing this mirror" in caplog.text
    assert job.backoff.failures == 0
    assert job() is True and len(mirror(engine)) == 3


def test_a_stopped_job_does_not_start_a_sync(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(3)
    control = RunControl()
    control.stop.set()
    job = SyncJob(settings_for(sim, url_of(engine)), control, clock=FakeClock(T0))
    assert job() is None
    assert sim.requests == [] and mirror(engine) == {}


def test_an_unexpected_error_is_logged_with_its_traceback_and_backs_off(
    tmp_path: Any, make_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_settings: Settings, _control: RunControl) -> list[Any]:
        raise KeyError("a bug")

    settings = settings_for(make_sim(0), f"sqlite:///{tmp_path / 'm.db'}")
    job = SyncJob(settings, clock=FakeClock(T0), runner=broken)
    assert job() is False
    assert "sync failed (1 in a row): unexpected KeyError" in caplog.text
    assert "Traceback" in caplog.text and job.backoff.failures == 1
