"""Query mode: any Open Dental table read through ShortQuery, against the simulator's database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, insert, select, text, update

from etl.api.client import ApiClient
from etl.api.paginator import KeysetPaginator
from etl.api.short_query import QueryNotAllowed, QueryRefused, office_now, short_query
from etl.catalog.opendental import OD_TABLES, od_table
from etl.catalog.query_tables import query_resource, query_table
from etl.config.load import settings_from_dict
from etl.errors import ApiError, ConfigError
from etl.mirror.bookkeeping import SyncState
from etl.simulator import OfficeClock, Simulator
from etl.simulator.clock import format_datetime
from etl.simulator.office_db import OfficeDatabase
from etl.simulator.office_rows import office_rows
from etl.status import collect, text_lines
from etl.sync import state
from etl.sync.query_detect import remembered
from etl.sync.run import run_sync
from etl.sync.state import RunResult
from tests.conftest import settings_for
from tests.mariadb import fresh_mariadb

START = dt.datetime(2026, 3, 14, 9, 26, 53)
SQL_PATH = "/api/v1/queries/ShortQuery"


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """These tests run on MariaDB too (tests/conftest.py)."""
    return db_url_all


@pytest.fixture
def office(make_sim: Any) -> Simulator:
    """A simulator whose office database ShortQuery reads, on a clock that stands still."""
    sim: Simulator = make_sim(clock=OfficeClock(start=START))
    sim.office_db = OfficeDatabase(sim.clock)
    return sim


def _sync(sim: Simulator, engine: Engine, tables: tuple[str, ...], **api: Any) -> list[RunResult]:
    settings = settings_for(sim, engine.url.render_as_string(hide_password=False), **api)
    settings = dataclasses.replace(settings, sync=dataclasses.replace(settings.sync, tables=tables))
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        return run_sync(settings, client=client)


def _client(sim: Simulator) -> ApiClient:
    return ApiClient(settings_for(sim, "sqlite://").api, backoff_factor=0.01)


def _sql_sent(sim: Simulator) -> list[str]:
    return [json.loads(r.body)["SqlCommand"] for r in sim.requests if r.path == SQL_PATH]


def _as_sent(storage: str, value: Any) -> Any:
    """A mirror value as ShortQuery sends it (written apart from the mapping, to check it)."""
    if value is None:
        return None
    if storage == "Date":
        return f"{value.isoformat()}T00:00:00"
    if storage == "DateT":
        return value.isoformat(sep="T")
    if storage == "Time":
        return value.isoformat()
    if storage == "TSpan":
        seconds = int(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if isinstance(value, Decimal):
        return float(value)
    return value


def _mirror(engine: Engine, table: str) -> list[dict[str, Any]]:
    """The mirror's rows of a table in key order, each column as ShortQuery would send it;
    every column the mirror has beyond Open Dental's own (derived, extra) must be NULL."""
    mirrored, rows = query_table(table), []
    storages = {c.name.lower(): (c.name, c.storage) for c in OD_TABLES[table]}
    with engine.connect() as conn:
        found = conn.execute(select(mirrored).order_by(*mirrored.primary_key)).mappings().all()
    for found_row in found:
        row = {}
        for column, value in found_row.items():
            if column in storages:
                name, storage = storages[column]
                row[name] = _as_sent(storage, value)
            elif column not in ("odmirror_synced_at", "odmirror_gone_at"):
                assert value is None, (column, value)
        rows.append(row)
    return rows


def _source(sim: Simulator, table: str) -> list[dict[str, Any]]:
    assert sim.office_db is not None
    return [
        {k: float(v) if isinstance(v, float) else v for k, v in row.items()}
        for row in sim.office_db.rows(table)
    ]


