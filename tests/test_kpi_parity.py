"""The KPI views answer, to the cent, what Open Dental's reports compute, on all three databases.

A seeded practice (etl.simulator.money) is stored as Open Dental stores it in SQLite, PostgreSQL
and MariaDB; each view's figures are compared with tests.kpi_reference, which redoes Open
Dental's report arithmetic in Python from the same rows without SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import create_engine, inspect, text

from etl.mirror.kpi_views import create_kpi_views, drop_kpi_views, kpi_view_names
from etl.simulator.money import make_practice
from tests import kpi_reference as ref
from tests.kpi_db import SEED, Office, as_date, by_day, cents, db_today, load_practice
from tests.mariadb import DATABASES, mirror_url


@pytest.fixture(scope="module", params=DATABASES)
def office(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Office]:
    """The practice loaded with its KPI views, once per database for the whole module."""
    with mirror_url(request.param, tmp_path_factory.mktemp("kpi")) as url:
        engine = create_engine(url)
        today = db_today(engine)
        practice = make_practice(SEED, today, patients=900)
        load_practice(engine, practice)
        with engine.begin() as conn:
            assert create_kpi_views(conn) == {}
        yield Office(engine, practice, today)
        engine.dispose()


def test_every_view_exists_answers_and_drops(office: Office) -> None:
    names = kpi_view_names()
    assert set(names) <= set(inspect(office.engine).get_view_names())
    for name in names:
        assert office.rows(f"SELECT COUNT(*) FROM {name}")[0][0] > 0, name
    with office.engine.begin() as conn:
        drop_kpi_views(conn)
    assert not set(names) & set(inspect(office.engine).get_view_names())
    with office.engine.begin() as conn:
        create_kpi_views(conn)
    assert set(names) <= set(inspect(office.engine).get_view_names())


def test_money_views_have_plain_bi_columns(office: Office) -> None:
    for name in (
        "kpi_production",
        "kpi_adjustments",
        "kpi_writeoffs",
        "kpi_net_production",
        "kpi_patient_collections",
        "kpi_insurance_collections",
        "kpi_scheduled_production",
    ):
        with office.engine.connect() as conn:
            columns = list(conn.execute(text(f"SELECT * FROM {name} LIMIT 1")).keys())
        assert {"day", "month", "provnum", "clinicnum", "amount"} <= set(columns), name
    day, month = office.rows("SELECT day, month FROM kpi_production ORDER BY day LIMIT 1")[0]
    assert month == as_date(day).strftime("%Y-%m")


def test_production_matches(office: Office) -> None:
    expected = ref.production(office.practice)
    assert len(expected) > 500
    assert by_day(office, "kpi_production") == expected


def test_production_gross_less_capitation(office: Office) -> None:
    fee, cap, amount = office.rows(
        "SELECT SUM(fee), SUM(capitation_writeoff), SUM(amount) FROM kpi_production"
    )[0]
    assert cents(cap) > 0
    assert cents(fee) - cents(cap) == cents(amount)


@pytest.mark.parametrize("subtracts", ["1", "0"])
def test_scheduled_production_matches(office: Office, subtracts: str) -> None:
    office.set_pref("ReportPandIschedProdSubtractsWO", subtracts)
    try:
        expected = ref.scheduled_production(office.practice)
        assert by_day(office, "kpi_scheduled_production") == expected
    finally:
        office.set_pref("ReportPandIschedProdSubtractsWO", "1")


def test_adjustments_match(office: Office) -> None:
    assert by_day(office, "kpi_adjustments") == ref.adjustments(office.practice)


@pytest.mark.parametrize("mode", ["0", "1", "2"])
def test_writeoffs_match_each_dating_mode(office: Office, mode: str) -> None:
    office.set_pref("ReportsPPOwriteoffDefaultToProcDate", mode)
    try:
        expected = ref.writeoffs(office.practice)
        assert by_day(office, "kpi_writeoffs") == expected
        assert by_day(office, "kpi_net_production") == ref.net_production(office.practice)
    finally:
        office.set_pref("ReportsPPOwriteoffDefaultToProcDate", "0")


def test_write_off_modes_date_differently(office: Office) -> None:
    by_mode = {}
    for mode in ("0", "1"):
        office.set_pref("ReportsPPOwriteoffDefaultToProcDate", mode)
        by_mode[mode] = by_day(office, "kpi_writeoffs")
    office.set_pref("ReportsPPOwriteoffDefaultToProcDate", "0")
    assert by_mode["0"] != by_mode["1"]


def test_patient_collections_match(office: Office) -> None:
    sql = (
        "SELECT day, provnum, clinicnum, SUM(amount), SUM(unearned_amount)"
        " FROM kpi_patient_collections GROUP BY day, provnum, clinicnum"
    )
    got = {(as_date(d), p, c): (cents(a), cents(u)) for d, p, c, a, u in office.rows(sql)}
    expected = ref.patient_collections(office.practice)
    assert any(u for _, u in expected.values())
    assert got == expected


def test_insurance_collections_match(office: Office) -> None:
    assert by_day(office, "kpi_insurance_collections") == ref.insurance_collections(office.practice)


def test_ar_aging_matches(office: Office) -> None:
    sql = (
        "SELECT guarantor, bal_0_30, bal_31_60, bal_61_90, bal_over_90, bal_total, ins_est, as_of"
        " FROM kpi_ar_aging"
    )
    rows = office.rows(sql)
    assert {as_date(r[-1]) for r in rows} == {office.today}
    got = {r[0]: tuple(cents(x) for x in r[1:-1]) for r in rows}
    expected = ref.ar_aging(office.practice, office.today)
    assert all(any(v[i] for v in expected.values()) for i in range(6)), "every bucket used"
    assert got == expected


def test_ar_aging_is_unknown_under_other_payment_plan_rules(office: Office) -> None:
    office.set_pref("PayPlansVersion", "2")
    try:
        rows = office.rows("SELECT bal_0_30, bal_over_90, bal_total FROM kpi_ar_aging")
    finally:
        office.set_pref("PayPlansVersion", "1")
    assert rows
    assert set(rows) == {(None, None, None)}


def test_insurance_outstanding_matches(office: Office) -> None:
    rows = office.rows(
        "SELECT claimnum, days_since_sent, days_since_service, age_bucket"
        " FROM kpi_insurance_outstanding"
    )
    got = {claim: (int(sent), int(service), bucket) for claim, sent, service, bucket in rows}
    expected = ref.insurance_outstanding(office.practice, office.today)
    assert {b for _, _, b in expected.values()} == {"0-30", "31-60", "61-90", "90+"}
    assert got == expected


def test_recalls_match(office: Office) -> None:
    rows = office.rows(
        "SELECT recallnum, provnum, clinicnum, is_scheduled, is_overdue FROM kpi_recalls"
    )
    got = {r[0]: tuple(r[1:]) for r in rows}
    expected = ref.recalls(office.practice, office.today)
    assert {v[2:] for v in expected.values()} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    listed = [r for r in office.practice["recall"] if r["recallnum"] in expected]
    unlisted = [r for r in office.practice["recall"] if r["recallnum"] not in expected]
    assert any(r["disableuntildate"] > office.today for r in unlisted)
    assert any(r["disableuntilbalance"] > 0 for r in unlisted)
    assert any(r["disableuntilbalance"] > 0 for r in listed)
    assert got == expected


def test_recall_types_follow_the_office_list(office: Office) -> None:
    office.set_pref("RecallTypesShowingInList", "")
    try:
        all_types = office.rows("SELECT DISTINCT recalltypenum FROM kpi_recalls")
        assert ref.recalls(office.practice, office.today) == {
            r[0]: tuple(r[1:])
            for r in office.rows(
                "SELECT recallnum, provnum, clinicnum, is_scheduled, is_overdue FROM kpi_recalls"
            )
        }
    finally:
        office.set_pref("RecallTypesShowingInList", "1,2")
    shown = office.rows("SELECT DISTINCT recalltypenum FROM kpi_recalls")
    assert sorted(all_types) == [(1,), (2,), (3,)]
    assert sorted(shown) == [(1,), (2,)]


def test_new_patients_match(office: Office) -> None:
    rows = office.rows("SELECT patnum, day, referralnum FROM kpi_new_patients")
    got = {patnum: (as_date(day), referral) for patnum, day, referral in rows}
    expected = ref.new_patients(office.practice)
    assert any(r is not None for _, r in expected.values())
    assert got == expected


def test_schedule_utilization_matches(office: Office) -> None:
    rows = office.rows(
        "SELECT provnum, day, scheduled_minutes, booked_minutes FROM kpi_schedule_utilization"
    )
    got = {(prov, as_date(day)): (int(s), int(b)) for prov, day, s, b in rows}
    expected = ref.schedule_utilization(office.practice)
    assert (2, next(d for p, d in expected if p == 2 and expected[(p, d)][0])) in expected
    assert got == expected


def test_overlapping_schedule_blocks_count_once(office: Office) -> None:
    # Provider 2 works 08:00-14:00 and 12:00-16:00: eight hours, not ten.
    open_blocks: dict[date, int] = {}
    for s in office.practice["schedule"]:
        if s["provnum"] == 2 and s["schedtype"] == 1 and s["status"] == 0:
            open_blocks[s["scheddate"]] = open_blocks.get(s["scheddate"], 0) + 1
    both = {day for day, count in open_blocks.items() if count == 2}
    rows = office.rows(
        "SELECT day, scheduled_minutes FROM kpi_schedule_utilization WHERE provnum = 2"
    )
    minutes = {as_date(day): int(m) for day, m in rows if as_date(day) in both}
    assert len(minutes) == len(both) > 20
    assert set(minutes.values()) == {480}


DATE_INDEXES = {
    "kpi_production": ("procedurelog", "procdate"),
    "kpi_adjustments": ("adjustment", "adjdate"),
    "kpi_patient_collections": ("paysplit", "datepay"),
    "kpi_writeoffs": ("claimproc", "datecp"),
    "kpi_net_production": ("procedurelog", "procdate"),
}


def test_day_filters_reach_the_tables_date_indexes(office: Office) -> None:
    dialect = office.engine.dialect.name
    explain = "EXPLAIN QUERY PLAN" if dialect == "sqlite" else "EXPLAIN"
    with office.engine.begin() as conn:
        for table, column in set(DATE_INDEXES.values()):
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS kx_{column} ON {table} ({column})"))
    for view, (_, column) in DATE_INDEXES.items():
        with office.engine.begin() as conn:
            if dialect == "postgresql":  # the test tables are small enough to scan whole
                conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = conn.execute(
                text(
                    f"{explain} SELECT SUM(amount) FROM {view}"
                    " WHERE day >= '2026-03-01' AND day < '2026-04-01'"
                )
            ).all()
        assert f"kx_{column}" in str(plan), view
