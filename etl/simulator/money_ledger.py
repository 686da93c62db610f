"""The patient ledger of the simulated practice: payments, splits, transfers, adjustments, plans."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from etl.simulator.money_rows import (
    NO_DATE,
    PAY_TYPES,
    PREPAYMENT,
    TP_PREPAYMENT_HIDDEN,
    Row,
    RowMaker,
)


class Ledger(RowMaker):
    """Patient payments and their splits, prepayments, income transfers, adjustments, plans."""

    def patient_pays(self, patient: Row, procs: list[Row], due: float, day: date) -> None:
        """Pay at the visit, later, in part or never; sometimes prepay or transfer."""
        when = self.rng.choices(("visit", "later", "never"), self.shape.pay_weights)[0]
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
        if self.chance(0.03):  # a discount recorded as a split, which is not income
            discount = self.payment(patient, day, 5.0)
            self.split(
                discount, patient, 5.0, procs[0]["provnum"], procs[0]["procnum"], isdiscount=1
            )
        refunded = day + timedelta(days=self.rng.randint(3, 20))
        if self.chance(0.02) and refunded <= self.today:
            back = -round(share / 2, 2)
            self.split(self.payment(patient, refunded, back), patient, back, procs[0]["provnum"], 0)
        if self.chance(0.07):
            self.prepay(patient, day)

    def payment(self, patient: Row, day: date, amount: float, pay_type: int | None = None) -> Row:
        """A payment by the patient's guarantor; PayType 0 is an income transfer."""
        return self.add(
            "payment",
            "paynum",
            paytype=self.rng.choice(PAY_TYPES) if pay_type is None else pay_type,
            paydate=day,
            payamt=amount,
            patnum=patient["guarantor"],
            clinicnum=patient["clinicnum"],
            dateentry=day,
            issplit=1,
        )

    def split(
        self,
        payment: Row,
        patient: Row,
        amount: float,
        prov: int,
        proc: int,
        unearned: int = 0,
        **values: Any,
    ) -> Row:
        """A paysplit of a payment (provider, procedure, unearned type as given)."""
        fields: Row = {
            "splitamt": amount,
            "patnum": patient["patnum"],
            "procdate": NO_DATE,
            "paynum": payment["paynum"],
            "isdiscount": 0,
            "provnum": prov,
            "payplannum": 0,
            "datepay": payment["paydate"],
            "procnum": proc,
            "dateentry": payment["paydate"],
            "unearnedtype": unearned,
            "clinicnum": patient["clinicnum"],
        }
        return self.add("paysplit", "splitnum", **{**fields, **values})

    def prepay(self, patient: Row, day: date) -> None:
        """A prepayment, sometimes moved to a provider later by an income transfer."""
        amount = self.money(50, 400)
        kind = TP_PREPAYMENT_HIDDEN if self.chance(0.3) else PREPAYMENT
        self.split(self.payment(patient, day, amount), patient, amount, 0, 0, kind)
        moved = day + timedelta(days=self.rng.randint(1, 30))
        if kind == PREPAYMENT and moved <= self.today and self.chance(0.5):
            transfer = self.payment(patient, moved, 0.0, pay_type=0)
            self.split(transfer, patient, -amount, 0, 0, PREPAYMENT)
            self.split(transfer, patient, amount, patient["priprov"], 0)

    def adjustment(
        self, patient: Row, proc: Row | None, kind: int, amount: float, day: date
    ) -> None:
        """An adjustment, attached to a procedure or to the account."""
        self.add(
            "adjustment",
            "adjnum",
            adjdate=day,
            adjamt=amount,
            patnum=patient["patnum"],
            adjtype=kind,
            provnum=proc["provnum"] if proc else patient["priprov"],
            procdate=proc["procdate"] if proc else NO_DATE,
            procnum=proc["procnum"] if proc else 0,
            dateentry=day + timedelta(days=self.rng.choice((0, 0, 1, 3))),
            clinicnum=proc["clinicnum"] if proc else patient["clinicnum"],
        )

    def payment_plan(self, patient: Row) -> None:
        """A payment plan with its completed amount, monthly charges and the payments on it."""
        start = self.today - timedelta(days=self.rng.randint(60, 300))
        plan = self.add(
            "payplan",
            "payplannum",
            patnum=patient["patnum"],
            guarantor=patient["patnum"],
            payplandate=start,
            plannum=0,
            completedamt=self.money(600, 2400),
            isclosed=0,
            isdynamic=0,
        )
        day = start
        while day <= self.today:
            self.add(
                "payplancharge",
                "payplanchargenum",
                payplannum=plan["payplannum"],
                guarantor=patient["patnum"],
                patnum=patient["patnum"],
                chargedate=day,
                principal=100.0,
                interest=2.5,
                provnum=patient["priprov"],
                clinicnum=patient["clinicnum"],
                chargetype=0,
                procnum=0,
            )
            payment = self.payment(patient, day, 102.5)
            self.split(
                payment, patient, 102.5, patient["priprov"], 0, payplannum=plan["payplannum"]
            )
            day += timedelta(days=30)
