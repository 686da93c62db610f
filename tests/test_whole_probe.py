"""Whole pulls skipped when one SQL probe proves them unchanged (etl.sync.whole_probe; issue 23).

The simulator's ShortQuery reads the REST lists' own tables (`sql_reads_rest`, on by default),
so a change made through the REST store (an insert, an edit stamping SecDateTEdit, a deletion)
is what the probe counts. Its clock stands still unless a test moves it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import zlib
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, insert, select

from etl.catalog.opendental import od_table
from etl.catalog.resources import RESOURCES
from etl.mirror.bookkeeping import Setting
from etl.simulator import OfficeClock, Simulator
from etl.sync import whole_probe
from etl.sync.state import RunResult
from tests.mariadb import fresh_mariadb
from tests.practice import mirror, sync

START = dt.datetime(2025, 3, 14, 9, 26, 53)
SQL_PATH = "/api/v1/queries/ShortQuery"
PROBED = ("claimprocs", "paysplits", "patplans", "recalls", "claimtrackings")
#: Whole pulls the probe cannot vouch for: no change column.
NOT_PROBED = ("scheduleops", "payplanlinks")
NAMES = PROBED + NOT_PROBED


@pytest.fixture
def office(make_sim: Any) -> Simulator:
    """A small practice whose ShortQuery reads the REST tables; its clock past every stamp."""
    sim: Simulator = make_sim(patients=12, clock=OfficeClock(start=START)).fill_practice()
    sim.clock.advance(300)
    return sim


def _sync(sim: Simulator, engine: Engine, full: bool = False) -> dict[str, RunResult]:
    sim.requests.clear()  # each test reads what this run asked
    return {r.resource: r for r in sync(sim, engine, NAMES, full=full)}


def _sql_sent(sim: Simulator) -> list[str]:
    return [json.loads(r.body)["SqlCommand"] for r in sim.requests if r.path == SQL_PATH]


def _listed(sim: Simulator) -> set[str]:
    return {r.path.removeprefix("/api/v1/") for r in sim.requests if r.path != SQL_PATH}


def _shown(results: dict[str, RunResult], names: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [(n, results[n].stats.fetched, results[n].stats.requests) for n in names]


def test_a_run_with_no_change_costs_one_request_for_every_probed_whole_pull(
    office: Simulator, engine: Engine
) -> None:
    assert office.tables is not None
    first = _sync(office, engine)
    assert all(first[n].stats.fetched == len(office.tables.all(n)) > 0 for n in PROBED)
    assert len(_sql_sent(office)) == 2  # the Queries permission's check, then the probe
    with engine.connect() as conn:
        saved = {name: value for name, value in conn.execute(select(Setting.name, Setting.value))}
    remembered = {k.removeprefix(whole_probe.PREFIX): v for k, v in saved.items() if v}
    assert sorted(set(remembered) & set(NAMES)) == sorted(PROBED)
    assert json.loads(remembered["recalls"])["before"] == office.clock.now().isoformat()
    assert json.loads(remembered["recalls"])["count"] == len(office.tables.all("recalls"))
    office.clock.advance(300)
    again = _sync(office, engine)
    sql = _sql_sent(office)
    # The clock, a row per table, and the fingerprint of paysplits' captions (definitions).
    assert len(sql) == 1 and sql[0].count("UNION ALL") == len(PROBED) + 1
    assert _listed(office) == set(NOT_PROBED)  # the others are listed as before
    assert _shown(again, PROBED) == [
        ("claimprocs", 0, 1),  # the probe is counted on the first
        ("paysplits", 0, 0),
        ("patplans", 0, 0),
        ("recalls", 0, 0),
        ("claimtrackings", 0, 0),
    ]
    assert again["claimprocs"].notes == [
        whole_probe.UNCHANGED,
        "counts the run's probe of 5 whole pulls (1 request)",
    ]
    assert all(again[n].notes == [whole_probe.UNCHANGED] for n in PROBED[1:])
    assert all(again[n].stats.fetched == first[n].stats.fetched for n in NOT_PROBED)


def test_a_renamed_definition_pulls_the_paysplits_that_show_its_name(
    office: Simulator, engine: Engine
) -> None:
    tables = office.tables
    assert tables is not None
    split = next(r for r in tables.all("paysplits") if r["UnearnedType"])
    # The simulator's definitions list lacks the money tables' own: the office's one table.
    named = {"DefNum": split["UnearnedType"], "Category": 29, "ItemName": split["unearnedType"]}
    tables.load("definitions", [named])
    _sync(office, engine)
    office.clock.advance(300)
    tables.update("definitions", split["UnearnedType"], ItemName="Prepaid, renamed")
    for row in tables["paysplits"].rows.values():  # the caption the API derives
        if row["UnearnedType"] == split["UnearnedType"]:
            row["unearnedType"] = "Prepaid, renamed"
    office.clock.advance(120)
    results = _sync(office, engine)
    assert results["paysplits"].stats.updated > 0
    assert _shown(results, ("claimprocs", "recalls")) == [("claimprocs", 0, 1), ("recalls", 0, 0)]
    rows = mirror(engine, RESOURCES["paysplits"])
    assert rows[split["SplitNum"]]["unearnedtype_name"] == "Prepaid, renamed"


def test_a_deleted_an_inserted_and_an_edited_row_each_make_its_pull(
    office: Simulator, engine: Engine
) -> None:
    tables = office.tables
    assert tables is not None
    _sync(office, engine)
    keys = [r["ClaimProcNum"] for r in tables.all("claimprocs")]
    copied = {k: v for k, v in tables.all("claimprocs")[0].items() if k != "SecDateTEdit"}
    changes = {
        "delete": lambda: tables["claimprocs"].rows.pop(keys[2]),
        "insert": lambda: tables.add("claimprocs", **{**copied, "WriteOff": 1.5}),
        "edit": lambda: tables.update("claimprocs", keys[4], WriteOff=12.25),
    }
    for change, make in changes.items():
        office.clock.advance(300)
        make()
        office.clock.advance(120)  # past the overlap: the pull that reads it is remembered
        results = _sync(office, engine)
        served = tables.all("claimprocs")
        assert results["claimprocs"].stats.fetched == len(served), change
        assert _shown(results, PROBED[1:]) == [(n, 0, 0) for n in PROBED[1:]]
        office.clock.advance(300)
        assert _sync(office, engine)["claimprocs"].stats.fetched == 0, change  # remembered
    rows = mirror(engine, RESOURCES["claimprocs"])
    assert [k for k, r in rows.items() if r["odmirror_gone_at"] is not None] == [keys[2]]
    assert len(rows) == len(keys) + 1 and rows[keys[4]]["writeoff"] == 12.25
    new = max(rows)
    assert (rows[new]["writeoff"], rows[new]["odmirror_gone_at"]) == (1.5, None)


def test_an_edit_in_the_same_second_as_the_newest_stamp_is_pulled(
    office: Simulator, engine: Engine
) -> None:
    tables = office.tables
    assert tables is not None
    _sync(office, engine)
    first, second = (r["RecallNum"] for r in tables.all("recalls")[:2])
    tables.update("recalls", first, Note="moved")  # stamped at the clock of the last probe
    assert _sync(office, engine)["recalls"].stats.updated == 1
    # The same second again: the count and the newest stamp are as the last pull's probe saw
    # them, but that stamp is not older than its clock less the overlap: pulled.
    tables.update("recalls", second, Note="moved too")
    results = _sync(office, engine)
    assert (results["recalls"].stats.fetched, results["recalls"].stats.updated) == (
        len(tables.all("recalls")),
        1,
    )
    assert mirror(engine, RESOURCES["recalls"])[second]["note"] == "moved too"
    office.clock.advance(300)
    assert _sync(office, engine)["recalls"].stats.fetched > 0  # its pull's clock was too close
    office.clock.advance(300)
    assert _sync(office, engine)["recalls"].stats.fetched == 0


def test_a_refused_probe_pulls_as_before(office: Simulator, engine: Engine) -> None:
    first = _sync(office, engine)
    office.clock.advance(300)
    office.fail_next(401, "This API key does not have permission to run queries.")
    refused = _sync(office, engine)
    # Each pulled as before; the refused probe is counted on the first (no Queries check).
    assert _shown(refused, PROBED) == [
        (n, first[n].stats.fetched, first[n].stats.requests - (n == PROBED[0])) for n in PROBED
    ]
    assert all(whole_probe.UNCHANGED not in refused[n].notes for n in PROBED)
    office.clock.advance(300)
    # A pull without a probe vouches for nothing: the next one is probed and remembered.
    assert _sync(office, engine)["claimprocs"].stats.fetched == first["claimprocs"].stats.fetched
    office.clock.advance(300)
    assert _sync(office, engine)["claimprocs"].stats.fetched == 0


def test_without_the_queries_permission_nothing_changes(
    make_sim: Any, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    sim: Simulator = make_sim(
        patients=12, clock=OfficeClock(start=START), queries_allowed=False
    ).fill_practice()
    with caplog.at_level(logging.INFO, logger="etl"):
        first = _sync(sim, engine)
    # The config asks for no SQL: a tier without it is said, but is no warning.
    said = [(r.levelname, r.getMessage()) for r in caplog.records if "query mode" in r.getMessage()]
    assert [level for level, _ in said] == ["INFO"]
    assert said[0][1].startswith("query mode off for this office (after a tier upgrade")
    sim.clock.advance(300)
    again = _sync(sim, engine)
    assert _sql_sent(sim) == []  # asked once on the first run, remembered
    assert [again[n].stats.fetched for n in NAMES] == [first[n].stats.fetched for n in NAMES]


def test_full_never_skips(office: Simulator, engine: Engine) -> None:
    first = _sync(office, engine)
    office.clock.advance(300)
    full = _sync(office, engine, full=True)
    assert _sql_sent(office) == []
    assert [full[n].stats.fetched for n in NAMES] == [first[n].stats.fetched for n in NAMES]
    office.clock.advance(300)
    # A --full pull made no probe: the next run pulls again, then skips.
    assert _sync(office, engine)["claimprocs"].stats.fetched == first["claimprocs"].stats.fetched
    office.clock.advance(300)
    assert _sync(office, engine)["claimprocs"].stats.fetched == 0


def test_the_probe_runs_on_mysql_as_written() -> None:
    # The probe goes to the office's own MySQL/MariaDB: run it there (MySQL 5.5 SQL).
    metadata = MetaData()
    claimproc, definition = od_table("claimproc", metadata), od_table("definition", metadata)
    with fresh_mariadb() as url:
        office = create_engine(url)
        metadata.create_all(office)
        stamps = [dt.datetime(2025, 3, 1, 8, 0, 0), dt.datetime(2025, 3, 2, 9, 30, 0)]
        with office.begin() as conn:
            conn.execute(
                insert(claimproc),
                [
                    {"claimprocnum": 1, "secdatetedit": stamps[0]},
                    {"claimprocnum": 2, "secdatetedit": stamps[1]},
                ],
            )
            conn.execute(insert(definition), [{"defnum": 7, "itemname": "Prepaid"}])
        resources = [RESOURCES["claimprocs"], RESOURCES["paysplits"]]
        sql = whole_probe.probe_sql(resources).replace("FROM paysplit", "FROM claimproc")
        with office.connect() as conn:
            found = conn.exec_driver_sql(sql).mappings().all()
        office.dispose()
    labels = [r["TableName"] for r in found]
    assert labels == ["NOW()", "claimproc", "paysplit", "definition.ItemName"]
    assert [int(r["Changed"]) for r in found[1:]] == [2, 2, 1]
    newest = {r["TableName"]: r["Newest"] for r in found}
    assert str(newest["claimproc"]) == "2025-03-02 09:30:00"
    assert int(newest["definition.ItemName"]) == zlib.crc32(b"7|Prepaid")
