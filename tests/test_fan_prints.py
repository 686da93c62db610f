"""Fan-outs without a change column read only where their rows differ (etl.sync.fan_prints).

payplans (`payplans?PatNum=`): with SQL, the patients a run would read without SQL (changed,
with activity, the sweep's slice) are compared first, one GROUP BY ShortQuery per 100, with
the mirror's rows; only those that differ are read. The Python fingerprint is checked against
real MariaDB on awkward values.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import struct
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, create_engine, insert, text, update

from etl.catalog.opendental import od_table
from etl.catalog.resources import RESOURCES
from etl.mirror.bookkeeping import SyncRun
from etl.simulator.office_db import OfficeDatabase
from etl.sync import fan_prints, state
from etl.sync.whole_sql import mapped
from tests.mariadb import fresh_mariadb
from tests.practice import assert_mirrors, expected, mirror, office_clock, served, sync

PAYPLANS = RESOURCES["payplans"]
NAMES = ("patients", "payplans")
SQL_PATH = "/api/v1/queries/ShortQuery"


@pytest.fixture
def practice(make_sim: Any) -> Any:
    return make_sim(40, clock=office_clock()).fill_practice()


def read_for(sim: Any) -> list[str]:
    """The patients whose payment plans a run read, in order."""
    found = [r.query for r in sim.requests if r.path.strip("/").lower() == "api/v1/payplans"]
    return [q["PatNum"] for q in found]


def compared(sim: Any) -> list[str]:
    sent = [json.loads(r.body)["SqlCommand"] for r in sim.requests if r.path == SQL_PATH]
    return [s for s in sent if "GROUP BY" in s]


def every_patient_due(engine: Engine) -> None:
    """The last run began 8 days ago: without SQL, every patient's plans would be read."""
    with engine.begin() as conn:
        conn.execute(update(SyncRun).values(started_at=state.utcnow() - dt.timedelta(days=8)))


def with_plans(sim: Any) -> list[int]:
    return sorted({r["PatNum"] for r in sim.tables.all("payplans")})


def touch(sim: Any, *patnums: int) -> None:
    sim.clock.advance(600)
    for patnum in patnums:
        sim.store.update(patnum, EstBalance="12.00")


def test_only_the_patient_whose_plan_changed_is_read(engine: Engine, practice: Any) -> None:
    sync(practice, engine, NAMES)
    first, *others = with_plans(practice)
    plan = next(r for r in practice.tables.all("payplans") if r["PatNum"] == first)
    touch(practice, first, *others)
    practice.tables.update("payplans", plan["PayPlanNum"], Note="moved to monthly", APR=2.5)
    every_patient_due(engine)
    practice.requests.clear()
    sync(practice, engine, NAMES)
    assert read_for(practice) == [str(first)]
    assert len(compared(practice)) == 1  # 40 patients: one query
    assert mirror(engine, PAYPLANS)[plan["PayPlanNum"]]["note"] == "moved to monthly"
    assert_mirrors(engine, practice, PAYPLANS)


