"""Fan-outs with SQL (issue 23 item 1): the parents of children stamped since, no sweep.

The run's one probe counts each fan-out's children stamped since its bound (etl.sync.fan_probe):
none, nothing is read; some, one ShortQuery asks their parents, and those are read with the
parents that changed. A parent key that is not an integer is refused and never put into SQL.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, insert, select, text, update

from etl.catalog.opendental import od_table
from etl.catalog.resources import RESOURCES
from etl.mirror.bookkeeping import Setting, SyncRun
from etl.simulator.office_db import OfficeDatabase
from etl.sync import fan_probe, state
from etl.sync.cursor import window_start
from tests.conftest import DATABASES
from tests.mariadb import fresh_mariadb
from tests.practice import assert_mirrors, mirror, office_clock, sync
from tests.test_fanout_gone import two_adjustments_of_one_patient

ADJUSTMENTS = RESOURCES["adjustments"]
NAMES = ("patients", "adjustments", "payplans", "payplancharges")
SQL_PATH = "/api/v1/queries/ShortQuery"
OVERLAP = dt.timedelta(seconds=60)


@pytest.fixture
def practice(make_sim: Any) -> Any:
    return make_sim(40, clock=office_clock()).fill_practice()


def asked(sim: Any, path: str) -> list[str]:
    """The parent key of each request to a fan-out's list, in order."""
    found = [r.query for r in sim.requests if r.path.strip("/").lower() == f"api/v1/{path}"]
    return [next(v for k, v in q.items() if k not in ("Limit", "Offset")) for q in found]


def sql_sent(sim: Any) -> list[str]:
    return [json.loads(r.body)["SqlCommand"] for r in sim.requests if r.path == SQL_PATH]


def kept(engine: Engine, name: str) -> str | None:
    with engine.connect() as conn:
        query = select(Setting.value).where(Setting.name == fan_probe.PREFIX + name)
        return conn.execute(query).scalar()


@pytest.mark.parametrize("db_url", DATABASES, indirect=True)
def test_only_the_parents_of_changed_children_are_read(engine: Engine, practice: Any) -> None:
    sync(practice, engine, NAMES)
    assert kept(engine, "adjustments") and kept(engine, "payplancharges")  # the chain starts
    practice.clock.advance(900)
    practice.requests.clear()
    quiet = {r.resource: r for r in sync(practice, engine, NAMES)}
    assert asked(practice, "adjustments") == asked(practice, "payplancharges") == []
    assert quiet["adjustments"].stats.requests == quiet["payplancharges"].stats.requests == 0
    # A new adjustment of a patient whose row did not change; every sweep slot due.
    patnum, children = two_adjustments_of_one_patient(practice)
    practice.clock.advance(600)
    copied = {k: v for k, v in children[1].items() if k != "SecDateTEdit"}
    added = practice.tables.add("adjustments", **{**copied, "AdjAmt": -7.5})
    with engine.begin() as conn:  # without SQL, a week since: every parent would be read
        conn.execute(update(SyncRun).values(started_at=state.utcnow() - dt.timedelta(days=8)))
    practice.requests.clear()
    results = {r.resource: r for r in sync(practice, engine, NAMES)}
    cursor = state.get_cursor(engine, "adjustments")
    assert cursor is not None
    since = window_start(cursor, OVERLAP)  # the parents that changed: the overlap's newest
    recent = {r["PatNum"] for r in practice.store.all()
              if dt.datetime.fromisoformat(r["DateTStamp"]) >= since}  # fmt: skip
    assert asked(practice, "adjustments") == [str(n) for n in sorted(recent | {patnum})]
    assert len(recent | {patnum}) < len(practice.store.all()) // 4
    probe = next(s for s in sql_sent(practice) if "UNION ALL" in s)
    bound = dt.datetime.fromisoformat(_bound_label(probe))
    distinct = [s for s in sql_sent(practice) if "DISTINCT" in s]
    assert distinct == [fan_probe.parents_sql(ADJUSTMENTS, bound, 0)]  # one call: few parents
    assert asked(practice, "payplancharges") == []  # no charge changed
    assert results["adjustments"].stats.fetched >= 1
    assert mirror(engine, ADJUSTMENTS)[added]["adjamt"] == -7.5
    assert_mirrors(engine, practice, ADJUSTMENTS)


