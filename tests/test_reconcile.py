"""Removed-row reconciliation by key ranges: the simulator's ShortQuery against a real mirror."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, insert, select, text, update

from etl.api.client import ApiClient
from etl.api.short_query import QueryTimedOut
from etl.catalog.query_tables import query_resource
from etl.catalog.resources import RESOURCES
from etl.catalog.tables import TABLES
from etl.cli import main
from etl.config.load import settings_from_dict
from etl.control import RunControl, StopRequested
from etl.errors import ApiError, ConfigError
from etl.mirror.bookkeeping import SyncRun
from etl.mirror.engine import make_engine
from etl.simulator import OfficeClock, Simulator
from etl.simulator.office_db import OfficeDatabase
from etl.simulator.office_rows import office_rows
from etl.status import collect, text_lines
from etl.sync.reconcile import MAX_SPLITS, Outcome, Reconciler, Target
from etl.sync.reconcile_run import reconcile_every, target
from etl.sync.run import run_sync
from tests.conftest import settings_for

START = dt.datetime(2025, 3, 14, 9, 26, 53)
NOW = dt.datetime(2025, 6, 1, 12, 0, 0)
EARLIER = dt.datetime(2025, 5, 1, 8, 0, 0)
SQL_PATH = "/api/v1/queries/ShortQuery"
TARGET = Target("claimproc", "ClaimProcNum", TABLES["claimproc"], "claimprocnum")


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """On SQLite, PostgreSQL and MariaDB (tests/conftest.py)."""
    return db_url_all


@pytest.fixture
def mirror(db_url: str) -> Iterator[Engine]:
    """A mirror holding only claimproc (the migrations take seconds on MariaDB)."""
    eng = make_engine(db_url)
    TARGET.table.create(eng)
    yield eng
    eng.dispose()


class SlowOffice(OfficeDatabase):
    """An office whose bucket queries over more than `widest` keys time out (504)."""

    widest: int | None = None
    refused: str | None = None
    slow_summary = False
    row_cap = 100

    def run(self, sql: str, cap: int | None = 100) -> tuple[int, Any]:
        """As OfficeDatabase, but 504 for wide bucket queries and 401 for a refused table."""
        bounds = re.search(r">= (\d+) AND \w+ < (\d+) GROUP BY", sql)
        if self.widest is not None and bounds and int(bounds[2]) - int(bounds[1]) > self.widest:
            return 504, "The query took longer than the 60 second limit."
        if self.slow_summary and "MIN(" in sql and "GROUP BY" not in sql:
            return 504, "The query took longer than the 60 second limit."
        reconciling = "DIV" in sql or "MIN(" in sql
        if self.refused is not None and f"FROM {self.refused}" in sql and reconciling:
            return 401, "Command not allowed."
        return super().run(sql, None if cap is None else min(cap, self.row_cap))


@pytest.fixture
def office(make_sim: Any) -> Simulator:
    """A simulator whose office database ShortQuery reads."""
    sim: Simulator = make_sim(clock=OfficeClock(start=START))
    sim.office_db = SlowOffice(sim.clock)
    return sim


def _setup(
    sim: Simulator,
    engine: Engine,
    office: Iterable[int],
    mirror: Iterable[int],
    gone: Iterable[int] = (),
) -> None:
    """The office's claimproc keys; the mirror's (those in `gone` marked gone EARLIER)."""
    assert sim.office_db is not None
    sim.office_db.create("claimproc")
    sim.office_db.insert("claimproc", [{"ClaimProcNum": k} for k in office])
    marked = set(gone)
    rows = [{"claimprocnum": k, "odmirror_gone_at": EARLIER if k in marked else None}
            for k in mirror]  # fmt: skip
    with engine.begin() as conn:
        if rows:
            conn.execute(insert(TARGET.table), rows)


def _reconcile(sim: Simulator, engine: Engine, drop: bool = False) -> tuple[Outcome, int]:
    """Reconcile claimproc once: what it found, and the requests it made."""
    settings = settings_for(sim, "sqlite://")
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        outcome = Reconciler(engine, client, TARGET, NOW, drop=drop).run()
        return outcome, client.requests_made


def _rows(engine: Engine) -> list[tuple[int, dt.datetime | None]]:
    """Every mirror row of claimproc: (key, odmirror_gone_at)."""
    table = TARGET.table
    query = select(table.c.claimprocnum, table.c.odmirror_gone_at).order_by(table.c.claimprocnum)
    with engine.connect() as conn:
        return [(int(k), g) for k, g in conn.execute(query)]


def _expected(
    keys: Iterable[int], gone: Iterable[int], earlier: Iterable[int] = ()
) -> list[tuple[int, dt.datetime | None]]:
    marked, old = set(gone), set(earlier)
    return [(k, NOW if k in marked else EARLIER if k in old else None) for k in sorted(keys)]


def test_deletes_at_the_ends_and_at_bucket_edges_are_marked_in_few_requests(
    office: Simulator, mirror: Engine
) -> None:
    deleted = {1, 30, 31, 1500, 3000}  # the first and last keys; 30|31 is a bucket edge
    _setup(office, mirror, set(range(1, 3001)) - deleted, range(1, 3001))
    outcome, requests = _reconcile(office, mirror)
    assert _rows(mirror) == _expected(range(1, 3001), deleted)
    assert outcome == Outcome(gone=5, back=0, unread=0, splits=0)
    # The summary, one call of 100 buckets of 30 keys, then the key lists of the 4 that differ.
    assert requests == 6


def test_three_deletes_in_3000_rows_cost_at_most_five_requests(
    office: Simulator, mirror: Engine
) -> None:
    deleted = {17, 1234, 2999}
    _setup(office, mirror, set(range(1, 3001)) - deleted, range(1, 3001))
    outcome, requests = _reconcile(office, mirror)
    assert _rows(mirror) == _expected(range(1, 3001), deleted)
    assert (outcome.gone, requests) == (3, 5)
    assert office.office_db is not None
    office.requests.clear()
    again, requests = _reconcile(office, mirror)  # nothing left to find: one call
    assert (again, requests) == (Outcome(), 1)


def test_a_delete_and_an_insert_in_one_bucket_are_told_apart(
    office: Simulator, mirror: Engine
) -> None:
    held = set(range(1, 3001)) - {95}  # 95 added after the mirror's read
    _setup(office, mirror, set(range(1, 3001)) - {100}, held)
    outcome, _ = _reconcile(office, mirror)
    assert _rows(mirror) == _expected(held, {100})
    assert outcome == Outcome(gone=1, back=0, unread=1)


def test_more_than_a_hundred_deletes_in_one_range(office: Simulator, mirror: Engine) -> None:
    deleted = set(range(1000, 1300)) | set(range(2000, 2150, 3))
    _setup(office, mirror, set(range(1, 3001)) - deleted, range(1, 3001))
    outcome, requests = _reconcile(office, mirror)
    assert _rows(mirror) == _expected(range(1, 3001), deleted)
    assert outcome.gone == len(deleted) == 350
    # Buckets the office has no row of are marked without a call of their own.
    assert requests <= 12


def test_sparse_and_huge_keys(office: Simulator, mirror: Engine) -> None:
    keys = {7, 10**12, 3 * 10**12, 2**62 + 1, 2**62 + 3, *range(10**12 + 1, 10**12 + 400)}
    deleted = {7, 10**12 + 250, 3 * 10**12, 2**62 + 3}
    _setup(office, mirror, keys - deleted, keys)
    outcome, requests = _reconcile(office, mirror)
    assert _rows(mirror) == _expected(keys, deleted)
    assert outcome == Outcome(gone=4)
    assert requests <= 10


def test_an_empty_office_table_marks_every_row(office: Simulator, mirror: Engine) -> None:
    _setup(office, mirror, (), range(5, 55))
    outcome, requests = _reconcile(office, mirror)
    assert _rows(mirror) == _expected(range(5, 55), range(5, 55))
    assert (outcome.gone, requests) == (50, 2)


def test_a_row_that_comes_back_is_cleared(office: Simulator, mirror: Engine) -> None:
    # 40 was marked gone by an earlier run and is in the office again; 41 stays gone.
    _setup(office, mirror, set(range(1, 301)) - {41, 77}, range(1, 301), gone={40, 41})
    outcome, _ = _reconcile(office, mirror)
    assert _rows(mirror) == _expected(range(1, 301), {77}, earlier={41})
    assert outcome == Outcome(gone=1, back=1, unread=0)


def test_rows_not_yet_read_are_counted_never_marked(office: Simulator, mirror: Engine) -> None:
    _setup(office, mirror, set(range(1, 3151)) - {5, 2000}, range(1, 3001))
    outcome, requests = _reconcile(office, mirror)
    assert _rows(mirror) == _expected(range(1, 3001), {5, 2000})
    assert outcome == Outcome(gone=2, back=0, unread=150)
    assert requests <= 6


def test_a_timed_out_range_is_cut_in_two(office: Simulator, mirror: Engine) -> None:
    assert isinstance(office.office_db, SlowOffice)
    office.office_db.widest = 2000
    _setup(office, mirror, set(range(1, 3001)) - {10, 2900}, range(1, 3001))
    outcome, requests = _reconcile(office, mirror)
    assert _rows(mirror) == _expected(range(1, 3001), {10, 2900})
    assert outcome == Outcome(gone=2, splits=1)
    statuses = [r.status for r in office.requests if r.path == SQL_PATH]
    assert statuses == [200, 504, 200, 200, 200, 200] and requests == 6


def test_a_range_that_always_times_out_ends_with_one_line(
    office: Simulator, mirror: Engine
) -> None:
    assert isinstance(office.office_db, SlowOffice)
    office.office_db.widest = 0
    _setup(office, mirror, set(range(1, 3001)) - {10}, range(1, 3001))
    with pytest.raises(QueryTimedOut, match=r"claimproc: key ranges still time out \(504\)"):
        _reconcile(office, mirror)
    assert len([r for r in office.requests if r.path == SQL_PATH]) <= MAX_SPLITS + 2
    assert _rows(mirror) == _expected(range(1, 3001), ())


def test_a_summary_that_times_out_narrows_the_mirrors_keys(
    office: Simulator, mirror: Engine
) -> None:
    assert isinstance(office.office_db, SlowOffice)
    office.office_db.slow_summary = True
    _setup(office, mirror, set(range(1, 3001)) - {10, 2900}, range(1, 3001))
    outcome, requests = _reconcile(office, mirror)
    assert _rows(mirror) == _expected(range(1, 3001), {10, 2900})
    assert outcome == Outcome(gone=2) and requests == 4


def test_an_answer_cut_short_marks_nothing_on_an_absence(office: Simulator, mirror: Engine) -> None:
    # A server that answers 40 rows at most: the buckets past the 40th are not known empty.
    assert isinstance(office.office_db, SlowOffice)
    office.office_db.row_cap = 40
    deleted = {5, 2000, 2999}
    _setup(office, mirror, set(range(1, 3001)) - deleted, range(1, 3001))
    outcome, _ = _reconcile(office, mirror)
    assert _rows(mirror) == _expected(range(1, 3001), deleted)
    assert outcome.gone == 3


def test_removed_rows_delete_drops_them(office: Simulator, mirror: Engine) -> None:
    _setup(office, mirror, set(range(1, 301)) - {3, 200}, range(1, 301))
    _reconcile(office, mirror, drop=True)
    assert _rows(mirror) == _expected(set(range(1, 301)) - {3, 200}, ())


def test_a_stop_request_ends_it_between_calls(office: Simulator, mirror: Engine) -> None:
    _setup(office, mirror, set(range(1, 301)) - {3}, range(1, 301))
    control = RunControl()
    control.stop.set()
    with ApiClient(settings_for(office, "sqlite://").api) as client:
        with pytest.raises(StopRequested):
            Reconciler(mirror, client, TARGET, NOW, control).run()
        assert client.requests_made == 1  # the summary; then the stop, before the next call
    assert _rows(mirror) == _expected(range(1, 301), ())


def _sync(sim: Simulator, engine: Engine, reconcile: bool = False, **sync: Any) -> list[Any]:
    settings = settings_for(sim, engine.url.render_as_string(hide_password=False))
    chosen = dataclasses.replace(settings.sync, resources=("patients",), **sync)
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        return run_sync(dataclasses.replace(settings, sync=chosen), client=client,
                        reconcile=reconcile)  # fmt: skip


def test_a_sync_reconciles_on_its_cadence_and_a_refused_table_is_skipped(
    office: Simulator, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(office.office_db, SlowOffice)
    office.office_db.insert("claimproc", office_rows("claimproc", 400, START))
    office.office_db.insert("procedurelog", office_rows("procedurelog", 50, START))
    office.office_db.create("patient")  # as empty as the simulator's patients endpoint
    tables = ("claimproc", "procedurelog")
    first = _sync(office, engine, tables=tables)
    assert [r.mode for r in first] == ["full"] * 3  # just loaded: nothing to reconcile
    for key in (3, 399):
        office.office_db.delete("claimproc", key)
    office.office_db.refused = "procedurelog"
    office.clock.advance(60)
    assert [r.mode for r in _sync(office, engine, tables=tables)][1:] == ["incremental"] * 2
    with engine.begin() as conn:  # the first read, two days ago: reconciling is due
        conn.execute(update(SyncRun).values(finished_at=dt.datetime(2025, 1, 1)))
    caplog.set_level(logging.WARNING)
    office.requests.clear()
    results = _sync(office, engine, tables=tables)
    assert [(r.resource, r.mode) for r in results][3:] == [
        ("patients", "reconcile"),
        ("claimproc", "reconcile"),
    ]
    assert results[3].notes == ["reconciled: 0 gone, 0 back, 0 not yet read, 1 requests"]
    assert results[4].notes == ["reconciled: 2 gone, 0 back, 0 not yet read, 4 requests"]
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("procedurelog not reconciled: the office's API tier") for m in said)
    with engine.connect() as conn:
        gone = conn.execute(
            text("SELECT claimprocnum FROM claimproc WHERE odmirror_gone_at IS NOT NULL")
        ).scalars()
        assert sorted(gone) == [3, 399]
        runs = conn.execute(
            select(SyncRun.resource, SyncRun.status, SyncRun.note, SyncRun.requests)
            .where(SyncRun.mode == "reconcile")
            .order_by(SyncRun.id)
        ).all()
    assert [tuple(r) for r in runs] == [
        ("patients", "success", "reconciled: 0 gone, 0 back, 0 not yet read, 1 requests", 1),
        ("claimproc", "success", "reconciled: 2 gone, 0 back, 0 not yet read, 4 requests", 4),
        ("procedurelog", "failed", None, 1),
    ]
    settings = settings_for(office, engine.url.render_as_string(hide_password=False))
    chosen = dataclasses.replace(settings.sync, resources=("patients",), tables=tables)
    lines = text_lines(collect(engine, dataclasses.replace(settings, sync=chosen)))
    assert re.search(r"last run #\d+ reconcile .*: success; .*; 4 requests", lines[3])
    # Reconciled a moment ago: the next run does not again, unless asked.
    assert [r.mode for r in _sync(office, engine, tables=tables)][1:] == ["incremental"] * 2
    forced = _sync(office, engine, reconcile=True, tables=("claimproc",))
    assert [r.mode for r in forced][1:] == ["incremental", "reconcile", "reconcile"]
    assert forced[3].notes == ["reconciled: 0 gone, 0 back, 0 not yet read, 1 requests"]
    sent = [json.loads(r.body)["SqlCommand"] for r in office.requests if r.path == SQL_PATH]
    assert not any("WITH" in s or "--" in s or "OVER" in s for s in sent)


def test_reconcile_settings() -> None:
    base = {"api": {"base_url": "http://127.0.0.1:1/api/v1", "developer_key": "k1",
                    "customer_key": "k2"}, "database": {"url": "sqlite:///m.db"}}  # fmt: skip

    def sync(**values: Any) -> Any:
        return settings_from_dict({**base, "sync": values})

    assert reconcile_every(settings_from_dict(base)) == dt.timedelta(days=1)
    assert reconcile_every(sync(reconcile_every="12h")) == dt.timedelta(hours=12)
    for off in (0, False, "off", "0"):
        assert reconcile_every(sync(reconcile_every=off)) is None
    assert sync(removed_rows="Delete").sync.removed_rows == "delete"
    assert settings_from_dict(base).sync.removed_rows == "mark"
    environ = {"ODMIRROR_SYNC_RECONCILE_EVERY": "0", "ODMIRROR_SYNC_REMOVED_ROWS": "delete"}
    from_env = settings_from_dict(base, environ=environ)
    assert (reconcile_every(from_env), from_env.sync.removed_rows) == (None, "delete")
    with pytest.raises(ConfigError, match=r"'sync\.reconcile_every': 'soon' is not a duration"):
        sync(reconcile_every="soon")
    with pytest.raises(ConfigError, match=r"'sync\.removed_rows' must be mark or delete"):
        sync(removed_rows="purge")


def test_the_tables_reconciled_are_those_whose_reads_miss_removals() -> None:
    procedures = target(RESOURCES["procedurelogs"])  # incremental: deletes are invisible
    assert procedures is not None
    assert (procedures.od_table, procedures.od_key, procedures.key) == (
        "procedurelog",
        "ProcNum",
        "procnum",
    )
    assert target(RESOURCES["claimprocs"]) is None  # read whole: its pull marks them
    assert target(query_resource("recalltype")) is None  # no change column: read whole
    assert target(query_resource("paysplit")) is not None
    # Schedules are mirrored only over their date windows, which mark their own removals.
    assert target(RESOURCES["schedules"]) is None
    assert target(RESOURCES["payments"]) is not None  # its first window reads every date


def test_odmirror_sync_reconcile_reconciles_now(
    office: Simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert office.office_db is not None
    office.office_db.insert("claimproc", office_rows("claimproc", 120, START))
    office.office_db.create("patient")
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    config = {
        "api": {"base_url": office.base_url, "developer_key": office.config.developer_key,
                "customer_key": office.config.customer_key, "min_request_interval": 0,
                "queries": "on"},
        "database": {"url": url},
        "sync": {"resources": ["patients"], "tables": ["claimproc"]},
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["init", "--config", str(path)]) == 0
    assert main(["sync", "--config", str(path), "-q"]) == 0
    office.office_db.delete("claimproc", 60)
    capsys.readouterr()
    assert main(["sync", "--config", str(path), "-q", "--reconcile"]) == 0
    said = capsys.readouterr().out.splitlines()
    assert said[-2].startswith("claimproc (reconcile): fetched 0 rows")
    assert said[-2].endswith("reconciled: 1 gone, 0 back, 0 not yet read, 3 requests")
    assert said[-1].startswith("requests: ") and "claimproc (reconcile) 3" in said[-1]
    engine = make_engine(url)
    with engine.connect() as conn:
        gone = conn.execute(
            text("SELECT claimprocnum FROM claimproc WHERE odmirror_gone_at IS NOT NULL")
        ).scalars()
        assert list(gone) == [60]
    engine.dispose()


def test_reconciling_stops_at_the_ceiling_of_calls(office: Simulator, mirror: Engine) -> None:
    _setup(office, mirror, range(2, 3001, 2), range(1, 3001))  # every other row deleted
    settings = settings_for(office, "sqlite://", max_pages=5)
    with ApiClient(settings.api) as client:
        with pytest.raises(ApiError, match=r"claimproc: reconciling took more than 5 calls"):
            Reconciler(mirror, client, TARGET, NOW).run()
        assert client.requests_made == 5
