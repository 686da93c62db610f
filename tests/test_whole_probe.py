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
from sqlalchemy import Engine, MetaData, create_engine, insert, select, update

from etl.catalog.opendental import od_table
from etl.catalog.resources import RESOURCES
from etl.mirror.bookkeeping import Setting
from etl.simulator import OfficeClock, Simulator
from etl.simulator.office_db import OfficeDatabase
from etl.sync import state, whole_probe, whole_skip, whole_sql
from etl.sync.state import RunResult
from tests.mariadb import fresh_mariadb
from tests.practice import mirror, probed_office, sync_by_name

START = dt.datetime(2025, 3, 14, 9, 26, 53)
SQL_PATH = "/api/v1/queries/ShortQuery"
PROBED = ("claimprocs", "paysplits", "patplans", "recalls", "claimtrackings")
#: Whole pulls without a change column: the probe fingerprints their rows.
PRINTED = ("scheduleops", "payplanlinks")
NAMES = PROBED + PRINTED


@pytest.fixture
def office(make_sim: Any) -> Simulator:
    """A small practice whose ShortQuery reads the REST tables; its clock past every stamp."""
    sim: Simulator = probed_office(make_sim)
    return sim


def _sync(sim: Simulator, engine: Engine, full: bool = False) -> dict[str, RunResult]:
    return sync_by_name(sim, engine, NAMES, full)


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
    assert all(first[n].stats.fetched == len(office.tables.all(n)) > 0 for n in NAMES)
    assert len(_sql_sent(office)) == 2  # the Queries permission's check, then the probe
    with engine.connect() as conn:
        saved = {name: value for name, value in conn.execute(select(Setting.name, Setting.value))}
    remembered = {k.removeprefix(whole_probe.PREFIX): v for k, v in saved.items() if v}
    assert sorted(set(remembered) & set(NAMES)) == sorted(NAMES)
    assert json.loads(remembered["recalls"])["before"] == office.clock.now().isoformat()
    assert json.loads(remembered["recalls"])["count"] == len(office.tables.all("recalls"))
    kept = json.loads(remembered["scheduleops"])
    assert (kept["count"], kept["newest"]) == (len(office.tables.all("scheduleops")), None)
    assert list(kept["captions"]) == ["scheduleop.*"]  # its rows' fingerprint stands for a stamp
    office.clock.advance(300)
    again = _sync(office, engine)
    sql = _sql_sent(office)
    # The clock, a row per table, the fingerprint of paysplits' captions (definitions), and
    # the key figures of each table with a change column (etl.sync.whole_changes).
    assert len(sql) == 1 and sql[0].count("UNION ALL") == len(NAMES) + 1 + len(PROBED)
    assert _listed(office) == set()  # none is listed
    assert _shown(again, NAMES) == [
        ("claimprocs", 0, 1),  # the probe is counted on the first
        ("paysplits", 0, 0),
        ("patplans", 0, 0),
        ("recalls", 0, 0),
        ("claimtrackings", 0, 0),
        ("scheduleops", 0, 0),
        ("payplanlinks", 0, 0),
    ]
    assert again["claimprocs"].notes == [
        whole_probe.UNCHANGED,
        "counts the run's probe of 7 whole pulls (1 request)",
    ]
    assert all(again[n].notes == [whole_probe.UNCHANGED] for n in NAMES[1:])


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


