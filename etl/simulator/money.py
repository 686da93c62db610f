"""A simulated practice's money, claims, recalls and schedules, as Open Dental stores the rows.

`make_practice(seed, today)` returns {table: [row, ...]} with Open Dental's table and column
names in lower case and values as its MySQL holds them: 0/1 flags, integer enum codes, 0 for "no
key", date(1, 1, 1) for "no date", -1 for "no override", money with two decimals. Only the
columns a report reads are set; a writer fills the others with Open Dental's blanks.

Shaped like a two-clinic office: families, insured and uninsured patients (PPO, percentage and
capitation plans), visits over the past 14 months (completed, broken, left scheduled), claims
sent, paid on insurance checks, some paid late or never, supplemental payments, patient payments
at the visit or later or never, prepayments and income transfers, adjustments, payment plans,
recalls, provider schedules with overlapping blocks, and booked appointments ahead. Everything
comes from `random.Random(seed)`, so one seed gives the same office every time.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from etl.simulator.money_calendar import Calendar
from etl.simulator.money_claims import Claims
from etl.simulator.money_ledger import Ledger
from etl.simulator.money_rows import (
    ADJ_BAD_DEBT,
    ADJ_DISCOUNT,
    ADJ_FINANCE,
    CLINICS,
    DENTISTS,
    HYGIENE_CODES,
    HYGIENISTS,
    NO_DATE,
    OPS,
    PLAN_CAPITATION,
    PLAN_NO_CARRIER,
    PLAN_PERCENT,
    PLAN_PPO,
    PREFERENCES,
    PREPAYMENT,
    SIX_MONTHS,
    TP_PREPAYMENT_HIDDEN,
    TREATMENT_CODES,
    Practice,
    Row,
)
from etl.simulator.shape import SHAPES, Shape

__all__ = ["NO_DATE", "Practice", "Row", "make_practice"]


def make_practice(
    seed: int, today: date, patients: int = 600, shape: Shape = SHAPES["default"]
) -> Practice:
    """A whole office's rows, the same for the same seed and day.

    Args:
        seed: Seed of every random choice.
        today: The office's current date; history runs up to it, bookings after it.
        patients: About how many patients (families are made until this many exist).
        shape: How much history each patient has.

    Returns:
        {table name: rows}, lower-case column names.
    """
    builder = _Office(random.Random(seed), today, shape)
    builder.setup()
    while len(builder.rows["patient"]) < patients:
        builder.family()
    builder.finish()
    return dict(builder.rows)


class _Office(Claims, Ledger, Calendar):
    """The office's patients and visits; the parts make the rows each visit leads to."""

    def setup(self) -> None:
        """Clinics, providers, operatories, definitions, preferences, plans, recall types."""
        for name in ("Main Street", "North"):  # clinics 1 and 2
            self.add("clinic", "clinicnum", description=name, abbr=name[:4], ishidden=0)
        for num in DENTISTS + HYGIENISTS:
            self.add(
                "provider",
                "provnum",
                abbr=f"P{num}",
                lname=f"Prov{num}",
                fname="Sim",
                ishidden=0,
                ishiddenreport=0,
                hourlyprodgoalamt=300.0 if num < 3 else 120.0,
            )
        for op, (clinic, dentist, hygienist) in OPS.items():
            self.add(
                "operatory",
                "operatorynum",
                opname=f"Op {op}",
                abbrev=f"O{op}",
                clinicnum=clinic,
                provdentist=dentist,
                provhygienist=hygienist,
                ishygiene=int(op % 2 == 0),
                ishidden=0,
                itemorder=op,
            )
        for defnum, category, name, value in (
            (ADJ_DISCOUNT, 1, "Discount", "-"),
            (ADJ_FINANCE, 1, "Finance charge", "+"),
            (ADJ_BAD_DEBT, 1, "Bad debt", "-"),
            (20, 10, "Check", ""),
            (21, 10, "Card", ""),
            (22, 10, "Cash", ""),
            (PREPAYMENT, 29, "Prepayment", ""),
            (TP_PREPAYMENT_HIDDEN, 29, "Treat Plan Prepayment", "X"),
        ):
            self.rows["definition"].append(
                {
                    "defnum": defnum,
                    "category": category,
                    "itemname": name,
                    "itemvalue": value,
                    "itemorder": defnum,
                    "ishidden": 0,
                }
            )
        for name, value in PREFERENCES.items():
            self.add("preference", "prefnum", prefname=name, valuestring=value)
        for name in ("Delta Sim", "Metro Sim", "Cap Sim"):  # carriers 1-3; plan 4's is missing
            self.add("carrier", "carriernum", carriername=name)
        for plan, carrier, kind in ((1, 1, "p"), (2, 2, ""), (3, 3, "c"), (4, 99, "")):
            self.add("insplan", "plannum", carriernum=carrier, plantype=kind, groupname=f"G{plan}")
        for name in ("Prophy", "Perio", "Fluoride"):
            self.add("recalltype", "recalltypenum", description=name, defaultinterval=SIX_MONTHS)

    def family(self) -> None:
        """A guarantor and dependants, their plan, visits, payments and recall."""
        plan = self.rng.choices(
            (0, PLAN_PPO, PLAN_PERCENT, PLAN_CAPITATION, PLAN_NO_CARRIER), (35, 35, 15, 10, 5)
        )[0]
        clinic = self.rng.choice(CLINICS)
        guarantor = 0
        for _ in range(self.rng.choices((1, 2, 3, 4), (50, 25, 15, 10))[0]):
            status = self.rng.choices((0, 1, 2, 3, 4), (85, 3, 7, 3, 2))[0]
            patient = self.add(
                "patient",
                "patnum",
                lname=f"Family{self.keys['patient']}",
                fname="Sim",
                patstatus=status,
                clinicnum=clinic,
                priprov=self.rng.choice(DENTISTS),
                guarantor=guarantor,
                birthdate=NO_DATE,
                baltotal=0.0 if guarantor else self.rng.choice((0.0, 0.0, 85.5, 420.0, 1210.75)),
                insest=0.0 if guarantor else self.rng.choice((0.0, 0.0, 40.0, 300.0)),
                datefirstvisit=NO_DATE,
            )
            guarantor = guarantor or patient["patnum"]
            patient["guarantor"] = guarantor
            self.patient_history(patient, plan)

    def patient_history(self, patient: Row, plan: int) -> None:
        """Visits from a first visit up to today, maybe one booked ahead, recalls, referrals."""
        visit = self.today - timedelta(days=self.rng.randint(5, self.shape.history_days))
        first = True
        while visit <= self.today and patient["patstatus"] in (0, 2):
            self.past_visit(patient, plan, visit, first)
            first = False
            visit += timedelta(days=self.rng.randint(*self.shape.visit_gap))
        if patient["patstatus"] == 0 and self.chance(0.45):
            self.booked_visit(patient, plan)
        self.recalls(patient)
        self.referrals(patient)

    def appointment(self, patient: Row, day: date, status: int, hygiene: bool) -> Row:
        """An appointment on a free slot of an operatory of the patient's clinic."""
        ops = [op for op, spec in OPS.items() if spec[0] == patient["clinicnum"]]
        op = self.rng.choice(ops)
        slot = self.rng.randint(0, 15)
        while (op, day, slot) in self.busy and slot < 40:
            slot += 1
        self.busy.add((op, day, slot))
        start = datetime.combine(day, time(8)) + timedelta(minutes=20 * min(slot, 26))
        clinic, _dentist, hygienist = OPS[op]
        return self.add(
            "appointment",
            "aptnum",
            patnum=patient["patnum"],
            aptstatus=status,
            pattern="/" + "X" * self.rng.randint(4, 16) + "/",
            op=op,
            provnum=patient["priprov"],
            provhyg=hygienist if hygiene else 0,
            ishygiene=int(hygiene),
            aptdatetime=start,
            clinicnum=clinic,
            isnewpatient=0,
        )

    def procedure(
        self, patient: Row, apt: Row | None, code: tuple[str, float], status: int, day: date
    ) -> Row:
        """A procedure, on an appointment or not; hygiene codes go to the hygienist."""
        hygiene = code[0] == "D1110" and apt is not None and apt["provhyg"]
        units = 2 if code[0] == "D4341" and self.chance(0.5) else 1
        return self.add(
            "procedurelog",
            "procnum",
            patnum=patient["patnum"],
            aptnum=apt["aptnum"] if apt else 0,
            procdate=day,
            procfee=code[1],
            procstatus=status,
            provnum=apt["provhyg"] if apt and hygiene else patient["priprov"],
            clinicnum=apt["clinicnum"] if apt else patient["clinicnum"],
            codenum=1 + [c[0] for c in HYGIENE_CODES + TREATMENT_CODES].index(code[0]),
            unitqty=units,
            baseunits=1 if code[0] == "D3330" else 0,
            datecomplete=day if status == 2 else NO_DATE,
            discount=0.0,
            discountplanamt=0.0,
        )

    def codes(self, hygiene: bool) -> list[tuple[str, float]]:
        """The codes done at a hygiene visit or a treatment visit."""
        if hygiene:
            return [c for c in HYGIENE_CODES if c[0] != "D0274" or self.chance(0.4)]
        return self.rng.sample(TREATMENT_CODES, self.rng.randint(1, 2))

    def past_visit(self, patient: Row, plan: int, day: date, first: bool) -> None:
        """A visit up to today: completed (billed, paid), broken, left scheduled, unscheduled."""
        day = self.weekday(day)
        if day > self.today:
            return
        hygiene = self.chance(0.6)
        status = self.rng.choices((2, 5, 1, 3), (88, 7, 2, 3))[0]
        apt = self.appointment(patient, day, status, hygiene)
        apt["isnewpatient"] = int(first)
        proc_status = 2 if status == 2 else 1
        procs = [self.procedure(patient, apt, c, proc_status, day) for c in self.codes(hygiene)]
        if status != 2:
            if status == 5 and self.chance(0.3):
                self.procedure(patient, apt, ("D9986", 0.0), 2, day)
            return
        if self.chance(0.05):
            self.procedure(patient, None, ("D2391", 185.0), self.rng.choice((3, 4, 5, 6)), day)
        fees = sum(p["procfee"] * (p["unitqty"] + p["baseunits"]) for p in procs)
        insurance = self.insure(patient, plan, procs, day)
        self.patient_pays(patient, procs, round(fees - insurance, 2), day)
        if self.chance(0.2):
            proc = self.rng.choice(procs)
            self.adjustment(patient, proc, ADJ_DISCOUNT, -round(proc["procfee"] * 0.1, 2), day)

    def booked_visit(self, patient: Row, plan: int) -> None:
        """A visit booked ahead, its procedures planned, with insurance estimates."""
        day = self.weekday(self.today + timedelta(days=self.rng.randint(0, 45)))
        hygiene = self.chance(0.6)
        apt = self.appointment(patient, day, 1, hygiene)
        for code in self.codes(hygiene):
            proc = self.procedure(patient, apt, code, 1, day)
            if self.chance(0.1):
                proc["discount"] = round(proc["procfee"] * 0.05, 2)
            if plan:
                self.estimate(patient, plan, proc)
        if self.chance(0.1):
            self.procedure(patient, None, ("D2740", 1150.0), 1, NO_DATE)

    def finish(self) -> None:
        """Office-wide rows: schedules, finance charges, payment plans, odd claimprocs."""
        self.schedules()
        guarantors = [p for p in self.rows["patient"] if p["patnum"] == p["guarantor"]]
        for patient in self.rng.sample(guarantors, min(60, len(guarantors))):
            for months_ago in range(self.rng.randint(1, 8)):  # monthly finance charges
                first = self.today.replace(day=1) - timedelta(days=30 * months_ago)
                self.adjustment(patient, None, ADJ_FINANCE, self.money(1, 25), first.replace(day=1))
        for patient in self.rng.sample(guarantors, min(8, len(guarantors))):
            self.adjustment(
                patient,
                None,
                ADJ_BAD_DEBT,
                -self.money(50, 500),
                self.today - timedelta(days=self.rng.randint(0, 300)),
            )
        for patient in self.rng.sample(guarantors, min(6, len(guarantors))):
            self.payment_plan(patient)
        for patient in self.rng.sample(guarantors, min(5, len(guarantors))):
            day = self.today - timedelta(days=self.rng.randint(0, 200))
            line = self.claimproc(
                patient, None, PLAN_PPO, 1, claimnum=0, datecp=day, inspayamt=self.money(20, 200)
            )
            self.pay_on_check(line, PLAN_PPO, day, patient["clinicnum"])
            self.claimproc(patient, None, PLAN_PPO, 9, writeoff=self.money(5, 50), datecp=day)
