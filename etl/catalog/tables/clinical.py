"""Procedures and treatment plans: procedurelog, procedurecode, treatplan."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Mapped

from etl.catalog.base import Base, code, text
from etl.catalog.tables.columns import day, extra, fk, flag, key, moment, money, number, synced_at

# ProcStat in Open Dental's schema: 1 TP, 2 C, 3 EC, 4 EO, 5 R, 6 D, 7 Cn, 8 TPi (0 unused).
PROC_STATUS = ("", "TP", "C", "EC", "EO", "R", "D", "Cn", "TPi")
TREAT_AREA = ("None", "Surf", "Tooth", "Mouth", "Quad", "Sextant", "Arch", "ToothRange")
TP_STATUS = ("Saved", "Active", "Inactive")
TP_TYPE = ("Insurance", "Discount")


class ProcedureLog(Base):
    """One row per procedure charted for a patient (table `procedurelog`)."""

    __tablename__ = "procedurelog"

    ProcNum: Mapped[int] = key("procnum")
    PatNum: Mapped[int | None] = fk("patnum", index=True)
    AptNum: Mapped[int | None] = fk("aptnum", index=True)
    ProcDate: Mapped[dt.date | None] = day("procdate", index=True)
    ProcFee: Mapped[Decimal | None] = money("procfee")
    Surf: Mapped[str | None] = text("surf")
    ToothNum: Mapped[str | None] = text("toothnum")
    ToothRange: Mapped[str | None] = text("toothrange")
    Priority: Mapped[int | None] = fk("priority")
    priority: Mapped[str | None] = text("priority_name")
    ProcStatus: Mapped[int | None] = code("procstatus", PROC_STATUS, index=True)
    ProvNum: Mapped[int | None] = fk("provnum", index=True)
    provAbbr: Mapped[str | None] = text("prov_abbr")
    Dx: Mapped[int | None] = fk("dx")
    dxName: Mapped[str | None] = text("dx_name")
    PlannedAptNum: Mapped[int | None] = fk("plannedaptnum")
    Prosthesis: Mapped[str | None] = text("prosthesis")
    DateOriginalProsth: Mapped[dt.date | None] = day("dateoriginalprosth")
    ClaimNote: Mapped[str | None] = text("claimnote")
    DateEntryC: Mapped[dt.date | None] = day("dateentryc")
    ClinicNum: Mapped[int | None] = fk("clinicnum", index=True)
    CodeNum: Mapped[int | None] = fk("codenum", index=True)
    procCode: Mapped[str | None] = text("code_proccode")
    descript: Mapped[str | None] = text("code_descript")
    UnitQty: Mapped[int | None] = number("unitqty")
    BaseUnits: Mapped[int | None] = number("baseunits")
    DateTP: Mapped[dt.date | None] = day("datetp")
    SiteNum: Mapped[int | None] = fk("sitenum")
    HideGraphics: Mapped[bool | None] = flag("hidegraphics")
    CanadianTypeCodes: Mapped[str | None] = text("canadiantypecodes")
    DateTStamp: Mapped[dt.datetime | None] = moment("datetstamp", index=True)
    Prognosis: Mapped[int | None] = fk("prognosis")
    IsLocked: Mapped[bool | None] = flag("islocked")
    BillingNote: Mapped[str | None] = text("billingnote")
    Discount: Mapped[Decimal | None] = money("discount")
    IsDateProsthEst: Mapped[bool | None] = flag("isdateprosthest")
    SecDateEntry: Mapped[dt.datetime | None] = moment("secdateentry")
    odmirror_extra: Mapped[dict[str, Any] | None] = extra()
    odmirror_synced_at: Mapped[dt.datetime | None] = synced_at()


class ProcedureCode(Base):
    """One row per procedure code, e.g. D0120 (table `procedurecode`)."""

    __tablename__ = "procedurecode"

    CodeNum: Mapped[int] = key("codenum")
    ProcCode: Mapped[str | None] = text("proccode")
    Descript: Mapped[str | None] = text("descript")
    AbbrDesc: Mapped[str | None] = text("abbrdesc")
    ProcTime: Mapped[str | None] = text("proctime")
    ProcCat: Mapped[int | None] = fk("proccat")
    procCat: Mapped[str | None] = text("proccat_name")
    TreatArea: Mapped[int | None] = code("treatarea", TREAT_AREA)
    NoBillIns: Mapped[bool | None] = flag("nobillins")
    IsProsth: Mapped[bool | None] = flag("isprosth")
    DefaultNote: Mapped[str | None] = text("defaultnote")
    IsHygiene: Mapped[bool | None] = flag("ishygiene")
    AlternateCode1: Mapped[str | None] = text("alternatecode1")
    MedicalCode: Mapped[str | None] = text("medicalcode")
    IsTaxed: Mapped[bool | None] = flag("istaxed")
    LaymanTerm: Mapped[str | None] = text("laymanterm")
    IsCanadianLab: Mapped[bool | None] = flag("iscanadianlab")
    BaseUnits: Mapped[int | None] = number("baseunits")
    SubstitutionCode: Mapped[str | None] = text("substitutioncode")
    DateTStamp: Mapped[dt.datetime | None] = moment("datetstamp", index=True)
    DrugNDC: Mapped[str | None] = text("drugndc")
    RevenueCodeDefault: Mapped[str | None] = text("revenuecodedefault")
    ProvNumDefault: Mapped[int | None] = fk("provnumdefault")
    IsRadiology: Mapped[bool | None] = flag("isradiology")
    DefaultClaimNote: Mapped[str | None] = text("defaultclaimnote")
    DefaultTPNote: Mapped[str | None] = text("defaulttpnote")
    PaintText: Mapped[str | None] = text("painttext")
    AreaAlsoToothRange: Mapped[bool | None] = flag("areaalsotoothrange")
    DiagnosticCodes: Mapped[str | None] = text("diagnosticcodes")
    odmirror_extra: Mapped[dict[str, Any] | None] = extra()
    odmirror_synced_at: Mapped[dt.datetime | None] = synced_at()


class TreatPlan(Base):
    """One row per treatment plan (table `treatplan`)."""

    __tablename__ = "treatplan"

    TreatPlanNum: Mapped[int] = key("treatplannum")
    PatNum: Mapped[int | None] = fk("patnum", index=True)
    DateTP: Mapped[dt.date | None] = day("datetp")
    Heading: Mapped[str | None] = text("heading")
    Note: Mapped[str | None] = text("note")
    SigIsTopaz: Mapped[bool | None] = flag("sigistopaz")
    ResponsParty: Mapped[int | None] = fk("responsparty")
    DocNum: Mapped[int | None] = fk("docnum")
    TPStatus: Mapped[int | None] = code("tpstatus", TP_STATUS)
    SecUserNumEntry: Mapped[int | None] = fk("secusernumentry")
    SecDateEntry: Mapped[dt.date | None] = day("secdateentry")
    SecDateTEdit: Mapped[dt.datetime | None] = moment("secdatetedit", index=True)
    UserNumPresenter: Mapped[int | None] = fk("usernumpresenter")
    TPType: Mapped[int | None] = code("tptype", TP_TYPE)
    DateTSigned: Mapped[dt.datetime | None] = moment("datetsigned")
    DateTPracticeSigned: Mapped[dt.datetime | None] = moment("datetpracticesigned")
    SignatureText: Mapped[str | None] = text("signaturetext")
    SignaturePracticeText: Mapped[str | None] = text("signaturepracticetext")
    odmirror_extra: Mapped[dict[str, Any] | None] = extra()
    odmirror_synced_at: Mapped[dt.datetime | None] = synced_at()
