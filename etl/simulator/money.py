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
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

Row = dict[str, Any]
Practice = dict[str, list[Row]]

NO_DATE = date(1, 1, 1)
NO_DATETIME = datetime(1, 1, 1)
CLINICS = (1, 2)
DENTISTS = (1, 2)
HYGIENISTS = (3, 4)
OPS = {1: (1, 1, 3), 2: (1, 1, 3), 3: (2, 2, 4), 4: (2, 2, 4)}  # op: (clinic, dentist, hygienist)
ADJ_DISCOUNT, ADJ_FINANCE, ADJ_BAD_DEBT = 10, 11, 12
PAY_TYPES = (20, 21, 22)
PREPAYMENT, TP_PREPAYMENT_HIDDEN = 30, 31
PLAN_PPO, PLAN_PERCENT, PLAN_CAPITATION, PLAN_NO_CARRIER = 1, 2, 3, 4
HYGIENE_CODES = (("D0120", 55.0), ("D1110", 98.0), ("D0274", 72.0))
TREATMENT_CODES = (
    ("D2391", 185.0), ("D2740", 1150.0), ("D3330", 1080.0), ("D7140", 210.0), ("D4341", 240.0),
    ("D2950", 295.5), ("D9986", 0.0),
)  # fmt: skip
PREFERENCES = {
    "ReportsPPOwriteoffDefaultToProcDate": "0",
    "ReportPandIschedProdSubtractsWO": "1",
    "RecallTypesShowingInList": "1,2",
    "PayPlansVersion": "1",
    "AgingProcLifo": "0",
    "BadDebtAdjustmentTypes": str(ADJ_BAD_DEBT),
}


def make_practice(seed: int, today: date, patients: int = 600) -> Practice:
    """A whole office's rows, the same for the same seed and day.

    Args:
        seed: Seed of every random choice.
        today: The office's current date; history runs up to it, bookings after it.
        patients: About how many patients (families are made until this many exist).

    Returns:
        {table name: rows}, lower-case column names.
    """
    builder = _Office(random.Random(seed), today)
    builder.setup()
    while len(builder.rows["patient"]) < patients:
        builder.family()
    builder.finish()
    return dict(builder.rows)


