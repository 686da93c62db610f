"""Whole pulls that changed a little read their changed rows by SQL (etl.sync.whole_changes).

The simulator's ShortQuery reads the REST lists' own tables, so an edit made through the REST
store is what the probe counts and what the keyset read returns. Its clock stands still unless
a test moves it. Each mirror is compared, whole row by whole row, with what the lists send.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, insert, update

from etl.catalog.opendental import od_table
from etl.catalog.resources import RESOURCES
from etl.simulator import Simulator
from etl.sync import fan_ranges, whole_changes, whole_probe
from etl.sync.state import RunResult
from tests.mariadb import fresh_mariadb
from tests.practice import assert_mirrors, mirror, probed_office, sync_by_name

SQL_PATH = "/api/v1/queries/ShortQuery"
PROBED = ("claimprocs", "paysplits", "patplans", "recalls", "claimtrackings")
NAMES = (*PROBED, "scheduleops")


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """SQLite, PostgreSQL and MariaDB mirrors."""
    return db_url_all


@pytest.fixture
def office(make_sim: Any) -> Simulator:
    """A small practice whose ShortQuery reads the REST tables; its clock past every stamp."""
    sim: Simulator = probed_office(make_sim)
    return sim


def _sync(sim: Simulator, engine: Engine) -> dict[str, RunResult]:
    return sync_by_name(sim, engine, NAMES)


def _loaded(sim: Simulator, engine: Engine) -> Any:
    """The office's tables, after a first run read them whole and 5 minutes went by."""
    assert sim.tables is not None
    _sync(sim, engine)
    sim.clock.advance(300)
    return sim.tables


def _listed(sim: Simulator) -> set[str]:
    return {r.path.removeprefix("/api/v1/") for r in sim.requests if r.path != SQL_PATH}


def _first_key(sim: Simulator, path: str, **where: Any) -> int:
    assert sim.tables is not None
    rows = [r for r in sim.tables.all(path) if all(r[k] == v for k, v in where.items())]
    return int(rows[0][RESOURCES[path].key])


def _assert_all_mirrored(sim: Simulator, engine: Engine) -> None:
    for name in NAMES:
        assert_mirrors(engine, sim, RESOURCES[name])


def test_an_edit_in_each_table_is_read_by_sql_as_the_list_sends_it(
    office: Simulator, engine: Engine
) -> None:
    tables = _loaded(office, engine)
    split = _first_key(office, "paysplits")
    edits = {  # codes, flags, dates, amounts, a packed interval, a caption's code
        "claimprocs": {"Status": "Received", "WriteOff": 12.25, "NoBillIns": "true",
                       "DateCP": "2025-03-12", "Remarks": "a\tb\\c 'd' é"},
        "paysplits": {"SplitAmt": 60.5, "DatePay": "2025-03-13"},
        "patplans": {"Relationship": "Spouse", "IsPending": "true", "PatID": ""},
        "recalls": {"RecallInterval": "1y2w", "Priority": "ASAP", "Note": "moved"},
        "claimtrackings": {"Note": "Called back"},
    }  # fmt: skip
    keys = {path: _first_key(office, path) for path in edits}
    keys["paysplits"] = split
    for path, fields in edits.items():
        tables.update(path, keys[path], **fields)
    office.clock.advance(120)  # past the overlap: the read is vouched for up to its probe
    results = _sync(office, engine)
    assert _listed(office) == set()  # no list is read
    shown = [(n, results[n].stats.fetched, results[n].stats.requests) for n in PROBED]
    # The probe is counted on the first; one ShortQuery page each.
    assert shown == [("claimprocs", 1, 2)] + [(n, 1, 1) for n in PROBED[1:]]
    assert "1 rows stamped since" in results["recalls"].notes[0]
    _assert_all_mirrored(office, engine)
    office.clock.advance(300)
    again = _sync(office, engine)  # the read was vouched for: nothing read
    assert [again[n].stats.fetched for n in PROBED] == [0] * len(PROBED)
    assert all(again[n].notes[0] == whole_probe.UNCHANGED for n in PROBED)


