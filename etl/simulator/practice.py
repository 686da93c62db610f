"""Synthetic practice data beyond patients: providers, clinics, schedule, procedures, insurance.

Shaped like the vendor's example responses (opendental.com/site/api*.html): the same keys, enums
by name, booleans as "true"/"false", ProcFee as text. All of it made up, drawn from a seed.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import Any

from etl.simulator.clock import format_date, format_datetime
from etl.simulator.data import CLINIC_ABBRS, prov_abbr
from etl.simulator.shape import SHAPES, Shape
from etl.simulator.tables import Tables

NO_TIME = "0001-01-01 00:00:00"
PROVIDERS = (("Albert", "Brian"), ("Jones", "Tina"), ("Lexington", "Sarah"),
             ("Bently", "Bruce"), ("Okafor", "Ada"))  # fmt: skip
CODES = (("D0120", "periodic oral evaluation - established patient", "PerEx", 55.0),
         ("D0274", "bitewings - four radiographic images", "4BW", 70.0),
         ("D1110", "prophylaxis - adult", "Pro", 95.0),
         ("D2391", "resin-based composite - one surface, posterior", "C1(P)", 160.0),
         ("D2740", "crown - porcelain/ceramic", "PFC", 1150.0),
         ("D3330", "endodontic therapy, molar tooth", "RCT-M", 980.0),
         ("D7140", "extraction, erupted tooth", "Ext", 210.0))  # fmt: skip
CONFIRMED = {19: "Not Called", 20: "Unconfirmed", 21: "Appointment Confirmed"}
# Notes as front desks type them: quotes, SQL, line breaks, other scripts, a stray NUL.
NOTES = (
    "Pt prefers mornings",
    "O'Brien's mom calls \"first\"",
    "'); DROP TABLE appointment;--",
    "Late twice.\nCall day before.\t(cell)",
    "Zoë 😀 山田",
    "C:\\x-rays\\",
    "nul\x00here",
)


def fill_practice(
    tables: Tables,
    patients: list[dict[str, Any]],
    seed: int,
    now: datetime,
    shape: Shape = SHAPES["default"],
) -> None:
    """Fill every table from the patients, deterministically for a seed and shape."""
    rng = random.Random(f"{seed}-practice")
    tables.load("clinics", [_clinic(n, a) for n, a in CLINIC_ABBRS.items()])
    tables.load("providers", [_provider(n, rng, now) for n in range(1, len(PROVIDERS) + 1)])
    tables.load("operatories", [_operatory(n) for n in range(1, 7)])
    tables.load("definitions", _definitions())
    tables.load("procedurecodes", [_code(n, rng, now) for n in range(1, len(CODES) + 1)])
    active = [p for p in patients if p.get("PatStatus") == "Patient"]
    appointments, procedures = _schedule(rng, active, now, shape)
    tables.load("appointments", appointments, owned=True)
    tables.load("procedurelogs", procedures, owned=True)
    tables.load("claims", _claims(rng, procedures, now))
    tables.load("claimpayments", _payments(rng, tables, now))
    tables.load("inssubs", _inssubs(rng, active, now))
    tables.load("treatplans", _treatplans(rng, active, now))


def _stamp(rng: random.Random, now: datetime, days: int = 400) -> str:
    return format_datetime(now - timedelta(seconds=rng.randrange(60, days * 86400)))


def _clinic(num: int, abbr: str) -> dict[str, Any]:
    return {"ClinicNum": num, "Description": f"{abbr.title()} Dental", "Address": f"{num} Main St",
            "Address2": "", "City": "Salem", "State": "OR", "Zip": "97301",
            "Phone": f"503555010{num}", "Abbr": abbr, "IsHidden": "false"}  # fmt: skip


def _provider(num: int, rng: random.Random, now: datetime) -> dict[str, Any]:
    last, first = PROVIDERS[num - 1]
    return {"ProvNum": num, "Abbr": prov_abbr(num), "LName": last, "FName": first, "MI": "",
            "Suffix": "DDS", "FeeSched": 53, "Specialty": 263, "SSN": "", "StateLicense": "",
            "IsSecondary": "true" if num in (2, 4) else "false", "provColor": "164,255,164",
            "IsHidden": "false", "UsingTIN": "false", "SigOnFile": "true",
            "NationalProvID": "", "DateTStamp": _stamp(rng, now), "IsNotPerson": "false",
            "ProvStatus": "Active", "IsHiddenReport": "false", "Birthdate": "0001-01-01",
            "SchedNote": "", "PreferredName": ""}  # fmt: skip


def _operatory(num: int) -> dict[str, Any]:
    return {"OperatoryNum": num, "OpName": f"Op {num}", "Abbrev": f"OP-{num}",
            "ItemOrder": num - 1, "IsHidden": "false", "ProvDentist": 1 + (num - 1) % 5,
            "ProvHygienist": 0, "IsHygiene": "false", "ClinicNum": 1 + (num - 1) % 3,
            "SetProspective": "false", "IsWebSched": "false", "OperatoryType": 0,
            "operatoryType": ""}  # fmt: skip


def _definitions() -> list[dict[str, Any]]:
    rows = [{"DefNum": num, "Category": 2, "ItemOrder": i, "ItemName": name, "ItemValue": "",
             "IsHidden": "false"} for i, (num, name) in enumerate(CONFIRMED.items())]  # fmt: skip
    rows.append({"DefNum": 356, "Category": 32, "ItemOrder": 0, "ItemName": "Check",
                 "ItemValue": "", "IsHidden": "false"})  # fmt: skip
    return rows


def _code(num: int, rng: random.Random, now: datetime) -> dict[str, Any]:
    code, descript, abbr, _fee = CODES[num - 1]
    return {"CodeNum": num, "ProcCode": code, "Descript": descript, "AbbrDesc": abbr,
            "ProcTime": "/X/", "ProcCat": 73, "procCat": "Exams & Xrays", "TreatArea": "Mouth",
            "NoBillIns": "false", "IsProsth": "false", "IsHygiene": "false",
            "DateTStamp": _stamp(rng, now)}  # fmt: skip


def _schedule(
    rng: random.Random, patients: list[dict[str, Any]], now: datetime, shape: Shape
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    appointments: list[dict[str, Any]] = []
    procedures: list[dict[str, Any]] = []
    counts = range(len(shape.appointments))
    for patient in patients:
        for _ in range(rng.choices(counts, shape.appointments)[0]):
            apt = _appointment(rng, patient, len(appointments) + 1, now)
            appointments.append(apt)
            for _ in range(rng.randint(*shape.procedures)):
                procedures.append(_procedure(rng, apt, len(procedures) + 1, now))
    return appointments, procedures


def _appointment(
    rng: random.Random, patient: dict[str, Any], num: int, now: datetime
) -> dict[str, Any]:
    future = rng.random() < 0.4
    day = now.date() + timedelta(days=rng.randint(1, 90) if future else -rng.randint(1, 365))
    when = datetime.combine(day, time(rng.randint(8, 16), rng.choice((0, 20, 40))))
    status = "Scheduled" if future else rng.choices(("Complete", "Broken"), (90, 10))[0]
    confirmed = rng.choice(list(CONFIRMED))
    prov = int(patient.get("PriProv") or 1)
    return {"AptNum": num, "PatNum": patient["PatNum"], "AptStatus": status,
            "Pattern": "//XXXX//", "Confirmed": confirmed, "confirmed": CONFIRMED[confirmed],
            "TimeLocked": "false", "Op": rng.randint(1, 6),
            "Note": rng.choice(NOTES) if rng.random() < 0.15 else "", "ProvNum": prov,
            "provAbbr": prov_abbr(prov), "ProvHyg": 0, "AptDateTime": format_datetime(when),
            "NextAptNum": 0, "UnschedStatus": 0, "unschedStatus": "",
            "IsNewPatient": "true" if rng.random() < 0.1 else "false",
            "ProcDescript": "", "Assistant": 0, "ClinicNum": patient.get("ClinicNum", 0),
            "IsHygiene": "false", "DateTStamp": _stamp(rng, now, 30),
            "DateTimeArrived": NO_TIME, "DateTimeSeated": NO_TIME,
            "DateTimeDismissed": NO_TIME, "InsPlan1": 0, "InsPlan2": 0,
            "DateTimeAskedToArrive": NO_TIME, "colorOverride": "0,0,0",
            "AppointmentTypeNum": 0, "SecDateTEntry": _stamp(rng, now),
            "Priority": "Normal", "PatternSecondary": ""}  # fmt: skip


def _procedure(rng: random.Random, apt: dict[str, Any], num: int, now: datetime) -> dict[str, Any]:
    codenum = rng.randint(1, len(CODES))
    code, descript, _abbr, fee = CODES[codenum - 1]
    status = {"Scheduled": "TP", "Complete": "C", "Broken": "TP"}[apt["AptStatus"]]
    return {"ProcNum": num, "PatNum": apt["PatNum"], "AptNum": apt["AptNum"],
            "ProcDate": apt["AptDateTime"][:10], "ProcFee": f"{fee:.2f}", "Surf": "",
            "ToothNum": "", "ToothRange": "", "Priority": 0, "priority": "",
            "ProcStatus": status, "ProvNum": apt["ProvNum"], "provAbbr": apt["provAbbr"],
            "Dx": 0, "dxName": "", "PlannedAptNum": 0, "ClinicNum": apt["ClinicNum"],
            "CodeNum": codenum, "procCode": code, "descript": descript, "UnitQty": 1,
            "BaseUnits": 0, "DateTStamp": _stamp(rng, now, 30),
            "IsDateProsthEst": "false"}  # fmt: skip


def _claims(
    rng: random.Random, procedures: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    done = [p for p in procedures if p["ProcStatus"] == "C" and rng.random() < 0.3]
    return [{"ClaimNum": n, "PatNum": p["PatNum"], "DateService": p["ProcDate"],
             "DateSent": p["ProcDate"], "ClaimStatus": rng.choice("USWR"),
             "DateReceived": "0001-01-01", "PlanNum": 1, "ProvTreat": p["ProvNum"],
             "ClaimFee": float(p["ProcFee"]), "InsPayEst": round(float(p["ProcFee"]) * 0.8, 2),
             "InsPayAmt": 0.0, "DedApplied": 0.0, "IsProsthesis": "N", "ClaimType": "P",
             "PatRelat": "Self", "PatRelat2": "Self", "ClaimForm": "4", "InsSubNum": "1",
             "SecDateTEdit": _stamp(rng, now, 60)} for n, p in enumerate(done, 1)]  # fmt: skip


def _payments(rng: random.Random, tables: Tables, now: datetime) -> list[dict[str, Any]]:
    received = [c for c in tables.all("claims") if c["ClaimStatus"] == "R"]
    return [{"ClaimPaymentNum": n, "CheckDate": c["DateService"],
             "CheckAmt": f"{c['InsPayEst']:.2f}", "CheckNum": str(100000 + n),
             "BankBranch": "", "Note": "", "ClinicNum": 0, "DepositNum": 0,
             "CarrierName": "Example Dental Insurance", "DateIssued": c["DateService"],
             "IsPartial": "false", "PayType": 356, "payType": "Check",
             "SecDateEntry": c["DateService"], "SecDateTEdit": _stamp(rng, now, 60),
             "PayGroup": 0, "payGroup": ""} for n, c in enumerate(received, 1)]  # fmt: skip


def _inssubs(
    rng: random.Random, patients: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    heads = [p for p in patients if p["PatNum"] == p.get("Guarantor") and rng.random() < 0.4]
    return [{"InsSubNum": n, "PlanNum": rng.randint(1, 5), "Subscriber": p["PatNum"],
             "DateEffective": "2020-01-01", "DateTerm": "0001-01-01",
             "SubscriberID": f"9{rng.randrange(10**7):07d}", "BenefitNotes": "",
             "ReleaseInfo": "true", "AssignBen": "true", "SubscNote": "",
             "SecDateTEdit": _stamp(rng, now)} for n, p in enumerate(heads, 1)]  # fmt: skip


def _treatplans(
    rng: random.Random, patients: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    chosen = [p for p in patients if rng.random() < 0.2]
    return [{"TreatPlanNum": n, "PatNum": p["PatNum"], "DateTP": format_date(now.date()),
             "Heading": "Active Treatment Plan", "Note": "", "ResponsParty": 0, "DocNum": 0,
             "TPStatus": rng.choice(("Active", "Saved", "Inactive")), "SecUserNumEntry": 1,
             "SecDateEntry": format_date(now.date()), "SecDateTEdit": _stamp(rng, now),
             "UserNumPresenter": 0, "TPType": "Insurance", "DateTSigned": NO_TIME,
             "DateTPracticeSigned": NO_TIME, "SignatureText": "",
             "SignaturePracticeText": ""} for n, p in enumerate(chosen, 1)]  # fmt: skip