class _Office:
    """Builds the rows; one method per kind of event."""

    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.today = today
        self.rows: defaultdict[str, list[Row]] = defaultdict(list)
        self.keys: defaultdict[str, int] = defaultdict(int)
        self.checks: dict[tuple[int, date], Row] = {}
        self.busy: set[tuple[int, date, int]] = set()

    def add(self, table: str, key: str, **values: Any) -> Row:
        """Append a row with the next primary key."""
        self.keys[table] += 1
        row = {key: self.keys[table], **values}
        self.rows[table].append(row)
        return row

    def money(self, low: float, high: float) -> float:
        return round(self.rng.uniform(low, high), 2)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def setup(self) -> None:
        """Clinics, providers, operatories, definitions, preferences, plans, recall types."""
        for num, name in zip(CLINICS, ("Main Street", "North"), strict=True):
            self.add("clinic", "clinicnum", description=name, abbr=name[:4], ishidden=0)
        for num in DENTISTS + HYGIENISTS:
            self.add("provider", "provnum", abbr=f"P{num}", lname=f"Prov{num}", fname="Sim",
                     ishidden=0, ishiddenreport=0, hourlyprodgoalamt=300.0 if num < 3 else 120.0)  # fmt: skip
        for op, (clinic, dentist, hygienist) in OPS.items():
            self.add("operatory", "operatorynum", opname=f"Op {op}", abbrev=f"O{op}",
                     clinicnum=clinic, provdentist=dentist, provhygienist=hygienist,
                     ishygiene=int(op % 2 == 0), ishidden=0, itemorder=op)  # fmt: skip
        for defnum, category, name, value in (
            (ADJ_DISCOUNT, 1, "Discount", "-"), (ADJ_FINANCE, 1, "Finance charge", "+"),
            (ADJ_BAD_DEBT, 1, "Bad debt", "-"), (20, 10, "Check", ""), (21, 10, "Card", ""),
            (22, 10, "Cash", ""), (PREPAYMENT, 29, "Prepayment", ""),
            (TP_PREPAYMENT_HIDDEN, 29, "Treat Plan Prepayment", "X"),
        ):  # fmt: skip
            self.rows["definition"].append({"defnum": defnum, "category": category,
                "itemname": name, "itemvalue": value, "itemorder": defnum, "ishidden": 0})  # fmt: skip
        for name, value in PREFERENCES.items():
            self.add("preference", "prefnum", prefname=name, valuestring=value)
        for num, name in ((1, "Delta Sim"), (2, "Metro Sim"), (3, "Cap Sim")):
            self.add("carrier", "carriernum", carriername=name)
        for plan, carrier, kind in ((1, 1, "p"), (2, 2, ""), (3, 3, "c"), (4, 99, "")):
            self.add("insplan", "plannum", carriernum=carrier, plantype=kind, groupname=f"G{plan}")
        for name in ("Prophy", "Perio", "Fluoride"):
            self.add("recalltype", "recalltypenum", description=name, defaultinterval=60000)

    def family(self) -> None:
        """A guarantor and dependants, their plan, visits, payments and recall."""
        plan = self.rng.choices((0, PLAN_PPO, PLAN_PERCENT, PLAN_CAPITATION, PLAN_NO_CARRIER),
                                (35, 35, 15, 10, 5))[0]  # fmt: skip
        clinic = self.rng.choice(CLINICS)
        guarantor = 0
        for _ in range(self.rng.choices((1, 2, 3, 4), (50, 25, 15, 10))[0]):
            status = self.rng.choices((0, 1, 2, 3, 4), (85, 3, 7, 3, 2))[0]
            patient = self.add("patient", "patnum", lname=f"Family{self.keys['patient']}",
                               fname="Sim", patstatus=status, clinicnum=clinic,
                               priprov=self.rng.choice(DENTISTS), guarantor=guarantor,
                               birthdate=NO_DATE, datefirstvisit=NO_DATE)  # fmt: skip
            guarantor = guarantor or patient["patnum"]
            patient["guarantor"] = guarantor
            self.patient_history(patient, plan)

    def patient_history(self, patient: Row, plan: int) -> None:
        visit = self.today - timedelta(days=self.rng.randint(5, 420))
        first = True
        while visit <= self.today and patient["patstatus"] in (0, 2):
            self.past_visit(patient, plan, visit, first)
            first = False
            visit += timedelta(days=self.rng.randint(60, 200))
        if patient["patstatus"] == 0 and self.chance(0.45):
            self.booked_visit(patient, plan)
        self.recalls(patient)
        self.referrals(patient)

    def weekday(self, day: date) -> date:
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return day

    def appointment(self, patient: Row, day: date, status: int, hygiene: bool) -> Row:
        """An appointment on a free slot of an operatory of the patient's clinic."""
        ops = [op for op, spec in OPS.items() if spec[0] == patient["clinicnum"]]
        op = self.rng.choice(ops)
        slot = self.rng.randint(0, 15)
        while (op, day, slot) in self.busy and slot < 40:
            slot += 1
        self.busy.add((op, day, slot))
        start = datetime.combine(day, time(8)) + timedelta(minutes=20 * min(slot, 26))
        clinic, dentist, hygienist = OPS[op]
        return self.add("appointment", "aptnum", patnum=patient["patnum"], aptstatus=status,
                        pattern="/" + "X" * self.rng.randint(4, 16) + "/", op=op,
                        provnum=patient["priprov"], provhyg=hygienist if hygiene else 0,
                        ishygiene=int(hygiene), aptdatetime=start, clinicnum=clinic,
                        isnewpatient=0)  # fmt: skip

    def procedure(self, patient: Row, apt: Row | None, code: tuple[str, float], status: int,
                  day: date) -> Row:  # fmt: skip
        hygiene = code[0] == "D1110" and apt is not None and apt["provhyg"]
        units = 2 if code[0] == "D4341" and self.chance(0.5) else 1
        return self.add("procedurelog", "procnum", patnum=patient["patnum"],
                        aptnum=apt["aptnum"] if apt else 0, procdate=day, procfee=code[1],
                        procstatus=status, provnum=apt["provhyg"] if hygiene else patient["priprov"],
                        clinicnum=apt["clinicnum"] if apt else patient["clinicnum"],
                        codenum=1 + [c[0] for c in HYGIENE_CODES + TREATMENT_CODES].index(code[0]),
                        unitqty=units, baseunits=1 if code[0] == "D3330" else 0,
                        datecomplete=day if status == 2 else NO_DATE, discount=0.0,
                        discountplanamt=0.0)  # fmt: skip

    def codes(self, hygiene: bool) -> list[tuple[str, float]]:
        if hygiene:
            return [c for c in HYGIENE_CODES if c[0] != "D0274" or self.chance(0.4)]
        return self.rng.sample(TREATMENT_CODES, self.rng.randint(1, 2))

    def past_visit(self, patient: Row, plan: int, day: date, first: bool) -> None:
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
        if self.chance(0.08):
            proc = self.rng.choice(procs)
            self.adjustment(patient, proc, ADJ_DISCOUNT, -round(proc["procfee"] * 0.1, 2), day)

    def booked_visit(self, patient: Row, plan: int) -> None:
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

    def estimate(self, patient: Row, plan: int, proc: Row) -> None:
        """The claimproc estimate Open Dental keeps on a planned procedure."""
        fee = proc["procfee"] * proc["unitqty"]
        capitation = plan == PLAN_CAPITATION
        writeoff = round(fee * 0.2, 2) if plan == PLAN_PPO else fee if capitation else -1.0
        override = round(writeoff * 0.5, 2) if writeoff > 0 and self.chance(0.15) else -1.0
        self.claimproc(patient, proc, plan, 8 if capitation else 6, claimnum=0,
                       writeoffest=writeoff, writeoffestoverride=override, datecp=proc["procdate"])  # fmt: skip

    def claimproc(self, patient: Row, proc: Row | None, plan: int, status: int, **values: Any) -> Row:
        defaults: Row = {"procnum": proc["procnum"] if proc else 0, "patnum": patient["patnum"],
            "provnum": proc["provnum"] if proc else patient["priprov"], "status": status,
            "plannum": plan, "clinicnum": proc["clinicnum"] if proc else patient["clinicnum"],
            "procdate": proc["procdate"] if proc else NO_DATE, "inspayest": 0.0, "inspayamt": 0.0,
            "writeoff": 0.0, "writeoffest": -1.0, "writeoffestoverride": -1.0, "payplannum": 0,
            "claimpaymentnum": 0, "datecp": NO_DATE, "feebilled": 0.0}  # fmt: skip
        return self.add("claimproc", "claimprocnum", **{**defaults, **values})

    def insure(self, patient: Row, plan: int, procs: list[Row], day: date) -> float:
        """Claims, capitation write-offs and insurance payments; returns insurance's share."""
        if plan == 0:
            return 0.0
        if plan == PLAN_CAPITATION:
            total = 0.0
            for proc in procs:
                fee = proc["procfee"] * (proc["unitqty"] + proc["baseunits"])
                self.claimproc(patient, proc, plan, 7, writeoff=fee, datecp=day, feebilled=fee)
                total += fee
            return total
        return self.claim(patient, plan, procs, day)

    def claim(self, patient: Row, plan: int, procs: list[Row], day: date) -> float:
        age = (self.today - day).days
        sent = day + timedelta(days=self.rng.randint(0, 3))
        paid = day + timedelta(days=self.rng.randint(12, 50))
        status = "R" if paid <= self.today and not self.chance(0.06) else "S"
        if age < 4 and self.chance(0.5):
            status, sent = self.rng.choice(("U", "W", "H")), NO_DATE
        fee = sum(p["procfee"] * (p["unitqty"] + p["baseunits"]) for p in procs)
        claim = self.add("claim", "claimnum", patnum=patient["patnum"], dateservice=day,
                         datesent=sent, datesentorig=sent, claimstatus=status, plannum=plan,
                         provtreat=patient["priprov"], claimfee=fee, claimtype="P",
                         clinicnum=procs[0]["clinicnum"], inspayest=0.0, inspayamt=0.0,
                         writeoff=0.0, datereceived=paid if status == "R" else NO_DATE)  # fmt: skip
        share = 0.0
        for proc in procs:
            share += self.claim_line(patient, plan, claim, proc, paid)
        if status == "R" and self.chance(0.05):
            self.supplemental(patient, plan, claim, procs[0], paid)
        if self.chance(0.02):
            claim_pre = dict(claim, claimtype="PreAuth", claimstatus="S", datesent=sent)
            self.keys["claim"] += 1
            self.rows["claim"].append({**claim_pre, "claimnum": self.keys["claim"]})
        return share

    def claim_line(self, patient: Row, plan: int, claim: Row, proc: Row, paid: date) -> float:
        """One procedure on a claim: estimate, snapshot, and payment when the claim is paid."""
        fee = proc["procfee"] * (proc["unitqty"] + proc["baseunits"])
        allowed = round(fee * 0.8, 2) if plan == PLAN_PPO else fee
        estimate = round(allowed * self.rng.choice((0.5, 0.8, 1.0)), 2)
        writeoff = round(fee - allowed, 2)
        received = claim["claimstatus"] == "R"
        line = self.claimproc(patient, proc, plan, 1 if received else 0, claimnum=claim["claimnum"],
                              inspayest=estimate, writeoff=writeoff, datecp=proc["procdate"],
                              feebilled=fee)  # fmt: skip
        claim["inspayest"] = round(claim["inspayest"] + estimate, 2)
        if claim["datesent"] != NO_DATE:
            snap = writeoff if plan == PLAN_PPO and self.chance(0.85) else -1.0
            if snap > 0 and self.chance(0.2):
                snap = round(snap + 10, 2)
            stamp = datetime.combine(claim["datesent"], time(10, self.rng.randint(0, 59)))
            self.add("claimsnapshot", "claimsnapshotnum", procnum=proc["procnum"],
                     claimtype="P", writeoff=snap, inspayest=estimate, fee=fee, datetentry=stamp,
                     claimprocnum=line["claimprocnum"], snapshottrigger=0)  # fmt: skip
        if received:
            line["inspayamt"] = round(estimate * self.rng.choice((1.0, 1.0, 0.9)), 2)
            line["datecp"] = paid
            self.pay_on_check(line, plan, paid, claim["clinicnum"])
            return line["inspayamt"] + writeoff
        return estimate + writeoff

    def supplemental(self, patient: Row, plan: int, claim: Row, proc: Row, paid: date) -> None:
        later = paid + timedelta(days=self.rng.randint(10, 40))
        if later > self.today:
            return
        line = self.claimproc(patient, proc, plan, 4, claimnum=claim["claimnum"],
                              inspayamt=self.money(5, 60), datecp=later,
                              writeoff=self.money(0, 15) if plan == PLAN_PPO else 0.0)  # fmt: skip
        self.pay_on_check(line, plan, later, claim["clinicnum"])

    def pay_on_check(self, line: Row, plan: int, day: date, clinic: int) -> None:
        carrier = {PLAN_PPO: 1, PLAN_PERCENT: 2}.get(plan, 99)
        check = self.checks.get((carrier, day))
        if check is None:
            check = self.add("claimpayment", "claimpaymentnum", checkdate=day, checkamt=0.0,
                             clinicnum=clinic, carriername=f"Carrier {carrier}", ispartial=0)  # fmt: skip
            self.checks[(carrier, day)] = check
        check["checkamt"] = round(check["checkamt"] + line["inspayamt"], 2)
        line["claimpaymentnum"] = check["claimpaymentnum"]

    def patient_pays(self, patient: Row, procs: list[Row], due: float, day: date) -> None:
        """Pay at the visit, later, in part or never; sometimes prepay or transfer."""
        when = self.rng.choices(("visit", "later", "never"), (60, 25, 15))[0]
        if when == "later":
            day = day + timedelta(days=self.rng.randint(15, 70))
        if when == "never" or day > self.today or due <= 0:
            return
        share = round(due * self.rng.choice((1.0, 1.0, 0.5)), 2)
        payment = self.payment(patient, day, share)
        total_fee = max(sum(p["procfee"] for p in procs), 1.0)
        left = share
        for proc in procs[:-1]:
            part = round(share * proc["procfee"] / total_fee, 2)
            self.split(payment, patient, part, proc["provnum"], proc["procnum"])
            left = round(left - part, 2)
        self.split(payment, patient, left, procs[-1]["provnum"], procs[-1]["procnum"])
        if self.chance(0.07):
            self.prepay(patient, day)

    def payment(self, patient: Row, day: date, amount: float, pay_type: int = 0) -> Row:
        return self.add("payment", "paynum", paytype=pay_type or self.rng.choice(PAY_TYPES),
                        paydate=day, payamt=amount, patnum=patient["guarantor"],
                        clinicnum=patient["clinicnum"], dateentry=day, issplit=1)  # fmt: skip

    def split(self, payment: Row, patient: Row, amount: float, prov: int, proc: int,
              unearned: int = 0, **values: Any) -> Row:  # fmt: skip
        fields: Row = {"splitamt": amount, "patnum": patient["patnum"], "procdate": NO_DATE,
                       "paynum": payment["paynum"], "isdiscount": 0, "provnum": prov,
                       "payplannum": 0, "datepay": payment["paydate"], "procnum": proc,
                       "dateentry": payment["paydate"], "unearnedtype": unearned,
                       "clinicnum": patient["clinicnum"]}  # fmt: skip
        return self.add("paysplit", "splitnum", **{**fields, **values})

    def prepay(self, patient: Row, day: date) -> None:
        """A prepayment, sometimes moved to a provider later by an income transfer."""
        amount = self.money(50, 400)
        kind = TP_PREPAYMENT_HIDDEN if self.chance(0.3) else PREPAYMENT
        self.split(self.payment(patient, day, amount), patient, amount, 0, 0, kind)
        moved = day + timedelta(days=self.rng.randint(1, 30))
        if kind == PREPAYMENT and moved <= self.today and self.chance(0.5):
            transfer = self.payment(patient, moved, 0.0, pay_type=0)
            transfer["paytype"] = 0
            self.split(transfer, patient, -amount, 0, 0, PREPAYMENT)
            self.split(transfer, patient, amount, patient["priprov"], 0)

    def adjustment(self, patient: Row, proc: Row | None, kind: int, amount: float, day: date) -> None:
        self.add("adjustment", "adjnum", adjdate=day, adjamt=amount, patnum=patient["patnum"],
                 adjtype=kind, provnum=proc["provnum"] if proc else patient["priprov"],
                 procdate=proc["procdate"] if proc else NO_DATE,
                 procnum=proc["procnum"] if proc else 0,
                 dateentry=day + timedelta(days=self.rng.choice((0, 0, 1, 3))),
                 clinicnum=proc["clinicnum"] if proc else patient["clinicnum"])  # fmt: skip

    def recalls(self, patient: Row) -> None:
        if patient["patstatus"] not in (0, 2) and not self.chance(0.3):
            return
        for kind, p in ((1, 0.95), (2, 0.15), (3, 0.1)):
            if not self.chance(p):
                continue
            due = self.today + timedelta(days=self.rng.randint(-240, 200))
            due = NO_DATE if self.chance(0.03) else due
            booked = due != NO_DATE and self.chance(0.5 if due >= self.today else 0.15)
            scheduled = self.weekday(max(due, self.today)) if booked else NO_DATE
            self.add("recall", "recallnum", patnum=patient["patnum"], datedue=due,
                     dateduecalc=due, dateprevious=NO_DATE, recallinterval=60000,
                     recallstatus=0, isdisabled=int(self.chance(0.04)), recalltypenum=kind,
                     disableuntilbalance=0.0, disableuntildate=NO_DATE,
                     datescheduled=scheduled, priority=0)  # fmt: skip

    def referrals(self, patient: Row) -> None:
        for order in range(self.rng.choices((0, 1, 2), (65, 28, 7))[0]):
            self.add("refattach", "refattachnum", referralnum=self.rng.randint(1, 9),
                     patnum=patient["patnum"], itemorder=order, refdate=NO_DATE,
                     reftype=self.rng.choices((1, 0, 2), (80, 15, 5))[0])  # fmt: skip

    def finish(self) -> None:
        """Office-wide rows: schedules, finance charges, payment plans, odd claimprocs."""
        self.schedules()
        guarantors = [p for p in self.rows["patient"] if p["patnum"] == p["guarantor"]]
        for patient in self.rng.sample(guarantors, min(40, len(guarantors))):
            first = self.today.replace(day=1) - timedelta(days=30 * self.rng.randint(0, 5))
            self.adjustment(patient, None, ADJ_FINANCE, self.money(1, 25), first.replace(day=1))
        for patient in self.rng.sample(guarantors, min(8, len(guarantors))):
            self.adjustment(patient, None, ADJ_BAD_DEBT, -self.money(50, 500),
                            self.today - timedelta(days=self.rng.randint(0, 300)))  # fmt: skip
        for patient in self.rng.sample(guarantors, min(6, len(guarantors))):
            self.payment_plan(patient)
        for patient in self.rng.sample(guarantors, min(5, len(guarantors))):
            day = self.today - timedelta(days=self.rng.randint(0, 200))
            line = self.claimproc(patient, None, PLAN_PPO, 1, claimnum=0, datecp=day,
                                  inspayamt=self.money(20, 200))  # fmt: skip
            self.pay_on_check(line, PLAN_PPO, day, patient["clinicnum"])
            self.claimproc(patient, None, PLAN_PPO, 9, writeoff=self.money(5, 50), datecp=day)

    def payment_plan(self, patient: Row) -> None:
        start = self.today - timedelta(days=self.rng.randint(60, 300))
        plan = self.add("payplan", "payplannum", patnum=patient["patnum"],
                        guarantor=patient["patnum"], payplandate=start, plannum=0,
                        completedamt=self.money(600, 2400), isclosed=0, isdynamic=0)  # fmt: skip
        day = start
        while day <= self.today:
            self.add("payplancharge", "payplanchargenum", payplannum=plan["payplannum"],
                     guarantor=patient["patnum"], patnum=patient["patnum"], chargedate=day,
                     principal=100.0, interest=2.5, provnum=patient["priprov"],
                     clinicnum=patient["clinicnum"], chargetype=0, procnum=0)  # fmt: skip
            payment = self.payment(patient, day, 102.5)
            self.split(payment, patient, 102.5, patient["priprov"], 0,
                       payplannum=plan["payplannum"])  # fmt: skip
            day += timedelta(days=30)

    def schedules(self) -> None:
        """Provider schedules (some blocks overlap), blockouts, practice notes, holidays."""
        hours = {1: [(8, 12), (13, 17)], 2: [(8, 14), (12, 16)], 3: [(7, 15)], 4: [(9, 12), (10, 11)]}
        day = self.today - timedelta(days=60)
        while day <= self.today + timedelta(days=30):
            if day.weekday() < 5:
                for prov, blocks in hours.items():
                    if prov == 4 and day.weekday() in (1, 3):
                        continue
                    for start, stop in blocks:
                        self.schedule(day, 1, prov, start, stop, 1 if self.chance(0.01) else 0)
                self.schedule(day, 2, 0, 12, 13, 0, blockouttype=25)
                if self.chance(0.05):
                    self.schedule(day, 0, 0, 0, 0, 2)
            day += timedelta(days=1)

    def schedule(self, day: date, kind: int, prov: int, start: int, stop: int, status: int,
                 **values: Any) -> None:  # fmt: skip
        fields = {"blockouttype": 0, "employeenum": 0, "clinicnum": 0, "note": "", **values}
        row = self.add("schedule", "schedulenum", scheddate=day, starttime=time(start),
                       stoptime=time(stop), schedtype=kind, provnum=prov, status=status,
                       **fields)  # fmt: skip
        if kind == 1:
            op = 1 if prov in (1, 3) else 3
            self.add("scheduleop", "scheduleopnum", schedulenum=row["schedulenum"], operatorynum=op)
