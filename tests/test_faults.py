"""Servers that follow the same documentation but answer unhelpfully: a scripted HTTP server."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import Engine

from etl.api.client import ApiClient
from etl.config.settings import ApiSettings
from etl.errors import ApiError
from etl.scheduler import SyncJob
from etl.simulator.server import OFFICE_DOWN
from etl.sync import state
from etl.sync.fast_prefetch import DEFAULT_DEPTH
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.test_sync import assert_mirror_matches, mirror, office_clock, sync

pytestmark = pytest.mark.reliability

Reply = tuple[int, Any, bool]  # status, JSON body (or str for a raw body), cut the body short
Script = Callable[[dict[str, str]], Reply]


class Scripted:
    """A loopback HTTP server whose every answer comes from a script."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.queries: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = dict(parse_qsl(urlsplit(self.path).query))
                outer.queries.append(query)
                status, body, cut = outer.script(query)
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if cut else data)
                if cut:
                    self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/api/v1"
        self.config = ApiSettings(self.base_url, "NFF6i0KrXrxDkZHt", "VzkmZEaUWOjnQX2z")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def patients(first: int, count: int, server_time: str | None = "2025-05-05 10:00:00") -> list[Any]:
    rows = [
        {"PatNum": n, "LName": f"P{n}", "DateTStamp": "2025-05-01 08:00:00"}
        for n in range(first, first + count)
    ]
    if server_time:
        for row in rows:
            row["serverDateTime"] = server_time
    return rows


def one_page(rows: list[Any]) -> Script:
    """A script that sends `rows` as the whole patient list, and nothing for other passes."""

    def script(query: dict[str, str]) -> Reply:
        first = "PatStatus" not in query and query.get("Offset", "0") == "0"
        return 200, (rows if first else []), False

    return script


def client(server: Scripted, **api: Any) -> ApiClient:
    values: dict[str, Any] = {"min_request_interval": 0.0, **api}
    settings = ApiSettings(server.base_url, "NFF6i0KrXrxDkZHt", "VzkmZEaUWOjnQX2z", **values)
    return ApiClient(settings, backoff_factor=0.01)


def test_a_body_cut_short_is_retried(scripted: Any) -> None:
    calls: list[int] = []

    def script(_q: dict[str, str]) -> Reply:
        calls.append(1)
        return 200, patients(1, 5), len(calls) == 1

    server = scripted(script)
    with client(server) as api:
        assert len(api.get("patients/Simple")) == 5
        assert api.requests_made == 2


def test_bodies_always_cut_short_end_the_run(scripted: Any) -> None:
    server = scripted(lambda _q: (200, patients(1, 5), True))
    with client(server, max_retries=2) as api, pytest.raises(ApiError) as info:
        api.get("patients/Simple")
    assert str(info.value) == "the API broke off its answers (3 tries)"
    assert len(server.queries) == 3


def test_a_400_that_says_throttled_is_waited_out(scripted: Any) -> None:
    calls: list[int] = []

    def script(_q: dict[str, str]) -> Reply:
        calls.append(1)
        if len(calls) == 1:
            return 400, "Too many requests. Throttled: one request per 5 seconds.", False
        return 200, patients(1, 3), False

    server = scripted(script)
    with client(server, min_request_interval=0.05) as api:
        assert len(api.get("patients/Simple")) == 3


def test_an_object_instead_of_a_list(scripted: Any) -> None:
    server = scripted(lambda _q: (200, {"Message": "An error has occurred."}, False))
    with client(server) as api, pytest.raises(ApiError, match="not a JSON array"):
        list(api.pages("patients/Simple"))


def test_a_server_that_ignores_offset_is_stopped(scripted: Any, engine: Engine) -> None:
    server = scripted(lambda _q: (200, patients(1, 100), False))
    settings = settings_for(server, engine.url.render_as_string(hide_password=False))
    with pytest.raises(ApiError, match="seems to ignore Offset"):
        run_sync(settings, client=client(server))
    # The third page trips the guard; the fetch thread may have fetched ahead by then.
    assert 3 <= len(server.queries) <= 3 + DEFAULT_DEPTH + 1
    assert sorted(mirror(engine)) == list(range(1, 101))


def test_rows_without_server_time_keep_the_cursor(scripted: Any, engine: Engine) -> None:
    def script(query: dict[str, str]) -> Reply:
        return 200, ([] if "PatStatus" in query else patients(1, 10, server_time=None)), False

    server = scripted(script)
    settings = settings_for(server, engine.url.render_as_string(hide_password=False))
    result = run_sync(settings, client=client(server))[0]
    assert result.stats.inserted == 10
    assert "no serverDateTime" in result.summary()
    assert state.get_cursor(engine, "patients") is None


