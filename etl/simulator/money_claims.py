"""Insurance in the simulated practice: estimates, claims, snapshots, checks, capitation."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from etl.simulator.money_rows import (
    NO_DATE,
    PLAN_CAPITATION,
    PLAN_PERCENT,
    PLAN_PPO,
    Row,
    RowMaker,
)


class Claims(RowMaker):
    """Claimprocs, claims, claim snapshots and insurance checks, as Open Dental writes them."""

    def estimate(self, patient: Row, plan: int, proc: Row) -> None:
        """The claimproc estimate Open Dental keeps on a planned procedure."""
        fee = proc["procfee"] * proc["unitqty"]
        capitation = plan == PLAN_CAPITATION
        writeoff = round(fee * 0.2, 2) if plan == PLAN_PPO else fee if capitation else -1.0
        override = round(writeoff * 0.5, 2) if writeoff > 0 and self.chance(0.15) else -1.0
        self.claimproc(
            patient,
            proc,
            plan,
            8 if capitation else 6,
            claimnum=0,
            writeoffest=writeoff,
            writeoffestoverride=override,
            datecp=proc["procdate"],
        )

    def claimproc(
        self, patient: Row, proc: Row | None, plan: int, status: int, **values: Any
    ) -> Row:
        """A claimproc with Open Dental's blanks (-1 overrides, 0 keys) unless given."""
        defaults: Row = {
            "procnum": proc["procnum"] if proc else 0,
            "patnum": patient["patnum"],
            "provnum": proc["provnum"] if proc else patient["priprov"],
            "status": status,
            "plannum": plan,
            "clinicnum": proc["clinicnum"] if proc else patient["clinicnum"],
            "procdate": proc["procdate"] if proc else NO_DATE,
            "inspayest": 0.0,
            "inspayamt": 0.0,
            "writeoff": 0.0,
            "writeoffest": -1.0,
            "writeoffestoverride": -1.0,
            "payplannum": 0,
            "claimpaymentnum": 0,
            "datecp": NO_DATE,
            "feebilled": 0.0,
        }
        return self.add("claimproc", "claimprocnum", **{**defaults, **values})

    def insure(self, patient: Row, plan: int, procs: list[Row], day: date) -> float:
        """Claims, capitation write-offs and insurance payments; returns insurance's share."""
        if plan == 0:
            return 0.0
        if plan == PLAN_CAPITATION:
            total = 0.0
            for proc in procs:
                fee = float(proc["procfee"] * (proc["unitqty"] + proc["baseunits"]))
                self.claimproc(patient, proc, plan, 7, writeoff=fee, datecp=day, feebilled=fee)
                total += fee
            return total
        return self.claim(patient, plan, procs, day)

    def claim(self, patient: Row, plan: int, procs: list[Row], day: date) -> float:
        """A claim for one visit: unsent, sent, or received and paid; returns insurance's share."""
        age = (self.today - day).days
        sent = day + timedelta(days=self.rng.randint(0, 3))
        paid = day + timedelta(days=self.rng.randint(12, 50))
        status = "R" if paid <= self.today and not self.chance(0.06) else "S"
        if age < 4 and self.chance(0.5):
            status, sent = self.rng.choice(("U", "W", "H")), NO_DATE
        fee = sum(p["procfee"] * (p["unitqty"] + p["baseunits"]) for p in procs)
        claim = self.add(
            "claim",
            "claimnum",
            patnum=patient["patnum"],
            dateservice=day,
            datesent=sent,
            datesentorig=sent,
            claimstatus=status,
            plannum=plan,
            provtreat=patient["priprov"],
            claimfee=fee,
            claimtype="P",
            clinicnum=procs[0]["clinicnum"],
            inspayest=0.0,
            inspayamt=0.0,
            writeoff=0.0,
            datereceived=paid if status == "R" else NO_DATE,
        )
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
        fee = float(proc["procfee"] * (proc["unitqty"] + proc["baseunits"]))
        allowed = round(fee * 0.8, 2) if plan == PLAN_PPO else fee
        estimate = round(allowed * self.rng.choice((0.5, 0.8, 1.0)), 2)
        writeoff = round(fee - allowed, 2)
        received = claim["claimstatus"] == "R"
        line = self.claimproc(
            patient,
            proc,
            plan,
            1 if received else 0,
            claimnum=claim["claimnum"],
            inspayest=estimate,
            writeoff=writeoff,
            datecp=proc["procdate"],
            feebilled=fee,
        )
        claim["inspayest"] = round(claim["inspayest"] + estimate, 2)
        if claim["datesent"] != NO_DATE:
            snap = writeoff if plan == PLAN_PPO and self.chance(0.85) else -1.0
            if snap > 0 and self.chance(0.2):
                snap = round(snap + 10, 2)
            stamp = datetime.combine(claim["datesent"], time(10, self.rng.randint(0, 59)))
            self.add(
                "claimsnapshot",
                "claimsnapshotnum",
                procnum=proc["procnum"],
                claimtype="P",
                writeoff=snap,
                inspayest=estimate,
                fee=fee,
                datetentry=stamp,
                claimprocnum=line["claimprocnum"],
                snapshottrigger=0,
            )
        if received:
            line["inspayamt"] = round(estimate * self.rng.choice((1.0, 1.0, 0.9)), 2)
            line["datecp"] = paid
            self.pay_on_check(line, plan, paid, claim["clinicnum"])
            return float(line["inspayamt"]) + writeoff
        return estimate + writeoff

    def supplemental(self, patient: Row, plan: int, claim: Row, proc: Row, paid: date) -> None:
        """A supplemental payment on a paid claim, on a later check."""
        later = paid + timedelta(days=self.rng.randint(10, 40))
        if later > self.today:
            return
        line = self.claimproc(
            patient,
            proc,
            plan,
            4,
            claimnum=claim["claimnum"],
            inspayamt=self.money(5, 60),
            datecp=later,
            writeoff=self.money(0, 15) if plan == PLAN_PPO else 0.0,
        )
        self.pay_on_check(line, plan, later, claim["clinicnum"])

    def pay_on_check(self, line: Row, plan: int, day: date, clinic: int) -> None:
        """Attach a paid claimproc to the carrier's check of that day."""
        carrier = {PLAN_PPO: 1, PLAN_PERCENT: 2}.get(plan, 99)
        check = self.checks.get((carrier, day))
        if check is None:
            check = self.add(
                "claimpayment",
                "claimpaymentnum",
                checkdate=day,
                checkamt=0.0,
                clinicnum=clinic,
                carriername=f"Carrier {carrier}",
                ispartial=0,
            )
            self.checks[(carrier, day)] = check
        check["checkamt"] = round(check["checkamt"] + line["inspayamt"], 2)
        line["claimpaymentnum"] = check["claimpaymentnum"]
