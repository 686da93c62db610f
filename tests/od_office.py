"""A small dental office's rows, stored as Open Dental stores them (seeded, so every run agrees).

Every column of each table is filled: Open Dental's "no value" ('0001-01-01', '', 0) where the
office entered nothing, never NULL, as in Open Dental's own database. The rows carry what Open
Dental's queries trip over: mixed-case names ('Smith', 'smith', "O'Brien", 'Zoë'), dates at
midnight, sentinel dates, terminated and hidden providers, ties, and amounts in cents.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, MetaData

from etl.catalog.od_types import span_text
from etl.catalog.opendental import OD_TABLES, no_value, od_table

TABLES = (
    "definition",
    "clinic",
    "provider",
    "operatory",
    "carrier",
    "insplan",
    "procedurecode",
    "patient",
    "inssub",
    "appointment",
    "procedurelog",
    "claimpayment",
    "claim",
    "claimproc",
    "adjustment",
    "payment",
    "paysplit",
    "recall",
    "treatplan",
)
NONE_DATE = dt.date(1, 1, 1)
NONE_TIME = dt.datetime(1, 1, 1)
BASE = dt.date(2026, 6, 30)
LAST_NAMES = (
    "Smith",
    "smith",
    "Jones",
    "O'Brien",
    "McDonald",
    "de la Cruz",
    "Nguyen",
    "Zoë",
    "Brown",
    "brown",
    "Lee",
    "García",
)
FIRST_NAMES = ("Ann", "ann", "Bob", "Carla", "Dmitri", "Émile", "Fatima", "George", "Hana", "Ivan")
CODES = (
    ("D0120", "Periodic oral evaluation", 55.0, 11, 0),
    ("D0150", "Comprehensive oral evaluation", 95.5, 11, 0),
    ("D0274", "Bitewings - four films", 72.25, 11, 0),
    ("D1110", "Prophylaxis - adult", 110.0, 12, 1),
    ("D1120", "Prophylaxis - child", 80.0, 12, 1),
    ("D2391", "Resin-based composite - one surface", 185.0, 13, 0),
    ("D2740", "Crown - porcelain/ceramic", 1250.0, 14, 0),
    ("D4341", "Periodontal scaling and root planing", 265.75, 12, 1),
    ("D7140", "Extraction, erupted tooth", 210.0, 13, 0),
    ("d9999", "Unspecified adjunctive procedure", 0.0, 13, 0),
)


class Office:
    """Rows of every table, built from one seed."""

    def __init__(self, seed: int = 24) -> None:
        self.rng = random.Random(seed)
        self.rows: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLES}
        self._build()

    def add(self, table: str, **values: Any) -> dict[str, Any]:
        """One row: Open Dental's "no value" in every column not given."""
        row = {c.name.lower(): no_value(c.storage) for c in OD_TABLES[table]}
        unknown = {k.lower() for k in values} - set(row)
        if unknown:
            raise KeyError(f"{table} has no {sorted(unknown)}")
        row.update({k.lower(): v for k, v in values.items()})
        self.rows[table].append(row)
        return row

    def day(self, spread: int = 700) -> dt.date:
        """A day within `spread` days before BASE (office dates)."""
        return BASE - dt.timedelta(days=self.rng.randrange(spread))

    def cents(self, low: float, high: float) -> float:
        """An amount in whole cents."""
        return round(self.rng.uniform(low, high), 2)

    def _build(self) -> None:
        self._setup()
        self._patients()
        self._visits()
        self._insurance()
        self._money()

    def _setup(self) -> None:
        definitions = [
            (1, "Discount", 0),
            (1, "Bad debt write-off", 0),
            (1, "Refund", 0),
            (4, "Standard Account", 0),
            (4, "Collections", 0),
            (4, "old billing", 1),
            (10, "Check", 0),
            (10, "Cash", 0),
            (10, "Credit Card", 0),
            (11, "Diagnostic", 0),
            (11, "Preventive", 0),
            (11, "Restorative", 0),
            (11, "Crowns", 0),
            (2, "Unconfirmed", 0),
            (2, "Confirmed", 0),
        ]
        for number, (category, name, hidden) in enumerate(definitions, start=1):
            self.add(
                "definition",
                DefNum=number,
                Category=category,
                ItemOrder=number % 4,
                ItemName=name,
                IsHidden=hidden,
            )
        self.add(
            "clinic",
            ClinicNum=1,
            Description="Main Street",
            Abbr="MAIN",
            City="Springfield",
            State="IL",
            ItemOrder=0,
        )
        self.add(
            "clinic",
            ClinicNum=2,
            Description="north side",
            Abbr="North",
            City="springfield",
            State="IL",
            ItemOrder=1,
            IsHidden=0,
        )
        providers = [
            (1, "DOC1", "Adams", "Alice", 0, NONE_DATE, 0, 1),
            (2, "HYG1", "baker", "Beth", 0, NONE_DATE, 0, 1),
            (3, "DOC2", "Chen", "Carl", 0, dt.date(2025, 3, 31), 0, 2),
            (4, "hidden", "Diaz", "Dora", 1, NONE_DATE, 1, 0),
            (5, "Doc3", "Evans", "Eli", 0, NONE_DATE, 0, 2),
        ]
        for num, abbr, last, first, hidden, term, status, _clinic in providers:
            self.add(
                "provider",
                ProvNum=num,
                Abbr=abbr,
                LName=last,
                FName=first,
                IsHidden=hidden,
                DateTerm=term,
                ProvStatus=status,
                ItemOrder=num,
                IsSecondary=1 if abbr.startswith("HYG") else 0,
                Specialty=0,
                HourlyProdGoalAmt=self.cents(100, 400),
                Birthdate=NONE_DATE if num % 2 else dt.date(1980, 5, num),
            )
        for num, name, clinic, hygiene in (
            (1, "Op 1", 1, 0),
            (2, "Hyg Room", 1, 1),
            (3, "op 3", 2, 0),
            (4, "Old op", 2, 0),
        ):
            self.add(
                "operatory",
                OperatoryNum=num,
                OpName=name,
                Abbrev=name[:4],
                ItemOrder=num,
                IsHidden=int(num == 4),
                ClinicNum=clinic,
                IsHygiene=hygiene,
                ProvDentist=1 if clinic == 1 else 3,
                ProvHygienist=2 if hygiene else 0,
                DateTStamp=dt.datetime(2025, 1, num, 9, 0, 0),
            )
        for num, name in (
            (1, "Delta Dental"),
            (2, "DELTA DENTAL of Illinois"),
            (3, "MetLife"),
            (4, "Aetna"),
        ):
            self.add(
                "carrier",
                CarrierNum=num,
                CarrierName=name,
                City="Chicago",
                State="IL",
                ElectID=f"{60000 + num}",
                IsHidden=int(num == 4),
            )
        for num in range(1, 6):
            self.add(
                "insplan",
                PlanNum=num,
                GroupName=f"Group {num}",
                GroupNum=f"G{num:03d}",
                CarrierNum=(num - 1) % 4 + 1,
                PlanType="" if num != 3 else "p",
                IsHidden=int(num == 5),
                MonthRenew=(num * 3) % 12,
            )
        for num, (code, text, _fee, category, hygiene) in enumerate(CODES, start=1):
            self.add(
                "procedurecode",
                CodeNum=num,
                ProcCode=code,
                Descript=text,
                AbbrDesc=text.split()[0],
                ProcTime="/XX/",
                ProcCat=category,
                IsHygiene=hygiene,
                TreatArea=1 if code < "D2000" else 2,
                PaintType=0 if num % 3 else 2,
                DateTStamp=dt.datetime(2024, 1, 1, 0, 0, 0),
            )

    def _patients(self) -> None:
        rng = self.rng
        for num in range(1, 61):
            guarantor = num if num % 4 == 1 else num - (num - 1) % 4
            status = rng.choice((0, 0, 0, 0, 1, 2, 3, 4, 5, 6))
            aging = [self.cents(0, 300) if rng.random() < 0.5 else 0.0 for _ in range(4)]
            birth = (
                NONE_DATE
                if num % 13 == 0
                else dt.date(rng.randrange(1940, 2020), rng.randrange(1, 13), rng.randrange(1, 29))
            )
            self.add(
                "patient",
                PatNum=num,
                LName=LAST_NAMES[num % len(LAST_NAMES)],
                FName=FIRST_NAMES[num % len(FIRST_NAMES)],
                MiddleI="" if num % 3 else "Q",
                Preferred="",
                PatStatus=status,
                Gender=num % 3,
                Position=num % 5,
                Birthdate=birth,
                Address=f"{num} Main St",
                City=rng.choice(("Springfield", "springfield", "Shelbyville", "")),
                State="IL",
                Zip=f"627{num:02d}",
                HmPhone="" if num % 5 == 0 else f"(217)555-{num:04d}",
                WirelessPhone=f"217555{num:04d}" if num % 2 else "",
                Guarantor=guarantor,
                Email="" if num % 4 == 0 else f"p{num}@Example.com",
                EstBalance=self.cents(-50, 900),
                PriProv=rng.choice((1, 1, 2, 3, 5)),
                SecProv=0,
                FeeSched=0,
                BillingType=rng.choice((4, 4, 5, 6)),
                Bal_0_30=aging[0],
                Bal_31_60=aging[1],
                Bal_61_90=aging[2],
                BalOver90=aging[3],
                InsEst=self.cents(0, 200) if num % 3 == 0 else 0.0,
                BalTotal=round(sum(aging), 2),
                DateFirstVisit=NONE_DATE if num % 7 == 0 else self.day(1500),
                ClinicNum=rng.choice((0, 1, 1, 2)),
                Premed=int(num % 9 == 0),
                PreferRecallMethod=num % 9,
                TxtMsgOk=num % 3,
                DateTStamp=dt.datetime(2026, 1, 1 + num % 28, num % 24, 0, 0),
                SchedBeforeTime=dt.time(0, 0) if num % 2 else dt.time(12, 30),
                SecDateEntry=self.day(),
                HasIns="I" if num % 2 else "",
                ChartNumber="" if num % 6 else f"C{num}",
            )

    def _visits(self) -> None:
        rng = self.rng
        proc_num = 0
        for apt in range(1, 151):
            pat = rng.randrange(1, 61)
            when = self.day(730)
            # A few appointments at exactly midnight (a DateT that looks like a date).
            hour = 0 if apt % 25 == 0 else rng.randrange(8, 17)
            status = rng.choice((1, 2, 2, 2, 3, 5, 6))
            date_time = (
                dt.datetime.combine(when, dt.time(hour, rng.choice((0, 30))))
                if status != 6
                else NONE_TIME
            )
            prov = rng.choice((1, 3, 5))
            hygiene = int(rng.random() < 0.4)
            self.add(
                "appointment",
                AptNum=apt,
                PatNum=pat,
                AptStatus=status,
                Pattern="/XXXX/",
                Confirmed=rng.choice((14, 15)),
                Op=rng.randrange(1, 5),
                ProvNum=prov,
                ProvHyg=2 if hygiene else 0,
                AptDateTime=date_time,
                IsNewPatient=int(apt % 10 == 0),
                IsHygiene=hygiene,
                ClinicNum=1 if prov == 1 else 2,
                ProcDescript="PerEx, Pro" if hygiene else "",
                Note="" if apt % 3 else "Pt prefers mornings",
                DateTStamp=dt.datetime(2026, 6, 1, 8, 0, 0),
                DateTimeArrived=date_time if status == 2 else NONE_TIME,
                SecDateTEntry=dt.datetime.combine(when, dt.time(7, 0)) - dt.timedelta(days=14),
                Priority=apt % 2,
            )
            for _ in range(rng.randrange(1, 4)):
                proc_num += 1
                code = rng.randrange(1, len(CODES) + 1)
                complete = status == 2
                proc_status = 2 if complete else rng.choice((1, 1, 6, 3))
                fee = CODES[code - 1][2]
                self.add(
                    "procedurelog",
                    ProcNum=proc_num,
                    PatNum=pat,
                    AptNum=apt if status != 6 else 0,
                    PlannedAptNum=apt if status == 6 else 0,
                    ProcDate=when if proc_status != 1 else NONE_DATE,
                    ProcFee=fee,
                    ProcStatus=proc_status,
                    ProvNum=2 if hygiene and code in (4, 5, 8) else prov,
                    CodeNum=code,
                    ClinicNum=1 if prov == 1 else 2,
                    ToothNum=str(rng.randrange(1, 33)) if code >= 6 else "",
                    Surf="MO" if code == 6 else "",
                    DateEntryC=when if complete else NONE_DATE,
                    UnitQty=1,
                    DateTP=when - dt.timedelta(days=30),
                    IsLocked=int(proc_num % 11 == 0),
                    DateComplete=when if complete else NONE_DATE,
                    Discount=10.0 if proc_num % 17 == 0 else 0.0,
                    DateTStamp=dt.datetime.combine(when, dt.time(17, 0)),
                    SecDateEntry=dt.datetime.combine(when, dt.time(9, 0)),
                    DrugQty=0.5 if proc_num % 23 == 0 else 0.0,
                )
        for num in range(1, 61):
            due = self.day(400) + dt.timedelta(days=180)
            self.add(
                "recall",
                RecallNum=num,
                PatNum=num,
                DateDueCalc=due,
                DateDue=due if num % 5 else NONE_DATE,
                DatePrevious=due - dt.timedelta(days=182) if num % 3 else NONE_DATE,
                RecallInterval=393216,
                IsDisabled=int(num % 11 == 0),
                RecallTypeNum=1 if num % 4 else 2,
                DateScheduled=NONE_DATE if num % 2 else due,
                DateTStamp=dt.datetime(2026, 5, 1, 12, 0, 0),
                Priority=0,
            )
        for num in range(1, 21):
            self.add(
                "treatplan",
                TreatPlanNum=num,
                PatNum=num * 3,
                DateTP=self.day(),
                Heading="Active Treatment Plan" if num % 2 else "Inactive Treatment Plan",
                TPStatus=num % 3,
                Note="",
                TPType=num % 2,
            )

    def _insurance(self) -> None:
        rng = self.rng
        for num in range(1, 31):
            self.add(
                "inssub",
                InsSubNum=num,
                PlanNum=(num - 1) % 5 + 1,
                Subscriber=num * 2 - 1,
                DateEffective=dt.date(2020, 1, 1),
                DateTerm=NONE_DATE if num % 6 else dt.date(2025, 12, 31),
                SubscriberID=f"X{num:05d}",
                ReleaseInfo=1,
                AssignBen=num % 2,
            )
        done = [p for p in self.rows["procedurelog"] if p["procstatus"] == 2]
        for check in range(1, 16):
            self.add(
                "claimpayment",
                ClaimPaymentNum=check,
                CheckDate=self.day(500),
                CheckAmt=0.0,
                CheckNum=f"{9000 + check}",
                CarrierName=self.rows["carrier"][check % 4]["carriername"],
                ClinicNum=1 + check % 2,
                PayType=7 + check % 3,
                IsPartial=0,
            )
        for claim_num, proc in enumerate(done[::2], start=1):
            status = rng.choice(("R", "R", "S", "W", "U"))
            paid = round(proc["procfee"] * 0.6, 2) if status == "R" else 0.0
            write_off = round(proc["procfee"] * 0.1, 2) if status == "R" else 0.0
            sub = rng.randrange(1, 31)
            check = rng.randrange(1, 16) if status == "R" else 0
            self.add(
                "claim",
                ClaimNum=claim_num,
                PatNum=proc["patnum"],
                DateService=proc["procdate"],
                DateSent=proc["procdate"] + dt.timedelta(days=2) if status != "U" else NONE_DATE,
                ClaimStatus=status,
                DateReceived=proc["procdate"] + dt.timedelta(days=30)
                if status == "R"
                else NONE_DATE,
                PlanNum=(sub - 1) % 5 + 1,
                InsSubNum=sub,
                ProvTreat=proc["provnum"],
                ClaimFee=proc["procfee"],
                InsPayEst=round(proc["procfee"] * 0.6, 2),
                InsPayAmt=paid,
                WriteOff=write_off,
                ClaimType="P" if claim_num % 7 else "S",
                ClinicNum=proc["clinicnum"],
                PatRelat=0,
                SecDateTEdit=dt.datetime(2026, 6, 1, 0, 0, 0),
            )
            self.add(
                "claimproc",
                ClaimProcNum=claim_num,
                ProcNum=proc["procnum"],
                ClaimNum=claim_num,
                PatNum=proc["patnum"],
                ProvNum=proc["provnum"],
                FeeBilled=proc["procfee"],
                InsPayEst=round(proc["procfee"] * 0.6, 2),
                Status=1 if status == "R" else 0,
                InsPayAmt=paid,
                ClaimPaymentNum=check,
                PlanNum=(sub - 1) % 5 + 1,
                DateCP=proc["procdate"] + dt.timedelta(days=30) if status == "R" else NONE_DATE,
                WriteOff=write_off,
                ProcDate=proc["procdate"],
                DateEntry=proc["procdate"],
                ClinicNum=proc["clinicnum"],
                InsSubNum=sub,
                Percentage=60,
            )
            if check:
                payment = self.rows["claimpayment"][check - 1]
                payment["checkamt"] = round(payment["checkamt"] + paid, 2)

    def _money(self) -> None:
        rng = self.rng
        for num in range(1, 31):
            self.add(
                "adjustment",
                AdjNum=num,
                AdjDate=self.day(),
                AdjAmt=self.cents(-120, 80),
                PatNum=rng.randrange(1, 61),
                AdjType=rng.choice((1, 2, 3)),
                ProvNum=rng.choice((1, 3, 5)),
                AdjNote="" if num % 2 else "courtesy",
                ProcDate=NONE_DATE,
                DateEntry=self.day(),
                ClinicNum=rng.choice((1, 2)),
                SecDateTEdit=dt.datetime(2026, 6, 2, 10, 0, 0),
            )
        split = 0
        for num in range(1, 61):
            amount = self.cents(20, 400)
            pat = rng.randrange(1, 61)
            day = self.day()
            self.add(
                "payment",
                PayNum=num,
                PayType=rng.choice((7, 8, 9)),
                PayDate=day,
                PayAmt=amount,
                CheckNum="" if num % 3 else f"{100 + num}",
                PatNum=pat,
                ClinicNum=rng.choice((1, 2)),
                DateEntry=day,
                IsSplit=int(num % 4 == 0),
                PayNote="",
                MerchantFee=0.0,
            )
            parts = (
                [amount]
                if num % 4
                else [round(amount / 2, 2), round(amount - round(amount / 2, 2), 2)]
            )
            for part in parts:
                split += 1
                self.add(
                    "paysplit",
                    SplitNum=split,
                    SplitAmt=part,
                    PatNum=pat,
                    ProcDate=NONE_DATE,
                    PayNum=num,
                    ProvNum=rng.choice((1, 2, 3, 5)),
                    DatePay=day,
                    DateEntry=day,
                    ClinicNum=rng.choice((1, 2)),
                    SecDateTEdit=dt.datetime.combine(day, dt.time(16, 45)),
                )


def load(engine: Engine, office: Office) -> None:
    """Create the office's tables (Open Dental's columns, mirror types) and insert its rows."""
    metadata = MetaData()
    tables = {name: od_table(name, metadata) for name in TABLES}
    metadata.create_all(engine)
    with engine.begin() as conn:
        for name in TABLES:
            if office.rows[name]:
                conn.execute(tables[name].insert(), office.rows[name])


def comparable(value: Any) -> Any:
    """A value as compared: numbers to the cent, dates and times as MySQL's text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, Decimal)):
        return round(float(value), 2) + 0.0
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if value.year >= 1000 else value.isoformat(" ")
    if isinstance(value, dt.timedelta):
        return span_text(value)
    if isinstance(value, (dt.date, dt.time)):
        return str(value)
    return value
