"""When a request left: an HTTP adapter whose connections note the time their bytes were sent
(and tell a watcher, etl.api.deadline, which connection a request is about to be sent on).

The Remote API's throttle counts from when a request reaches the server. Our clock reading
before a request can be tens of milliseconds earlier than its bytes leaving: other threads
hold the GIL, a garbage collection runs, a connection is set up. The time just after the
last byte was written is the bound pacing needs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class _Sent(threading.local):
    # urllib3 sends on the thread that called requests, so a thread-local pairs the stamp
    # with the caller's request.
    clock: Callable[[], float] | None = None
    at: float | None = None
    sending: Callable[[Any], None] | None = None
    cut: Callable[[], bool] | None = None


_SENT = _Sent()


def expect(clock: Callable[[], float]) -> None:
    """Forget the last stamp; the next request sent on this thread is stamped by `clock`."""
    _SENT.clock, _SENT.at = clock, None


def on_send(hook: Callable[[Any], None] | None, cut: Callable[[], bool] | None = None) -> None:
    """Call `hook` with the connection each request on this thread is about to be sent on.

    Args:
        hook: what to call before each try is sent; None: nothing.
        cut: whether the watcher ended this thread's last try (etl.api.retries asks, so that
            a try the watcher ended is not tried again inside urllib3).
    """
    _SENT.sending, _SENT.cut = hook, cut


def last_try_cut() -> bool:
    """Whether the watcher (etl.api.deadline) ended the last try sent on this thread."""
    cut = _SENT.cut
    return cut is not None and cut()


def sent_at() -> float | None:
    """When the last request on this thread (its last try) had been sent; None if none was."""
    return _SENT.at


def _stamp() -> None:
    clock = _SENT.clock
    if clock is not None:
        _SENT.at = clock()


def _stamped(conn: Any) -> Any:
    # Wrapped per connection, not subclassed: the connection class is vcrpy's while a cassette
    # plays, and what urllib3's pool makes otherwise.
    send = conn.request

    def request(*args: Any, **kwargs: Any) -> None:
        hook = _SENT.sending
        if hook is not None:
            hook(conn)
        send(*args, **kwargs)
        _stamp()

    # Set on this object alone: vcrpy's connection copies an attribute set on it to the real
    # connection it wraps, whose request() would then no longer send (recording broke).
    object.__setattr__(conn, "request", request)
    return conn


class _HTTPPool(HTTPConnectionPool):
    def _new_conn(self) -> Any:
        return _stamped(super()._new_conn())


class _HTTPSPool(HTTPSConnectionPool):
    def _new_conn(self) -> Any:
        return _stamped(super()._new_conn())


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class StampingAdapter(HTTPAdapter):
    """requests' HTTPAdapter whose connections stamp the time each request was sent.

    Through an HTTP proxy too; through a SOCKS one (pools of its own) requests are not stamped,
    and pacing waits a whole interval after each answer.
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager
