"""`odmirror run`: sync at once, then on the schedule (APScheduler 3), until SIGTERM or Ctrl-C."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from etl.commands import scheduled_sync
from etl.config.operations import parse_duration, schedule_period, schedule_trigger, timezone
from etl.config.settings import Settings
from etl.control import RunControl, StopRequested, shield_thread, stop_on_signals
from etl.errors import OdMirrorError
from etl.logs import progress_bar
from etl.mirror.lock import MirrorLocked
from etl.sync.state import RunResult

log = logging.getLogger(__name__)
JOB_ID = "odmirror-sync"
#: A run due while the machine slept or a long run went on still starts within this long.
MISFIRE_GRACE_SECONDS = 3600

Clock = Callable[[], dt.datetime]
Runner = Callable[[Settings, RunControl], list[RunResult]]


def utc_now() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Backoff:
    """After failures in a row, wait period, 2 x period, 4 x period ... up to `cap` after the
    last failed start before trying again. A success starts over.

    Runs come on the schedule's ticks, so a wait counts from the failed run's start and a
    tick up to half a period early still runs (ticks jitter by milliseconds).
    """

    period: dt.timedelta
    cap: dt.timedelta
    failures: int = 0
    failed_at: dt.datetime | None = None

    def record(self, ok: bool, started: dt.datetime) -> None:
        """Count a run that started at `started`."""
        self.failures = 0 if ok else self.failures + 1
        self.failed_at = None if ok else started

    def wait(self) -> dt.timedelta:
        """How long after the last failed start the next try may come."""
        if not self.failures:
            return dt.timedelta(0)
        longest = max(self.period, self.cap)
        wait: dt.timedelta = self.period * 2 ** min(self.failures - 1, 30)
        return min(wait, longest)

    def next_try(self) -> dt.datetime | None:
        """When a run may start again, or None if it may start now."""
        if self.failed_at is None:
            return None
        return self.failed_at + self.wait()

    def holds(self, now: dt.datetime) -> bool:
        """Whether a run due at `now` is skipped to back off."""
        due = self.next_try()
        return due is not None and now < due - self.period / 2


class SyncJob:
    """The scheduled job: one sync, with its outcome logged in one line and counted for backoff.

    Args:
        settings: the config.
        control: the stop request shared with the signal handlers.
        clock: the current time (UTC, aware); tests pass their own.
        runner: the sync itself; tests may pass their own.
    """

    def __init__(
        self,
        settings: Settings,
        control: RunControl | None = None,
        clock: Clock = utc_now,
        runner: Runner | None = None,
    ) -> None:
        self.settings, self.control, self.clock = settings, control or RunControl(), clock
        self.runner: Runner = runner or scheduled_sync
        trigger = schedule_trigger(settings)
        cap = parse_duration(settings.schedule.backoff_max)
        self.backoff = Backoff(schedule_period(trigger, clock()), cap)
        self.busy = threading.Lock()

    def __call__(self) -> bool | None:
        """Run once. Returns True on success, False on failure, None if skipped or stopped."""
        shield_thread()  # on the scheduler's worker thread: so are the threads the run starts
        started = self.clock()
        if self.backoff.holds(started):
            log.info("run skipped: backing off after %d failures in a row", self.backoff.failures)
            return None
        with self.busy, progress_bar(self.control):
            return None if self.control.stop.is_set() else self._sync(started)

    def _sync(self, started: dt.datetime) -> bool | None:
        try:
            self.runner(self.settings, self.control)  # it logs each result
        except MirrorLocked as exc:
            log.warning("run skipped: %s", exc)
            return None
        except StopRequested:
            log.info("run stopped on request; the pages saved so far are kept")
            return None
        except OdMirrorError as exc:
            self._failed(started, str(exc))
            return False
        except Exception as exc:  # a bug: say so with its traceback, and keep the schedule
            self._failed(started, f"unexpected {exc.__class__.__name__}", exc)
            return False
        self.backoff.record(True, started)
        return True

    def _failed(self, started: dt.datetime, reason: str, exc: Exception | None = None) -> None:
        self.backoff.record(False, started)
        when = self.backoff.next_try()
        later = f"; next try not before {when:%Y-%m-%d %H:%M} UTC" if when else ""
        failures = self.backoff.failures
        log.error("sync failed (%d in a row): %s%s", failures, reason, later, exc_info=exc)


def build_scheduler(
    settings: Settings, scheduler: BaseScheduler | None = None, job: SyncJob | None = None
) -> BaseScheduler:
    """A scheduler with the sync job: the first run now, then on the schedule.

    One run at a time (max_instances=1); runs missed while the machine slept or a run went on
    collapse into one (coalesce) if still within the misfire grace time.
    """
    scheduler = scheduler or BlockingScheduler(timezone=timezone(settings))
    scheduler.add_job(
        job or SyncJob(settings),
        schedule_trigger(settings),
        id=JOB_ID,
        name="odmirror sync",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=MISFIRE_GRACE_SECONDS,
        next_run_time=utc_now(),
        replace_existing=True,
    )
    return scheduler


def run_forever(settings: Settings) -> None:
    """Sync now and then on schedule until SIGTERM or SIGINT; a run in flight stops after its
    current page, recorded as interrupted."""
    control = RunControl()
    job = SyncJob(settings, control)
    scheduler = build_scheduler(settings, job=job)

    def stop_scheduler() -> None:
        if scheduler.running:
            scheduler.shutdown(wait=False)

    def after_run(_event: JobExecutionEvent) -> None:
        if control.stop.is_set():  # a signal that came before the scheduler was running
            stop_scheduler()

    scheduler.add_listener(after_run, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    with stop_on_signals(control.stop, also=stop_scheduler):
        log.info("scheduled: %s; SIGTERM or Ctrl-C stops", scheduler.get_job(JOB_ID).trigger)
        scheduler.start()
        with job.busy:  # wait for a run in flight to save its page and record itself
            pass
    log.info("stopped")
