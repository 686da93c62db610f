"""The retry policy of the API client: urllib3 Retry, bounded, with backoff and jitter."""

from __future__ import annotations

import threading
from typing import Any

import requests
from urllib3.util.retry import Retry

from etl.config.settings import ApiSettings
from etl.control import StopRequested

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_MAX = 120.0


class PacedRetry(Retry):
    """urllib3 Retry whose every wait is at least the throttle interval, Retry-After included.

    urllib3 retries the first failure at once; on a throttled key that would itself break the
    throttle. A Retry-After longer than RETRY_AFTER_MAX is cut short so a run stays bounded.
    Every wait ends at once when `stop` is set, raising StopRequested (systemd's stop timeout
    is 90 s; the retries of one request can wait longer than that).
    """

    min_backoff: float = 0.0
    stop: threading.Event | None = None

    def new(self, **kw: Any) -> PacedRetry:
        retry = super().new(**kw)
        assert isinstance(retry, PacedRetry)
        retry.min_backoff, retry.stop = self.min_backoff, self.stop
        return retry

    def sleep(self, response: Any = None) -> None:
        """Wait before the next try as urllib3 would, unless a stop is asked for meanwhile.

        Raises:
            StopRequested: the stop event was set before or during the wait.
        """
        if self.stop is None:
            super().sleep(response)
            return
        wait = None
        if self.respect_retry_after_header and response is not None:
            wait = self.get_retry_after(response)
        if self.stop.wait(wait or self.get_backoff_time()):
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
    return retry


def attempts(response: requests.Response) -> int:
    """How many times urllib3 sent the request that got this response."""
    retries = getattr(response.raw, "retries", None)
    return 1 + len(retries.history) if retries is not None else 1