@pytest.mark.parametrize("table", ["claimproc", "procedurelog", "schedule", "recalltype"])
def test_a_table_read_by_sql_equals_the_source_in_every_column(
    office: Simulator, engine: Engine, table: str
) -> None:
    assert office.office_db is not None
    office.office_db.insert(table, office_rows(table, 230, START))
    results = _sync(office, engine, (table,))
    assert [r.resource for r in results] == ["patients", table]
    assert _mirror(engine, table) == _source(office, table)
    # Then a change, a new row and (for a table without a change column) a removal.
    office.clock.advance(120)
    key = OD_TABLES[table][0].name
    stamp = query_resource(table).cursor_field
    changed = {k: v for k, v in office_rows(table, 1, START, seed=7)[0].items()
               if k not in (key, stamp)}  # fmt: skip
    office.office_db.update(table, 5, **changed)
    new = office_rows(table, 1, START, seed=8, first_key=231)[0]
    office.office_db.insert(table, [{k: v for k, v in new.items() if k != stamp}])
    office.office_db.delete(table, 9)
    office.clock.advance(1)  # a change stamped at the run's clock waits for the next run
    _sync(office, engine, (table,))
    mirrored = _mirror(engine, table)
    assert [r for r in mirrored if r[key] != 9] == _source(office, table)
    if stamp is None:  # read whole: the removed row is marked, as the endpoints' whole tables
        with engine.connect() as conn:
            marked = text(f"SELECT {key.lower()} FROM {table} WHERE odmirror_gone_at IS NOT NULL")
            gone = conn.execute(marked).scalars().all()
        assert gone == [9]


def test_more_rows_on_one_stamp_than_a_page_are_all_read(office: Simulator, engine: Engine) -> None:
    assert office.office_db is not None
    office.office_db.insert("claimproc", office_rows("claimproc", 250, START))
    first = _sync(office, engine, ("claimproc",))[-1]
    assert first.mode == "full" and first.stats.fetched == 250
    office.clock.advance(30)
    same_second = format_datetime(office.clock.now())
    for key in range(1, 251):
        office.office_db.update("claimproc", key, WriteOff=float(key), SecDateTEdit=same_second)
    office.clock.advance(30)
    office.requests.clear()
    second = _sync(office, engine, ("claimproc",))[-1]
    assert second.mode == "incremental"
    assert _mirror(engine, "claimproc") == _source(office, "claimproc")
    sql = _sql_sent(office)
    assert sql[0].startswith("SELECT 'NOW()' AS TableName, 0 AS Changed, NOW() AS ServerNow")
    assert len(sql) == 4  # the clock and change probe, then pages of 100, 100 and 50: none twice
    assert (
        "ClaimProcNum > 100) OR" not in sql[2]
        and f"= '{same_second}' AND ClaimProcNum > 100" in sql[2]
    )


def test_a_tier_without_queries_is_asked_once_and_the_endpoints_go_on(
    office: Simulator, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    assert office.office_db is not None
    office.config.queries_allowed = False
    caplog.set_level(logging.WARNING)
    results = _sync(office, engine, ("claimproc",))
    assert [r.resource for r in results] == ["patients"]
    said = [r.getMessage() for r in caplog.records if "SQL" in r.getMessage()]
    assert len(said) == 2  # the probe's answer, then the tables skipped
    assert "does not allow SQL queries (Queries permission)" in said[0]
    assert "sync.tables skipped (claimproc)" in said[1]
    assert remembered(engine) is False
    office.requests.clear()
    assert [r.resource for r in _sync(office, engine, ("claimproc",))] == ["patients"]
    assert _sql_sent(office) == []  # remembered: not asked again
    settings = settings_for(office, engine.url.render_as_string(hide_password=False))
    tables = dataclasses.replace(settings.sync, tables=("claimproc",))
    lines = text_lines(collect(engine, dataclasses.replace(settings, sync=tables)))
    assert lines[2] == "claimproc: 0 rows; never synced"  # status names it, and why
    assert lines[3].endswith(
        "failed: skipped: the office's API tier does not allow SQL queries; "
        "fetched 0, inserted 0, updated 0, rejected 0; 0 requests"
    )


def test_a_tier_with_queries_is_remembered_as_such(office: Simulator, engine: Engine) -> None:
    assert office.office_db is not None
    office.office_db.insert("recalltype", office_rows("recalltype", 3, START))
    _sync(office, engine, ("recalltype",))
    assert remembered(engine) is True
    assert _sql_sent(office)[0] == "SELECT 1 AS Probe"


def test_a_timed_out_query_is_asked_again_with_smaller_pages(
    office: Simulator, engine: Engine
) -> None:
    assert office.office_db is not None
    office.office_db.insert("claimproc", office_rows("claimproc", 120, START))
    office.office_db.timeout_rows = 30
    _sync(office, engine, ("claimproc",), queries="on")
    assert _mirror(engine, "claimproc") == _source(office, "claimproc")
    limits = [sql.rsplit("LIMIT ", 1)[-1] for sql in _sql_sent(office)[1:]]
    assert limits == ["100", "50", "25", "25", "25", "25", "25"]
    statuses = [r.status for r in office.requests if r.path == SQL_PATH][1:3]
    assert statuses == [504, 504]


def test_a_query_that_always_times_out_ends_with_one_line(
    office: Simulator, engine: Engine
) -> None:
    assert office.office_db is not None
    office.office_db.insert("claimproc", office_rows("claimproc", 5, START))
    office.office_db.timeout_rows = 0
    with pytest.raises(ApiError, match=r"timed out \(504\) even for one row a page"):
        _sync(office, engine, ("claimproc",), queries="on")
    limits = [sql.rsplit("LIMIT ", 1)[-1] for sql in _sql_sent(office)[1:]]
    assert limits == ["100", "50", "25", "12", "6", "3", "1"]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE claimproc SET WriteOff = 0",
        "DELETE FROM claimproc",
        "SELECT 1; DROP TABLE claimproc",
        "CREATE TABLE x (a INT)",
    ],
)
def test_writes_are_refused_and_change_nothing(office: Simulator, sql: str) -> None:
    assert office.office_db is not None
    office.office_db.insert("claimproc", office_rows("claimproc", 3, START))
    before = office.office_db.rows("claimproc")
    with _client(office) as client, pytest.raises(QueryNotAllowed, match="401"):
        short_query(client, sql)
    assert office.office_db.rows("claimproc") == before


