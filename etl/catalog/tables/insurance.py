"""Insurance: claim, claimpayment, inssub (all change-tracked by SecDateTEdit)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Mapped

from etl.catalog.base import Base, code, text
from etl.catalog.tables.columns import day, extra, fk, flag, key, moment, money, number, synced_at

# Relat in Open Dental's schema (claim.PatRelat, PatRelat2).
RELAT = (
    "Self", "Spouse", "Child", "Employee", "HandicapDep", "SignifOther", "InjuredPlaintiff",
    "LifePartner", "Dependent",
)  # fmt: skip


class Claim(Base):
    """One row per insurance claim (table `claim`). ClaimStatus and ClaimType are text there too."""

    __tablename__ = "claim"

    ClaimNum: Mapped[int] = key("claimnum")
    PatNum: Mapped[int | None] = fk("patnum", index=True)
    DateService: Mapped[dt.date | None] = day("dateservice")
    DateSent: Mapped[dt.date | None] = day("datesent")
    ClaimStatus: Mapped[str | None] = text("claimstatus")
    DateReceived: Mapped[dt.date | None] = day("datereceived")
    PlanNum: Mapped[int | None] = fk("plannum")
    ProvTreat: Mapped[int | None] = fk("provtreat")
    ClaimFee: Mapped[Decimal | None] = money("claimfee")
    InsPayEst: Mapped[Decimal | None] = money("inspayest")
    InsPayAmt: Mapped[Decimal | None] = money("inspayamt")
    DedApplied: Mapped[Decimal | None] = money("dedapplied")
    IsProsthesis: Mapped[str | None] = text("isprosthesis")
    PriorDate: Mapped[dt.date | None] = day("priordate")
    ReasonUnderPaid: Mapped[str | None] = text("reasonunderpaid")
    ClaimNote: Mapped[str | None] = text("claimnote")
    ClaimType: Mapped[str | None] = text("claimtype")
    ProvBill: Mapped[int | None] = fk("provbill")
    AccidentRelated: Mapped[str | None] = text("accidentrelated")
    AccidentDate: Mapped[dt.date | None] = day("accidentdate")
    AccidentST: Mapped[str | None] = text("accidentst")
    IsOrtho: Mapped[bool | None] = flag("isortho")
    OrthoRemainM: Mapped[int | None] = number("orthoremainm")
    OrthoDate: Mapped[dt.date | None] = day("orthodate")
    PatRelat: Mapped[int | None] = code("patrelat", RELAT)
    PlanNum2: Mapped[int | None] = fk("plannum2")
    PatRelat2: Mapped[int | None] = code("patrelat2", RELAT)
    WriteOff: Mapped[Decimal | None] = money("writeoff")
    ClaimForm: Mapped[int | None] = fk("claimform")
    InsSubNum: Mapped[int | None] = fk("inssubnum")
    InsSubNum2: Mapped[int | None] = fk("inssubnum2")
    PriorAuthorizationNumber: Mapped[str | None] = text("priorauthorizationnumber")
    OrthoTotalM: Mapped[int | None] = number("orthototalm")
    ClinicNum: Mapped[int | None] = fk("clinicnum", index=True)
    SecDateTEdit: Mapped[dt.datetime | None] = moment("secdatetedit", index=True)
    odmirror_extra: Mapped[dict[str, Any] | None] = extra()
    odmirror_synced_at: Mapped[dt.datetime | None] = synced_at()


class ClaimPayment(Base):
    """One row per insurance check or payment (table `claimpayment`)."""

    __tablename__ = "claimpayment"

    ClaimPaymentNum: Mapped[int] = key("claimpaymentnum")
    CheckDate: Mapped[dt.date | None] = day("checkdate", index=True)
    CheckAmt: Mapped[Decimal | None] = money("checkamt")
    CheckNum: Mapped[str | None] = text("checknum")
    BankBranch: Mapped[str | None] = text("bankbranch")
    Note: Mapped[str | None] = text("note")
    ClinicNum: Mapped[int | None] = fk("clinicnum", index=True)
    DepositNum: Mapped[int | None] = fk("depositnum")
    CarrierName: Mapped[str | None] = text("carriername")
    DateIssued: Mapped[dt.date | None] = day("dateissued")
    IsPartial: Mapped[bool | None] = flag("ispartial")
    PayType: Mapped[int | None] = fk("paytype")
    payType: Mapped[str | None] = text("paytype_name")
    SecUserNumEntry: Mapped[int | None] = fk("secusernumentry")
    SecDateEntry: Mapped[dt.date | None] = day("secdateentry")
    SecDateTEdit: Mapped[dt.datetime | None] = moment("secdatetedit", index=True)
    PayGroup: Mapped[int | None] = fk("paygroup")
    payGroup: Mapped[str | None] = text("paygroup_name")
    odmirror_extra: Mapped[dict[str, Any] | None] = extra()
    odmirror_synced_at: Mapped[dt.datetime | None] = synced_at()


class InsSub(Base):
    """One row per subscriber of an insurance plan (table `inssub`)."""

    __tablename__ = "inssub"

    InsSubNum: Mapped[int] = key("inssubnum")
    PlanNum: Mapped[int | None] = fk("plannum", index=True)
    Subscriber: Mapped[int | None] = fk("subscriber", index=True)
    DateEffective: Mapped[dt.date | None] = day("dateeffective")
    DateTerm: Mapped[dt.date | None] = day("dateterm")
    SubscriberID: Mapped[str | None] = text("subscriberid")
    BenefitNotes: Mapped[str | None] = text("benefitnotes")
    ReleaseInfo: Mapped[bool | None] = flag("releaseinfo")
    AssignBen: Mapped[bool | None] = flag("assignben")
    SubscNote: Mapped[str | None] = text("subscnote")
    SecDateTEdit: Mapped[dt.datetime | None] = moment("secdatetedit", index=True)
    odmirror_extra: Mapped[dict[str, Any] | None] = extra()
    odmirror_synced_at: Mapped[dt.datetime | None] = synced_at()
