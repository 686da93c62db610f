"""The client and a whole sync replayed from vcrpy cassettes: no server, no network.

The cassettes were recorded from the simulator (`pytest tests/test_cassettes.py
--record-mode=rewrite` records them all again, the practice ones from a simulator run with its
practice filled, as `--practice` does); one holds the vendor's documented example patient.
Their Authorization header is dropped and their host rewritten to a neutral name.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest
import vcr
import yaml
from sqlalchemy import Engine

from etl.api import stamping
from etl.api.client import ApiClient
from etl.catalog.resources import MONEY, RESOURCES, Resource
from etl.errors import AuthError, OfficeUnreachableError
from etl.simulator import OfficeClock, Simulator, vendor_example_patient
from etl.sync import state
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.practice import expected, sync
from tests.practice import mirror as mirror_of
from tests.test_sync import mirror
from tests.test_transform import VENDOR_ROW

CASSETTES = Path(__file__).parent / "cassettes"
NEUTRAL = "office-server.invalid:30223"
RECORDED_AT = dt.datetime(2025, 6, 2, 9, 0, 0)
# The fewest patients (and a seed) whose practice has rows in every table: 3 appointments.
PRACTICE_PATIENTS, PRACTICE_SEED = 3, 139


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

    def __init__(
        self, record_mode: str, patients: Any, seed: int = 7, practice: bool = False
    ) -> None:
        self.sim: Simulator | None = None
        if record_mode != "none":
            clock = OfficeClock("America/New_York", start=RECORDED_AT)
            self.sim = Simulator(patients, clock=clock, seed=seed)
            if practice:  # appointments, claims, ... as `python -m etl.simulator --practice`
                self.sim.fill_practice()
            self.sim.start()
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


@pytest.fixture
def practice(record_mode: str) -> Iterator[Source]:
    """A small practice: every resource odmirror mirrors, a few rows each."""
    src = Source(record_mode, PRACTICE_PATIENTS, seed=PRACTICE_SEED, practice=True)
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
    assert mirror(engine) == {48: whole(RESOURCES["patients"], VENDOR_ROW)}
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


def recorded(cassette: Any) -> list[tuple[str, dict[str, str], Any]]:
    """The cassette's requests in order (while recording: so far), each as the path under
    /api/v1, the query and the JSON answered."""
    calls = []
    for request, response in cassette.data:
        url = urlsplit(request.uri)
        body = json.loads(response["body"]["string"])
        calls.append((url.path.removeprefix("/api/v1/"), dict(parse_qsl(url.query)), body))
    return calls


def recorded_rows(calls: list[tuple[str, dict[str, str], Any]], path: str) -> list[Any]:
    """Every record the cassette's answers from one endpoint hold, in order."""
    return [row for called, _, rows in calls if called == path for row in rows]


