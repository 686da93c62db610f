"""The client and a whole sync replayed from vcrpy cassettes: no server, no network.

The cassettes were recorded from the simulator (`pytest tests/test_cassettes.py
--record-mode=rewrite` records them again); one holds the vendor's documented example patient.
Their Authorization header is dropped and their host rewritten to a neutral name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import Engine

from etl import state
from etl.client import ApiClient
from etl.errors import AuthError, OfficeUnreachableError
from etl.simulator import OfficeClock, Simulator, vendor_example_patient
from etl.sync import run_sync
from tests.conftest import settings_for
from tests.test_sync import mirror
from tests.test_transform import VENDOR_ROW

CASSETTES = Path(__file__).parent / "cassettes"
NEUTRAL = "office-server.invalid:30223"
RECORDED_AT = dt.datetime(2025, 6, 2, 9, 0, 0)


def _neutral_host(request: Any) -> Any:
    parts = urlsplit(request.uri)
    request.uri = urlunsplit(parts._replace(scheme="http", netloc=NEUTRAL))
    return request


def _without_date(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"].pop("Date", None)  # so that recording again changes nothing
    return response


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": ["authorization"],  # dropped from the cassette altogether
        "match_on": ["method", "path", "query"],
        "before_record_request": _neutral_host,
        "before_record_response": _without_date,
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


class Source:
    """Where requests go: the simulator while recording, a host that does not exist on replay."""

    def __init__(self, record_mode: str, patients: Any) -> None:
        self.sim: Simulator | None = None
        if record_mode != "none":
            clock = OfficeClock("America/New_York", start=RECORDED_AT)
            self.sim = Simulator(patients, clock=clock, seed=7).start()
        self.base_url = self.sim.base_url if self.sim else f"http://{NEUTRAL}/api/v1"
        self.config = self.sim.config if self.sim else Simulator(0).config
        self.office_online = True

    def stop(self) -> None:
        if self.sim:
            self.sim.stop()


@pytest.fixture
def source(record_mode: str, request: pytest.FixtureRequest) -> Iterator[Source]:
    marker = request.node.get_closest_marker("patients")
    src = Source(record_mode, marker.args[0] if marker else 0)
    yield src
    src.stop()


def synced(source: Source, engine: Engine) -> Any:
    settings = settings_for(source, engine.url.render_as_string(hide_password=False))
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        return run_sync(settings, client=client)[0]


@pytest.mark.vcr
@pytest.mark.default_cassette("vendor_example_patient.yaml")
@pytest.mark.patients([vendor_example_patient()])
def test_vendor_example_patient_replayed_into_the_mirror(engine: Engine, source: Source) -> None:
    result = synced(source, engine)
    assert result.stats.inserted == 1
    assert mirror(engine) == {48: VENDOR_ROW}
    assert state.get_cursor(engine, "patients") == RECORDED_AT


@pytest.mark.vcr
@pytest.mark.default_cassette("full_sync_250.yaml")
@pytest.mark.patients(250)
def test_a_recorded_full_sync_replays_exactly(engine: Engine, source: Source) -> None:
    result = synced(source, engine)
    assert result.stats.unique == 250
    assert len(mirror(engine)) == 250
    # 3 pages, the Deleted pass, a change check for each; the list showed Archived patients,
    # so it hides none: no Archived pass.
    assert result.stats.requests == 6


@pytest.mark.vcr
@pytest.mark.default_cassette("wrong_keys_401.yaml")
def test_a_recorded_401(source: Source) -> None:
    settings = settings_for(source, "sqlite://", customer_key="NotAValidKey0000")
    with ApiClient(settings.api) as client, pytest.raises(AuthError, match="refused the keys"):
        client.get("patients/Simple", {"Limit": 100, "Offset": 0})


@pytest.mark.vcr
@pytest.mark.default_cassette("office_offline_400.yaml")
def test_a_recorded_office_offline(source: Source) -> None:
    if source.sim:
        source.sim.office_online = False
    settings = settings_for(source, "sqlite://")
    with ApiClient(settings.api) as client, pytest.raises(OfficeUnreachableError):
        client.get("patients/Simple", {"Limit": 100, "Offset": 0})


def test_no_cassette_carries_credentials() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert len(files) == 4
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "ODFHIR" not in text and "authorization" not in text.lower(), path.name
        assert "127.0.0.1" not in text, path.name
