"""Hostile servers (issue 19): trickled and silent answers, stops during waits, gzip bombs and huge
pages, JSON nested thousands deep, endless full pages, answers that are not JSON, and plain http
to Open Dental. Real servers on loopback (tests/hostile_server.py, tests/test_faults.py), the real
`odmirror sync` in a child process where a signal or the process's memory is what is tested."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine

from etl.api.client import ApiClient
from etl.cli import main
from etl.config.load import settings_from_dict
from etl.config.settings import ApiSettings
from etl.control import RunControl, StopRequested
from etl.errors import ApiError, ConfigError
from etl.mirror.engine import make_engine
from etl.sync import fast_prefetch, state
from etl.sync.run import run_sync
from tests import hostile_server as hs
from tests.conftest import settings_for
from tests.test_faults import Reply, client, patients
from tests.test_sync import mirror

pytestmark = pytest.mark.reliability

DEV, CUST = "NFF6i0KrXrxDkZHt", "VzkmZEaUWOjnQX2z"  # Open Dental's published test keys
KEYS = {"developer_key": DEV, "customer_key": CUST}
STOPPED = "odmirror: sync stopped on request; the pages read so far are saved"


@pytest.fixture
def hostile() -> Iterator[Any]:
    """Start hostile servers; all are stopped after the test."""
    servers: list[hs.Hostile] = []

    def start(behave: hs.Behaviour) -> hs.Hostile:
        servers.append(hs.Hostile(behave))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def write_config(tmp_path: Path, base_url: str, db_url: str, **api: Any) -> str:
    """A config for this server and database, with the schema created; returns its path."""
    values = {"base_url": base_url, **KEYS, "min_request_interval": 0, "max_retries": 2, **api}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"api": values, "database": {"url": db_url}}), "utf-8")
    assert main(["init", "--config", str(path)]) == 0
    return str(path)


def sync_process(config: str, cwd: Path) -> subprocess.Popen[str]:
    """`python -m etl sync` in the background, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "etl", "sync", "--config", config],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], within: float) -> tuple[int, str]:
    """The process's exit code and stderr; it must end within `within` seconds."""
    try:
        _out, err = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the sync did not end within {within} s of the signal")
    return proc.returncode, err


# --- Time: a deadline for a whole answer ------------------------------------------------------


@pytest.mark.plain_irrelevant
@pytest.mark.parametrize(
    "behave",
    [hs.silent, hs.trickle_headers, hs.trickle_body, hs.silent_then_trickle_headers],
    ids=lambda b: b.__name__,
)
def test_an_answer_that_never_finishes_ends_at_the_deadline(hostile: Any, behave: Any) -> None:
    """Without the deadline the silent server holds each try for the 30 s read timeout, and the
    trickles (a byte every 0.2 s) hold it for ever: no single read waits long enough to fail."""
    server = hostile(behave)
    timeouts = {"timeout": 30, "response_deadline": 1, "min_request_interval": 0}
    settings = ApiSettings(server.base_url, DEV, CUST, max_retries=1, **timeouts)
    with ApiClient(settings, backoff_factor=0.01) as api, pytest.raises(ApiError) as info:
        api.get("patients/Simple")
    port = server.base_url.split(":")[2].split("/")[0]
    assert str(info.value) == (
        f"the API at 127.0.0.1:{port} did not finish an answer within 1 s "
        "(api.response_deadline; 2 tries)"
    )
    assert server.requests == 2


