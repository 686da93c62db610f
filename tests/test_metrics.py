"""Metrics and health: the real HTTP endpoint scraped after a real sync against the simulator,
the textfile and the Pushgateway push after `odmirror sync`, /healthz failing when stale."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from etl.cli import main
from etl.config.load import load_settings
from etl.health import serving
from etl.mirror.engine import make_engine
from etl.simulator import Simulator, SimulatorConfig
from tests import test_practices as practices
from tests.test_cli import _keys, write_config  # noqa: F401 - _keys: autouse
from tests.test_practices import SIZES, Group, Offices, three

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(exposition: str) -> Samples:
    """Every sample of a Prometheus text exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def get(url: str) -> tuple[int, str]:
    """GET a URL of the metrics server: its status and its text."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def office(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A simulated office with 30 patients and a customer key of this test's own (the API
    counts of the process are kept by key)."""
    key = f"Key{uuid.uuid4().hex[:13]}"
    monkeypatch.setenv("OD_CUSTOMER_KEY", key)
    sim = Simulator(30, SimulatorConfig(customer_key=key), seed=4).start()
    yield sim
    sim.stop()


def configured(tmp_path: Path, sim: Simulator, db_url: str, **metrics: Any) -> str:
    """A config for the simulator and database with this metrics section, initialised."""
    path = write_config(tmp_path, sim, db_url, max_retries=1)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["metrics"] = metrics
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["init", "--config", str(path)]) == 0
    return str(path)


def mine(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted({"office": "default", **labels}.items()))))


def test_metrics_and_health_scraped_after_a_real_sync(
    tmp_path: Path, db_url: str, office: Simulator
) -> None:
    config = configured(tmp_path, office, db_url, port=free_port(), max_age="1h")
    office.fail_next(503)  # one retry, counted by its status
    before = dt.datetime.now(dt.timezone.utc).timestamp()
    assert main(["sync", "--config", config]) == 0
    after = dt.datetime.now(dt.timezone.utc).timestamp()
    settings = load_settings(config)
    with serving(settings) as server:
        assert server is not None
        status, exposition = get(f"http://127.0.0.1:{server.port}/metrics")
        assert status == 200
        found = samples(exposition)
        patients = {"resource": "patients"}
        assert mine(found, "odmirror_mirror_up") == 1
        for outcome, value in (("inserted", 30), ("updated", 0), ("rejected", 0), ("removed", 0)):
            assert mine(found, "odmirror_rows_total", **patients, outcome=outcome) == value
        assert mine(found, "odmirror_last_run_success", **patients) == 1
        success = mine(found, "odmirror_last_success_timestamp_seconds", **patients)
        assert success is not None and int(before) - 1 <= success <= after + 1
        lag = mine(found, "odmirror_cursor_lag_seconds", **patients)
        assert lag is not None and 0 <= lag <= after - before + 2
        assert mine(found, "odmirror_last_run_duration_seconds", **patients) is not None
        assert mine(found, "odmirror_rejected_on_record", **patients) == 0
        assert mine(found, "odmirror_api_retries_total", status="503") == 1
        engine = make_engine(settings.database.url)
        with engine.connect() as conn:
            requests = conn.execute(text("SELECT requests FROM odmirror_sync_run")).scalar_one()
        engine.dispose()
        # Each request's end once: the retried try is a retry, not a request.
        assert mine(found, "odmirror_api_requests_total", status="200") == requests - 1
        status, line = get(f"http://127.0.0.1:{server.port}/healthz")
        assert (status, line) == (200, "ok: every resource synced within 3600 seconds\n")


def test_healthz_fails_when_the_mirror_is_older_than_max_age(
    tmp_path: Path, db_url: str, office: Simulator
) -> None:
    config = configured(tmp_path, office, db_url, port=free_port(), max_age="30m")
    settings = load_settings(config)
    with serving(settings) as server:
        assert server is not None
        health = f"http://127.0.0.1:{server.port}/healthz"
        assert get(health) == (503, "stale (limit 1800 seconds): patients never synced\n")
        assert main(["sync", "--config", config]) == 0
        assert get(health)[0] == 200
        engine = make_engine(settings.database.url)
        with engine.begin() as conn:
            two_hours = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
            conn.execute(
                text("UPDATE odmirror_sync_state SET last_success_at = :t"),
                {"t": two_hours - dt.timedelta(hours=2)},
            )
        engine.dispose()
        assert get(health) == (
            503,
            "stale (limit 1800 seconds): patients last synced 7200 seconds ago\n",
        )


class _Gateway(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.command, self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_sync_writes_the_textfile_and_pushes_to_the_gateway(
    tmp_path: Path, office: Simulator
) -> None:
    gateway = HTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    textfile = tmp_path / "odmirror.prom"
    try:
        config = configured(
            tmp_path,
            office,
            f"sqlite:///{tmp_path / 'mirror.db'}",
            textfile=str(textfile),
            pushgateway=f"http://127.0.0.1:{gateway.server_port}",
        )
        assert main(["sync", "--config", config]) == 0
    finally:
        gateway.shutdown()
        gateway.server_close()
    written = samples(textfile.read_text(encoding="utf-8"))
    assert mine(written, "odmirror_rows_total", resource="patients", outcome="inserted") == 30
    assert mine(written, "odmirror_last_run_success", resource="patients") == 1
    ((method, path, body),) = _Gateway.received
    assert (method, path) == ("PUT", "/metrics/job/odmirror")
    assert samples(body.decode()) == written


def test_a_failed_sync_still_writes_the_textfile(tmp_path: Path, office: Simulator) -> None:
    textfile = tmp_path / "odmirror.prom"
    config = configured(
        tmp_path, office, f"sqlite:///{tmp_path / 'mirror.db'}", textfile=str(textfile)
    )
    office.office_online = False
    assert main(["sync", "--config", config]) == 1
    written = samples(textfile.read_text(encoding="utf-8"))
    assert mine(written, "odmirror_last_run_success", resource="patients") == 0
    assert mine(written, "odmirror_last_success_timestamp_seconds", resource="patients") is None


def test_metrics_port_taken_is_one_line(
    tmp_path: Path, office: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = configured(tmp_path, office, f"sqlite:///{tmp_path / 'm.db'}", port=port)
        capsys.readouterr()
        assert main(["run", "--config", config]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"odmirror: error: metrics.port: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


@pytest.fixture
def offices() -> Iterator[Offices]:
    """tests/test_practices.py's: three offices behind one API address."""
    yield from practices.offices.__wrapped__()  # type: ignore[attr-defined]


def test_a_groups_metrics_name_each_practice(tmp_path: Path, offices: Offices) -> None:
    group = Group(f"sqlite:///{tmp_path / 'mirror_{practice}.db'}", "", "everyone")
    path = Path(three(tmp_path, group, offices))
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    loaded["metrics"] = {"textfile": str(tmp_path / "group.prom")}
    path.write_text(yaml.safe_dump(loaded), encoding="utf-8")
    assert main(["init", "--config", str(path)]) == 0
    assert main(["sync", "--config", str(path)]) == 0
    written = samples((tmp_path / "group.prom").read_text(encoding="utf-8"))
    for short, size in SIZES.items():
        labels = {"office": short, "resource": "patients", "outcome": "inserted"}
        assert written[("odmirror_rows_total", tuple(sorted(labels.items())))] == size
        up = ("odmirror_mirror_up", (("office", short),))
        assert written[up] == 1
