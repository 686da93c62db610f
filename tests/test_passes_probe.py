"""Patients' status passes and appointments' deletion feed skipped by the run's SQL probe.

The run's one ShortQuery (etl.sync.whole_probe) also asks how many patients of each status
pass changed since the cursor, and how many appointments were deleted since the deletion feed
was last read (etl.sync.pass_probe; issue 23). The simulator's ShortQuery reads its REST
tables and the patient store (`sql_reads_rest`).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, insert, select

from etl.catalog.opendental import od_table
from etl.catalog.resources import RESOURCES
from etl.mirror.bookkeeping import Setting
from etl.simulator import Simulator
from etl.sync import change_probe, pass_probe, state
from etl.sync.state import RunResult
from tests.mariadb import fresh_mariadb
from tests.practice import mirror, probed_office, sync, sync_by_name

START = dt.datetime(2025, 3, 14, 9, 26, 53)
SQL_PATH = "/api/v1/queries/ShortQuery"
NAMES = ("patients", "appointments")
QUIET_PASSES = "PatStatus=Deleted, PatStatus=Archived not read: nothing new since the cursor"
DELETED, ARCHIVED = {"PatStatus": "Deleted"}, {"PatStatus": "Archived"}
QUIET_FEED = "histappointments not read: no deletion since its last read (change probe)"


@pytest.fixture
def office(make_sim: Any) -> Simulator:
    """A small practice whose ShortQuery reads the REST tables; its clock past every stamp."""
    sim: Simulator = probed_office(make_sim)
    return sim


def _sync(sim: Simulator, engine: Engine, full: bool = False) -> dict[str, RunResult]:
    return sync_by_name(sim, engine, NAMES, full)


def _asked(sim: Simulator) -> list[str]:
    """Each request of the run: the REST list and its filters, or `SQL`."""
    sent = []
    for r in sim.requests:
        if r.path == SQL_PATH:
            sent.append("SQL")
        else:
            status = r.query.get("PatStatus")
            sent.append(r.path.removeprefix("/api/v1/") + (f" {status}" if status else ""))
    return sent


def _settled(sim: Simulator, engine: Engine) -> dict[str, RunResult]:
    # Two runs: the first leaves the cursor and the feed's clock, the second is probed.
    _sync(sim, engine)
    sim.clock.advance(300)
    return _sync(sim, engine)


def test_a_run_with_no_change_costs_one_request_a_resource(
    office: Simulator, engine: Engine
) -> None:
    _sync(office, engine)
    assert _asked(office).count("histappointments") == 1  # the first run reads everything
    office.clock.advance(300)
    _sync(office, engine)
    office.clock.advance(300)
    assert office.tables is not None
    before = {name: state.get_cursor(engine, name) for name in NAMES}
    quiet = _sync(office, engine)
    # Nothing stamped since either cursor (less the overlap), no deletion since the feed's
    # last read: the probe vouches for every request of both.
    assert _asked(office) == ["SQL"]
    assert [(r.stats.fetched, r.stats.requests) for r in quiet.values()] == [(0, 1), (0, 0)]
    assert quiet["patients"].notes == [pass_probe.NOTHING_NEW, "counts the run's probe (1 request)"]
    assert quiet["appointments"].notes == [pass_probe.NOTHING_NEW]
    # The cursors stay: the next run asks from the same time.
    assert {name: r.cursor for name, r in quiet.items()} == before
    with engine.connect() as conn:
        kept = conn.execute(
            select(Setting.value).where(Setting.name == pass_probe.FEED_PREFIX + "appointments")
        ).scalar()
    assert kept == office.clock.now().isoformat()  # as if the feed had been read
    edited = office.tables.all("appointments")[2]["AptNum"]
    office.clock.advance(60)
    office.tables.update("appointments", edited, Note="moved")
    office.clock.advance(300)
    read = _sync(office, engine)
    assert sorted(_asked(office)) == ["SQL", "appointments"]
    assert [(r.stats.updated, r.stats.requests) for r in read.values()] == [(0, 1), (1, 1)]
    assert mirror(engine, RESOURCES["appointments"])[edited]["note"] == "moved"


@pytest.mark.parametrize("status", ["Deleted", "Archived"])
def test_a_patient_newly_deleted_or_archived_makes_its_pass_run(
    office: Simulator, engine: Engine, status: str
) -> None:
    _settled(office, engine)
    patnum = office.store.all()[3]["PatNum"]
    office.clock.advance(60)
    office.store.update(patnum, PatStatus=status)
    office.clock.advance(60)
    results = _sync(office, engine)
    other = "Archived" if status == "Deleted" else "Deleted"
    asked = _asked(office)
    # The simulator's plain list hides Deleted patients only: an Archived one comes in it, and
    # a list that shows the status makes its pass needless (etl.sync.seen), as before. Either
    # way the probe vouches only for the other status.
    assert (f"patients/Simple {status}" in asked) == (status == "Deleted")
    assert f"patients/Simple {other}" not in asked
    assert results["patients"].notes == [
        f"PatStatus={other} not read: nothing new since the cursor (change probe)"
    ]
    row = mirror(engine, RESOURCES["patients"])[patnum]
    served = office.store.get(patnum)
    assert served is not None
    code = pass_probe.codes("PatientStatus").index(status)
    assert (row["patnum"], row["patstatus"], row["lname"]) == (patnum, code, served["LName"])


def test_a_deleted_appointment_makes_the_history_run_and_leaves_the_mirror(
    office: Simulator, engine: Engine
) -> None:
    assert office.tables is not None
    _settled(office, engine)
    aptnum = office.tables.all("appointments")[0]["AptNum"]
    assert aptnum in mirror(engine, RESOURCES["appointments"])
    office.clock.advance(60)
    office.tables.delete_appointment(aptnum)
    office.clock.advance(120)  # past the overlap: the next probe's window starts after it
    results = _sync(office, engine)
    assert "histappointments" in _asked(office)
    assert results["appointments"].notes == ["1 deleted in Open Dental, removed from the mirror"]
    assert aptnum not in mirror(engine, RESOURCES["appointments"])
    office.clock.advance(300)
    _sync(office, engine)
    assert "histappointments" not in _asked(office)  # read since: quiet again


def test_a_refused_probe_reads_as_before(office: Simulator, engine: Engine) -> None:
    _settled(office, engine)
    office.clock.advance(300)
    office.fail_next(401, "This API key does not have permission to run queries.")
    refused = _sync(office, engine)
    assert sorted(_asked(office)) == [
        "SQL",
        "appointments",
        "histappointments",
        "patients/Simple",
        "patients/Simple Archived",
        "patients/Simple Deleted",
    ]
    assert refused["patients"].notes == [] and refused["appointments"].notes == []


def test_lists_alone_are_not_worth_a_probe(office: Simulator, engine: Engine) -> None:
    # providers: nothing else the probe could vouch for. A probe would cost the request it
    # saves, and one more when the list changed: the list is read, no SQL.
    for _ in range(3):
        office.clock.advance(300)
        office.requests.clear()
        results = {r.resource: r for r in sync(office, engine, ("providers",))}
        assert _asked(office) == ["providers"]
        assert results["providers"].notes == []


def test_full_never_skips(office: Simulator, engine: Engine) -> None:
    _settled(office, engine)
    office.clock.advance(300)
    _sync(office, engine, full=True)
    assert "SQL" not in _asked(office)
    assert {"histappointments", "patients/Simple Deleted"} <= set(_asked(office))


def test_the_probe_asks_raw_codes() -> None:
    # PatientStatus: Archived 3, Deleted 4; HistAppointmentAction.Deleted 4 (Open Dental).
    assert pass_probe.codes("PatientStatus").index("Archived") == 3
    assert pass_probe.codes("HistAppointmentAction").index("Deleted") == 4
    assert json.dumps(pass_probe.feed_table(RESOURCES["appointments"])) == '"histappointment"'


def test_the_probe_rows_run_on_mysql_as_written() -> None:
    # The probe goes to the office's own MySQL/MariaDB: run its rows there, behind the clock.
    metadata = MetaData()
    patient, history = od_table("patient", metadata), od_table("histappointment", metadata)
    since = dt.datetime(2025, 3, 1, 8, 0, 0)
    with fresh_mariadb() as url:
        office = create_engine(url)
        metadata.create_all(office)
        with office.begin() as conn:
            conn.execute(
                insert(patient),
                [
                    {"patnum": 1, "patstatus": 4, "datetstamp": since},
                    {"patnum": 2, "patstatus": 3, "datetstamp": since - dt.timedelta(seconds=1)},
                    {"patnum": 3, "patstatus": 0, "datetstamp": since},
                ],
            )
            conn.execute(
                insert(history),
                [
                    {"histapptnum": 1, "histapptaction": 4, "histdatetstamp": since},
                    {"histapptnum": 2, "histapptaction": 1, "histdatetstamp": since},
                ],
            )
        rows = [
            pass_probe.count_sql("patient", "pass:patients:D", "DateTStamp", DELETED, since),
            pass_probe.count_sql("patient", "pass:patients:A", "DateTStamp", ARCHIVED, since),
            pass_probe.count_sql(
                "histappointment",
                "pass:appointments:deletions",
                "HistDateTStamp",
                {"HistApptAction": "Deleted"},
                since,
            ),
            pass_probe.count_sql("patient", "pass:patients:list", "DateTStamp", {}, since),
        ]
        sql = " UNION ALL ".join([change_probe.clock_select(), *rows])
        with office.connect() as conn:
            found = conn.exec_driver_sql(sql).mappings().all()
        office.dispose()
    assert [(r["TableName"], int(r["Changed"])) for r in found[1:]] == [
        ("pass:patients:D", 1),
        ("pass:patients:A", 0),  # stamped before the window
        ("pass:appointments:deletions", 1),
        ("pass:patients:list", 2),  # any status, stamped in the window
    ]
