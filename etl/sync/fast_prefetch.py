"""Fetch ahead: a thread reads the next pages while the caller writes the current one.

Against a throttled API the wait between requests is the floor of a run; against an
unthrottled one, the request's round trip is. Either way, writing a page to the database
should happen during that wait, not after it. The fetch thread hands pages over through a
bounded queue, so at most `depth` pages are held in memory however large the list is.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

from etl.control import shield_thread

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Pages fetched ahead of the one being written: enough to ride out one slow write.
DEFAULT_DEPTH = 2
_POLL = 0.1  # how often a blocked fetch thread looks whether the reader has gone
#: How long a reader leaving on an error (a stop, a second Ctrl-C) waits for the fetch thread.
#: The API client ends its request at a stop within a fraction of a second; this bounds the
#: rest (a connection still being made), so a stop never waits on the network.
ABANDON_AFTER = 3.0
_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
#: The interpreter's thread switch interval while a fetch thread runs (Python's default: 5 ms).
#: Each socket read of the fetch thread lets go of the GIL; taking it back from a thread busy
#: writing the last page waits up to one interval, and a page of 1 MB takes a dozen reads.
SWITCH_SECONDS = 0.0005
_switch_lock = threading.Lock()
_switch_users = 0
_switch_before = 0.005


def _quick_switches(on: bool) -> None:
    """Shorten the switch interval while any fetch thread runs; restore it after the last."""
    global _switch_users, _switch_before
    with _switch_lock:
        if on:
            if _switch_users == 0:
                _switch_before = sys.getswitchinterval()
                sys.setswitchinterval(min(_switch_before, SWITCH_SECONDS))
            _switch_users += 1
        else:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_before)


@functools.cache
def keep_memory_flat() -> bool:
    """Have glibc give every large buffer (a page's body: about 1 MB) back when it is freed.

    glibc raises its mmap threshold each time such a buffer is freed, after which page bodies
    come from the heap, which fragments and grows with every page: peak RSS then grows with the
    number of rows (measured: 105 MB at 10,000 patients, 198 MB at 1,000,000). A fixed
    threshold keeps it flat. Returns whether the setting was made (glibc only).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 64 * 1024))


class _End:
    """The producer finished: with the error it raised, or None."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Prefetch(Generic[T]):
    """Iterate `source` on a thread of its own, up to `depth` items ahead of the reader.

    Use as a context manager: leaving it (normally, or after `break`) stops the thread and
    waits for it, so nothing else touches what `source` uses (the HTTP session) once the block
    is left; leaving it by an error waits at most ABANDON_AFTER seconds, then leaves the thread
    (a daemon) to end alone, since the run is ending anyway. An error raised by `source` is
    raised to the reader, in order, after the items that came before it.

    Args:
        source: the items, e.g. the pages of one list pull; iterated on the fetch thread only.
        depth: the most items fetched but not yet taken by the reader (at least 1).
    """

    def __init__(self, source: Iterable[T], depth: int = DEFAULT_DEPTH) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        keep_memory_flat()
        self._source = source
        self._queue: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="odmirror-fetch", daemon=True)
        self._state = threading.Lock()  # for start, close and the source's end, on any thread
        self._entered = False  # started, and not yet closed
        self._fetched = False  # the source has ended without an error
        self._then: list[Callable[[], None]] = []

    def __enter__(self) -> Prefetch[T]:
        self.start()
        return self

    def start(self) -> None:
        """Start fetching, once (`with` does it too); from any thread, never after `close`."""
        with self._state:  # a close meanwhile must find it started, or keep it from starting
            if self._entered or self._stop.is_set():
                return
            self._entered = True
            _quick_switches(True)
            self._thread.start()

    def then(self, callback: Callable[[], None]) -> None:
        """Call `callback` once every item has been fetched: on the fetch thread as the source
        ends well (never if it fails), or now if it has."""
        with self._state:
            if not self._fetched:
                self._then.append(callback)
                return
        callback()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(None if kind is None else ABANDON_AFTER)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item

    def close(self, patience: float | None = None) -> None:
        """Stop fetching, and wait until the fetch thread has ended (at most `patience` s)."""
        self._stop.set()
        with self._state:
            started, self._entered = self._entered, False
        if started:
            _quick_switches(False)
        until = None if patience is None else time.monotonic() + patience
        while self._thread.is_alive():
            if until is not None and time.monotonic() >= until:
                log.warning("the fetch thread did not end in %g s; not waiting for it", patience)
                return
            self._drain()
            self._thread.join(_POLL)

    def _produce(self) -> None:
        shield_thread()
        items = iter(self._source)
        try:
            for item in items:
                if not self._put(item) or self._stop.is_set():
                    return
        except BaseException as exc:  # handed to the reader, which raises it
            self._put(_End(exc))
            return
        finally:
            # A generator's own clean-up runs here, on the thread that iterated it.
            close = getattr(items, "close", None)
            if close is not None:
                close()
        with self._state:
            self._fetched, callbacks, self._then = True, self._then, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # e.g. no thread could start: the caller starts it in its turn
                log.debug("a callback at the end of the fetch failed", exc_info=True)
        self._put(_End(None))

    def _put(self, item: T | _End) -> bool:
        # Blocks while the queue is full; gives up once the reader has left.
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
