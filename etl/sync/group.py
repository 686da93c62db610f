"""A dental group: one mirror per practice, each synced on its own thread, each failure its own.

Each practice gets a copy of the settings with its own customer key, API address and database:
on PostgreSQL the same database with `search_path` set to a schema named after the practice (so
Alembic's version table, the advisory lock and Open Dental SQL all live in that schema); on
SQLite its own file, the `{practice}` of `database.url`. Pacing belongs to each practice's own
API session, as the vendor's throttle belongs to each customer key: practices never wait on
one another.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from etl.api.client import ApiClient
from etl.config.settings import SESSIONS_PER_PRACTICE, ApiSettings
from etl.config.targets import Target
from etl.control import shield_thread
from etl.errors import OdMirrorError

log = logging.getLogger(__name__)
T = TypeVar("T")
#: Practices synced at once; more wait for a free thread.
MAX_THREADS = 64
_current = contextvars.ContextVar[str | None]("practice", default=None)
_stop = contextvars.ContextVar[threading.Event | None]("stop", default=None)


class PracticesFailedError(OdMirrorError):
    """Some practices of the group failed (each one has been reported on its own line)."""


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a piece of work gave for one practice: a value, or a one-line error."""

    name: str | None
    value: T | None = None
    error: str | None = None


def run_each(
    chosen: Sequence[Target],
    work: Callable[[Target], T],
    parallel: bool = True,
    max_sessions: int = 0,
) -> list[Outcome[T]]:
    """Do `work` for every practice, all at once unless `parallel` is False.

    With `max_sessions` (`sync.max_db_sessions`), at most max_sessions //
    SESSIONS_PER_PRACTICE practices work at once (at least one), so that the group never
    holds more database sessions than that; the others wait for a free thread.

    A practice's error (or bug) is caught and becomes its outcome, so the others go on. Log
    records made meanwhile start with the practice's name. On Ctrl-C the practices' API
    sessions (see `api_client`) stop at their next request, then KeyboardInterrupt goes on.

    The one office of a config without `practices:` (a target without a name) is worked on
    here, on this thread, and its error is the caller's: it has no others to protect.

    Returns:
        One outcome per practice, in the order given.
    """
    if len(chosen) == 1 and chosen[0].name is None:
        return [Outcome(None, value=work(chosen[0]))]
    threads = min(MAX_THREADS, len(chosen)) if parallel else 1
    if max_sessions > 0:
        threads = min(threads, max(1, max_sessions // SESSIONS_PER_PRACTICE))
    stop = threading.Event()
    pool = ThreadPoolExecutor(threads, "odmirror-practice", initializer=shield_thread)
    try:
        with _log_practice_names():
            futures = [pool.submit(_guarded, work, target, stop) for target in chosen]
            return [future.result() for future in futures]
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def current_practice() -> str | None:
    """The practice whose work runs on this thread (inside `run_each`), else None."""
    return _current.get()


def api_client(api: ApiSettings) -> ApiClient:
    """An API session that, inside `run_each`, stops (KeyboardInterrupt) when the group stops.

    Its waits are the client's own, which a run's stop request ends (`ApiClient.stop_with`).
    """
    stop = _stop.get() or threading.Event()

    def monotonic() -> float:
        if stop.is_set():
            raise KeyboardInterrupt
        return time.monotonic()

    return ApiClient(api, monotonic=monotonic)


def _guarded(work: Callable[[Target], T], target: Target, stop: threading.Event) -> Outcome[T]:
    tokens = _current.set(target.name), _stop.set(stop)
    try:
        return Outcome(target.name, value=work(target))
    except OdMirrorError as exc:
        return Outcome(target.name, error=str(exc) or type(exc).__name__)
    except Exception as exc:  # one practice's surprise must not stop the group
        log.debug("unexpected error", exc_info=True)
        return Outcome(target.name, error=f"unexpected {type(exc).__name__}: {exc}")
    finally:
        _current.reset(tokens[0])
        _stop.reset(tokens[1])


def raise_failures(outcomes: Sequence[Outcome[T]], report: Callable[[str], None]) -> None:
    """Report one line per failed practice, then raise if any failed.

    Raises:
        PracticesFailedError: naming how many and which practices failed.
    """
    failed = [o for o in outcomes if o.error is not None]
    for outcome in failed:
        report(f"practice {outcome.name}: {outcome.error}")
    if failed:
        names = ", ".join(str(o.name) for o in failed)
        raise PracticesFailedError(f"{len(failed)} of {len(outcomes)} practices failed: {names}")


class _PracticeName(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        name = _current.get()
        if name is not None and not hasattr(record, "practice"):
            record.practice = name
            record.msg = f"{name}: {record.msg}"
        return True


@contextlib.contextmanager
def _log_practice_names() -> Iterator[None]:
    handlers = list(logging.getLogger().handlers)
    names = _PracticeName()
    for handler in handlers:
        handler.addFilter(names)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(names)