def test_activity_on_patients_whose_plans_did_not_change_reads_none(
    engine: Engine, practice: Any
) -> None:
    sync(practice, engine, NAMES)
    touch(practice, *with_plans(practice))
    every_patient_due(engine)
    practice.requests.clear()
    results = {r.resource: r for r in sync(practice, engine, NAMES)}
    assert read_for(practice) == []
    # The probe's row of the whole payplan table equals the mirror's (etl.sync.fan_ranges).
    assert compared(practice) == []
    assert results["payplans"].stats.requests == 0  # no comparison, no list
    assert_mirrors(engine, practice, PAYPLANS)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_deleted_plan_is_read_and_marked(engine: Engine, practice: Any) -> None:
    sync(practice, engine, NAMES)
    patnum = with_plans(practice)[0]
    plan = next(r for r in practice.tables.all("payplans") if r["PatNum"] == patnum)
    gone = dict(practice.tables["payplans"].rows.pop(plan["PayPlanNum"]))
    practice.tables["payplans"].rows.touch()  # the office's copy follows
    touch(practice, *with_plans(practice), patnum)
    practice.requests.clear()
    sync(practice, engine, NAMES)
    assert read_for(practice) == [str(patnum)]
    got = mirror(engine, PAYPLANS)
    assert got[plan["PayPlanNum"]]["odmirror_gone_at"] is not None
    assert {**got[plan["PayPlanNum"]], "odmirror_gone_at": None} == expected(PAYPLANS, [gone])[
        plan["PayPlanNum"]
    ]
    live = {k: row for k, row in got.items() if row["odmirror_gone_at"] is None}
    assert live == expected(PAYPLANS, served(practice, PAYPLANS))
    touch(practice, patnum)  # marked gone: the mirror's live rows are the office's now
    practice.requests.clear()
    sync(practice, engine, NAMES)
    assert read_for(practice) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_refused_query_reads_as_before(
    engine: Engine, practice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sync(practice, engine, NAMES)
    patients = with_plans(practice)[:3]
    touch(practice, *patients)
    plan = next(r for r in practice.tables.all("payplans") if r["PatNum"] == patients[0])
    practice.tables.update("payplans", plan["PayPlanNum"], Note="changed")  # narrowed: refused
    practice.office_db = OfficeDatabase(practice.clock)
    answer = practice.office_db.answer

    def refuse(body: bytes) -> tuple[int, Any]:
        return (
            (400, "You have an error in your SQL syntax.") if b"GROUP BY" in body else answer(body)
        )

    practice.office_db.answer = refuse
    practice.requests.clear()
    sync(practice, engine, NAMES)
    assert set(patients) <= {int(p) for p in read_for(practice)}  # as without SQL
    lines = [r.getMessage() for r in caplog.records if "not compared" in r.getMessage()]
    assert [line.split(":")[1] for line in lines] == [
        " child table not compared, candidates compared",
        " rows not compared, read as without SQL",
    ]
    assert_mirrors(engine, practice, PAYPLANS)


def test_the_parents_prints_on_a_real_mariadb_are_the_pythons() -> None:
    # Awkward values: doubles MySQL writes without ".0", tiny and long ones, "no date",
    # NULLs (so the flags matter), a separator and non-ASCII text in a note.
    notes = ["", "a|b", "café ü", "line\nbreak", None]
    doubles = [0.0, -0.0, 100.0, 0.1, 2337.87, 1e-5, 123456789.125, 99999999999999.99, -12.5]
    dates = [dt.date(1, 1, 1), dt.date(2024, 2, 29), None]
    rows = []
    for key in range(1, 41):
        rows.append({"payplannum": key, "patnum": key % 7 + 1, "guarantor": key % 3,
                     "payplandate": dates[key % 3], "apr": doubles[key % 9],
                     "note": notes[key % 5], "completedamt": doubles[(key + 4) % 9],
                     "isclosed": key % 2, "payschedule": key % 4})  # fmt: skip
    with fresh_mariadb() as url:
        office = create_engine(url)
        table = od_table("payplan", MetaData())
        table.metadata.create_all(office)
        with office.begin() as conn:
            conn.execute(insert(table), rows)
        with office.connect() as conn:
            sql = fan_prints.groups_sql(PAYPLANS, list(range(1, 10)))
            got = {int(r[0]): (int(r[1]), int(r[2])) for r in conn.exec_driver_sql(sql)}
            back = [dict(r) for r in conn.execute(table.select()).mappings()]
        office.dispose()
    storages = {str(c.info["od_name"]): str(c.info["od_storage"]) for c in PAYPLANS.table.columns
                if "od_name" in c.info}  # fmt: skip
    by_name = {str(c.info["od_name"]): c.name for c in table.columns}
    want: dict[int, tuple[int, int]] = {}
    for row in back:  # as MariaDB holds them (its defaults filled in)
        texts = [fan_prints.mysql_text(row[by_name[n]], storages[n]) for n in mapped(PAYPLANS)]
        count, total = want.get(row["patnum"], (0, 0))
        want[row["patnum"]] = (count + 1, total + fan_prints.row_print(texts))
    assert got == want and len(got) == 7


def _as_mariadb_writes(sql_type: str, values: list[Any]) -> dict[int, str]:
    """Each value stored in a real MariaDB column of `sql_type`, as CONCAT_WS writes it back."""
    with fresh_mariadb() as url:
        office = create_engine(url)
        with office.begin() as conn:
            conn.execute(text(f"CREATE TABLE t (i INT, v {sql_type})"))
            conn.execute(text("INSERT INTO t VALUES (:i, :v)"),
                         [{"i": i, "v": v} for i, v in enumerate(values)])  # fmt: skip
            written = dict(conn.execute(text("SELECT i, CONCAT_WS('|', v) FROM t")).all())
        office.dispose()
    return written


def test_doubles_render_as_mariadb_writes_them_or_not_at_all() -> None:
    rnd = random.Random(5)
    values = [round(rnd.uniform(-1e6, 1e6), rnd.randint(0, 4)) for _ in range(1500)]
    values += [rnd.uniform(-1, 1) * 10 ** rnd.uniform(-7, 16) for _ in range(1500)]
    bits = (struct.unpack("d", struct.pack("Q", rnd.getrandbits(64)))[0] for _ in range(1500))
    values += [v for v in bits if v == v and abs(v) != float("inf")]
    written = _as_mariadb_writes("DOUBLE", values)
    rendered, unsure = {}, 0
    for i, value in enumerate(values):
        try:
            rendered[i] = fan_prints.mysql_text(value, "Double")
        except fan_prints.Unsure:
            unsure += 1  # its parent is read
    assert rendered == {i: written[i] for i in rendered}
    assert len(rendered) > 2500 and unsure > 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_only_the_treatment_plan_whose_attachment_changed_is_read(
    engine: Engine, practice: Any
) -> None:
    names = ("patients", "treatplans", "treatplanattaches")
    sync(practice, engine, names)
    attach = practice.tables.all("treatplanattaches")[0]
    practice.clock.advance(600)
    practice.tables.update("treatplanattaches", attach["TreatPlanAttachNum"], Priority=3)
    every_patient_due(engine)  # every treatment plan due too
    practice.requests.clear()
    sync(practice, engine, names)
    found = [r.query for r in practice.requests if r.path.strip("/") == "api/v1/treatplanattaches"]
    assert [q["TreatPlanNum"] for q in found] == [str(attach["TreatPlanNum"])]
    assert_mirrors(engine, practice, RESOURCES["treatplanattaches"])


def test_date_times_render_as_mariadb_writes_them() -> None:
    # Open Dental's "no date" is the year 1: strftime's %Y writes it "1", MySQL "0001".
    moments = [dt.datetime(1, 1, 1), dt.datetime(2024, 2, 29, 23, 59, 59), dt.datetime(999, 5, 6)]
    written = _as_mariadb_writes("DATETIME", moments)
    assert [fan_prints.mysql_text(v, "DateT") for v in moments] == [
        written[i] for i in range(len(moments))
    ]
    with pytest.raises(fan_prints.Unsure):
        fan_prints.mysql_text(dt.datetime(2024, 1, 1, 0, 0, 0, 500), "DateT")
