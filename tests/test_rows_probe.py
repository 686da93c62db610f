"""Lists whose cursor is their newest row, skipped when the run's probe proves them unchanged.

claims, claimpayments, inssubs, treatplans, refattaches and commlogs send no serverDateTime
(etl.sync.rows_probe; issue 23). The simulator's ShortQuery reads the REST lists' own tables
(`sql_reads_rest`), so an edit, an insert or a deletion made through the REST store is what
the probe sees. Its clock stands still unless a test moves it. claimprocs, a whole pull, is
synced too: lists alone are not worth a probe (etl.sync.pass_probe.list_asks).
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, insert

from etl.api.client import ApiClient
from etl.catalog.opendental import od_table
from etl.catalog.resources import RESOURCES
from etl.simulator import OfficeClock, Simulator
from etl.simulator.office_db import OfficeDatabase
from etl.sync import change_probe, rows_probe, state
from etl.sync.run import run_sync
from etl.sync.state import RunResult
from tests.conftest import settings_for
from tests.mariadb import fresh_mariadb
from tests.practice import mirror, probed_office, sync_by_name, url_of

START = dt.datetime(2025, 3, 14, 9, 26, 53)
SQL_PATH = "/api/v1/queries/ShortQuery"
LISTS = ("claims", "claimpayments", "inssubs", "treatplans", "refattaches", "commlogs")
NAMES = ("claimprocs", *LISTS)


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """The mirror on each of the three databases: its window is read back from it."""
    return db_url_all


@pytest.fixture
def office(make_sim: Any) -> Simulator:
    """A small practice whose ShortQuery reads the REST tables; its clock past every stamp."""
    sim: Simulator = probed_office(make_sim)
    return sim


def _sync(sim: Simulator, engine: Engine, full: bool = False) -> dict[str, RunResult]:
    return sync_by_name(sim, engine, NAMES, full)


def _asked(sim: Simulator) -> list[str]:
    return sorted(
        "SQL" if r.path == SQL_PATH else r.path.removeprefix("/api/v1/") for r in sim.requests
    )


def _sql_sent(sim: Simulator) -> list[str]:
    return [json.loads(r.body)["SqlCommand"] for r in sim.requests if r.path == SQL_PATH]


def _settled(sim: Simulator, engine: Engine) -> None:
    _sync(sim, engine)  # the first read: every row, its probe clock kept
    sim.clock.advance(300)


def test_the_six_lists_are_the_ones_probed() -> None:
    assert sorted(n for n, r in RESOURCES.items() if rows_probe.from_rows(r)) == sorted(LISTS)


def test_a_run_with_no_change_reads_none_of_them(office: Simulator, engine: Engine) -> None:
    assert office.tables is not None
    first = _sync(office, engine)
    assert all(first[n].stats.fetched == len(office.tables.all(n)) > 0 for n in LISTS)
    office.clock.advance(300)
    cursors = {n: state.get_cursor(engine, n) for n in LISTS}
    before = {n: mirror(engine, RESOURCES[n]) for n in LISTS}
    quiet = _sync(office, engine)
    assert _asked(office) == ["SQL"]  # the one probe: no list read
    # The probe's request is counted on the first resource the run records (here claims).
    assert [(n, quiet[n].stats.fetched, quiet[n].stats.requests) for n in NAMES] == [
        (n, 0, int(n == "claims")) for n in NAMES
    ]
    assert quiet["claims"].notes == [rows_probe.SAME_ROWS, "counts the run's probe (1 request)"]
    assert all(quiet[n].notes == [rows_probe.SAME_ROWS] for n in LISTS[1:])
    assert len(_sql_sent(office)) == 1 and _sql_sent(office)[0].count(":rows'") == len(LISTS)
    # The cursors stay, the mirrors are as they were, row for row.
    assert {n: state.get_cursor(engine, n) for n in LISTS} == cursors
    assert {n: mirror(engine, RESOURCES[n]) for n in LISTS} == before


def test_an_edit_is_read_then_skipped_once_its_read_is_vouched(
    office: Simulator, engine: Engine
) -> None:
    tables = office.tables
    assert tables is not None
    _settled(office, engine)
    claim = tables.all("claims")[-1]["ClaimNum"]  # an old row, far before the window
    edited = tables.update("claims", claim, ClaimNote="called the carrier")
    office.clock.advance(300)
    read = _sync(office, engine)
    assert _asked(office) == ["SQL", "claims"]
    # The window: the row the cursor is, and the one edited.
    assert (read["claims"].stats.fetched, read["claims"].stats.updated) == (2, 1)
    row = mirror(engine, RESOURCES["claims"])[claim]
    assert (row["claimnum"], row["claimnote"], row["secdatetedit"]) == (
        claim,
        "called the carrier",
        dt.datetime.fromisoformat(edited["SecDateTEdit"]),
    )
    office.clock.advance(300)
    again = _sync(office, engine)
    assert _asked(office) == ["SQL"]  # the read's probe came 300 s after the edit: vouched
    assert again["claims"].notes[0] == rows_probe.SAME_ROWS


def test_an_insert_is_read(office: Simulator, engine: Engine) -> None:
    tables = office.tables
    assert tables is not None
    _settled(office, engine)
    sample = tables.all("commlogs")[0]
    fields = {k: v for k, v in sample.items() if k not in ("CommlogNum", "DateTStamp")}
    key = tables.add("commlogs", **{**fields, "Note": "left a message"})
    office.clock.advance(300)
    read = _sync(office, engine)
    assert _asked(office) == ["SQL", "commlogs"]
    assert read["commlogs"].stats.inserted == 1
    assert mirror(engine, RESOURCES["commlogs"])[key]["note"] == "left a message"


def test_an_edit_in_the_read_is_read_again_next_run(office: Simulator, engine: Engine) -> None:
    tables = office.tables
    assert tables is not None
    _settled(office, engine)
    first, second = (r["ClaimNum"] for r in tables.all("claims")[:2])
    tables.update("claims", first, ClaimNote="first")
    office.clock.advance(300)

    def edit(_index: int, path: str) -> None:
        # As the claims list is served, after the probe: stamped at the probe's clock.
        if path == "claims":
            tables.update("claims", second, ClaimNote="during the read")

    tables.on_serve(edit)
    _sync(office, engine)
    tables.on_serve(None)
    office.clock.advance(300)
    # Its stamp is not older than the last read's probe clock less the overlap: read again.
    again = _sync(office, engine)
    assert _asked(office) == ["SQL", "claims"]
    rows = mirror(engine, RESOURCES["claims"])
    assert (rows[first]["claimnote"], rows[second]["claimnote"]) == ("first", "during the read")
    assert again["claims"].notes == []
    office.clock.advance(300)
    _sync(office, engine)
    assert _asked(office) == ["SQL"]


def test_a_row_deleted_in_the_window_is_read_every_run_as_before(
    office: Simulator, engine: Engine
) -> None:
    tables = office.tables
    assert tables is not None
    _settled(office, engine)
    newest = max(tables.all("inssubs"), key=lambda r: (r["SecDateTEdit"], r["InsSubNum"]))
    tables["inssubs"].rows.pop(newest["InsSubNum"])  # no feed shows it: the mirror keeps it
    for _ in range(2):
        office.clock.advance(300)
        _sync(office, engine)
        assert _asked(office) == ["SQL", "inssubs"]
    assert mirror(engine, RESOURCES["inssubs"])[newest["InsSubNum"]]["odmirror_gone_at"] is None
    # The reconciliation (one ShortQuery of key ranges) marks it gone: the windows agree again.
    office.clock.advance(300)
    settings = settings_for(office, url_of(engine))
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        run_sync(settings, client=client, resources=NAMES, reconcile=True)
    gone = mirror(engine, RESOURCES["inssubs"])[newest["InsSubNum"]]
    assert gone["odmirror_gone_at"] is not None and gone["subscriber"] == newest["Subscriber"]
    office.clock.advance(300)
    _sync(office, engine)
    assert _asked(office) == ["SQL"]


def test_without_a_probe_before_it_a_read_vouches_for_nothing(
    office: Simulator, engine: Engine
) -> None:
    _settled(office, engine)
    office.fail_next(400, "Error executing query: Unknown column")
    refused = _sync(office, engine)  # the probe refused: each list read as before
    assert _asked(office) == sorted(["SQL", "claimprocs", *LISTS])
    assert all(refused[n].notes == [] for n in LISTS)
    office.clock.advance(300)
    _sync(office, engine)  # nothing kept: read, and its probe kept
    assert _asked(office) == sorted(["SQL", "claimprocs", *LISTS])
    office.clock.advance(300)
    _sync(office, engine)
    assert _asked(office) == ["SQL"]


def test_full_reads_them(office: Simulator, engine: Engine) -> None:
    _settled(office, engine)
    _sync(office, engine, full=True)
    assert _asked(office) == sorted(["claimprocs", *LISTS])


def test_the_probe_row_runs_on_mysql_as_written(engine: Engine) -> None:
    # The probe goes to the office's own MySQL/MariaDB: its row there, the simulator's, and
    # the mirror's window computed in Python agree.
    metadata = MetaData()
    claim = od_table("claim", metadata)
    since = dt.datetime(2025, 3, 1, 8, 0, 0)
    stamps = {1: since - dt.timedelta(seconds=1), 2: since, 3: since + dt.timedelta(hours=2)}
    with fresh_mariadb() as url:
        office = create_engine(url)
        metadata.create_all(office)
        with office.begin() as conn:
            conn.execute(
                insert(claim), [{"claimnum": k, "secdatetedit": s} for k, s in stamps.items()]
            )
            conn.execute(insert(claim), [{"claimnum": 4, "secdatetedit": None}])
        sql = " UNION ALL ".join(
            [change_probe.clock_select(), rows_probe.row_sql(RESOURCES["claims"], since)]
        )
        with office.connect() as conn:
            found = conn.exec_driver_sql(sql).mappings().all()
        office.dispose()
    row = found[1]
    expected = zlib.crc32(b"2|2025-03-01 08:00:00") + zlib.crc32(b"3|2025-03-01 10:00:00")
    assert (row["TableName"], int(row["Changed"]), int(row["ServerNow"]), str(row["Newest"])) == (
        "pass:claims:rows",
        2,
        expected,
        "2025-03-01 10:00:00",
    )
    simulated = OfficeDatabase(OfficeClock(start=START))
    simulated.insert("claim", [{"ClaimNum": k, "SecDateTEdit": str(s)} for k, s in stamps.items()])
    status, rows = simulated.run(sql)
    assert status == 200 and int(rows[1]["ServerNow"]) == expected
    table = RESOURCES["claims"].table
    with engine.begin() as conn:
        conn.execute(insert(table), [{"claimnum": k, "secdatetedit": s} for k, s in stamps.items()])
    assert rows_probe.mirror_window(engine, RESOURCES["claims"], since) == (
        2,
        stamps[3],
        expected,
    )


def test_a_renamed_definition_reads_the_claim_payments_that_show_its_name(
    office: Simulator, engine: Engine
) -> None:
    tables = office.tables
    assert tables is not None
    # The newest: in the window a read asks (a caption of an older row is read only by --full,
    # with or without SQL: the list asks by stamp).
    payment = max(tables.all("claimpayments"), key=lambda r: r["SecDateTEdit"])
    # The simulator's definitions list lacks the money tables' own: the office's one table.
    named = {"DefNum": payment["PayType"], "Category": 32, "ItemName": payment["payType"]}
    tables.load("definitions", [named])
    _settled(office, engine)
    quiet = _sync(office, engine)
    assert quiet["claimpayments"].notes[0] == rows_probe.SAME_ROWS
    office.clock.advance(300)
    tables.update("definitions", payment["PayType"], ItemName="Cheque")
    for row in tables["claimpayments"].rows.values():  # the caption the API derives
        if row["PayType"] == payment["PayType"]:
            row["payType"] = "Cheque"  # no stamp moves
    tables["claimpayments"].rows.touch()  # changed in place: the served listing follows
    office.clock.advance(120)
    read = _sync(office, engine)
    assert _asked(office) == ["SQL", "claimpayments"]
    assert read["claimpayments"].stats.fetched == 1  # at the same stamp: rewritten all the same
    row = mirror(engine, RESOURCES["claimpayments"])[payment["ClaimPaymentNum"]]
    assert (row["claimpaymentnum"], row["paytype"], row["paytype_name"]) == (
        payment["ClaimPaymentNum"],
        payment["PayType"],
        "Cheque",
    )
    office.clock.advance(300)
    _sync(office, engine)
    assert _asked(office) == ["SQL"]
