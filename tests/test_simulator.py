"""The Open Dental API simulator: faithful to the vendor's page, and its test controls work."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from etl.simulator import (
    OfficeClock,
    PatientStore,
    RequestLog,
    Simulator,
    SimulatorConfig,
    make_patients,
    vendor_example_patient,
)
from etl.simulator.data import FIELDS
from etl.simulator.query import parse_simple_query

NOW = datetime(2025, 6, 2, 10, 30, 0)
NOW_TEXT = "2025-06-02 10:30:00"
KEYS = SimulatorConfig()  # Open Dental's published test keys
AUTH = f"ODFHIR {KEYS.developer_key}/{KEYS.customer_key}"
SIMPLE = "/patients/Simple"
Start = Callable[..., Simulator]


@pytest.fixture(scope="module")
def many() -> list[dict[str, Any]]:
    return make_patients(1100, seed=3, now=NOW)


@pytest.fixture
def simulate() -> Iterator[Start]:
    started: list[Simulator] = []

    def start(patients: Any = 60, clock: OfficeClock | None = None, **config: Any) -> Simulator:
        clock = clock or OfficeClock(start=NOW)
        config.setdefault("hide_deleted", False)  # so that row counts are exact
        sim = Simulator(patients, SimulatorConfig(**config), clock=clock, seed=5)
        started.append(sim.start())
        return sim

    yield start
    for sim in started:
        sim.stop()


def get(sim: Simulator, path: str, auth: str | None = AUTH, **params: Any) -> requests.Response:
    headers = {} if auth is None else {"Authorization": auth}
    return requests.get(sim.base_url + path, headers=headers, params=params, timeout=5)


def patnums(response: requests.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [row["PatNum"] for row in response.json()]


# --- authentication and errors ---------------------------------------------------------------


def test_auth_is_required_and_exact(simulate: Start) -> None:
    sim = simulate()
    wrong = f"ODFHIR {KEYS.developer_key}/wrongcustomerkey"
    for auth in (None, wrong, "Basic TkZGNmkwS3I=", "ODFHIR NFF6i0KrXrxDkZHt"):
        response = get(sim, SIMPLE, auth=auth)
        assert response.status_code == 401
        assert "NFF6i0KrXrxDkZHt" not in response.text and len(response.text) < 120
    assert get(sim, SIMPLE).status_code == 200
    assert [log.status for log in sim.requests] == [401, 401, 401, 401, 200]
    assert sim.requests[1].authorization == wrong


def test_bad_parameters_get_400(simulate: Start) -> None:
    sim = simulate()
    for params in (
        {"DateTStamp": "2025-06-02T10:30:00"},
        {"DateTStamp": "yesterday"},
        {"Limit": "-1"},
        {"Offset": "ten"},
        {"PatStatus": "Gone"},
    ):
        response = get(sim, SIMPLE, **params)
        assert response.status_code == 400, params
        assert response.headers["Content-Type"].startswith("text/plain")


def test_not_found(simulate: Start) -> None:
    sim = simulate(5)
    missing = get(sim, "/patients/99999")
    assert (missing.status_code, missing.text) == (404, "Patient not found.")
    assert get(sim, "/appointments").status_code == 404
    assert get(sim, "/patients/abc").status_code == 400


def test_office_offline_is_400_and_json_error_bodies(simulate: Start) -> None:
    sim = simulate(5, error_body_json=True)
    sim.office_online = False
    response = get(sim, SIMPLE)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert "eConnector" in response.json()
    sim.office_online = True
    assert get(sim, SIMPLE).status_code == 200


# --- paging -----------------------------------------------------------------------------------


def test_limit_and_offset_page_through_everything(simulate: Start) -> None:
    sim = simulate(60)
    pages = [patnums(get(sim, SIMPLE, Limit=25, Offset=offset)) for offset in (0, 25, 50, 75)]
    assert [len(page) for page in pages] == [25, 25, 10, 0]
    assert [patnum for page in pages for patnum in page] == list(range(1, 61))
    empty = get(sim, SIMPLE, Offset=60)
    assert empty.text == "[]" and empty.headers["Content-Type"] == "application/json; charset=utf-8"


def test_remote_cap_is_silent(simulate: Start) -> None:
    sim = simulate(250, mode="remote", throttle_interval=0)
    assert len(patnums(get(sim, SIMPLE))) == 100
    assert len(patnums(get(sim, SIMPLE, Limit=500))) == 100
    assert patnums(get(sim, SIMPLE, Limit=500, Offset=200)) == list(range(201, 251))


def test_service_cap_and_override(simulate: Start, many: list[dict[str, Any]]) -> None:
    sim = simulate(many)
    assert len(patnums(get(sim, SIMPLE))) == 1000
    assert len(patnums(get(sim, SIMPLE, Limit=5000))) == 1000
    assert len(patnums(get(sim, SIMPLE, Offset=1000))) == 100
    assert len(patnums(get(simulate(many, page_cap=7), SIMPLE))) == 7


# --- rows, the cursor and filters -------------------------------------------------------------


def test_server_datetime_on_every_simple_row(simulate: Start) -> None:
    clock = OfficeClock(start=NOW)
    sim = simulate(30, clock=clock)
    assert {row["serverDateTime"] for row in get(sim, SIMPLE).json()} == {NOW_TEXT}
    clock.advance(90.7)
    assert {row["serverDateTime"] for row in get(sim, SIMPLE).json()} == {"2025-06-02 10:31:30"}
    single = get(sim, "/patients/3").json()
    assert list(single) == list(FIELDS)


def test_datetstamp_inclusive_and_exclusive(simulate: Start) -> None:
    clock = OfficeClock(start=NOW)
    inclusive, exclusive = (
        simulate(40, clock=clock),
        simulate(40, clock=clock, inclusive_datetstamp=False),
    )
    clock.advance(3600)
    for sim in (inclusive, exclusive):
        sim.store.touch([3, 4], clock.now())
    stamp, before = "2025-06-02 11:30:00", "2025-06-02 11:29:59"
    assert patnums(get(inclusive, SIMPLE, DateTStamp=stamp)) == [3, 4]
    assert patnums(get(exclusive, SIMPLE, DateTStamp=stamp)) == []
    assert patnums(get(exclusive, SIMPLE, DateTStamp=before)) == [3, 4]


def test_order_modes(simulate: Start) -> None:
    clock = OfficeClock(start=NOW)
    by_stamp, by_patnum = simulate(20, clock=clock, order="datetstamp"), simulate(20, clock=clock)
    for sim in (by_stamp, by_patnum):
        sim.store.update(1, LName="Edited")
    assert patnums(get(by_stamp, SIMPLE))[-1] == 1
    assert patnums(get(by_patnum, SIMPLE)) == list(range(1, 21))
    assert patnums(get(simulate(20, order="reverse"), SIMPLE)) == list(range(20, 0, -1))


def test_deleted_rows_hidden_unless_asked(simulate: Start) -> None:
    hiding, showing = simulate(10, hide_deleted=True), simulate(10)
    for sim in (hiding, showing):
        for patnum in range(1, 11):
            sim.store.update(patnum, PatStatus="Deleted" if patnum == 2 else "Patient")
    assert 2 not in patnums(get(hiding, SIMPLE))
    assert patnums(get(hiding, SIMPLE, PatStatus="Deleted")) == [2]
    assert 2 in patnums(get(showing, SIMPLE))
    assert get(hiding, "/patients/2").json()["PatStatus"] == "Deleted"


def test_filters(simulate: Start) -> None:
    sim = simulate(60)
    sim.store.update(5, LName="O'Brien", ClinicNum=2)
    assert 5 in patnums(get(sim, SIMPLE, LName="o'b"))
    rows = get(sim, SIMPLE, ClinicNum=2).json()
    assert rows and {row["ClinicNum"] for row in rows} == {2}
    assert {row["clinicAbbr"] for row in rows} == {"NORTH"}
    head = sim.store.get(5)
    assert head is not None
    family = patnums(get(sim, SIMPLE, Guarantor=head["Guarantor"]))
    assert 5 in family and head["Guarantor"] in family


def test_unknown_fields_and_raw_records_pass_through(simulate: Start) -> None:
    sim = simulate(3)
    record = {**vendor_example_patient(), "PatNum": 2, "NewField2026": [1, "x"]}
    record.pop("Premed")
    sim.store.replace(record)
    row = get(sim, "/patients/2").json()
    assert row["NewField2026"] == [1, "x"] and "Premed" not in row


# --- throttling -------------------------------------------------------------------------------


def test_remote_throttle(simulate: Start) -> None:
    sim = simulate(5, mode="remote", throttle_interval=30, retry_after=7)
    assert get(sim, SIMPLE).status_code == 200
    second = get(sim, SIMPLE)
    assert (second.status_code, second.headers["Retry-After"]) == (429, "7")
    other = simulate(5, mode="remote", throttle_interval=30, throttle_status=503)
    assert get(other, "/patients/1").status_code == 200
    third = get(other, "/patients/1")
    assert third.status_code == 503 and "Retry-After" not in third.headers


def test_throttle_window_reopens_and_service_is_unthrottled(simulate: Start) -> None:
    sim = simulate(5, mode="remote", throttle_interval=0.2)
    assert [get(sim, SIMPLE).status_code for _ in range(2)] == [200, 429]
    time.sleep(0.25)  # the throttle window itself, not synchronisation
    assert get(sim, SIMPLE).status_code == 200
    service = simulate(5)
    assert {get(service, SIMPLE).status_code for _ in range(5)} == {200}


# --- fault injection and the hook -------------------------------------------------------------


def test_fail_next_comes_before_any_check(simulate: Start) -> None:
    sim = simulate(5)
    sim.fail_next(503, "busy", {"Retry-After": "1"}, count=2)
    first, second = get(sim, SIMPLE, auth=None), get(sim, "/patients/1")
    assert (first.status_code, first.text, first.headers["Retry-After"]) == (503, "busy", "1")
    assert second.status_code == 503
    assert get(sim, "/patients/1").status_code == 200


def test_drop_next_closes_without_answer(simulate: Start) -> None:
    sim = simulate(5)
    sim.drop_next()
    with pytest.raises(requests.ConnectionError):
        get(sim, SIMPLE)
    assert get(sim, SIMPLE).status_code == 200
    assert [log.status for log in sim.requests] == [0, 200]


def test_answers_leave_without_waiting_for_an_ack(simulate: Start) -> None:
    # Headers and body are two writes: with Nagle's algorithm a small answer's last segment
    # waited for the client's delayed ACK (40 ms), as no server that sets TCP_NODELAY makes it.
    sim = simulate(5)
    with requests.Session() as session:  # keep-alive: the connection stays open to look at
        session.headers["Authorization"] = AUTH
        assert session.get(sim.base_url + SIMPLE, timeout=5).status_code == 200
        server = sim._server
        assert server is not None
        with server.connections_lock:
            connections = list(server.connections)
        assert connections
        for connection in connections:
            assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_stall_next_delays_the_answer(simulate: Start) -> None:
    sim = simulate(5)
    sim.stall_next(0.6)
    with pytest.raises(requests.Timeout):
        requests.get(sim.base_url + SIMPLE, headers={"Authorization": AUTH}, timeout=0.15)
    sim.stall_next(0.1)
    started = time.monotonic()
    assert get(sim, SIMPLE).status_code == 200
    assert time.monotonic() - started >= 0.1


def test_hook_runs_before_rows_are_selected(simulate: Start) -> None:
    sim = simulate(30)
    seen: list[tuple[int, dict[str, str]]] = []

    def hook(index: int, log: RequestLog) -> None:
        seen.append((index, log.query))
        sim.store.update(index * 10 + 1, LName=f"Hooked{index}")

    sim.on_request(hook)
    assert get(sim, SIMPLE, auth=None).status_code == 401
    first = get(sim, SIMPLE, Limit=10).json()
    get(sim, "/patients/1")
    second = get(sim, SIMPLE, Limit=10, Offset=10).json()
    assert [index for index, _ in seen] == [0, 1]
    assert seen[1][1] == {"Limit": "10", "Offset": "10"}
    assert (first[0]["LName"], second[0]["LName"]) == ("Hooked0", "Hooked1")
    assert (sim.requests[1].status, sim.requests[1].rows) == (200, 10)


# --- synthetic data ---------------------------------------------------------------------------


def test_make_patients_is_deterministic() -> None:
    assert make_patients(300, seed=4, now=NOW) == make_patients(300, seed=4, now=NOW)
    assert make_patients(300, seed=4, now=NOW) != make_patients(300, seed=5, now=NOW)


def test_every_documented_key_with_valid_values(many: list[dict[str, Any]]) -> None:
    assert [row["PatNum"] for row in many] == list(range(1, 1101))
    stamp_format = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    for row in many:
        assert list(row) == list(FIELDS)
        assert isinstance(row["Zip"], str | int) and isinstance(row["EstBalance"], float)
        assert stamp_format.fullmatch(row["DateTStamp"]) and row["DateTStamp"] < NOW_TEXT
        assert row["DateTStamp"] >= row["SecDateEntry"]
        assert row["priProvAbbr"] == f"DOC{row['PriProv']}"
        assert (row["SecProv"] == 0) == (row["secProvAbbr"] == "")
        assert row["Premed"] in ("true", "false")
    statuses = {row["PatStatus"] for row in many}
    assert {"Patient", "Deleted", "Archived", "Inactive"} <= statuses


def test_families_are_consistent() -> None:
    many = make_patients(1100, seed=3, now=NOW, hostile=False)
    by_patnum = {row["PatNum"]: row for row in many}
    for row in many:
        head = by_patnum[row["Guarantor"]]
        assert head["Guarantor"] == head["PatNum"]
        assert (row["Address"], row["City"]) == (head["Address"], head["City"])
        if row is not head:
            assert row["BalTotal"] == 0.0
    heads = [row for row in many if row["Guarantor"] == row["PatNum"]]
    assert 200 < len(heads) < 900


def test_hostile_text_is_realistic(many: list[dict[str, Any]]) -> None:
    text = [value for row in many for value in row.values() if isinstance(value, str)]
    assert not any("\r" in value or "\x00" in value for value in text)
    assert any("'" in value for value in text) and any(not value.isascii() for value in text)
    assert any(value != value.strip() for value in text)
    assert any(len(value) >= 200 for value in text)
    assert any("\n" in row["FamFinUrgNote"] for row in many) or len(many) < 1000
    tame = make_patients(1100, seed=3, now=NOW, hostile=False)
    assert sum(a != b for a, b in zip(tame, many, strict=True)) < 60
    assert any(isinstance(row["Zip"], int) for row in many)


def test_vendor_example_patient_is_as_documented() -> None:
    patient = vendor_example_patient()
    assert list(patient) == list(FIELDS)
    documented = {
        "PatNum": 48, "LName": "Smith", "FName": "Jane", "PatStatus": "Patient",
        "Gender": "Female", "Position": "Single", "Birthdate": "1976-05-24",
        "Address": "125 Satin Heights", "City": "San Jose", "State": "CA", "Zip": "97301",
        "HmPhone": "(536)624-5871", "Guarantor": 48, "Email": "smithfam@yahoo.com",
        "EstBalance": 0.0, "PriProv": 1, "priProvAbbr": "DOC",
        "BillingType": "Standard Account", "ImageFolder": "SmithJane48",
        "FamFinUrgNote": "CC on file expiring soon", "BalTotal": 111.9,
        "DateFirstVisit": "2021-12-16", "Premed": "false", "PreferConfirmMethod": "None",
        "PreferContactMethod": "WirelessPh", "PreferRecallMethod": "TextMessage",
        "Language": "spa", "AdmitDate": "0001-01-01", "DateTStamp": "2021-12-08 15:34:34",
        "TxtMsgOk": "Unknown", "SecDateEntry": "2021-12-04",
    }  # fmt: skip
    for key, value in patient.items():
        expected = documented.get(key, 0 if isinstance(value, int | float) else "")
        assert value == expected and type(value) is type(expected), key


# --- store and clock --------------------------------------------------------------------------


def test_store_add_update_touch() -> None:
    clock = OfficeClock(start=NOW)
    store = PatientStore(clock, make_patients(4, seed=2, now=NOW))
    clock.advance(60)
    patnum = store.add(LName="New", FName="Pat", ClinicNum=1)
    row = store.get(patnum)
    assert patnum == 5 and len(store) == 5 and row is not None
    assert list(row) == list(FIELDS) and row["Guarantor"] == 5 and row["ImageFolder"] == "NewPat5"
    assert (row["SecDateEntry"], row["DateTStamp"]) == ("2025-06-02", "2025-06-02 10:31:00")
    assert (row["clinicAbbr"], row["priProvAbbr"]) == ("MAIN", "DOC1")
    clock.advance(60)
    assert store.update(1, PriProv=3)["DateTStamp"] == "2025-06-02 10:32:00"
    assert store.all()[0]["priProvAbbr"] == "DOC3"
    store.touch([2, 3], NOW + timedelta(hours=2))
    assert {r["DateTStamp"] for r in store.all()[1:3]} == {"2025-06-02 12:30:00"}
    with pytest.raises(KeyError):
        store.update(99, LName="X")


def test_the_first_cut_of_a_select_keeps_every_row_the_filters_take() -> None:
    # The cut is the DateTStamp index (kept up to date by every change) and a cheap filter.
    clock = OfficeClock(start=NOW)
    store = PatientStore(clock, make_patients(30, seed=4, now=NOW))
    odd_stamps = (None, 20250602, "", "2025-06-02 10:30:00", "9999-12-31 23:59:59")
    for patnum, stamp in zip(range(1, 31, 3), odd_stamps * 2, strict=False):
        store.replace({**(store.get(patnum) or {}), "DateTStamp": stamp, "PatStatus": "Deleted"})
    store.replace({"PatNum": 31, "LName": "NoStamp"})
    clock.advance(3600)
    store.update(2, LName="Now")
    store.update(4, DateTStamp=None)  # was text, now odd
    store.update(7, DateTStamp="2025-06-02 10:30:00")  # was odd (20250602), now text
    store.touch([5, 8, 5], NOW + timedelta(hours=3))
    store.add(LName="Added")
    store.replace({**(store.get(10) or {}), "DateTStamp": "0001-01-01 00:00:00"})
    everything = store.all()
    for params in (
        {"DateTStamp": "2025-06-02 10:30:00"},
        {"DateTStamp": "2025-06-02 10:30:00", "PatStatus": "Deleted"},
        {"PatStatus": "Deleted", "ClinicNum": "0"},
        {"DateTStamp": "0001-01-01 00:00:00", "LName": "n"},
        {"DateTStamp": "0001-01-01 00:00:00"},
    ):
        query = parse_simple_query(params)
        for inclusive, hide in ((True, False), (False, True)):
            expected = [r for r in everything if query.matches(r, inclusive, hide)]
            assert store.select(query, 1000, inclusive, "patnum", hide) == expected, params


def test_office_clock() -> None:
    clock = OfficeClock(start=NOW + timedelta(microseconds=5))
    assert clock.now() == NOW
    clock.set(NOW + timedelta(days=1))
    assert clock.now() == NOW + timedelta(days=1)
    real = OfficeClock("Pacific/Auckland")
    assert real.now().tzinfo is None and real.now().microsecond == 0
    with pytest.raises(RuntimeError):
        real.advance(1)
    with pytest.raises(ValueError):
        OfficeClock(start=datetime.now().astimezone())


def test_command_line_serves_until_ctrl_c() -> None:
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "etl.simulator", "--patients", "20", "--port", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        banner = "".join(process.stdout.readline() for _ in range(5))
        base_url = re.search(r"http://\S+", banner)
        assert base_url is not None and "VzkmZEaUWOjnQX2z" in banner
        simple = f"{base_url[0]}/patients/Simple"
        response = requests.get(simple, headers={"Authorization": AUTH}, timeout=5)
        assert len(response.json()) == 20
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0 and "Traceback" not in err, err
    assert "stopped" in out
