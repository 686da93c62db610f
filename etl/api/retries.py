"""The retry policy of the API client: urllib3 Retry, bounded, with backoff and jitter."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from etl.api import observe, stamping
from etl.config.settings import ApiSettings
from etl.control import StopRequested

log = logging.getLogger("odmirror.api")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_MAX = 120.0
#: How the retry log names urllib3's failures.
_REASONS = {
    "NewConnectionError": "cannot connect",
    "ConnectTimeoutError": "connecting timed out",
    "ReadTimeoutError": "no answer in time",
    "ProtocolError": "the connection broke",
    "SSLError": "TLS failed",
    "ProxyError": "the proxy failed",
}


class PacedRetry(Retry):
    """urllib3 Retry whose every wait is at least the throttle interval, Retry-After included.

    urllib3 retries the first failure at once; on a throttled key that would itself break the
    throttle. A Retry-After longer than RETRY_AFTER_MAX is cut short so a run stays bounded.
    Every wait ends at once when `stop` is set, raising StopRequested (systemd's stop timeout
    is 90 s; the retries of one request can wait longer than that).
    """

    min_backoff: float = 0.0
    stop: threading.Event | None = None
    #: How many tries a request gets in all, for the "attempt n of m" of the retry log.
    tries: int = 1
    #: The session's customer key: what observe counts retries by (never shown).
    customer_key: str = ""

    def new(self, **kw: Any) -> PacedRetry:
        retry = super().new(**kw)
        assert isinstance(retry, PacedRetry)
        retry.min_backoff, retry.stop = self.min_backoff, self.stop
        retry.tries, retry.customer_key = self.tries, self.customer_key
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> PacedRetry:
        """As urllib3's, except that a try the watchdog ended is not tried again here.

        The client's own loop retries it (etl.api.client): tried in both places, a cut answer
        would be sent up to (max_retries + 1) squared times and its tries counted wrong.

        Raises:
            MaxRetryError: no more tries here.
        """
        if error is not None and stamping.last_try_cut():
            raise MaxRetryError(_pool, url or "", error) from error
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        assert isinstance(retry, PacedRetry)
        return retry

    def sleep(self, response: Any = None) -> None:
        """Wait before the next try as urllib3 would, and say so as it happens (a server that
        does not answer is not minutes of silence), unless a stop is asked for meanwhile.

        Raises:
            StopRequested: the stop event was set before or during the wait.
        """
        wait = None
        if self.respect_retry_after_header and response is not None:
            wait = self.get_retry_after(response)
        if wait is None:
            wait = self.get_backoff_time()
        last = self.history[-1] if self.history else None
        observe.count(self.customer_key, observe.RETRY, last.status if last else None)
        log_retry(_failure(last), len(self.history) + 1, self.tries, wait)
        if self.stop is None:
            if wait > 0:
                time.sleep(wait)
        elif self.stop.wait(wait):
            raise StopRequested("stopped on request")

    def get_backoff_time(self) -> float:
        return max(self.min_backoff, super().get_backoff_time())

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        if seconds is None:
            return None
        return min(RETRY_AFTER_MAX, max(self.min_backoff, seconds))


def make_retry(
    settings: ApiSettings, backoff_factor: float = 1.0, stop: threading.Event | None = None
) -> PacedRetry:
    """The retry policy: bounded count, exponential backoff with jitter, Retry-After honoured.

    Waits grow as backoff_factor * 2**n seconds (plus up to backoff_factor of jitter), capped at
    a minute, and are never shorter than the throttle interval; `stop` ends any of them.
    """
    retry = PacedRetry(
        total=settings.max_retries,
        connect=settings.max_retries,
        read=settings.max_retries,
        status=settings.max_retries,
        other=0,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor,
        backoff_jitter=backoff_factor,
        backoff_max=60.0,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.min_backoff, retry.stop = settings.min_request_interval, stop
    retry.tries, retry.customer_key = settings.max_retries + 1, settings.customer_key
    return retry


def log_retry(failure: str, attempt: int, tries: int, wait: float) -> None:
    """One warning line: what failed, and when which try comes."""
    log.warning("%s; retrying (attempt %d of %d, next in %.1f s)", failure, attempt, tries, wait)


def _failure(last: Any) -> str:
    if last is None:
        return "the request failed"
    path = urlsplit(last.url or "").path or "the API"  # no query: it may hold a filter value
    if last.status is not None:
        return f"{last.method} {path} answered {last.status}"
    kind = type(last.error).__name__ if last.error is not None else ""
    return f"{last.method} {path}: {_REASONS.get(kind, kind or 'no answer')}"


def attempts(response: requests.Response) -> int:
    """How many times urllib3 sent the request that got this response."""
    retries = getattr(response.raw, "retries", None)
    return 1 + len(retries.history) if retries is not None else 1