def test_a_row_deleted_is_marked_by_reconciling_the_keys(office: Simulator, engine: Engine) -> None:
    tables = _loaded(office, engine)
    gone = _first_key(office, "claimprocs")
    tables["claimprocs"].rows.pop(gone)
    copied = {k: v for k, v in tables.all("claimprocs")[0].items() if k != "SecDateTEdit"}
    added = tables.add("claimprocs", **{**copied, "WriteOff": 1.5})  # stamped now
    office.clock.advance(120)  # past the overlap: the read is vouched for up to its probe
    results = _sync(office, engine)
    assert results["claimprocs"].stats.fetched == 1  # the insert; the deletion by its keys
    assert results["claimprocs"].notes[1].startswith("reconciled: 1 gone, 0 back, 0 not yet read")
    rows = mirror(engine, RESOURCES["claimprocs"])
    assert rows[gone]["odmirror_gone_at"] is not None and rows[added]["odmirror_gone_at"] is None
    office.clock.advance(300)
    assert _sync(office, engine)["claimprocs"].stats.fetched == 0  # vouched for
    office.clock.advance(300)
    tables["claimprocs"].rows.pop(added)  # a deletion alone: no row to read, no page asked
    results = _sync(office, engine)
    calls = [r for r in office.requests if r.path == SQL_PATH]
    assert (len(calls), results["claimprocs"].stats.requests) == (3, 3)  # the probe, 2 calls
    assert results["claimprocs"].notes[1].startswith("reconciled: 1 gone")


def test_a_row_edited_after_the_probe_and_before_its_read_is_read_next_run(
    office: Simulator, engine: Engine
) -> None:
    tables = _loaded(office, engine)
    row = {k: v for k, v in tables.all("claimtrackings")[0].items() if k != "ClaimTrackingNum"}
    added = tables.add("claimtrackings", **{**row, "Note": "new", "DateTimeEntry": None})
    tables.update("scheduleops", _first_key(office, "scheduleops"), OperatoryNum=7)
    office.clock.advance(60)

    def edit(index: int, path: str) -> None:
        # scheduleops is listed before claimtrackings is read: the row moves past the probe.
        if path == "scheduleops":
            office.clock.advance(5)
            tables.update("claimtrackings", added, Note="edited after the probe")

    tables.on_serve(edit)
    results = _sync(office, engine)
    tables.on_serve(None)
    assert results["claimtrackings"].stats.fetched == 0
    assert results["claimtrackings"].notes[1:] == [
        "reconciled: 0 gone, 0 back, 1 not yet read, 2 requests",
        "keys still unlike the probe's: the next run reads from the same time",
    ]
    assert added not in mirror(engine, RESOURCES["claimtrackings"])
    office.clock.advance(120)
    again = _sync(office, engine)  # from the same time again: the row is read, vouched for
    assert again["claimtrackings"].stats.fetched == 1
    _assert_all_mirrored(office, engine)
    office.clock.advance(300)
    assert _sync(office, engine)["claimtrackings"].stats.fetched == 0


def test_a_caption_code_the_mirror_has_not_shown_reads_the_list_whole(
    office: Simulator, engine: Engine
) -> None:
    tables = _loaded(office, engine)
    tables.update("paysplits", _first_key(office, "paysplits"), UnearnedType=439,
                  unearnedType="Prepaid crowns")  # fmt: skip
    office.clock.advance(120)  # past the overlap: the read is vouched for up to its probe
    results = _sync(office, engine)
    served = len(tables.all("paysplits"))
    assert results["paysplits"].stats.fetched == served  # the whole list (the SQL page: cut)
    assert "a caption the mirror has not shown yet: read whole" in results["paysplits"].notes
    assert "paysplits" in _listed(office)
    _assert_all_mirrored(office, engine)


def test_many_changes_a_stamp_ahead_of_the_clock_or_extra_keys_read_the_list_whole(
    office: Simulator, engine: Engine
) -> None:
    tables = _loaded(office, engine)
    for row in tables.all("recalls")[:3]:  # 3 of 11: more than a quarter
        tables.update("recalls", row["RecallNum"], Note="seen")
    ahead = (office.clock.now().replace(year=2030)).strftime("%Y-%m-%d %H:%M:%S")
    tables.update("patplans", _first_key(office, "patplans"), SecDateTEdit=ahead)
    tables.update("claimtrackings", _first_key(office, "claimtrackings"), Note="x")
    table = RESOURCES["claimtrackings"].table
    with engine.begin() as conn:  # as if the list had sent a key no column holds
        conn.execute(update(table).values(odmirror_extra=json.dumps({"Other": 1})))
    office.clock.advance(120)  # past the overlap: the read is vouched for up to its probe
    results = _sync(office, engine)
    for path in ("recalls", "patplans", "claimtrackings"):
        assert results[path].stats.fetched == len(tables.all(path)), path
    assert {"recalls", "patplans", "claimtrackings"} <= _listed(office)
    assert results["claimprocs"].stats.fetched == 0


