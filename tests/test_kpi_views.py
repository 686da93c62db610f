"""The simulated practice as Open Dental stores it, and KPI views over mirrors that lack data."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from etl.catalog.tables import MIRRORED
from etl.mirror.kpi_views import create_kpi_views, kpi_view_names
from etl.simulator.money import make_practice
from tests import kpi_reference as ref
from tests.kpi_db import SEED, Office, as_date, by_day, db_today, load_practice
from tests.mariadb import DATABASES, mirror_url


def test_practice_is_stored_as_open_dental_stores_it(tmp_path: Path) -> None:
    practice = make_practice(SEED, date(2026, 12, 7))
    assert practice == make_practice(SEED, date(2026, 12, 7))
    payments = {p["paynum"]: p["payamt"] for p in practice["payment"]}
    for paynum, amount in payments.items():
        splits = [s["splitamt"] for s in practice["paysplit"] if s["paynum"] == paynum]
        assert round(sum(splits), 2) == amount, paynum
    engine = create_engine(f"sqlite:///{tmp_path / 'od.db'}")
    load_practice(engine, practice)
    with engine.connect() as conn:
        unsent = conn.execute(
            text(
                "SELECT datesent, datereceived, claimtype FROM claim"
                " WHERE claimstatus IN ('U', 'W', 'H')"
            )
        ).first()
        estimates = conn.execute(
            text(
                "SELECT DISTINCT claimnum, writeoffestoverride = -1 FROM claimproc WHERE status = 6"
            )
        ).all()
        flags = conn.execute(text("SELECT DISTINCT ishygiene FROM appointment")).all()
    engine.dispose()
    assert unsent == ("0001-01-01", "0001-01-01", "P")
    assert set(estimates) == {(0, 0), (0, 1)}
    assert sorted(flags) == [(0,), (1,)]


def test_views_over_missing_tables_are_not_made(tmp_path: Path) -> None:
    practice = make_practice(SEED, date(2026, 12, 7), patients=60)
    del practice["claimsnapshot"], practice["recall"]
    engine = create_engine(f"sqlite:///{tmp_path / 'partial.db'}")
    load_practice(engine, practice)
    with engine.begin() as conn:
        skipped = create_kpi_views(conn)
    made = set(inspect(engine).get_view_names())
    engine.dispose()
    assert skipped == {
        "kpi_writeoffs": "needs claimsnapshot",
        "kpi_net_production": "needs claimsnapshot, kpi_writeoffs",
        "kpi_recalls": "needs recall",
    }
    assert made == set(kpi_view_names()) - set(skipped)


@pytest.mark.parametrize("kind", DATABASES)
def test_view_over_a_missing_column_is_not_made_and_others_are(kind: str, tmp_path: Path) -> None:
    # REST procedurelogs lack DiscountPlanAmt: scheduled production is made without discounts.
    practice = make_practice(SEED, date(2026, 12, 7), patients=60)
    with mirror_url(kind, tmp_path) as url:
        engine = create_engine(url)
        load_practice(engine, practice)
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE procedurelog DROP COLUMN discountplanamt"))
            conn.execute(text("ALTER TABLE appointment DROP COLUMN pattern"))
        with engine.begin() as conn:
            skipped = create_kpi_views(conn)
        made = set(inspect(engine).get_view_names())
        office = Office(engine, practice, db_today(engine))
        discounts = office.rows("SELECT DISTINCT discount FROM kpi_scheduled_production")
        scheduled = by_day(office, "kpi_scheduled_production")
        engine.dispose()
    assert list(skipped) == ["kpi_schedule_utilization"]
    assert skipped["kpi_schedule_utilization"].startswith("the database refused it: ")
    assert "pattern" in skipped["kpi_schedule_utilization"].lower()
    assert made == set(kpi_view_names()) - {"kpi_schedule_utilization"}
    assert discounts == [(None,)]
    assert scheduled == ref.scheduled_production(practice)


def test_views_read_the_boolean_flags_of_older_mirror_tables(tmp_path: Path) -> None:
    # Mirrors made before the Open Dental catalog keep some flags as PostgreSQL BOOLEAN.
    practice = make_practice(SEED, date(2026, 12, 7), patients=80)
    with mirror_url("postgresql", tmp_path) as url:
        engine = create_engine(url)
        load_practice(engine, practice)
        with engine.begin() as conn:
            for table, column in (("appointment", "ishygiene"), ("paysplit", "isdiscount"),
                                  ("recall", "isdisabled")):  # fmt: skip
                conn.execute(
                    text(
                        f"ALTER TABLE {table} ALTER COLUMN {column} TYPE BOOLEAN"
                        f" USING {column} <> 0"
                    )
                )
            assert create_kpi_views(conn) == {}
        office = Office(engine, practice, db_today(engine))
        utilization = office.rows(
            "SELECT provnum, day, scheduled_minutes, booked_minutes FROM kpi_schedule_utilization"
        )
        collections = by_day(office, "kpi_patient_collections")
        engine.dispose()
    got = {(p, as_date(d)): (int(s), int(b)) for p, d, s, b in utilization}
    assert got == ref.schedule_utilization(practice)
    expected = {k: earned for k, (earned, _) in ref.patient_collections(practice).items()}
    assert collections == expected


def test_the_readme_lists_every_index_the_mirror_adds() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Indexes: a month of a view reads that month") :]
    listed = {
        line.split("|")[1].strip(" `"): line.split("|")[2].strip()
        for line in section.split("\n\n")[3].splitlines()[2:]
    }
    declared = {name: ", ".join(how.indexes) for name, how in MIRRORED.items() if how.indexes}
    assert listed == declared