def test_short_query_answers_raw_values_and_the_office_clock(office: Simulator) -> None:
    assert office.office_db is not None
    office.office_db.insert(
        "claimproc",
        [{"ClaimProcNum": 7, "Status": 7, "ProcDate": "0001-01-01", "WriteOff": 12.5,
          "SecDateTEdit": "2026-03-01 08:00:00"}],
    )  # fmt: skip
    with _client(office) as client:
        assert office_now(client) == START
        rows = short_query(client, "SELECT ClaimProcNum, Status, ProcDate, WriteOff, "
                                   "SecDateTEdit FROM claimproc")  # fmt: skip
        with pytest.raises(QueryRefused, match="400"):
            short_query(client, "SELECT * FROM nosuchtable")
    assert rows == [{"ClaimProcNum": 7, "Status": 7, "ProcDate": "0001-01-01T00:00:00",
                     "WriteOff": 12.5, "SecDateTEdit": "2026-03-01T08:00:00"}]  # fmt: skip


def test_a_keyset_page_that_does_not_move_on_ends_paging() -> None:
    paging = KeysetPaginator("claimproc", "ClaimProcNum", limit=2)
    paging.update_state([{"ClaimProcNum": 1}, {"ClaimProcNum": 2}])
    assert paging.sql().endswith("WHERE ClaimProcNum > 2 ORDER BY ClaimProcNum LIMIT 2")
    with pytest.raises(ApiError, match="does not move past the one before"):
        paging.update_state([{"ClaimProcNum": 1}, {"ClaimProcNum": 2}])


def test_a_table_that_never_ends_stops_at_the_page_ceiling() -> None:
    paging = KeysetPaginator("claimproc", "ClaimProcNum", limit=1, max_pages=3)
    paging.update_state([{"ClaimProcNum": 1}])
    paging.update_state([{"ClaimProcNum": 2}])
    with pytest.raises(ApiError, match=r"the ceiling is api\.max_pages \(3\)"):
        paging.update_state([{"ClaimProcNum": 3}])


def test_the_config_names_open_dental_tables_and_the_query_mode(tmp_path: Any) -> None:
    base = {"api": {"base_url": "http://127.0.0.1:1/api/v1", "developer_key": "k1",
                    "customer_key": "k2"}, "database": {"url": "sqlite:///m.db"}}  # fmt: skip
    settings = settings_from_dict(
        {
            **base,
            "api": {**base["api"], "queries": False},
            "sync": {"tables": ["ClaimProc", "claimsnapshot", "claimproc"]},
        }
    )
    assert settings.sync.tables == ("claimproc", "claimsnapshot")
    assert settings.api.queries == "off"
    assert settings_from_dict(base).api.queries == "auto"
    with pytest.raises(
        ConfigError, match=r"'sync\.tables': 'claimprocs' is not one of Open Dental"
    ):
        settings_from_dict({**base, "sync": {"tables": ["claimprocs"]}})
    with pytest.raises(ConfigError, match=r"'api\.queries' must be auto, on or off"):
        settings_from_dict({**base, "api": {**base["api"], "queries": "maybe"}})