def _bound_label(probe: str) -> str:
    # The bound the probe counted adjustments from, as its row's label says.
    start = probe.index("pass:adjustments:children>=") + len("pass:adjustments:children>=")
    return probe[start : start + 19]


def test_the_first_run_with_sql_counts_from_the_sweeps_bound(engine: Engine, practice: Any) -> None:
    sync(practice, engine, ("patients", "adjustments"), queries="off")
    assert kept(engine, "adjustments") is None  # no probe clock: no chain yet
    cursor = state.get_cursor(engine, "adjustments")
    assert cursor is not None
    practice.clock.advance(600)
    practice.requests.clear()
    sync(practice, engine, ("patients", "adjustments"))
    # Every parent was read within the week before the last complete run began.
    week = dt.timedelta(days=7)
    bound = window_start(cursor - week, OVERLAP) - dt.timedelta(hours=1)
    probe = next(s for s in sql_sent(practice) if "UNION ALL" in s)  # after the Queries check
    assert fan_probe.label(ADJUSTMENTS, bound) in probe
    assert kept(engine, "adjustments") is not None  # the chain starts here
    assert_mirrors(engine, practice, ADJUSTMENTS)


def test_a_parent_key_that_is_not_an_integer_is_refused(
    engine: Engine, practice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    practice.office_db = OfficeDatabase(practice.clock)
    names = ("patients", "adjustments")
    sync(practice, engine, names)
    _patnum, children = two_adjustments_of_one_patient(practice)
    practice.clock.advance(600)
    practice.tables.add("adjustments", **{k: v for k, v in children[1].items()
                                           if k != "SecDateTEdit"})  # fmt: skip
    answer = practice.office_db.answer

    def odd_keys(body: bytes) -> tuple[int, Any]:
        return (200, [{"PatNum": "1 OR 1=1"}]) if b"DISTINCT" in body else answer(body)

    practice.office_db.answer = odd_keys
    practice.requests.clear()
    sync(practice, engine, names)  # read as without SQL: the run completes
    lines = [r.getMessage() for r in caplog.records if "not an integer" in r.getMessage()]
    assert lines == [
        "adjustments: parents not asked, read as without SQL: "
        "a parent key the office sent is not an integer: '1 OR 1=1'"
    ]
    assert not any("1 OR 1=1" in s for s in sql_sent(practice))
    assert len([s for s in sql_sent(practice) if "DISTINCT" in s]) == 1


def test_the_probe_row_and_the_parents_query_run_on_a_real_mariadb() -> None:
    # The office's own MySQL/MariaDB runs them: MySQL 5.5 SQL, as written.
    with fresh_mariadb() as url:
        office = create_engine(url)
        table = od_table("adjustment", MetaData())
        table.metadata.create_all(office)
        with office.connect() as conn:  # closed: an open session holds up DROP DATABASE
            now = conn.execute(text("SELECT NOW()")).scalar()
        assert isinstance(now, dt.datetime)
        old, new = now - dt.timedelta(days=2), now - dt.timedelta(minutes=5)
        rows = [(1, 7, old), (2, 9, new), (3, 7, new), (4, 12, new), (5, 3, old)]
        with office.begin() as conn:
            conn.execute(insert(table), [{"adjnum": k, "patnum": p, "secdatetedit": s}
                                         for k, p, s in rows])  # fmt: skip
        since = now - dt.timedelta(hours=1)
        with office.connect() as conn:
            count = conn.exec_driver_sql(fan_probe.count_sql(ADJUSTMENTS, since)).all()
            first = conn.exec_driver_sql(fan_probe.parents_sql(ADJUSTMENTS, since, 0)).all()
            after = conn.exec_driver_sql(fan_probe.parents_sql(ADJUSTMENTS, since, 7)).all()
        office.dispose()
    assert [(r[0], int(r[1]), r[3]) for r in count] == [
        (fan_probe.label(ADJUSTMENTS, since), 3, new.replace(microsecond=0))
    ]
    assert [r[0] for r in first] == [7, 9, 12] and [r[0] for r in after] == [9, 12]