# A few of the recorded records as the mirror must hold them, written out by hand: codes for the
# enum names (README), 0/1 flags, exact amounts, dates, "0001-01-01 00:00:00" kept as Open Dental
# keeps it, a colour as its ARGB integer, unknown keys aside. The table's columns that are not
# written out are NULL: the endpoint does not send them.
APPOINTMENT_1 = {
    "aptnum": 1, "patnum": 1, "aptstatus": 2, "pattern": "//XXXX//", "confirmed": 21,
    "confirmed_name": "Appointment Confirmed", "timelocked": False, "op": 2, "note": "",
    "provnum": 1, "prov_abbr": "DOC1", "provhyg": 0,
    "aptdatetime": dt.datetime(2024, 6, 14, 14, 20), "nextaptnum": 0, "unschedstatus": 0,
    "unschedstatus_name": "", "isnewpatient": False, "procdescript": "", "assistant": 0,
    "clinicnum": 0, "ishygiene": False, "datetstamp": dt.datetime(2025, 5, 15, 22, 8, 34),
    "datetimearrived": dt.datetime(1, 1, 1), "datetimeseated": dt.datetime(1, 1, 1),
    "datetimedismissed": dt.datetime(1, 1, 1), "coloroverride": 0,
    "insplan1": 0, "insplan2": 0, "datetimeaskedtoarrive": dt.datetime(1, 1, 1),
    "appointmenttypenum": 0,
    "secusernumentry": None, "secdatetentry": dt.datetime(2024, 12, 27, 0, 39, 47),
    "priority": 0, "patternsecondary": "", "itemorderplanned": None, "ismirrored": None,
    "odmirror_extra": None,
}  # fmt: skip
PROCEDURELOG_1 = {
    "procnum": 1, "patnum": 1, "aptnum": 1, "procdate": dt.date(2024, 6, 14),
    "procfee": Decimal("980.00"), "surf": "", "toothnum": "", "toothrange": "", "priority": 0,
    "priority_name": "", "procstatus": 2, "provnum": 1, "prov_abbr": "DOC1", "dx": 0,
    "dx_name": "", "plannedaptnum": 0, "prosthesis": None, "dateoriginalprosth": None,
    "claimnote": None, "dateentryc": None, "clinicnum": 0, "codenum": 6,
    "code_proccode": "D3330", "code_descript": "endodontic therapy, molar tooth", "unitqty": 1,
    "baseunits": 0, "datetp": None, "sitenum": None, "hidegraphics": None,
    "canadiantypecodes": None, "datetstamp": dt.datetime(2025, 5, 17, 21, 32, 56),
    "prognosis": None, "islocked": None, "billingnote": None, "discount": None,
    "isdateprosthest": False, "secdateentry": None, "odmirror_extra": None,
}  # fmt: skip
CLAIM_1 = {
    "claimnum": 1, "patnum": 1, "dateservice": dt.date(2024, 6, 14),
    "datesent": dt.date(2024, 6, 14), "claimstatus": "R", "datereceived": dt.date(1, 1, 1),
    "plannum": 1,
    "provtreat": 1, "claimfee": Decimal("70.00"), "inspayest": Decimal("56.00"),
    "inspayamt": Decimal("0"), "dedapplied": Decimal("0"), "isprosthesis": "N",
    "priordate": None, "reasonunderpaid": None, "claimnote": None, "claimtype": "P",
    "provbill": None, "accidentrelated": None, "accidentdate": None, "accidentst": None,
    "isortho": None, "orthoremainm": None, "orthodate": None, "patrelat": 0, "plannum2": None,
    "patrelat2": 0, "writeoff": None, "claimform": 4, "inssubnum": 1, "inssubnum2": None,
    "priorauthorizationnumber": None, "orthototalm": None, "clinicnum": None,
    "secdatetedit": dt.datetime(2025, 5, 1, 12, 31, 44), "odmirror_extra": None,
}  # fmt: skip
TREATPLAN_1 = {
    "treatplannum": 1, "patnum": 2, "datetp": dt.date(2025, 6, 2),
    "heading": "Active Treatment Plan", "note": "", "sigistopaz": None, "responsparty": 0,
    "docnum": 0, "tpstatus": 0, "secusernumentry": 1, "secdateentry": dt.date(2025, 6, 2),
    "secdatetedit": dt.datetime(2024, 5, 19, 23, 7, 13), "usernumpresenter": 0, "tptype": 0,
    "datetsigned": dt.datetime(1, 1, 1), "datetpracticesigned": dt.datetime(1, 1, 1),
    "signaturetext": "",
    "signaturepracticetext": "", "odmirror_extra": None,
}  # fmt: skip


def whole(resource: Resource, written: dict[str, Any]) -> dict[str, Any]:
    """A row as the mirror holds it: the columns written out, every other one NULL."""
    unknown = {c.name: None for c in resource.table.columns if c.name != "odmirror_synced_at"}
    assert set(written) <= set(unknown), set(written) - set(unknown)
    return {**unknown, **written}


PRACTICE_ROWS = {
    "patients": 3, "appointments": 3, "procedurelogs": 6, "providers": 5, "procedurecodes": 7,
    "claims": 1, "claimpayments": 1, "inssubs": 1, "treatplans": 1, "clinics": 3,
    "definitions": 4, "operatories": 6,
}  # fmt: skip


# The resources the cassette was recorded with (the money resources came after it).
RECORDED = {name: r for name, r in RESOURCES.items() if r not in MONEY}


@pytest.mark.vcr
@pytest.mark.default_cassette("practice_full_sync.yaml")
def test_a_recorded_practice_full_sync_mirrors_every_resource(
    engine: Engine, practice: Source, vcr: Any
) -> None:
    # Recorded before whole pulls were probed by SQL (etl.sync.whole_probe): no SQL here.
    results = sync(practice, engine, tuple(RECORDED), queries="off")
    calls = recorded(vcr)
    assert [r.resource for r in results] == list(RECORDED)
    for result in results:
        resource = RESOURCES[result.resource]
        feed = resource.deletions.path if resource.deletions else None
        # Every recorded request was replayed (vcrpy refuses any other).
        assert result.stats.requests == sum(p in (resource.path, feed) for p, _, _ in calls)
        # Whole rows: what the project's mapping makes of the recorded records, each once.
        want = expected(resource, recorded_rows(calls, resource.path))
        assert (result.mode, result.stats.inserted) == ("full", len(want)), resource.name
        assert mirror_of(engine, resource) == want, resource.name
    assert {name: len(mirror_of(engine, r)) for name, r in RECORDED.items()} == PRACTICE_ROWS
    requests = {r.resource: r.stats.requests for r in results}
    # patients: the list, then the Deleted and Archived passes (the list showed neither);
    # appointments: the list and the Deleted history; one page each for the others.
    assert requests == {name: 1 for name in RECORDED} | {"patients": 3, "appointments": 2}
    assert len(calls) == sum(requests.values()) == 15
    for name, row in (("appointments", APPOINTMENT_1), ("procedurelogs", PROCEDURELOG_1),
                      ("claims", CLAIM_1), ("treatplans", TREATPLAN_1)):  # fmt: skip
        assert mirror_of(engine, RESOURCES[name])[1] == whole(RESOURCES[name], row), name
    assert state.get_cursor(engine, "appointments") == RECORDED_AT
    # Claims send no serverDateTime: the newest SecDateTEdit recorded is the cursor.
    assert state.get_cursor(engine, "claims") == CLAIM_1["secdatetedit"]


