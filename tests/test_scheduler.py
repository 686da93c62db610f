"""`odmirror run`: the scheduled job syncs, and a failing run does not stop the schedule."""

from __future__ import annotations

import threading
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from etl.scheduler import JOB_ID, build_scheduler, sync_job
from tests.conftest import settings_for
from tests.test_sync import mirror


def test_the_scheduled_job_runs_at_once_and_syncs(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(120)
    settings = settings_for(sim, engine.url.render_as_string(hide_password=False))
    done = threading.Event()
    outcome: list[Any] = []

    def listener(event: JobExecutionEvent) -> None:
        outcome.append(event.retval if event.exception is None else event.exception)
        done.set()

    scheduler = build_scheduler(settings, BackgroundScheduler())
    scheduler.add_listener(listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    job = scheduler.get_job(JOB_ID)
    assert job.max_instances == 1 and job.coalesce is True
    assert job.trigger.interval.total_seconds() == 15 * 60
    scheduler.start()
    try:
        assert done.wait(timeout=60)
    finally:
        scheduler.shutdown(wait=True)
    assert outcome == [True]
    assert len(mirror(engine)) == 120


def test_a_failing_run_is_logged_and_the_schedule_goes_on(
    engine: Engine, make_sim: Any, caplog: Any
) -> None:
    sim = make_sim(5)
    sim.office_online = False
    settings = settings_for(sim, engine.url.render_as_string(hide_password=False), max_retries=0)
    assert sync_job(settings) is False
    assert "sync failed: the office is unreachable" in caplog.text
    sim.office_online = True
    assert sync_job(settings) is True
