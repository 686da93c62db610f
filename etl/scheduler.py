"""`odmirror run`: sync on a fixed interval with APScheduler, one run at a time."""

from __future__ import annotations

import datetime as dt
import logging
import signal
from types import FrameType

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from etl.config import Settings
from etl.errors import OdMirrorError
from etl.sync import run_sync

log = logging.getLogger(__name__)
JOB_ID = "odmirror-sync"


def sync_job(settings: Settings) -> bool:
    """One scheduled run; a failure is logged in one line and the schedule goes on.

    Returns:
        True if every resource synced.
    """
    if settings.practices:
        from etl.group_commands import group_sync_job

        return group_sync_job(settings)
    try:
        for result in run_sync(settings):
            log.info("%s", result.summary())
    except OdMirrorError as exc:
        log.error("sync failed: %s", exc)
        return False
    return True


def build_scheduler(settings: Settings, scheduler: BaseScheduler | None = None) -> BaseScheduler:
    """A scheduler with the sync job: first run now, then every `sync.interval_minutes`.

    A run that is still going when the next is due is not doubled (max_instances=1), and runs
    missed while the machine slept collapse into one (coalesce).
    """
    scheduler = scheduler or BlockingScheduler(timezone=dt.timezone.utc)
    scheduler.add_job(
        sync_job,
        IntervalTrigger(minutes=settings.sync.interval_minutes, timezone=dt.timezone.utc),
        args=[settings],
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=dt.datetime.now(dt.timezone.utc),
    )
    return scheduler


def run_forever(settings: Settings) -> None:
    """Sync now and then on schedule until SIGINT or SIGTERM."""
    scheduler = build_scheduler(settings)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %d: stopping after the current run", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("syncing every %g minutes; Ctrl-C stops", settings.sync.interval_minutes)
    scheduler.start()
