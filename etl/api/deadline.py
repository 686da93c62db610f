"""A deadline for a whole answer, and a stop that ends a request in flight at once.

A socket's timeout bounds each read, not the answer: a server that sends one byte a second
(headers or body) never trips it. And a thread blocked in a read does not look at a stop
request until the read returns. A watchdog thread watches each request in flight and, when its
try has run past the deadline or a stop is asked for, shuts its socket down: the blocked read
returns at once, and the client reports why (etl.api.client).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from etl.api import stamping
from etl.control import shield_thread

#: How often the watchdog looks at the requests in flight (only while there is one): the most
#: a stop or a deadline waits beyond its moment.
POLL_SECONDS = 0.1


class Watch:
    """One request in flight: its deadline, the connection it was sent on, and why it ended.

    Args:
        seconds: how long each try may take, from its request being sent to its last byte.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.timed_out = False  # some try ran out of time (a later one may still succeed)
        self.stopped = False
        self.cut = False  # the last try was ended here
        self._conn: Any = None
        self._lock = threading.Lock()

    def sending(self, conn: Any) -> None:
        """A try is about to be sent on `conn` (urllib3 retries call this again): a new deadline."""
        with self._lock:
            self._conn, self.deadline = conn, time.monotonic() + self.seconds
            self.cut = self.stopped
            if self.stopped:
                _shut(conn)

    def check(self, now: float, stop: threading.Event) -> None:
        """End the try in flight if a stop was asked for or it ran past its deadline."""
        with self._lock:
            if stop.is_set():
                # Again at every look: the socket may not have existed yet (still connecting).
                self.stopped = self.cut = True
                _shut(self._conn)
            elif now >= self.deadline:
                self.timed_out = self.cut = True
                self.deadline = float("inf")  # once per try
                _shut(self._conn)


def _shut(conn: Any) -> None:
    # shutdown(), not close(): the fd stays valid for the reading thread, whose blocked recv
    # returns end-of-file at once. The plain socket's own method: an SSLSocket's would also
    # drop its TLS state under the reading thread.
    sock = getattr(conn, "sock", None)
    # urllib3's TLS-in-TLS transport (through an https proxy) wraps the socket.
    sock = getattr(sock, "socket", sock)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):  # already shut, or closed meanwhile
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """Ends requests that overrun their deadline or outlive a stop request.

    Args:
        stop: set (by a signal handler, say) to end every request in flight at once.
    """

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()
        self._cond = threading.Condition()
        self._watches: set[Watch] = set()
        self._thread: threading.Thread | None = None
        self._closed = False

    @contextlib.contextmanager
    def watch(self, seconds: float) -> Iterator[Watch]:
        """Watch the requests the calling thread sends inside this block (one at a time)."""
        watch = Watch(seconds)
        stamping.on_send(watch.sending, lambda: watch.cut)
        with self._cond:
            self._watches.add(watch)
            self._start()
            self._cond.notify()
        try:
            yield watch
        finally:
            stamping.on_send(None)
            with self._cond:
                self._watches.discard(watch)

    def close(self) -> None:
        """End the watchdog thread (it ends with the process otherwise: a daemon)."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="odmirror-watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        shield_thread()
        with self._cond:
            while not self._closed:
                if not self._watches:
                    self._cond.wait()  # idle: nothing in flight, nothing to poll
                    continue
                now = time.monotonic()
                for watch in self._watches:
                    watch.check(now, self.stop)
                self._cond.wait(POLL_SECONDS)
