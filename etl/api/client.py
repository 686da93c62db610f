"""HTTP client for the Open Dental API: auth, pacing, timeouts, retries and paging."""

from __future__ import annotations

import itertools
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from etl import __version__
from etl.api import body, observe, stamping
from etl.api.deadline import Watch, Watchdog
from etl.api.errors import (
    explanation,
    overdue_error,
    status_error,
    too_large_error,
    transport_error,
)
from etl.api.paginator import OffsetPaginator, Paginator
from etl.api.retries import attempts, log_retry, make_retry
from etl.api.tally import Tallies
from etl.config.endpoint import plain_http_to_vendor, refusal
from etl.config.settings import ApiSettings
from etl.control import StopRequested
from etl.errors import ApiError

log = logging.getLogger(__name__)

#: The most a paced request waits beyond one interval after the one before had been sent:
#: this fraction of the interval plus PACING_SLACK_SECONDS, and never more than the one before
#: took from then on (its arrival at the server cannot have been later than its answer's).
PACING_SLACK = 0.02
PACING_SLACK_SECONDS = 0.02
_THROTTLED = re.compile(r"throttl|too many requests|rate limit", re.I)
#: Failures worth another try that urllib3 retries for GET only (504 is the caller's to handle).
_RETRY_OTHERS = frozenset({429, 500, 502, 503})
#: Turns a failure status into the error to raise: (path, response, secrets) -> error.
ErrorMapper = Callable[[str, requests.Response, tuple[str, ...]], ApiError]


def _environment_once(session: requests.Session, base_url: str) -> None:
    """Take the proxy and CA bundle from the environment now, not on every request.

    With `trust_env`, requests looks for ~/.netrc and walks the environment's proxy settings
    for each request: syscalls that hand the GIL to the thread writing the last page, which
    the fetch thread then waits to get back (etl.sync.fast_prefetch). A .netrc entry for the
    API's host would also replace the Authorization header.
    """
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle


class _Transient(Exception):
    """A failure worth another try; carries the error to raise when tries run out."""

    def __init__(self, error: ApiError, status: int | None = None) -> None:
        super().__init__(str(error))
        self.error, self.status = error, status


@dataclass
class Page:
    """One response of a list endpoint.

    Attributes:
        rows: the JSON array as sent.
        offset: the Offset asked for.
        sent_at: time.monotonic() before the request (pacing and retries included) began.
        received_at: time.monotonic() when its answer had arrived.
    """

    rows: list[Any]
    offset: int
    sent_at: float
    received_at: float


