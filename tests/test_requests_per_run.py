"""Requests per run (issue 23 item 1): what a run with no change costs, per resource, both modes.

On the Remote API every request costs a second or more: the counts are the bill. Query mode
asks every table with a cursor in one change probe (etl.sync.change_probe) and reads only
those that changed; endpoint mode spends one request per resource, except where the API leaves
no way to tell that nothing changed (README "What a run costs").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, insert, text

from etl.api.client import ApiClient
from etl.catalog.opendental import od_table
from etl.catalog.query_tables import query_resource
from etl.catalog.resources import RESOURCES
from etl.commands import requests_line, sync_mirrors
from etl.config.load import load_settings
from etl.errors import ConfigError
from etl.mirror.engine import make_engine, upgrade
from etl.simulator import OfficeClock, Simulator
from etl.simulator.clock import format_datetime
from etl.simulator.office_db import OfficeDatabase
from etl.simulator.office_rows import office_rows
from etl.sync import (
    change_probe,
    fan_prints,
    fan_probe,
    pass_probe,
    rows_probe,
    whole_probe,
    window_probe,
)
from etl.sync.run import run_sync
from etl.sync.state import RunResult, RunStats
from tests.conftest import settings_for
from tests.mariadb import fresh_mariadb
from tests.practice import ALL, office_clock, sync, url_of

START = dt.datetime(2025, 3, 14, 9, 26, 53)
SQL_PATH = "/api/v1/queries/ShortQuery"
TABLES = ("claimproc", "paysplit", "procedurelog")
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def office(make_sim: Any) -> Simulator:
    """An office whose database ShortQuery reads (three money tables), its clock standing still."""
    sim: Simulator = make_sim(clock=OfficeClock(start=START))
    sim.office_db = OfficeDatabase(sim.clock)
    for table in TABLES:
        sim.office_db.insert(table, office_rows(table, 120, START))
    return sim


def _sync_tables(sim: Simulator, engine: Engine) -> list[RunResult]:
    settings = settings_for(sim, url_of(engine))
    sync = dataclasses.replace(settings.sync, tables=TABLES, resources=("patients",))
    settings = dataclasses.replace(settings, sync=sync)
    sim.requests.clear()
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        return [r for r in run_sync(settings, client=client) if r.resource in TABLES]


def _sql_sent(sim: Simulator) -> list[str]:
    return [json.loads(r.body)["SqlCommand"] for r in sim.requests if r.path == SQL_PATH]


def test_a_query_mode_run_with_no_change_costs_one_request(
    office: Simulator, engine: Engine
) -> None:
    first = _sync_tables(office, engine)
    assert [(r.resource, r.mode, r.stats.fetched) for r in first] == [
        (t, "full", 120) for t in TABLES
    ]
    # The Queries permission was asked once; then one clock for all three first loads.
    assert len(_sql_sent(office)) == 1 + 1 + 3 * 2
    office.clock.advance(300)
    again = _sync_tables(office, engine)
    sql = _sql_sent(office)
    assert len(sql) == 1 and "UNION ALL" in sql[0]  # the probe: the clock and three counts
    clock = START + dt.timedelta(seconds=300)
    shown = [(r.resource, r.mode, r.stats.fetched, r.stats.requests, r.cursor) for r in again]
    assert shown == [
        ("claimproc", "incremental", 0, 1, clock),  # the probe is counted on the first table
        ("paysplit", "incremental", 0, 0, clock),
        ("procedurelog", "incremental", 0, 0, clock),
    ]
    assert again[0].notes == [
        "unchanged since its cursor: not read (change probe)",
        "counts the run's change probe of 3 tables (1 request)",
    ]


def test_only_the_tables_that_changed_are_read_and_late_commits_are_not_lost(
    office: Simulator, engine: Engine
) -> None:
    assert office.office_db is not None
    _sync_tables(office, engine)
    office.clock.advance(300)
    _sync_tables(office, engine)  # nothing changed: the cursors move to this clock
    cursor = office.clock.now()
    office.clock.advance(300)
    office.office_db.update("paysplit", 7, SplitAmt=12.5)
    # A row stamped 30 s before the cursor but committed after that run read (inside the
    # overlap of 60 s): the probe must count it, as the read would have read it.
    late = office_rows("procedurelog", 1, START, seed=3, first_key=500)[0]
    late["DateTStamp"] = format_datetime(cursor - dt.timedelta(seconds=30))
    office.office_db.insert("procedurelog", [late])
    office.clock.advance(1)
    results = {r.resource: r for r in _sync_tables(office, engine)}
    assert len(_sql_sent(office)) == 1 + 2  # the probe, then one page of each changed table
    assert results["claimproc"].stats.fetched == 0
    assert results["paysplit"].stats.fetched == 1 and results["paysplit"].stats.updated == 1
    assert results["procedurelog"].stats.fetched == 1
    assert results["procedurelog"].stats.inserted == 1


def test_a_read_stops_at_the_rows_the_probe_counted(office: Simulator, engine: Engine) -> None:
    assert office.office_db is not None
    _sync_tables(office, engine)
    office.clock.advance(300)
    for key in range(1, 101):
        office.office_db.update("claimproc", key, WriteOff=float(key))
    office.clock.advance(120)
    results = _sync_tables(office, engine)
    # The pages the changed rows fill and the probe: no empty last page to learn the end.
    assert len(_sql_sent(office)) == 1 + 1
    assert [(r.resource, r.stats.fetched, r.stats.updated) for r in results] == [
        ("claimproc", 100, 100),
        ("paysplit", 0, 0),
        ("procedurelog", 0, 0),
    ]
    for key in range(1, 101):
        office.office_db.update("claimproc", key, WriteOff=float(key) + 1)
    office.clock.advance(1)
    # Changed within the overlap: a row committing late could be read before the newest
    # counted one, so the read goes on to its end (an empty page).
    (claimproc, *_) = _sync_tables(office, engine)
    assert len(_sql_sent(office)) == 1 + 2 and claimproc.stats.updated == 100


def test_a_read_may_stop_early_only_if_every_counted_row_is_older_than_the_overlap() -> None:
    clock, overlap = dt.datetime(2025, 3, 14, 12, 0, 0), dt.timedelta(seconds=60)
    answer = change_probe.ProbeAnswer(clock, {"claimproc": 100, "paysplit": 100, "payment": 3})
    answer.newest = {"claimproc": clock - dt.timedelta(seconds=61),
                     "paysplit": clock - dt.timedelta(seconds=60)}  # fmt: skip
    assert answer.stop_after("claimproc", overlap) == 100
    assert answer.stop_after("paysplit", overlap) is None
    assert answer.stop_after("payment", overlap) is None  # its newest not known
    assert answer.stop_after("recall", overlap) is None  # not probed


def test_a_refused_probe_reads_every_table_as_without_it(
    office: Simulator, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    database = office.office_db
    assert database is not None
    _sync_tables(office, engine)
    office.clock.advance(300)
    database.update("paysplit", 3, SplitAmt=1.5)
    office.clock.advance(1)
    answer = database.answer

    def refuse_unions(body: bytes) -> tuple[int, Any]:  # say, a table the office no longer has
        return (400, "Error executing query.") if b"UNION ALL" in body else answer(body)

    database.answer = refuse_unions  # type: ignore[method-assign]
    results = _sync_tables(office, engine)
    sql = _sql_sent(office)
    assert "UNION ALL" in sql[0] and sql[1] == "SELECT NOW() AS ServerNow"
    assert len(sql) == 2 + 3  # then each table read, as before the probe
    assert [(r.resource, r.mode, r.stats.fetched) for r in results] == [
        ("claimproc", "incremental", 0),
        ("paysplit", "incremental", 1),
        ("procedurelog", "incremental", 0),
    ]
    assert "change probe of 3 tables failed, they are read" in caplog.text


def test_the_probe_is_one_select_of_at_most_100_rows_in_mysql_55_sql() -> None:
    since = dt.datetime(2025, 3, 1, 8, 0, 0)
    windows = [change_probe.Window(query_resource("claimproc"), since)] * 250
    calls = change_probe.batches(windows)
    assert [(len(tables), clock) for tables, clock in calls] == [
        (99, True),
        (100, False),
        (51, False),
    ]
    sql = change_probe.probe_sql(calls[0][0], True)
    assert sql.count("SELECT") == 100 and sql.count(" UNION ALL ") == 99
    for word in ("WITH", "OVER", "SCHEMA", "--", "/*", "#"):
        assert word not in sql.upper()
    with pytest.raises(ValueError, match="at most 100"):
        change_probe.probe_sql(windows[:100], True)


def test_the_probe_counts_rows_on_a_real_mariadb() -> None:
    # The probe goes to the office's own MySQL/MariaDB: run it there.
    with fresh_mariadb() as url:
        office = create_engine(url)
        table = od_table("claimproc", MetaData())
        table.metadata.create_all(office)
        with office.connect() as conn:  # closed: an open session holds up DROP DATABASE
            now = conn.execute(text("SELECT NOW()")).scalar()
        assert isinstance(now, dt.datetime)
        stamps = [now - dt.timedelta(hours=2), now - dt.timedelta(seconds=50), now + HOUR]
        with office.begin() as conn:
            rows = [{"claimprocnum": k, "secdatetedit": s} for k, s in enumerate(stamps, 1)]
            conn.execute(insert(table), rows)
        windows = [change_probe.Window(query_resource("claimproc"), now - dt.timedelta(minutes=1))]
        with office.connect() as conn:
            found = conn.exec_driver_sql(change_probe.probe_sql(windows, True)).mappings().all()
        office.dispose()
    # A row stamped after NOW() waits for the next run, as a read up to this clock leaves it.
    assert [(r["TableName"], int(r["Changed"]), r["Newest"]) for r in found] == [
        ("NOW()", 0, None),
        ("claimproc", 1, stamps[1]),
    ]
    assert now <= found[0]["ServerNow"] < now + HOUR


def _vouched() -> list[str]:
    # Whole pulls the SQL probe finds unchanged: by their change column (operatories' too,
    # though its list does not send it: the simulator's office database keeps each row's stamp
    # until the row changes, as MySQL does), or by their rows' fingerprint (etl.sync.whole_sql).
    return [r.name for r in RESOURCES.values() if whole_probe.probed(r) and r.every is None]


#: Resources whose run with no change costs more than one request, and why (README "What a
#: run costs"): the whole pulls the probe cannot vouch for (their pages); patients counts the
#: run's SQL probe (which also vouches for its list and status passes and appointments' list
#: and Deleted feed, etl.sync.pass_probe). Fan-outs whose children have a change column and
#: dated windows cost nothing when the probe finds no child or row changed (etl.sync.fan_probe,
#: window_probe).
def _expected_over_one(sim: Any) -> dict[str, int]:
    def pages(path: str) -> int:
        return len(sim.tables.all(path)) // 100 + 1

    whole = [r for r in RESOURCES.values() if r.mark_missing and r.every is None]
    expected = {r.name: pages(r.path) for r in whole if r.cursor_param is None}
    expected = {name: count for name, count in expected.items() if name not in _vouched()}
    expected["patients"] = 1  # the run's probe (its list, with nothing new, is not read)
    return {name: count for name, count in expected.items() if count > 1}


def test_an_endpoint_run_with_no_change_costs_one_request_a_resource_but_where_it_cannot(
    make_sim: Any, tmp_path: Path
) -> None:
    # The requests are the API side's alone: one database (SQLite) shows them.
    engine = make_engine(f"sqlite:///{tmp_path / 'mirror.db'}")
    upgrade(engine)
    sim = make_sim(40, clock=office_clock()).fill_practice()
    sync(sim, engine)
    sim.clock.advance(900)
    sim.requests.clear()
    results = sync(sim, engine)
    spent = {r.resource: r.stats.requests for r in results}
    assert sum(spent.values()) == len(sim.requests)
    by_path = Counter(r.path.removeprefix("/api/v1/").strip("/") for r in sim.requests)
    assert by_path["histappointments"] == 0  # the probe found no deletion since its last read
    daily = {r.name for r in RESOURCES.values() if r.every is not None}
    # The whole pulls one SQL probe found unchanged cost nothing (the probe is counted on
    # patients, the first resource it asked about).
    unchanged = {r.resource for r in results if whole_probe.UNCHANGED in r.notes}
    assert unchanged == set(_vouched())
    quiet = {r.name for r in RESOURCES.values() if fan_probe.stamp_of(r) or window_probe.probed(r)}
    assert quiet == {"adjustments", "payplancharges", "proctps", "schedules", "payments"}
    windows = {"schedules", "payments"}
    assert {r.resource for r in results if window_probe.UNCHANGED in r.notes} == windows
    # Lists by a change stamp with no row stamped since their cursor (less the overlap) cost
    # nothing either; nor do those whose cursor is their newest row's stamp (it is in the
    # window) when their window's rows are the mirror's (etl.sync.rows_probe).
    nothing_new = {r.resource for r in results if pass_probe.NOTHING_NEW in r.notes}
    stamped = {r.name for r in RESOURCES.values() if pass_probe.listed_by_stamp(r)}
    assert nothing_new == stamped == {
        "patients", "appointments", "procedurelogs", "providers", "procedurecodes"
    }  # fmt: skip
    same = {r.resource for r in results if rows_probe.SAME_ROWS in r.notes}
    assert same == {"claims", "claimpayments", "inssubs", "treatplans", "refattaches", "commlogs"}
    # Fan-outs whose children have no change column: their whole child table is the mirror's
    # (etl.sync.fan_ranges), so no parent is read.
    compared = {r.name for r in RESOURCES.values() if fan_prints.fingerprinted(r)}
    assert compared == {"payplans", "treatplanattaches"}
    free = daily | unchanged | quiet | nothing_new | same | compared
    assert {name for name, count in spent.items() if count == 0} == free - {"patients"}
    over_one = {name: count for name, count in spent.items() if count > 1}
    assert over_one == _expected_over_one(sim)
    assert set(spent) == set(ALL)
    engine.dispose()


def test_the_run_summary_shows_requests_per_resource(make_sim: Any, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'mirror.db'}"
    sim = make_sim(150, clock=office_clock()).fill_practice()
    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()
    settings = settings_for(sim, db_url)
    settings = dataclasses.replace(
        settings, sync=dataclasses.replace(settings.sync, resources=("patients", "providers"))
    )
    lines: list[str] = []
    sync_mirrors(settings, out=lines.append, json_lines=False)
    # patients: two pages, the closing change check, then the Deleted and Archived passes.
    assert lines[-1] == "requests: 6 in all (patients 5, providers 1)"


def test_the_requests_line_lists_the_costliest_first_and_counts_the_free() -> None:
    def result(name: str, requests: int) -> RunResult:
        return RunResult(name, "incremental", RunStats(requests=requests), 0.1, None, True)

    results = [result("fees", 0), result("patients", 3), result("claims", 1), result("a", 3)]
    assert requests_line(results) == "requests: 7 in all (a 3, patients 3, claims 1); 1 with none"
    assert requests_line([result("fees", 0)]) == "requests: 0 in all; 1 with none"


def test_a_config_of_tables_only_costs_one_request_when_nothing_changed(
    office: Simulator, engine: Engine, tmp_path: Any
) -> None:
    config = tmp_path / "odmirror.yaml"
    config.write_text(
        f"api:\n  base_url: {office.base_url}\n  developer_key: {office.config.developer_key}\n"
        f"  customer_key: {office.config.customer_key}\n  min_request_interval: 0\n"
        f"database:\n  url: {url_of(engine)}\n"
        "sync:\n  resources: []\n  tables: [claimproc, paysplit]\n",
        encoding="utf-8",
    )
    settings = load_settings(str(config))
    assert settings.sync.resources == ()
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        first = run_sync(settings, client=client)
    assert [(r.resource, r.mode, r.stats.fetched) for r in first] == [
        ("claimproc", "full", 120),
        ("paysplit", "full", 120),
    ]
    office.clock.advance(300)
    office.requests.clear()
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        again = run_sync(settings, client=client)
    assert [(r.resource, r.stats.fetched) for r in again] == [("claimproc", 0), ("paysplit", 0)]
    assert [r.path for r in office.requests] == [SQL_PATH]  # the change probe, nothing else
    config.write_text(config.read_text().replace("claimproc, paysplit", ""), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"'sync\.resources' and 'sync\.tables' are both empty"):
        load_settings(str(config))