@pytest.mark.vcr
@pytest.mark.default_cassette("practice_deleted_appointment.yaml")
def test_a_recorded_hard_deletion_leaves_the_mirror(
    engine: Engine, practice: Source, vcr: Any
) -> None:
    appointments = RESOURCES["appointments"]
    # Recorded before the run's SQL probe asked about the deletion feed: no SQL.
    first = sync(practice, engine, ("appointments",), queries="off")[0]
    assert sorted(mirror_of(engine, appointments)) == [1, 2, 3]
    if practice.sim:  # recording: an hour later, appointment 1 is broken and 2 deleted
        assert practice.sim.tables is not None
        practice.sim.clock.advance(3600)
        practice.sim.tables.update("appointments", 1, AptStatus="Broken")
        practice.sim.tables.delete_appointment(2)
    second = sync(practice, engine, ("appointments",), queries="off")[0]
    calls = recorded(vcr)
    assert [(path, query.get("DateTStamp")) for path, query, _ in calls] == [
        ("appointments", None),
        ("histappointments", None),
        ("appointments", "2025-06-02 08:59:00"),  # the cursor less the overlap
        ("histappointments", None),
    ]
    history = [[(h["AptNum"], h["HistApptAction"]) for h in rows] for _, _, rows in calls[1::2]]
    assert history == [[], [(2, "Deleted")]]
    assert (first.mode, first.stats.inserted, first.stats.requests) == ("full", 3, 2)
    assert (second.mode, second.stats.fetched, second.stats.requests) == ("incremental", 1, 2)
    assert "1 deleted in Open Dental" in second.summary()
    # Whole rows: the latest recorded version of each appointment but the deleted one.
    want = expected(appointments, recorded_rows(calls, "appointments"))
    assert sorted(want) == [1, 2, 3]
    del want[2]
    apts = mirror_of(engine, appointments)
    assert apts == want
    assert (apts[1]["aptstatus"], apts[1]["datetstamp"]) == (5, dt.datetime(2025, 6, 2, 10))
    assert state.get_cursor(engine, "appointments") == dt.datetime(2025, 6, 2, 10)


def test_no_cassette_carries_credentials() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert len(files) == 6
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "ODFHIR" not in text and "authorization" not in text.lower(), path.name
        assert "127.0.0.1" not in text, path.name


SYNTHETIC = {  # what etl.simulator.data makes: never-issued SSNs, fictional phones, test e-mail
    "SSN": re.compile(r"(9[0-9]{8})?"),
    "Email": re.compile(r"(.+@example\.(com|net|org))?"),
    **dict.fromkeys(("HmPhone", "WkPhone", "WirelessPhone"), re.compile(r"(.*555[-.]?01\d\d)?")),
}


def test_the_simulator_cassettes_hold_only_synthetic_patients() -> None:
    """Every patient recorded from the simulator is its made-up kind (the vendor's documented
    example patient is the vendor's own)."""
    seen = set()
    for path in sorted(CASSETTES.glob("*.yaml")):
        if path.name == "vendor_example_patient.yaml":
            continue
        for interaction in yaml.safe_load(path.read_text(encoding="utf-8"))["interactions"]:
            assert "authorization" not in {h.lower() for h in interaction["request"]["headers"]}
            assert urlsplit(interaction["request"]["uri"]).netloc == NEUTRAL, path.name
            if "/patients/" not in interaction["request"]["uri"]:
                continue
            if interaction["response"]["status"]["code"] != 200:
                continue
            for patient in json.loads(interaction["response"]["body"]["string"]):
                seen.add((path.name, patient["PatNum"]))
                for key, form in SYNTHETIC.items():
                    assert form.fullmatch(patient[key]), (path.name, patient["PatNum"], key)
    assert len(seen) == 250 + PRACTICE_PATIENTS


def test_recording_a_cassette_reaches_the_server_and_keeps_the_stamps(tmp_path: Path) -> None:
    """The client's connections (stamped when sent, etl.sent) still send under vcrpy's recorder."""
    sim = Simulator(3, clock=OfficeClock("America/New_York", start=RECORDED_AT), seed=7).start()
    cassette = tmp_path / "recorded.yaml"
    try:
        recorder = vcr.VCR(record_mode="all", filter_headers=["authorization"])
        with recorder.use_cassette(str(cassette)), ApiClient(settings_for(sim, "").api) as client:
            pages = list(client.pages("/patients/Simple"))
        stamped = stamping.sent_at()
    finally:
        sim.stop()
    assert [len(page.rows) for page in pages] == [3]
    assert stamped is not None and pages[0].sent_at <= stamped <= pages[0].received_at
    recorded = yaml.safe_load(cassette.read_text(encoding="utf-8"))["interactions"]
    assert len(recorded) == 1
    assert len(json.loads(recorded[0]["response"]["body"]["string"])) == 3
    assert "authorization" not in {h.lower() for h in recorded[0]["request"]["headers"]}
