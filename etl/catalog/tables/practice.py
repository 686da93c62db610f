"""The practice's setup: provider (by DateTStamp) and the small tables pulled whole each run."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Mapped

from etl.catalog.base import Base, code, text
from etl.catalog.tables.columns import day, extra, fk, flag, gone_at, key, moment, number, synced_at

PROV_STATUS = ("Active", "Deleted")


class Provider(Base):
    """One row per provider (table `provider`)."""

    __tablename__ = "provider"

    ProvNum: Mapped[int] = key("provnum")
    Abbr: Mapped[str | None] = text("abbr")
    LName: Mapped[str | None] = text("lname")
    FName: Mapped[str | None] = text("fname")
    MI: Mapped[str | None] = text("mi")
    Suffix: Mapped[str | None] = text("suffix")
    FeeSched: Mapped[int | None] = fk("feesched")
    Specialty: Mapped[int | None] = fk("specialty")
    SSN: Mapped[str | None] = text("ssn")
    StateLicense: Mapped[str | None] = text("statelicense")
    IsSecondary: Mapped[bool | None] = flag("issecondary")
    IsHidden: Mapped[bool | None] = flag("ishidden")
    UsingTIN: Mapped[bool | None] = flag("usingtin")
    SigOnFile: Mapped[bool | None] = flag("sigonfile")
    NationalProvID: Mapped[str | None] = text("nationalprovid")
    DateTStamp: Mapped[dt.datetime | None] = moment("datetstamp", index=True)
    IsNotPerson: Mapped[bool | None] = flag("isnotperson")
    ProvStatus: Mapped[int | None] = code("provstatus", PROV_STATUS)
    IsHiddenReport: Mapped[bool | None] = flag("ishiddenreport")
    Birthdate: Mapped[dt.date | None] = day("birthdate")
    SchedNote: Mapped[str | None] = text("schednote")
    PreferredName: Mapped[str | None] = text("preferredname")
    odmirror_extra: Mapped[dict[str, Any] | None] = extra()
    odmirror_synced_at: Mapped[dt.datetime | None] = synced_at()


class Clinic(Base):
    """One row per clinic (table `clinic`); pulled whole each run."""

    __tablename__ = "clinic"

    ClinicNum: Mapped[int] = key("clinicnum")
    Description: Mapped[str | None] = text("description")
    Address: Mapped[str | None] = text("address")
    Address2: Mapped[str | None] = text("address2")
    City: Mapped[str | None] = text("city")
    State: Mapped[str | None] = text("state")
    Zip: Mapped[str | None] = text("zip")
    BillingAddress: Mapped[str | None] = text("billingaddress")
    BillingAddress2: Mapped[str | None] = text("billingaddress2")
    BillingCity: Mapped[str | None] = text("billingcity")
    BillingState: Mapped[str | None] = text("billingstate")
    BillingZip: Mapped[str | None] = text("billingzip")
    PayToAddress: Mapped[str | None] = text("paytoaddress")
    PayToAddress2: Mapped[str | None] = text("paytoaddress2")
    PayToCity: Mapped[str | None] = text("paytocity")
    PayToState: Mapped[str | None] = text("paytostate")
    PayToZip: Mapped[str | None] = text("paytozip")
    Phone: Mapped[str | None] = text("phone")
    Abbr: Mapped[str | None] = text("abbr")
    IsHidden: Mapped[bool | None] = flag("ishidden")
    odmirror_extra: Mapped[dict[str, Any] | None] = extra()
    odmirror_synced_at: Mapped[dt.datetime | None] = synced_at()
    odmirror_gone_at: Mapped[dt.datetime | None] = gone_at()


class Definition(Base):
    """One row per definition: billing types, confirmation statuses, ... (table `definition`)."""

    __tablename__ = "definition"

    DefNum: Mapped[int] = key("defnum")
    Category: Mapped[int | None] = number("category")
    ItemOrder: Mapped[int | None] = number("itemorder")
    ItemName: Mapped[str | None] = text("itemname")
    ItemValue: Mapped[str | None] = text("itemvalue")
    IsHidden: Mapped[bool | None] = flag("ishidden")
    odmirror_extra: Mapped[dict[str, Any] | None] = extra()
    odmirror_synced_at: Mapped[dt.datetime | None] = synced_at()
    odmirror_gone_at: Mapped[dt.datetime | None] = gone_at()


class Operatory(Base):
    """One row per operatory, the chairs of the schedule (table `operatory`)."""

    __tablename__ = "operatory"

    OperatoryNum: Mapped[int] = key("operatorynum")
    OpName: Mapped[str | None] = text("opname")
    Abbrev: Mapped[str | None] = text("abbrev")
    ItemOrder: Mapped[int | None] = number("itemorder")
    IsHidden: Mapped[bool | None] = flag("ishidden")
    ProvDentist: Mapped[int | None] = fk("provdentist")
    ProvHygienist: Mapped[int | None] = fk("provhygienist")
    IsHygiene: Mapped[bool | None] = flag("ishygiene")
    ClinicNum: Mapped[int | None] = fk("clinicnum")
    SetProspective: Mapped[bool | None] = flag("setprospective")
    IsWebSched: Mapped[bool | None] = flag("iswebsched")
    OperatoryType: Mapped[int | None] = fk("operatorytype")
    operatoryType: Mapped[str | None] = text("operatorytype_name")
    odmirror_extra: Mapped[dict[str, Any] | None] = extra()
    odmirror_synced_at: Mapped[dt.datetime | None] = synced_at()
    odmirror_gone_at: Mapped[dt.datetime | None] = gone_at()


__all__ = ["PROV_STATUS", "Clinic", "Definition", "Operatory", "Provider"]
