"""Synthetic patients shaped like Open Dental's patient JSON (GET /patients/Simple).

Every value is made up: names and places come from Faker, phone numbers use the fictional
555-01xx range, SSNs start with 9 (never issued as an SSN) and e-mail uses reserved domains.
The shape itself (keys, enumerations, derived values) is etl.simulator.patient.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from faker import Faker

from etl.simulator.clock import OfficeClock, format_date, format_datetime
from etl.simulator.patient import (
    BILLING_TYPES,
    CLINIC_ABBRS,
    CONTACT_METHODS,
    FIELDS,
    GENDERS,
    NO_DATE,
    PAT_STATUSES,
    POSITIONS,
    TXT_MSG_OK,
    blank_patient,
    clinic_abbr,
    image_folder,
    prov_abbr,
    vendor_example_patient,
)

# What other modules import from here, as before the shape moved to etl.simulator.patient.
__all__ = [
    "CLINIC_ABBRS",
    "FIELDS",
    "GENDERS",
    "PAT_STATUSES",
    "POSITIONS",
    "blank_patient",
    "clinic_abbr",
    "image_folder",
    "make_many_patients",
    "make_patients",
    "prov_abbr",
    "vendor_example_patient",
]

# (field, value); None means "long text up to that column's size".
_HOSTILE: tuple[tuple[str, str | None], ...] = (
    ("LName", "O'Brien"), ("Preferred", '"Bobby"'), ("FName", "Robert'); DROP TABLE patient;--"),
    ("FName", "Zoë"), ("LName", "Nguyễn"), ("LName", "山田"), ("Preferred", "Sunny 😀"),
    ("Address", "12 Back\\Slash Rd"), ("FamFinUrgNote", "Disputed.\nCall first.\tSee notes.\n"),
    ("LName", " Smith "), ("FName", "  Ann"), ("City", "Coeur d'Alene"), ("FamFinUrgNote", None),
    ("Email", "o'brien+dental@example.com"), ("MiddleI", "'"), ("Address2", "Unit \\N"),
    ("ChartNumber", "0012' OR '1'='1"), ("Ward", None), ("Address2", 'c/o "The Smiths"; --'),
    ("Ward", "NULL"),
)  # fmt: skip
_LONG_LIMITS = {"FamFinUrgNote": 300, "Ward": 255}
_LONG_TEXT = "Statements by mail only; spouse handles billing; call before sending to collections. "
_NOTES = ("CC on file expiring soon", "Payment plan: $50 a month", "Sends checks late", "")
_PHONES = ("({a}){e}-{n}", "({a}) {e}-{n}", "{a}-{e}-{n}", "{a}.{e}.{n}", "{a}{e}{n}", "{e}-{n}")


@dataclass(frozen=True)
class _Pools:
    last: tuple[str, ...]
    female: tuple[str, ...]
    male: tuple[str, ...]
    streets: tuple[str, ...]
    places: tuple[tuple[str, str, str], ...]


@functools.lru_cache(maxsize=8)
def _pools(seed: int) -> _Pools:
    # Faker is slow per call: draw small pools once, then sample them with random.Random.
    fake = Faker("en_US")
    fake.seed_instance(seed)
    states = [
        fake.state_abbr(include_territories=False, include_freely_associated_states=False)
        for _ in range(150)
    ]
    return _Pools(
        last=tuple(fake.last_name() for _ in range(500)),
        female=tuple(fake.first_name_female() for _ in range(300)),
        male=tuple(fake.first_name_male() for _ in range(300)),
        streets=tuple(fake.street_name() for _ in range(400)),
        places=tuple((fake.city(), st, fake.zipcode_in_state(st)) for st in states),
    )


def make_patients(
    n: int, seed: int = 1, now: datetime | None = None, hostile: bool = True
) -> list[dict[str, Any]]:
    """Make n synthetic patients as the API serialises them, PatNum 1..n.

    Patients come in families of 1-5 sharing an address, the head being everyone's Guarantor.

    Args:
        n: how many patients.
        seed: the seed for Faker and for sampling; the same seed and now give the same rows.
        now: the office's local time; every DateTStamp is before it. None: the office clock now.
        hostile: give about 2% of rows awkward but realistic text (quotes, SQL, emoji, ...).

    Returns:
        The patients, in PatNum order.
    """
    now = (now or OfficeClock().now()).replace(microsecond=0)
    rng, pools = random.Random(seed), _pools(seed)
    patients: list[dict[str, Any]] = []
    while len(patients) < n:
        size = min(n - len(patients), rng.choices((1, 2, 3, 4, 5), (40, 25, 15, 12, 8))[0])
        patients.extend(_family(rng, pools, len(patients) + 1, size, now))
    # A separate generator, so hostile=False changes only the hostile rows.
    odd = random.Random(f"{seed}-hostile")
    for row in patients:
        if hostile and odd.random() < 0.02:
            _make_hostile(row, odd)
        if odd.random() < 0.01 and str(row["Zip"]).isdigit():
            row["Zip"] = int(row["Zip"])
        row["ImageFolder"] = image_folder(row["LName"], row["FName"], row["PatNum"])
    return patients


def make_many_patients(
    n: int, seed: int = 1, now: datetime | None = None, distinct: int = 20_000
) -> list[dict[str, Any]]:
    """Make n patients cheaply (a million in seconds): `distinct` as make_patients does, then
    copies of them under new PatNums (Guarantor and SuperFamily follow), in PatNum order.
    """
    base = make_patients(min(n, distinct), seed, now)
    patients = list(base)
    while len(patients) < n:
        shift = len(patients)
        for row in base[: n - shift]:
            copy = dict(row, PatNum=row["PatNum"] + shift, Guarantor=row["Guarantor"] + shift)
            copy["SuperFamily"] = row["SuperFamily"] + shift if row["SuperFamily"] else 0
            copy["ImageFolder"] = image_folder(copy["LName"], copy["FName"], copy["PatNum"])
            patients.append(copy)
    return patients


def _family(
    rng: random.Random, pools: _Pools, head: int, size: int, now: datetime
) -> list[dict[str, Any]]:
    city, state, zipcode = rng.choice(pools.places)
    shared = {
        "LName": rng.choice(pools.last),
        "Address": f"{rng.randint(1, 9999)} {rng.choice(pools.streets)}",
        "Address2": rng.choice(("", "", "", "", f"Apt {rng.randint(1, 40)}")),
        "City": city, "State": state, "Zip": zipcode,
        "HmPhone": _phone(rng) if rng.random() < 0.6 else "",
        "ClinicNum": rng.choices((0, 1, 2, 3), (55, 25, 12, 8))[0],
        "BillingType": rng.choices(BILLING_TYPES, (85, 8, 4, 3))[0],
        "SuperFamily": head if rng.random() < 0.03 else 0,
    }  # fmt: skip
    spouse = size > 1 and rng.random() < 0.7
    roles = ["head"] + ["spouse" if k == 1 and spouse else "child" for k in range(1, size)]
    family = [_person(rng, pools, head + k, role, now) | shared for k, role in enumerate(roles)]
    for row in family:
        row["Guarantor"] = head
        row["clinicAbbr"] = clinic_abbr(row["ClinicNum"])
    family[0]["BalTotal"] = round(sum(row["EstBalance"] for row in family), 2)
    if not spouse:
        family[0]["Position"] = rng.choices(("Single", "Widowed", "Divorced"), (80, 10, 10))[0]
    return family


def _person(
    rng: random.Random, pools: _Pools, patnum: int, role: str, now: datetime
) -> dict[str, Any]:
    row = blank_patient()
    gender = rng.choices(GENDERS, (48, 48, 3, 1))[0]
    age = rng.randint(0, 24) if role == "child" else rng.randint(22, 90)
    born = now.date() - timedelta(days=365 * age + rng.randrange(365))
    row.update(
        PatNum=patnum, FName=rng.choice(pools.female if gender == "Female" else pools.male),
        MiddleI=chr(rng.randint(65, 90)) if rng.random() < 0.3 else "",
        PatStatus=rng.choices(PAT_STATUSES, (82, 4, 6, 2, 2, 1, 3))[0], Gender=gender,
        Position="Child" if role == "child" else "Married",
        Birthdate=NO_DATE if rng.random() < 0.02 else format_date(born),
        SSN="" if rng.random() < 0.1 else f"9{rng.randrange(10**8):08d}",
        WkPhone=_phone(rng) if rng.random() < 0.2 else "",
        WirelessPhone=_phone(rng) if rng.random() < 0.7 else "",
        EstBalance=_balance(rng), PriProv=rng.randint(1, 5), SecProv=_sometimes(rng, 0.1, 5),
        FeeSched=_sometimes(rng, 0.1, 3), EmployerNum=_sometimes(rng, 0.15, 40),
        FamFinUrgNote=rng.choice(_NOTES) if rng.random() < 0.05 else "",
        ChartNumber=str(rng.randint(1000, 99999)) if rng.random() < 0.2 else "",
        MedicaidID=f"{rng.randrange(10**10):010d}" if rng.random() < 0.05 else "",
        Premed="true" if rng.random() < 0.05 else "false",
        Ward="Ward 3B" if rng.random() < 0.02 else "",
        Language=rng.choices(("", "eng", "spa", "vie", "zho", "fra"), (70, 15, 10, 2, 2, 1))[0],
        TxtMsgOk=rng.choices(TXT_MSG_OK, (60, 30, 10))[0],
    )  # fmt: skip
    row["priProvAbbr"], row["secProvAbbr"] = prov_abbr(row["PriProv"]), prov_abbr(row["SecProv"])
    _contact(rng, row)
    _dates(rng, row, now)
    return row


def _contact(rng: random.Random, row: dict[str, Any]) -> None:
    weights = (40, 2, 15, 2, 20, 8, 1, 2, 10)
    for key in ("PreferConfirmMethod", "PreferContactMethod", "PreferRecallMethod"):
        row[key] = rng.choices(CONTACT_METHODS, weights)[0]
    if rng.random() < 0.6:
        domain = rng.choice(("example.com", "example.net", "example.org"))
        row["Email"] = f"{row['FName'].lower()}{rng.randint(1, 999)}@{domain}"
    if rng.random() < 0.03:
        row["siteDesc"] = rng.choice(("Lincoln Elementary", "Eastside High", "Riverside Center"))


def _dates(rng: random.Random, row: dict[str, Any], now: datetime) -> None:
    # Created at least a day ago, so a DateTStamp between creation and now is strictly past.
    created = now.date() - timedelta(days=rng.randint(1, 3650))
    start = datetime.combine(created, time())
    stamp = start + timedelta(seconds=rng.randrange(int((now - start).total_seconds())))
    first_visit = min(created + timedelta(days=rng.randint(0, 30)), now.date())
    row["SecDateEntry"], row["DateTStamp"] = format_date(created), format_datetime(stamp)
    row["DateFirstVisit"] = NO_DATE if rng.random() < 0.15 else format_date(first_visit)
    if rng.random() < 0.01:
        row["AdmitDate"] = format_date(first_visit)


def _make_hostile(row: dict[str, Any], rng: random.Random) -> None:
    for field, value in rng.sample(_HOSTILE, rng.randint(1, 3)):
        if value is None:
            value = (_LONG_TEXT * 4)[: rng.randint(200, _LONG_LIMITS[field])]
        row[field] = value


def _phone(rng: random.Random) -> str:
    area, line = rng.randint(201, 989), f"{rng.randint(100, 199):04d}"
    return rng.choice(_PHONES).format(a=area, e=555, n=line)


def _balance(rng: random.Random) -> float:
    roll = rng.random()
    if roll < 0.65:
        return 0.0
    return round(rng.uniform(5, 900) if roll < 0.95 else -rng.uniform(5, 200), 2)


def _sometimes(rng: random.Random, chance: float, top: int) -> int:
    return rng.randint(1, top) if rng.random() < chance else 0
