"""Servers that follow the same documentation but answer unhelpfully: a scripted HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import Engine

from etl import state
from etl.client import ApiClient
from etl.config import ApiSettings
from etl.errors import ApiError
from etl.pipeline import DEFAULT_DEPTH
from etl.sync import run_sync
from tests.conftest import settings_for
from tests.test_sync import mirror

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


@pytest.fixture
def scripted() -> Iterator[Callable[[Script], Scripted]]:
    servers: list[Scripted] = []

    def start(script: Script) -> Scripted:
        servers.append(Scripted(script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def patients(first: int, count: int, server_time: str | None = "2030-05-05 10:00:00") -> list[Any]:
    rows = [
        {"PatNum": n, "LName": f"P{n}", "DateTStamp": "2030-05-01 08:00:00"}
        for n in range(first, first + count)
    ]
    if server_time:
        for row in rows:
            row["serverDateTime"] = server_time
    return rows


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