def test_a_deleted_an_inserted_and_an_edited_row_each_make_its_read(
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
        # Read by SQL, the rows stamped since the last read; a deletion by reconciling keys
        # (etl.sync.whole_changes, tests/test_changed_rows.py).
        assert results["claimprocs"].stats.fetched == (change != "delete"), change
        assert _shown(results, PROBED[1:]) == [(n, 0, 0) for n in PROBED[1:]]
        office.clock.advance(300)
        assert _sync(office, engine)["claimprocs"].stats.fetched == 0, change  # remembered
    rows = mirror(engine, RESOURCES["claimprocs"])
    assert [k for k, r in rows.items() if r["odmirror_gone_at"] is not None] == [keys[2]]
    assert len(rows) == len(keys) + 1 and rows[keys[4]]["writeoff"] == 12.25
    new = max(rows)
    assert (rows[new]["writeoff"], rows[new]["odmirror_gone_at"]) == (1.5, None)


def test_a_table_without_a_change_column_is_read_after_an_edit_or_a_deletion(
    office: Simulator, engine: Engine
) -> None:
    tables = office.tables
    assert tables is not None
    first = _sync(office, engine)
    keys = [r["ScheduleOpNum"] for r in tables.all("scheduleops")]
    before = tables.all("scheduleops")[1]
    changes = {  # no stamp moves: scheduleop has no change column
        "edit": lambda: tables.update(
            "scheduleops", keys[1], OperatoryNum=before["OperatoryNum"] + 1
        ),
        "delete": lambda: tables["scheduleops"].rows.pop(keys[3]),
    }
    for change, make in changes.items():
        office.clock.advance(300)
        make()
        results = _sync(office, engine)
        assert _shown(results, ("scheduleops",)) == [
            ("scheduleops", len(tables.all("scheduleops")), first["scheduleops"].stats.requests)
        ], change
        assert _shown(results, PRINTED[1:]) == [("payplanlinks", 0, 0)]
        office.clock.advance(300)
        assert _sync(office, engine)["scheduleops"].stats.fetched == 0, change  # remembered
    rows = mirror(engine, RESOURCES["scheduleops"])
    assert rows[keys[1]] == {**rows[keys[1]], "operatorynum": before["OperatoryNum"] + 1}
    assert [k for k, r in rows.items() if r["odmirror_gone_at"] is not None] == [keys[3]]


def test_an_edit_made_during_the_pull_is_read_again_next_run(
    office: Simulator, engine: Engine
) -> None:
    tables = office.tables
    assert tables is not None
    _sync(office, engine)
    office.clock.advance(300)
    key, op = tables.all("payplanlinks")[0]["PayPlanLinkNum"], keys_of(tables, "scheduleops")[0]
    tables.update("scheduleops", op, OperatoryNum=99)  # both are read this run
    tables.update("payplanlinks", key, AmountOverride=1.5)
    edits = {"scheduleops": 98, "payplanlinks": 97}

    def edit(index: int, path: str) -> None:
        # After the probe: scheduleops as its pull begins (the pull sees it), then again as
        # payplanlinks' begins (its pull has ended: the mirror keeps 98); payplanlinks too.
        if path == "payplanlinks":
            tables.update("payplanlinks", key, AmountOverride=12.5)
        if path in edits:
            tables.update("scheduleops", op, OperatoryNum=edits.pop(path))

    tables.on_serve(edit)
    results = _sync(office, engine)
    tables.on_serve(None)
    assert [results[n].stats.fetched for n in PRINTED] == [len(tables.all(n)) for n in PRINTED]
    assert mirror(engine, RESOURCES["scheduleops"])[op]["operatorynum"] == 98
    assert mirror(engine, RESOURCES["payplanlinks"])[key]["amountoverride"] == 12.5
    office.clock.advance(300)
    # The probe kept is the one before the pulls: the edits made since differ from it.
    again = _sync(office, engine)
    assert [again[n].stats.fetched for n in PRINTED] == [len(tables.all(n)) for n in PRINTED]
    assert mirror(engine, RESOURCES["scheduleops"])[op]["operatorynum"] == 97
    office.clock.advance(300)
    assert [_sync(office, engine)[n].stats.fetched for n in PRINTED] == [0, 0]


def keys_of(tables: Any, path: str) -> list[int]:
    """A list's keys, in order."""
    return [r[RESOURCES[path].key] for r in tables.all(path)]


def test_an_edit_in_the_same_second_as_the_newest_stamp_is_pulled(
    office: Simulator, engine: Engine
) -> None:
    tables = office.tables
    assert tables is not None
    _sync(office, engine)
    first, second = (r["RecallNum"] for r in tables.all("recalls")[:2])
    tables.update("recalls", first, Note="moved")  # stamped at the clock of the last probe
    # Its changed rows are read by SQL up to the probe's clock, not at it (whole_changes).
    assert _sync(office, engine)["recalls"].stats.fetched == 0
    # The same second again: the count and the newest stamp are as the last pull's probe saw
    # them, but that stamp is not older than its clock less the overlap: read.
    tables.update("recalls", second, Note="moved too")
    office.clock.advance(1)
    results = _sync(office, engine)
    assert (results["recalls"].stats.fetched, results["recalls"].stats.updated) == (2, 2)
    assert mirror(engine, RESOURCES["recalls"])[second]["note"] == "moved too"
    office.clock.advance(300)
    assert _sync(office, engine)["recalls"].stats.fetched > 0  # its read's clock was too close
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


def test_an_office_refusing_the_fingerprints_reads_those_tables_every_run(
    office: Simulator, engine: Engine
) -> None:
    first = _sync(office, engine)
    office.clock.advance(300)
    # An older Open Dental lacks a column a fingerprint names: 400, the whole SELECT refused.
    office.fail_next(400, "Error executing query: Unknown column")
    refused = _sync(office, engine)
    sql = _sql_sent(office)
    assert len(sql) == 2 and "scheduleop" in sql[0] and "scheduleop" not in sql[1]
    assert (
        _shown(refused, NAMES)
        == [
            ("claimprocs", 0, 2),  # both probes counted on the first
            *[(n, 0, 0) for n in PROBED[1:]],
            *[(n, first[n].stats.fetched, first[n].stats.requests) for n in PRINTED],
        ]
    )
    office.clock.advance(300)
    again = _sync(office, engine)  # not asked again: one probe, those two read
    assert len(_sql_sent(office)) == 1 and "scheduleop" not in _sql_sent(office)[0]
    assert _shown(again, NAMES) == [
        ("claimprocs", 0, 1),
        *[(n, 0, 0) for n in PROBED[1:]],
        *[(n, first[n].stats.fetched, first[n].stats.requests) for n in PRINTED],
    ]
    # A week on (an office upgraded since, say), they are asked again, and vouched for again.
    with engine.begin() as conn:
        conn.execute(
            update(Setting)
            .where(Setting.name == whole_skip.PRINTS_REFUSED)
            .values(value=(state.utcnow() - whole_skip.PRINTS_RETRY).isoformat())
        )
    office.clock.advance(300)
    _sync(office, engine)
    assert len(_sql_sent(office)) == 1 and "scheduleop" in _sql_sent(office)[0]


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
    # The probe goes to the office's own MySQL/MariaDB: run it there (MySQL 5.5 SQL), and the
    # simulator's office database answers it the same.
    metadata = MetaData()
    claimproc, definition = od_table("claimproc", metadata), od_table("definition", metadata)
    scheduleop = od_table("scheduleop", metadata)
    stamps = [dt.datetime(2025, 3, 1, 8, 0, 0), dt.datetime(2025, 3, 2, 9, 30, 0)]
    claimprocs = [
        {"claimprocnum": 1, "secdatetedit": stamps[0]},
        {"claimprocnum": 2, "secdatetedit": stamps[1]},
    ]
    ops = [  # a NULL moves no value into its place: the flags say which was NULL
        {"scheduleopnum": 1, "schedulenum": 10, "operatorynum": None},
        {"scheduleopnum": 2, "schedulenum": None, "operatorynum": 10},
    ]
    resources = [RESOURCES["claimprocs"], RESOURCES["paysplits"], RESOURCES["scheduleops"]]
    sql = whole_sql.probe_sql(resources).replace("FROM paysplit", "FROM claimproc")
    with fresh_mariadb() as url:
        office = create_engine(url)
        metadata.create_all(office)
        with office.begin() as conn:
            conn.execute(insert(claimproc), claimprocs)
            conn.execute(insert(definition), [{"defnum": 7, "itemname": "Prepaid"}])
            conn.execute(insert(scheduleop), ops)
        with office.connect() as conn:
            found = conn.exec_driver_sql(sql).mappings().all()
        office.dispose()
    labels = [r["TableName"] for r in found]
    assert labels == ["NOW()", "claimproc", "paysplit", "scheduleop.*", "definition.ItemName"]
    assert [int(r["Changed"]) for r in found[1:]] == [2, 2, 2, 1]
    newest = {r["TableName"]: r["Newest"] for r in found}
    assert str(newest["claimproc"]) == "2025-03-02 09:30:00"
    assert int(newest["definition.ItemName"]) == zlib.crc32(b"7|Prepaid|00")
    assert int(newest["scheduleop.*"]) == zlib.crc32(b"1|10|001") + zlib.crc32(b"2|10|010")
    simulated = OfficeDatabase(OfficeClock(start=START))
    simulated.insert(
        "scheduleop",
        [
            {"ScheduleOpNum": 1, "ScheduleNum": 10, "OperatoryNum": None},
            {"ScheduleOpNum": 2, "ScheduleNum": None, "OperatoryNum": 10},
        ],
    )
    simulated.insert("definition", [{"DefNum": 7, "ItemName": "Prepaid"}])
    status, rows = simulated.run(whole_sql.probe_sql([RESOURCES["scheduleops"]]))
    assert status == 200
    assert {r["TableName"]: int(r["Newest"]) for r in rows[1:]} == {
        "scheduleop.*": int(newest["scheduleop.*"])
    }
