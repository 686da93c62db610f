"""How a caller steers a run from outside: a stop request, and a progress hook.

A stop request is honoured between pages: the page being saved is committed, the run is
recorded as interrupted, and the sync returns. A request in flight, a wait for the throttle and
a wait before a retry end at once (etl.api.deadline, etl.api.retries), whatever the network
does. SIGTERM (systemd, docker, kill) and the first Ctrl-C ask for it; a second Ctrl-C stops at
once, as usual (the run is recorded as interrupted too).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger(__name__)

#: progress(resource, rows fetched so far, requests so far), after each saved page.
Progress = Callable[[str, int, int], None]


class StopRequested(Exception):
    """Raised between pages when a stop was asked for; the pages so far are committed."""


@dataclass
class RunControl:
    """The stop request and progress hook of a sync (all optional)."""

    stop: threading.Event = field(default_factory=threading.Event)
    progress: Progress | None = None

    def check(self) -> None:
        """Raise StopRequested if a stop was asked for."""
        if self.stop.is_set():
            raise StopRequested("stopped on request")

    def report(self, resource: str, fetched: int, requests: int) -> None:
        """Tell the progress hook, if any."""
        if self.progress is not None:
            self.progress(resource, fetched, requests)


def shield_thread() -> None:
    """Block SIGTERM and SIGINT in the calling thread (never the main one) and its new threads.

    The kernel hands a process's signal to any thread that does not block it. Python runs the
    handler on the main thread only, the next time that thread runs; waiting for the next
    scheduled run, that can be many minutes later (seen: `odmirror run` missed a SIGTERM that
    the fetch thread had taken). Every thread odmirror starts calls this first.
    """
    if threading.current_thread() is threading.main_thread():
        return
    if hasattr(signal, "pthread_sigmask"):  # POSIX
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})


@contextlib.contextmanager
def stop_on_signals(
    stop: threading.Event, also: Callable[[], None] | None = None
) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT set `stop` (and call `also`); a second SIGINT raises.

    Only in the main thread (Python delivers signals there); elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ask(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("%s received: stopping after the page in flight", signal.Signals(signum).name)
        stop.set()
        if also is not None:
            also()

    previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