def test_rejected_and_duplicate_rows_in_one_page(scripted: Any, engine: Engine) -> None:
    page = [*patients(1, 3), {"LName": "NoKey"}, 42, {**patients(2, 1)[0], "LName": "Twice"}]

    def script(query: dict[str, str]) -> Reply:
        return 200, ([] if "PatStatus" in query else page), False

    server = scripted(script)
    settings = settings_for(server, engine.url.render_as_string(hide_password=False))
    result = run_sync(settings, client=client(server))[0]
    assert (result.stats.fetched, result.stats.unique, result.stats.rejected) == (6, 3, 2)
    assert sorted(mirror(engine)) == [1, 2, 3]
    assert state.latest_runs(engine)[0].rows_rejected == 2


# --- faults injected into the simulator --------------------------------------------------------

FAULT_KINDS = ("500", "429", "504", "drop", "slow", "timeout")


def inject_faults(sim: Any, rate: float, seed: int) -> Counter[str]:
    """After a served request, with probability `rate`, make the next one fail somehow.

    Which requests are followed by a fault is drawn up front by request index, so a request
    answered late (after a stall) does not change the schedule; the kinds come in turn.
    """
    rng, injected, lock = random.Random(seed), Counter[str](), threading.Lock()
    schedule = [rng.random() < rate for _ in range(10_000)]

    def hook(index: int, _log: Any) -> None:
        if not schedule[index]:
            return
        with lock:
            kind = FAULT_KINDS[sum(injected.values()) % len(FAULT_KINDS)]
            injected[kind] += 1
        if kind in ("500", "504"):
            sim.fail_next(int(kind), "Internal error" if kind == "500" else "Gateway Timeout")
        elif kind == "429":
            sim.fail_next(429, "Too many requests.", {"Retry-After": "1"})
        elif kind == "drop":
            sim.drop_next()
        else:
            sim.stall_next(0.2 if kind == "slow" else 1.5)

    sim.on_request(hook)
    return injected


def test_one_sync_completes_through_random_faults(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(1200, clock=office_clock())
    injected = inject_faults(sim, rate=0.2, seed=5)
    result = sync(sim, engine, page_size=40, timeout=1.0, max_retries=4)
    assert_mirror_matches(engine, sim)
    # The last fault may still wait for a request that never came.
    faults = sum(injected.values())
    assert (faults - 1) / len(sim.requests) >= 0.1
    assert faults / len(sim.requests) <= 0.25
    assert set(injected) == set(FAULT_KINDS)
    statuses = sum(r.status in (429, 500, 504) for r in sim.requests)
    assert statuses >= injected["500"] + injected["429"] + injected["504"] - 1
    assert result.stats.inserted == len(sim.store)


BASE_UTC = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.timezone.utc)


def test_the_office_offline_for_hours_fails_fast_then_recovers(
    engine: Engine, make_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_sim(300, clock=office_clock())
    settings = settings_for(sim, engine.url.render_as_string(hide_password=False))
    start = sim.clock.now()
    # The job's clock follows the office's, so the hours offline pass without waiting.
    job = SyncJob(settings, clock=lambda: sim.clock.now() - start + BASE_UTC)
    assert job()
    cursor = state.get_cursor(engine, "patients")
    sim.office_online = False
    for _ in range(3):
        sim.clock.advance(3 * 3600)
        sim.store.update(7, LName="Changedwhileoffline")
        before = len(sim.requests)
        with caplog.at_level(logging.ERROR):
            assert job() is False
        # No retries, fail fast: one list request (and, before it, the run's SQL probe of the
        # patients' status passes, which the office down also refuses, at most once).
        made = [r.path.rsplit("/", 1)[-1] for r in sim.requests[before:]]
        assert made in (["Simple"], ["ShortQuery", "Simple"])
        assert state.get_cursor(engine, "patients") == cursor
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    expected = (
        "the office is unreachable (400): its server, network or eConnector is "
        f"down; try again when it is back: {OFFICE_DOWN}"
    )
    assert [
        e.startswith(f"sync failed ({n} in a row): {expected}") for n, e in enumerate(errors, 1)
    ] == [True] * 3
    sim.clock.advance(3 * 3600)
    sim.office_online = True
    assert job()
    assert_mirror_matches(engine, sim)
    assert state.get_cursor(engine, "patients") == sim.clock.now()


def test_more_than_two_pages_of_archived_patients_changed(engine: Engine, make_sim: Any) -> None:
    # The Archived pass sends rows the first pass already brought: that is not a server that
    # ignores Offset.
    sim = make_sim(300, clock=office_clock())
    for patnum in range(1, 151):
        sim.store.update(patnum, PatStatus="Archived")
    result = sync(sim, engine, page_size=40)
    assert result.stats.unique == 300
    assert_mirror_matches(engine, sim)