@pytest.mark.plain_irrelevant
def test_the_deadline_ends_a_trickle_over_tls(
    hostile: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watchdog shuts the socket under an SSL socket too (a self-signed certificate)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    server = hs.Hostile(hs.trickle_body, tls)
    try:
        settings = ApiSettings(server.base_url, DEV, CUST, max_retries=0, response_deadline=1)
        with ApiClient(settings) as api, pytest.raises(ApiError, match="within 1 s"):
            api.get("patients/Simple")
        assert server.requests == 1
    finally:
        server.stop()


# --- Time: a stop ends the run within seconds, whatever the network does ------------------------


STUCK = {
    "silent": (hs.silent, signal.SIGTERM),
    "silent-ctrl-c": (hs.silent, signal.SIGINT),
    "trickled-headers": (hs.trickle_headers, signal.SIGTERM),
    "trickled-body": (hs.trickle_body, signal.SIGTERM),
    "503-retry-after-100": (hs.unavailable, signal.SIGTERM),
}


@pytest.mark.parametrize(("behave", "signum"), STUCK.values(), ids=STUCK.keys())
def test_a_stop_ends_a_sync_stuck_on_the_network_at_once(
    tmp_path: Path, db_url: str, hostile: Any, behave: Any, signum: int
) -> None:
    """SIGTERM while the answer is awaited (or, for the 503, while its Retry-After of 100 s is
    waited out): the process exits 0 within seconds, and the run is recorded as interrupted.
    Before, it waited for the answer (the 60 s timeout, or for ever) and for every retry."""
    server = hostile(behave)
    config = write_config(tmp_path, server.base_url, db_url, timeout=60, max_retries=5)
    proc = sync_process(config, tmp_path)
    stop = lambda _n: os.kill(proc.pid, signum)  # noqa: E731
    if behave is hs.unavailable:
        server.on_answered = stop  # the 503 sent: while its Retry-After is waited out
    else:
        server.on_request = stop
    code, err = finish(proc, within=15)
    assert code == 0, err
    assert err.splitlines()[-1] == STOPPED and "Traceback" not in err
    assert server.requests == 1, "no request after the stop"
    engine = make_engine(db_url)
    try:
        (run,) = state.latest_runs(engine)
        assert (run.status, run.note, run.rows_fetched) == (
            "interrupted",
            "stopped on request (signal)",
            0,
        )
        assert run.finished_at is not None and state.get_cursor(engine, "patients") is None
    finally:
        engine.dispose()


# --- Size: a cap on one answer, checked while it is read ----------------------------------------


def peak_rss_mib(config: str, cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run `python -m etl sync` as the only child of a fresh process; its peak RSS and result."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'etl', 'sync', '--config', sys.argv[1]])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(done.returncode)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, config],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return int(result.stdout.split()[-1]) / 1024, result


TOO_LARGE = (
    "the API sent more than 16 MiB for one page of patients/Simple: lower api.page_size, or "
    "raise api.max_response_mb if its rows are that large"
)
TOO_MANY = "unexpected answer from patients/Simple: more than 2,000,000 values in one page"
HUGE = {
    "gzip-bomb": (hs.gzip_bomb(3072), "a gzip bomb (3 MB inflating to 3 GiB)", TOO_LARGE),
    "200-MiB-page": (hs.endless_page(200), "a 200 MiB page, chunked", TOO_LARGE),
    "15-MiB-of-{}": (hs.tiny_values(15), "15 MiB of {} (400 MB parsed)", TOO_MANY),
}


@pytest.mark.parametrize(("behave", "what", "message"), HUGE.values(), ids=HUGE.keys())
def test_a_huge_answer_ends_the_run_in_one_line_within_300_mib(
    tmp_path: Path, hostile: Any, behave: Any, what: str, message: str
) -> None:
    """Before, the bomb was inflated whole (MemoryError after about 3 GB), the page took 1 GB,
    and the empty objects, under the size cap, 400 MB once parsed."""
    server = hostile(behave)
    config = write_config(tmp_path, server.base_url, f"sqlite:///{tmp_path / 'mirror.db'}")
    rss, result = peak_rss_mib(config, tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [f"odmirror: error: {message}"], what
    assert server.requests == 1, "not retried: the same page would come again"
    assert rss < 300, f"{what}: peak RSS {rss:.0f} MiB"


@pytest.mark.plain_irrelevant
def test_a_declared_length_over_the_cap_is_refused_before_reading(scripted: Any) -> None:
    server = scripted(lambda _q: (200, [{"PatNum": 1, "Note": "x" * 2 * hs.MIB}], False))
    with client(server, max_response_mb=1) as api, pytest.raises(ApiError, match="more than 1 MiB"):
        api.get("patients/Simple")
    assert len(server.queries) == 1


def test_json_nested_thousands_deep_is_a_bad_answer(scripted: Any, engine: Engine) -> None:
    """Before: RecursionError, a traceback."""
    server = scripted(lambda _q: (200, "[" * 100_000 + "]" * 100_000, False))
    settings = settings_for(server, engine.url.render_as_string(hide_password=False))
    with pytest.raises(ApiError) as info:
        run_sync(settings, client=client(server))
    assert str(info.value) == "unexpected answer from patients/Simple: JSON nested too deep"
    assert len(server.queries) == 1
    (run,) = state.latest_runs(engine)
    assert (run.status, run.error) == ("failed", str(info.value))


# --- Endless full pages -------------------------------------------------------------------------


def test_endless_full_pages_stop_at_the_page_ceiling(scripted: Any, engine: Engine) -> None:
    """A server that always sends a full page of new patients: before, the run never ended."""

    def script(query: dict[str, str]) -> Reply:
        return 200, patients(int(query.get("Offset", "0")) + 1, 100), False

    server = scripted(script)
    settings = settings_for(server, engine.url.render_as_string(hide_password=False))
    with pytest.raises(ApiError) as info:
        run_sync(settings, client=client(server, max_pages=5))
    assert str(info.value) == (
        "the API sent 5 full pages of patients and more were due: the ceiling is api.max_pages "
        "(5); stopping"
    )
    assert len(server.queries) == 5
    assert sorted(mirror(engine)) == list(range(1, 501)), "the pages read are kept"
    assert state.get_cursor(engine, "patients") is None


# --- Transport: answers that are not JSON, plain http to the vendor ----------------------------


@pytest.mark.parametrize(
    "bad", ["<html><body>Proxy error</body></html>", ""], ids=["html", "empty"]
)
def test_a_200_that_is_not_json_is_retried(scripted: Any, engine: Engine, bad: str) -> None:
    """README: "an answer that is not JSON, or cut short | retried". Before, the run failed."""
    answers = iter([bad])

    def script(query: dict[str, str]) -> Reply:
        first = "PatStatus" not in query and query.get("Offset", "0") == "0"
        if first:
            return 200, next(answers, patients(1, 30)), False
        return 200, [], False

    server = scripted(script)
    settings = settings_for(server, engine.url.render_as_string(hide_password=False))
    (result,) = run_sync(settings, client=client(server))
    assert result.stats.inserted == 30 and sorted(mirror(engine)) == list(range(1, 31))
    assert [r.status for r in state.latest_runs(engine)] == ["success"]


VENDOR_IN_CLEAR = [
    "http://api.opendental.com/api/v1",
    "http://API.OpenDental.com./api/v1",
    "http://api.opendental.com:80/api/v1",
]


@pytest.mark.plain_irrelevant
@pytest.mark.parametrize("url", VENDOR_IN_CLEAR)
def test_plain_http_to_open_dental_is_refused_before_any_request(tmp_path: Path, url: str) -> None:
    db = tmp_path / "mirror.db"
    path = tmp_path / "config.yaml"
    config = {"api": {"base_url": url, **KEYS}, "database": {"url": f"sqlite:///{db}"}}
    path.write_text(yaml.safe_dump(config), "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "etl", "sync", "--config", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"odmirror: error: {path}: 'api.base_url' is plain http to Open Dental's servers, which "
        "would send the keys in clear: use https://api.opendental.com/api/v1"
    ]
    assert not db.exists(), "nothing was done"
    with pytest.raises(ApiError, match="plain http to Open Dental's servers"):
        ApiClient(ApiSettings(url, DEV, CUST))  # settings made in code are refused too


@pytest.mark.plain_irrelevant
def test_plain_http_stays_allowed_for_an_office_api_service() -> None:
    for url in ("http://10.0.2.5:30223/api/v1", "http://odserver:30222/api/v1"):
        raw = {"api": {"base_url": url, **KEYS}, "database": {"url": "sqlite://"}}
        assert settings_from_dict(raw).api.base_url == url
    practice = {"name": "north", "customer_key": CUST, "base_url": "http://www.opendental.com/"}
    group = {
        "api": {"base_url": "https://api.opendental.com/api/v1", "developer_key": DEV},
        "database": {"url": "sqlite:///m_{practice}.db"},
        "practices": [practice],
    }
    with pytest.raises(ConfigError, match=r"'practices\[1\].base_url' is plain http"):
        settings_from_dict(group)


# --- Stops: a second Ctrl-C, `odmirror run`, a fetch thread that does not end --------------------


def test_a_second_ctrl_c_records_the_run_as_interrupted(engine: Engine, make_sim: Any) -> None:
    """KeyboardInterrupt (the second Ctrl-C) mid-run: before, the run row said failed."""
    sim = make_sim(300)

    def second_ctrl_c(_resource: str, fetched: int, _requests: int) -> None:
        if fetched >= 100:
            raise KeyboardInterrupt

    settings = settings_for(sim, engine.url.render_as_string(hide_password=False))
    with pytest.raises(KeyboardInterrupt):
        run_sync(settings, control=RunControl(progress=second_ctrl_c))
    (run,) = state.latest_runs(engine)
    assert (run.status, run.note, run.error) == (
        "interrupted",
        "stopped on request (Ctrl-C, at once)",
        None,
    )
    assert run.rows_fetched >= 100 and state.get_cursor(engine, "patients") is None


def test_sigterm_ends_odmirror_run_stuck_on_a_silent_server(tmp_path: Path, hostile: Any) -> None:
    server = hostile(hs.silent)
    config = write_config(tmp_path, server.base_url, f"sqlite:///{tmp_path / 'mirror.db'}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "etl", "run", "--config", config],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server.on_request = lambda _n: os.kill(proc.pid, signal.SIGTERM)
    code, err = finish(proc, within=15)
    assert code == 0, err
    assert "run stopped on request; the pages saved so far are kept" in err
    assert err.splitlines()[-1].endswith("INFO stopped") and "Traceback" not in err
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.db'}")
    try:
        assert [r.status for r in state.latest_runs(engine)] == ["interrupted"]
    finally:
        engine.dispose()


def test_leaving_prefetch_on_an_error_does_not_wait_for_a_stuck_fetch(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A fetch thread stuck where nothing can end it (a connection still being made): the reader
    leaving on a stop waits ABANDON_AFTER, not for the network."""
    monkeypatch.setattr(fast_prefetch, "ABANDON_AFTER", 0.2)
    release = threading.Event()

    def stuck() -> Iterator[int]:
        yield 1
        release.wait(60)  # the network, holding the fetch thread
        yield 2

    prefetch = fast_prefetch.Prefetch(stuck())
    try:
        with pytest.raises(StopRequested), prefetch as pages:
            for _page in pages:
                raise StopRequested("stopped on request")
        assert prefetch._thread.is_alive(), "left behind, a daemon"
        assert "the fetch thread did not end in 0.2 s; not waiting for it" in caplog.text
    finally:
        release.set()