def test_a_query_resource_maps_enum_codes_and_flags_as_integers() -> None:
    resource = query_resource("claimproc")
    flag = next(f for f in resource.fields if f.key == "NoBillIns")
    assert flag.kind == "int"
    status = next(f for f in resource.fields if f.key == "Status")
    assert (status.kind, resource.cursor_field, resource.mark_missing) == (
        "int",
        "SecDateTEdit",
        False,
    )
    assert query_resource("recalltype").mark_missing


def test_the_keyset_sql_pages_a_real_mariadb_table_once_through() -> None:
    # The SQL goes to the office's own MySQL/MariaDB: run it there, many rows on one stamp.
    columns = {c.name.lower(): c.name for c in OD_TABLES["claimproc"]}
    with fresh_mariadb() as url:
        office = create_engine(url)
        table = od_table("claimproc", MetaData())
        table.metadata.create_all(office)
        stamps = [dt.datetime(2026, 3, 1, 8, 0, 0)] * 230 + [dt.datetime(2026, 3, 1, 8, 0, 1)] * 20
        with office.begin() as conn:
            conn.execute(insert(table), [{"claimprocnum": k, "secdatetedit": s} for k, s in
                                         zip(range(250, 0, -1), stamps, strict=True)])  # fmt: skip
        read: list[int] = []
        since, until = dt.datetime(2026, 3, 1, 7, 59, 0), dt.datetime(2026, 3, 1, 8, 0, 1)
        paging = KeysetPaginator("claimproc", "ClaimProcNum", "SecDateTEdit", since, until)
        with office.connect() as conn:
            while paging.has_next_page:
                found = conn.exec_driver_sql(paging.sql()).mappings().all()
                rows: list[dict[str, Any]] = [
                    {columns[k]: v.isoformat(sep="T") if isinstance(v, dt.datetime) else v
                     for k, v in row.items()}
                    for row in found
                ]  # fmt: skip
                read += [row["ClaimProcNum"] for row in rows]
                paging.update_state(rows)
        office.dispose()
    assert read == sorted(range(21, 251))  # the rows at `until` wait for the next run


def test_a_table_the_office_refuses_is_skipped_and_the_others_go_on(
    office: Simulator, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    assert office.office_db is not None
    office.office_db.insert("claimproc", office_rows("claimproc", 3, START))
    caplog.set_level(logging.WARNING)
    # claimsnapshot is not in this office's database (an older version): the server says 400.
    results = _sync(office, engine, ("claimsnapshot", "claimproc"))
    assert [r.resource for r in results] == ["patients", "claimproc"]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1
    assert skipped[0].startswith("claimsnapshot skipped: the server refused the SQL")
    assert _mirror(engine, "claimproc") == _source(office, "claimproc")


def test_a_throttled_query_is_asked_again(office: Simulator) -> None:
    office.fail_next(429, "Too many requests.")
    with _client(office) as client:
        assert office_now(client) == START
    assert [r.status for r in office.requests] == [429, 200]


def test_a_table_without_change_column_is_read_whole_on_its_cadence(
    office: Simulator, engine: Engine
) -> None:
    assert office.office_db is not None
    office.office_db.insert("recalltype", office_rows("recalltype", 3, START))
    settings = settings_for(office, engine.url.render_as_string(hide_password=False))
    sync = dataclasses.replace(settings.sync, tables=("recalltype",), whole_tables_every="3h")
    settings = dataclasses.replace(
        settings, sync=sync, status=dataclasses.replace(settings.status, max_age="30m")
    )

    def run() -> list[str]:
        office.requests.clear()
        with ApiClient(settings.api, backoff_factor=0.01) as client:
            return [r.resource for r in run_sync(settings, client=client)]

    def read_ago(hours: float) -> None:
        then = state.utcnow() - dt.timedelta(hours=hours)
        with engine.begin() as conn:
            mark = update(SyncState).where(SyncState.resource == "recalltype")
            conn.execute(mark.values(last_success_at=then))

    assert run() == ["patients", "recalltype"]
    read_ago(2)
    assert run() == ["patients"] and _sql_sent(office) == []  # read 2 h ago: not yet due
    assert collect(engine, settings).problems() == []  # its limit: 30m past its cadence
    read_ago(4)
    assert collect(engine, settings).problems() == ["recalltype last synced 4 h ago (limit 3 h)"]
    assert run() == ["patients", "recalltype"]
    assert _mirror(engine, "recalltype") == _source(office, "recalltype")
