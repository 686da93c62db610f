"""A hostile Open Dental look-alike for tests: stdlib http.server, every list from a dict.

Each endpoint's list is set by the test (`api.lists["patients"] = [...]`) and may change
between runs. Every filtered pass (PatStatus=Deleted, ...) and every page after the first is
empty, and the change check a run makes after several pages sees nothing: one page is a list.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from etl.config.settings import ApiSettings

PREFIX = "/api/v1/"


class HostileApi:
    """A loopback API whose lists the test writes; `requests` holds every (path, query) asked."""

    def __init__(self) -> None:
        self.lists: dict[str, list[Any]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                path, query = parts.path.removeprefix(PREFIX), dict(parse_qsl(parts.query))
                outer.requests.append((path, query))
                data = json.dumps(outer.answer(path, query)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/api/v1"
        self.config = ApiSettings(self.base_url, "NFF6i0KrXrxDkZHt", "VzkmZEaUWOjnQX2z")

    def answer(self, path: str, query: dict[str, str]) -> list[Any]:
        """The plain list's first page; nothing for a filtered pass or a later page."""
        paging = {"Limit", "Offset"}
        filtered = set(query) - paging - {"DateTStamp", "SecDateTEdit", "DateTimeDeceased"}
        if filtered or query.get("Offset", "0") != "0":
            return []
        return list(self.lists.get(path, []))

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()


def write_config(directory: Path, api: HostileApi, url: str) -> str:
    """A config file for the CLI: this API (no pacing, no retries) and this mirror."""
    config = {
        "api": {
            "base_url": api.base_url,
            "developer_key": api.config.developer_key,
            "customer_key": api.config.customer_key,
            "min_request_interval": 0,
            "max_retries": 0,
        },
        "database": {"url": url},
    }
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)
