"""A stand-in for the Open Dental API's patient endpoints, served over real HTTP.

It follows the vendor's API documentation. Where the vendor
is silent (throttle responses, DateTStamp >= or >, row order, Deleted rows), the behaviour is
a SimulatorConfig choice, so tests can hold the client to every plausible variant.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from etl.simulator.bulk_queries import BulkQueries
from etl.simulator.clock import OfficeClock, format_datetime
from etl.simulator.config import RequestLog, SimulatorConfig
from etl.simulator.data import make_patients
from etl.simulator.http import Reply, Serving
from etl.simulator.money_api import fill_money
from etl.simulator.office_db import OfficeDatabase
from etl.simulator.practice import fill_practice
from etl.simulator.query import QueryError, parse_simple_query
from etl.simulator.rest_sql import copy_named_tables
from etl.simulator.shape import shape_named
from etl.simulator.store import PatientStore
from etl.simulator.tables import Tables, empty_tables

OFFICE_DOWN = (
    "Unable to connect to the office's eConnector. The office may be offline or the eConnector"
    " service may not be running."
)
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
_PATIENTS = re.compile(r"/api/v1/patients/([^/]+)/?", re.IGNORECASE)
_SHORT_QUERY = re.compile(r"/api/v1/queries/ShortQuery/?", re.IGNORECASE)
_QUERIES = re.compile(r"/api/v1/queries/?", re.IGNORECASE)


@dataclass(frozen=True)
class _Fault:
    reply: Reply | None = None
    drop: bool = False
    stall: float = 0.0


class Simulator(Serving):
    """The simulated API of one office: a patient store, a clock and an HTTP server."""

    _thread_name = "od-simulator"

    def __init__(
        self,
        patients: int | list[dict[str, Any]] = 0,
        config: SimulatorConfig | None = None,
        clock: OfficeClock | None = None,
        seed: int = 1,
    ) -> None:
        """Create a simulator (not yet serving).

        Args:
            patients: a count of synthetic patients to make, or the records themselves.
            config: behaviour; the default is the API Service with the published test keys.
            clock: the office clock; default a real-time clock in America/Chicago.
            seed: the seed for synthetic patients.
        """
        self.config = config or SimulatorConfig()
        self.clock = clock or OfficeClock()
        if isinstance(patients, int):
            patients = make_patients(patients, seed, now=self.clock.now())
        self.store = PatientStore(self.clock, patients)
        # The other endpoints (appointments, claims, ...) are served once fill_practice() ran.
        self.tables: Tables | None = None
        #: The office database that ShortQuery reads (etl.simulator.office_db), once enabled.
        self.office_db: OfficeDatabase | None = None
        #: POST /queries: the SELECT's CSV written to the client's SFTP server (its faults).
        self.bulk_queries = BulkQueries()
        self._seed = seed
        self.office_online = True
        self.requests: list[RequestLog] = []
        #: Requests refused for coming inside the throttle interval (Remote mode).
        self.throttle_violations = 0
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        self._hook: Callable[[int, RequestLog], None] | None = None
        self._hook_index = 0
        self._last_served: dict[str, float] = {}
        self._stopping = threading.Event()

    def fill_practice(self, shape: str = "default") -> Simulator:
        """Fill the other endpoints with synthetic data drawn from the patients; returns self.

        Args:
            shape: how much each patient has (etl.simulator.shape: "default", "issue").
        """
        tables = empty_tables(self.clock)
        patients, how = self.store.all(), shape_named(shape)
        fill_practice(tables, patients, self._seed, self.clock.now(), how)
        fill_money(tables, patients, self._seed, self.clock.now(), how)
        self.tables = tables
        return self

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        """Serve in a daemon thread on host:port (0: any free port); returns self."""
        self._stopping.clear()
        return super().start(host, port)

    def _release(self) -> None:
        self._stopping.set()

    def fail_next(
        self, status: int, body: str = "", headers: dict[str, str] | None = None, count: int = 1
    ) -> None:
        """Answer the next `count` requests (any path, before any check) with this response."""
        reply = Reply(status, body.encode(), {"Content-Type": TEXT_TYPE, **(headers or {})})
        self._queue(_Fault(reply=reply), count)

    def drop_next(self, count: int = 1) -> None:
        """Close the connection of the next `count` requests without any response."""
        self._queue(_Fault(drop=True), count)

    def stall_next(self, seconds: float, count: int = 1) -> None:
        """Wait `seconds` before answering the next `count` requests normally."""
        self._queue(_Fault(stall=seconds), count)

    def on_request(self, hook: Callable[[int, RequestLog], None] | None) -> None:
        """Run hook(index, log) before each patients/Simple request selects its rows.

        Only requests that will be served (authorised, not throttled, valid) count; index
        starts at 0 for the first such request after this call. None removes the hook.
        """
        with self._lock:
            self._hook, self._hook_index = hook, 0

    def _queue(self, fault: _Fault, count: int) -> None:
        with self._lock:
            self._faults.extend([fault] * count)

    def _answer(
        self, method: str, target: str, authorization: str | None, body: bytes = b""
    ) -> Reply | None:
        """Answer one request (called by the HTTP handler); None means drop the connection."""
        url = urlsplit(target)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        log = RequestLog(method, url.path, query, authorization, 0, time.monotonic(), body=body)
        with self._lock:
            self.requests.append(log)
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.drop:
            return None
        if fault is not None and fault.reply is not None:
            reply = fault.reply
        else:
            self._stopping.wait((fault.stall if fault else 0) + self.config.latency)
            reply = self._serve(log)
        with self._lock:
            log.status = reply.status
        return reply

    def _serve(self, log: RequestLog) -> Reply:
        try:
            denied = self._authorize(log.authorization) or self._throttle(log)
            if denied is not None:
                return denied
            if not self.office_online:
                return self._error(400, OFFICE_DOWN)
            return self._route(log)
        except Exception as exc:  # the simulator's (or a test hook's) bug: answer, don't hang
            return self._error(500, f"Simulator error: {type(exc).__name__}: {exc}")

    def _authorize(self, header: str | None) -> Reply | None:
        if not header:
            return self._error(401, "Authorization header is missing.")
        scheme, _, keys = header.partition(" ")
        if scheme != "ODFHIR" or keys.count("/") != 1:
            return self._error(401, "Authorization must be: ODFHIR {DeveloperKey}/{CustomerKey}")
        if keys != f"{self.config.developer_key}/{self.config.customer_key}":
            return self._error(401, "Invalid developer key or customer key.")
        return None

    def _throttle(self, log: RequestLog) -> Reply | None:
        if self.config.mode != "remote":
            return None
        customer = str(log.authorization).rsplit("/", 1)[-1]
        interval = self.config.throttle_interval
        with self._lock:
            last = self._last_served.get(customer)
            if last is None or log.arrived - last >= interval:
                self._last_served[customer] = log.arrived
                return None
            self.throttle_violations += 1
        after = self.config.retry_after
        headers = {} if after is None else {"Retry-After": str(after)}
        text = f"Too many requests. This API key is limited to one request every {interval:g}s."
        return self._error(self.config.throttle_status, text, headers)

    def _route(self, log: RequestLog) -> Reply:
        if log.method == "PUT" and _SHORT_QUERY.fullmatch(log.path):
            return self._short_query(log)
        if log.method == "POST" and _QUERIES.fullmatch(log.path) and self.office_db is not None:
            if not self.config.queries_allowed:
                return self._error(401, "This API key does not have permission to run queries.")
            status, why = self.bulk_queries.answer(self.office_db, log.body)
            return Reply(201, b"", {}) if status == 201 else self._error(status, why)
        match = _PATIENTS.fullmatch(log.path)
        if log.method == "GET" and match is None and self.tables is not None:
            return self._other(log, self.tables)
        if log.method != "GET" or match is None:
            return self._error(404, "Not found.")
        name = match.group(1)
        if name.casefold() == "simple":
            return self._simple(log)
        if not re.fullmatch(r"[0-9]{1,18}", name):
            return self._error(400, "PatNum is invalid.")
        row = self.store.get(int(name))
        if row is None:
            return self._error(404, "Patient not found.")
        log.rows = 1
        return self._json(row)

    def _short_query(self, log: RequestLog) -> Reply:
        if not self.config.queries_allowed:
            return self._error(401, "This API key does not have permission to run queries.")
        if self.config.sql_reads_rest:  # the patients alone are a REST table too
            office_db = self.office_db or OfficeDatabase(self.clock)
            copied = copy_named_tables(
                office_db,
                self.tables,
                log.body,
                self.store.all,
                self.config.keep_office_copies,
                self.store.version,  # read before the rows: a write meanwhile copies again
            )
            if copied or self.tables is not None:
                self.office_db = office_db
        if self.office_db is None:
            return self._json([{"1": 1}])  # no office database: only whether queries may run
        status, payload = self.office_db.answer(log.body)
        log.rows = len(payload) if isinstance(payload, list) else 0
        return self._json(payload) if status == 200 else self._error(status, str(payload))

    def _other(self, log: RequestLog, tables: Tables) -> Reply:
        path = log.path.removeprefix("/api/v1/")
        try:
            rows = tables.serve(path, log.query, self.config.cap, self.config.inclusive_datetstamp)
        except QueryError as exc:
            return self._error(400, str(exc))
        if rows is None:
            return self._error(404, "Not found.")
        log.rows = len(rows)
        return self._json(rows)

    def _simple(self, log: RequestLog) -> Reply:
        try:
            query = parse_simple_query(log.query)
        except QueryError as exc:
            return self._error(400, str(exc))
        with self._lock:
            hook, index = self._hook, self._hook_index
            self._hook_index += 1
        if hook is not None:
            hook(index, log)
        cfg, stamp = self.config, format_datetime(self.clock.now())
        rows = self.store.select(
            query, cfg.cap, cfg.inclusive_datetstamp, cfg.order, cfg.hide_deleted
        )
        for row in rows:
            row["serverDateTime"] = stamp
        log.rows = len(rows)
        return self._json(rows)

    def _json(self, payload: Any) -> Reply:
        body = json.dumps(payload, ensure_ascii=False, default=str).encode()
        return Reply(200, body, {"Content-Type": JSON_TYPE})

    def _error(self, status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
        if self.config.error_body_json:
            body, kind = json.dumps(text), JSON_TYPE
        else:
            body, kind = text, TEXT_TYPE
        return Reply(status, body.encode(), {"Content-Type": kind, **(headers or {})})
