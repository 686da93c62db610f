"""Classic Open Dental reports as SQL on the mirror's views, checked against the office's data."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text

from tests.practice import office_clock, sync

ACTIVE_BY_CLINIC = """
SELECT clinic_description, COUNT(*) AS patients
FROM patient_v WHERE patstatus_label = 'Patient'
GROUP BY clinic_description
"""
NEW_BY_MONTH = """
SELECT first_visit_month, COUNT(*) AS patients
FROM patient_v WHERE first_visit_month IS NOT NULL
GROUP BY first_visit_month
"""
SCHEDULED_PRODUCTION = """
SELECT a.prov_name, SUM(p.procfee) AS production
FROM appointment_v a JOIN procedurelog p ON p.aptnum = a.aptnum
WHERE a.aptstatus_label = 'Scheduled'
GROUP BY a.prov_name
"""


def report(engine: Engine, sql: str) -> dict[Any, Any]:
    with engine.connect() as conn:
        return {row[0]: row[1] for row in conn.execute(text(sql))}


def test_classic_reports_match_the_office(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(150, clock=office_clock()).fill_practice()
    sync(sim, engine)
    patients = sim.store.all()
    clinics = {c["ClinicNum"]: c["Description"] for c in sim.tables.all("clinics")}

    active = Counter(clinics.get(p["ClinicNum"]) for p in patients if p["PatStatus"] == "Patient")
    assert report(engine, ACTIVE_BY_CLINIC) == dict(active)
    assert len(active) == 4  # three clinics and patients in none

    months = Counter(
        p["DateFirstVisit"][:7] for p in patients if p["DateFirstVisit"] != "0001-01-01"
    )
    assert report(engine, NEW_BY_MONTH) == dict(months)

    providers = {p["ProvNum"]: f"{p['FName']} {p['LName']}" for p in sim.tables.all("providers")}
    scheduled = {a["AptNum"]: a for a in sim.tables.all("appointments")}
    production: dict[str, Decimal] = defaultdict(Decimal)
    for proc in sim.tables.all("procedurelogs"):
        apt = scheduled.get(proc["AptNum"])
        if apt is not None and apt["AptStatus"] == "Scheduled":
            production[providers[apt["ProvNum"]]] += Decimal(proc["ProcFee"])
    got = {name: Decimal(str(total)).quantize(Decimal("0.01")) for name, total in
           report(engine, SCHEDULED_PRODUCTION).items()}  # fmt: skip
    assert got == dict(production) and production