def test_a_reconciliation_the_office_refuses_leaves_the_read_to_the_next_run(
    office: Simulator, engine: Engine
) -> None:
    tables = _loaded(office, engine)
    gone = _first_key(office, "claimprocs")
    tables["claimprocs"].rows.pop(gone)
    office.clock.advance(120)
    office.stall_next(0.0)  # the probe is answered; the reconciliation's first call is not
    office.fail_next(400, "no such\x1b[31m function\nforged line", count=1)
    results = _sync(office, engine)
    notes = results["claimprocs"].notes
    assert notes[1].startswith("keys not reconciled: ")
    assert notes[1].endswith("no such\\x1b[31m function forged line")  # escaped, one line
    assert mirror(engine, RESOURCES["claimprocs"])[gone]["odmirror_gone_at"] is None
    assert results["paysplits"].notes == [whole_probe.UNCHANGED]  # the others go on
    office.clock.advance(300)
    again = _sync(office, engine)  # not vouched: asked again, and found
    assert again["claimprocs"].notes[1].startswith("reconciled: 1 gone")
    assert mirror(engine, RESOURCES["claimprocs"])[gone]["odmirror_gone_at"] is not None


def test_the_new_probe_rows_and_groups_run_on_mysql_as_written() -> None:
    # The rows go to the office's own MySQL/MariaDB (MySQL 5.5 SQL): run them there.
    metadata = MetaData()
    claimproc, patient = od_table("claimproc", metadata), od_table("patient", metadata)
    payplan = od_table("payplan", metadata)
    stamps = [dt.datetime(2025, 3, 1, 8, 0, 0), dt.datetime(2025, 3, 2, 9, 30, 0)]
    claimprocs = [{"claimprocnum": 7, "secdatetedit": stamps[0]},
                  {"claimprocnum": 1_000_000_010, "secdatetedit": stamps[1]}]  # fmt: skip
    plans = [{"payplannum": n, "patnum": p, "note": "x"} for n, p in ((1, 5), (2, 5), (3, 0))]
    payplans = RESOURCES["payplans"]
    since = dt.datetime(2025, 3, 2, 0, 0, 0)
    keys = whole_changes._sql(RESOURCES["claimprocs"], since)
    with fresh_mariadb() as url:
        office = create_engine(url)
        metadata.create_all(office)
        with office.begin() as conn:
            conn.execute(insert(claimproc), claimprocs)
            conn.execute(insert(patient), [{"patnum": 5}])
            conn.execute(insert(payplan), plans)
        with office.connect() as conn:
            # PyMySQL formats its statements: `%` doubled (ShortQuery sends the text as is).
            (row,) = conn.exec_driver_sql(keys.replace("%", "%%")).all()
            (table,) = conn.exec_driver_sql(fan_ranges.table_sql(payplans)).all()
            buckets = conn.exec_driver_sql(fan_ranges.groups_sql(payplans, 0, 300, 3)).all()
            parents = conn.exec_driver_sql(fan_ranges.groups_sql(payplans, 0, 6, None)).all()
        office.dispose()
    # COUNT, the keys' sum modulo the prime and the rows stamped since, the newest stamp.
    assert (int(row[1]), row[2], str(row[3])) == (2, "10:1", "2025-03-02 09:30:00")
    # The orphan (patient 0) is on neither side; the two plans of patient 5 are.
    count, total, low, high = (int(part) for part in str(table[2]).split(":"))
    assert (count, low, high) == (2, 5, 5)
    assert [(int(g), int(n)) for g, n, _f in buckets] == [(1, 2)]  # (5 - 0) DIV 3
    assert [(int(g), int(n), int(f)) for g, n, f in parents] == [(5, 2, total)]