class ApiClient:
    """A session against one office's API.

    Args:
        settings: where the API is and the keys.
        backoff_factor: the base of the exponential backoff between retries, in seconds.
        monotonic: clock for pacing.
        sleep: how to wait for pacing and backoff (default: a wait that a stop ends).
        stop: set to end the run: waits and the request in flight end at once, raising
            StopRequested (etl.control).

    Raises:
        ApiError: the address is plain http to Open Dental's servers (keys in clear).
    """

    def __init__(
        self,
        settings: ApiSettings,
        backoff_factor: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        if plain_http_to_vendor(settings.base_url):
            raise ApiError(refusal("api.base_url"))
        self.settings = settings
        self.backoff_factor = backoff_factor
        self.requests_made = 0
        # Threads may share the session (etl.sync.overlap): one request at a time, as paced,
        # and each counted for the resource its thread works for.
        self.tallies = Tallies()
        self._turn = threading.Lock()
        self.stop = stop or threading.Event()
        self._monotonic = monotonic
        self._sleep = sleep or self._wait
        self._next_at: float | None = None
        self._warned_cap = False
        self._watchdog = Watchdog(self.stop)
        self.session = requests.Session()
        _environment_once(self.session, settings.base_url)
        for scheme in ("http://", "https://"):
            retry = make_retry(settings, backoff_factor, self.stop)
            self.session.mount(scheme, stamping.StampingAdapter(max_retries=retry))
        self.session.headers.update(
            {
                "Authorization": f"ODFHIR {settings.developer_key}/{settings.customer_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": f"odmirror/{__version__}",
            }
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._watchdog.close()
        self.session.close()

    def stop_with(self, stop: threading.Event) -> None:
        """From now on, `stop` (a run's stop request) ends waits and requests in flight."""
        self.stop = self._watchdog.stop = stop
        for adapter in self.session.adapters.values():
            adapter.max_retries.stop = stop  # type: ignore[attr-defined]  # PacedRetry

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET one endpoint and return its decoded JSON.

        Raises:
            ApiError: (or a subclass) with a message that says what to fix.
        """
        return self._with_retries(f"GET {path}", lambda: self._send_once("GET", path, params))

    def put(self, path: str, payload: Any, errors: ErrorMapper = status_error) -> Any:
        """PUT a JSON body to an endpoint (a read, such as ShortQuery) and return its JSON.

        Paced, deadlined and size-capped like GET; a 429 or a 500/502/503 is tried again like
        GET (urllib3 retries GET only); 504 is not: the caller asks for less instead
        (etl.api.short_query).

        Args:
            path: the endpoint.
            payload: what to send, as JSON.
            errors: turns a failure status into the error to raise.

        Raises:
            ApiError: (or a subclass) with a message that says what to fix.
        """
        return self._with_retries(
            f"PUT {path}", lambda: self._send_once("PUT", path, None, payload, errors)
        )

    def _with_retries(self, what: str, send: Callable[[], Any]) -> Any:
        for attempt in itertools.count():
            try:
                return send()
            except _Transient as exc:
                observe.count(self.settings.customer_key, observe.RETRY, exc.status)
                if attempt >= self.settings.max_retries:
                    raise exc.error from None
                wait = self._backoff(attempt)
                log_retry(f"{what}: {exc}", attempt + 2, self.settings.max_retries + 1, wait)
                self._sleep(wait)
        raise AssertionError("unreachable")

    def _send_once(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        payload: Any = None,
        errors: ErrorMapper = status_error,
    ) -> Any:
        # Failures urllib3 cannot retry (they show after the headers) come back as _Transient.
        with self._turn:
            self._pace()
            stamping.expect(self._monotonic)
            with self._watchdog.watch(self.settings.response_deadline) as watch:
                response = self._fetch(method, path, params, payload, watch)
            self._count(attempts(response))
        observe.count(self.settings.customer_key, observe.REQUEST, response.status_code)
        if watch.cut:  # the watchdog ended it, and what had come looked whole (no length said)
            raise self._ended(watch, _Transient(overdue_error(self.settings)))
        if response.status_code == 400 and _THROTTLED.search(response.text):
            # The vendor does not say how it refuses an over-throttle request; a 400 that says
            # so is waited out like a 429.
            tries = self.settings.max_retries + 1
            said = explanation(response, self._secrets())
            message = f"the API kept throttling us (400) after {tries} tries{said}"
            raise _Transient(ApiError(message), response.status_code)
        if method != "GET" and response.status_code in _RETRY_OTHERS:
            error = errors(path, response, self._secrets())
            raise _Transient(error, response.status_code)
        return self._decode(path, response, errors)

    def _fetch(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        payload: Any,
        watch: Watch,
    ) -> requests.Response:
        response: requests.Response | None = None
        try:
            response = self.session.request(
                method,
                self._url(path),
                params=params or {},
                json=payload,
                timeout=self.settings.timeout,
                stream=True,
            )
            # The body in as few reads as its size allows, as requests keeps it: requests' own
            # reading takes 10 kB at a time, a hundred calls through three libraries for a page
            # of 1000 patients (measured: 1.5 ms of CPU a page more).
            response._content = body.read_body(response, self._max_bytes())
            return response
        except body.TooLarge:
            self._count(1)
            status = response.status_code if response is not None else None
            observe.count(self.settings.customer_key, observe.REQUEST, status)
            raise too_large_error(path, self.settings) from None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
            self._count(1)
            observe.count(self.settings.customer_key, observe.REQUEST, None)
            tries = self.settings.max_retries + 1
            broke = ApiError(f"the API broke off its answers ({tries} tries)")
            raise self._ended(watch, _Transient(broke)) from None
        except requests.RequestException as exc:
            self._count(1)
            observe.count(self.settings.customer_key, observe.REQUEST, None)
            raise self._ended(watch, transport_error(exc, self.settings)) from None
        finally:
            self._schedule_next(response)

    def count_requests(self, requests: int) -> None:
        """Count requests sent around the session (etl.api.bulk_query's long POST)."""
        with self._turn:
            self._count(requests)

    def _count(self, requests: int) -> None:
        # The caller holds the turn.
        self.requests_made += requests
        self.tallies.add(requests)

    def _ended(self, watch: Watch, error: Exception) -> Exception:
        """What to raise for a failed try: a stop if one was asked, else why the try ended."""
        if watch.stopped or self.stop.is_set():
            return StopRequested("stopped on request")
        if watch.timed_out:
            # urllib3 does not try again a try the watchdog ended (etl.api.retries): the
            # client's own loop does, so that tries are counted once.
            return _Transient(overdue_error(self.settings))
        return error

    def _max_bytes(self) -> int:
        return int(self.settings.max_response_mb * body.MIB)

    def _wait(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise StopRequested("stopped on request")

    def not_before(self, seconds: float) -> None:
        """Send the next request no sooner than `seconds` from now (at most the interval)."""
        wait = min(max(0.0, seconds), self.settings.min_request_interval)
        if wait > 0:
            self._next_at = max(self._next_at or 0.0, self._monotonic() + wait)

    def _backoff(self, attempt: int) -> float:
        wait = self.backoff_factor * (2**attempt) + random.uniform(0, self.backoff_factor)
        return float(max(self.settings.min_request_interval, min(60.0, wait)))

    def pages(
        self, path: str, params: dict[str, Any] | None = None, paginator: Paginator | None = None
    ) -> Iterator[Page]:
        """Yield the pages of a list endpoint, as the paginator asks for them.

        Args:
            path: the list endpoint.
            params: its filters.
            paginator: the way of paging (default: the vendor's Limit/Offset loop).
        """
        paginator = paginator or OffsetPaginator(
            self.settings.page_size, path, max_pages=self.settings.max_pages
        )
        while paginator.has_next_page:
            sent_at = self._monotonic()
            request = paginator.update_request(dict(params or {}))
            rows = self.get(path, request)
            if not isinstance(rows, list):
                raise ApiError(f"unexpected answer from {path}: not a JSON array")
            yield Page(rows, int(request.get("Offset", 0)), sent_at, self._monotonic())
            paginator.update_state(rows)
            self._warn_cap(getattr(paginator, "cap_confirmed", 0))

    def _pace(self) -> None:
        """Wait until the throttle allows the next request; none starts after a stop."""
        now = self._monotonic()
        if self._next_at is not None and self._next_at > now:
            self._sleep(self._next_at - now)
        if self.stop.is_set():
            raise StopRequested("stopped on request")

    def _schedule_next(self, response: requests.Response | None) -> None:
        # The vendor's interval includes the request's own execution, so the next request may
        # start one interval after this one arrived: the wait overlaps the answer and our work
        # on it. The server starts its clock when a request arrives, which we can only bound:
        # not before its last byte left (stamped by the adapter: our clock reading before it
        # can be much earlier, while other threads hold the GIL), not after its answer came.
        # A reused connection's request arrives about as long after leaving as the one before,
        # plus SLACK of the interval at most. A request that failed is paced from its end.
        done, interval, left = (
            self._monotonic(),
            self.settings.min_request_interval,
            stamping.sent_at(),
        )
        if response is None or left is None:
            self._next_at = done + interval
        else:
            slack = min(done - left, PACING_SLACK * interval + PACING_SLACK_SECONDS)
            self._next_at = left + interval + slack

    def _url(self, path: str) -> str:
        return f"{self.settings.base_url.rstrip('/')}/{path.lstrip('/')}"

    def _warn_cap(self, rows: int) -> None:
        if rows and not self._warned_cap:
            self._warned_cap = True
            log.warning(
                "the API returned %d rows for Limit=%d: it caps pages at %d; "
                "set api.page_size: %d to save requests",
                rows,
                self.settings.page_size,
                rows,
                rows,
            )

    def _decode(
        self, path: str, response: requests.Response, errors: ErrorMapper = status_error
    ) -> Any:
        if response.status_code >= 300:
            raise errors(path, response, self._secrets())
        try:
            return body.parse_json(response.content, response.json)
        except body.TooDeep:
            raise ApiError(f"unexpected answer from {path}: JSON nested too deep") from None
        except body.TooMany:
            many = f"more than {body.MAX_VALUES:,} values in one page"
            raise ApiError(f"unexpected answer from {path}: {many}") from None
        except ValueError:
            # An HTML page from a proxy, an empty body: a passing fault, like a cut connection.
            raise _Transient(ApiError(f"unexpected answer from {path}: not JSON")) from None

    def _secrets(self) -> tuple[str, str]:
        return (self.settings.developer_key, self.settings.customer_key)
