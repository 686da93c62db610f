"""The readable views: created by `odmirror init`, labels for codes, ages, provider names."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from etl.catalog.enums import ENUM_NAMES
from etl.catalog.resources import RESOURCES
from etl.mirror.engine import alembic_config, upgrade
from etl.mirror.kpi_views import kpi_view_names
from etl.mirror.views import view_names
from etl.simulator import OfficeClock
from tests.practice import sync

APT_STATUS, PROC_STATUS = ENUM_NAMES["ApptStatus"], ENUM_NAMES["ProcStat"]


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """These tests run on MariaDB too (tests/conftest.py)."""
    return db_url_all


def rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql)).mappings()]


def age_on(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def test_init_creates_a_view_per_table_without_the_ssn(engine: Engine) -> None:
    every = set(inspect(engine).get_view_names())
    views = every - set(kpi_view_names())  # the KPI views the mirror's tables allow: kpi tests
    assert views == set(view_names()) == {r.table.name + "_v" for r in RESOURCES.values()}
    columns = {c["name"] for c in inspect(engine).get_columns("patient_v")}
    assert {"patnum", "patstatus", "patstatus_label", "gender_label", "age"} <= columns
    assert "ssn" not in columns and "odmirror_extra" not in columns
    assert "ssn" not in {c["name"] for c in inspect(engine).get_columns("provider_v")}
    assert rows(engine, "SELECT COUNT(*) AS n FROM appointment_v") == [{"n": 0}]
    upgrade(engine)  # again: nothing to do, the views stay
    assert set(inspect(engine).get_view_names()) == every


def test_views_show_labels_ages_and_names(engine: Engine, make_sim: Any) -> None:
    # An office clock at today's date: ages are counted on the database's clock.
    clock = OfficeClock("America/Chicago", start=dt.datetime.now().replace(microsecond=0))
    sim = make_sim(60, clock=clock).fill_practice()
    sync(sim, engine)
    today = dt.date.today()
    patients = {r["PatNum"]: r for r in sim.store.all()}
    for row in rows(engine, "SELECT patnum, patstatus_label, gender_label, age FROM patient_v"):
        record = patients[row["patnum"]]
        assert (row["patstatus_label"], row["gender_label"]) == (
            record["PatStatus"], record["Gender"])  # fmt: skip
        born = record["Birthdate"]
        expected_age = None if born == "0001-01-01" else age_on(dt.date.fromisoformat(born), today)
        assert row["age"] == expected_age
    providers = {p["ProvNum"]: f"{p['FName']} {p['LName']}" for p in sim.tables.all("providers")}
    appointments = {a["AptNum"]: a for a in sim.tables.all("appointments")}
    sql = "SELECT aptnum, aptstatus, aptstatus_label, prov_name, op_name FROM appointment_v"
    got = rows(engine, sql)
    assert len(got) == len(appointments)
    for row in got:
        record = appointments[row["aptnum"]]
        assert row["aptstatus_label"] == record["AptStatus"] == APT_STATUS[row["aptstatus"]]
        assert row["prov_name"] == providers[record["ProvNum"]]
        assert row["op_name"] == f"Op {record['Op']}"
    labels = rows(engine, "SELECT DISTINCT procstatus, procstatus_label FROM procedurelog_v")
    assert labels and all(r["procstatus_label"] == PROC_STATUS[r["procstatus"]] for r in labels)


def test_downgrade_drops_views_and_tables_then_upgrade_restores(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "0001")
    assert inspect(engine).get_view_names() == []
    assert "appointment" not in inspect(engine).get_table_names()
    upgrade(engine)
    views = set(inspect(engine).get_view_names()) - set(kpi_view_names())
    assert views == set(view_names())
