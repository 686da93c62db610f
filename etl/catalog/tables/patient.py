"""The `patient` table: one row per Open Dental patient, as the API's Simple list sends it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date
from sqlalchemy.orm import Mapped, mapped_column

from etl.catalog.base import Base, Extra, Money, Timestamp, code, text

PAT_STATUS = ("Patient", "NonPatient", "Inactive", "Archived", "Deleted", "Deceased", "Prospective")
GENDER = ("Male", "Female", "Unknown", "Other")
POSITION = ("Single", "Married", "Child", "Widowed", "Divorced")
CONTACT_METHOD = (
    "None",
    "DoNotCall",
    "HmPhone",
    "WkPhone",
    "WirelessPh",
    "Email",
    "SeeNotes",
    "Mail",
    "TextMessage",
)
YES_NO_UNKNOWN = ("Unknown", "Yes", "No")


class Patient(Base):
    """One row per Open Dental patient (table `patient`).

    Attribute names are the API's JSON keys (case matters: other resources send both
    `Confirmed` and `confirmed`); column names are Open Dental's, in lower case. Text the API
    derives from a foreign key gets a column of its own with an underscore in its name.
    """

    __tablename__ = "patient"

    PatNum: Mapped[int] = mapped_column("patnum", BigInteger, primary_key=True, autoincrement=False)
    LName: Mapped[str | None] = text("lname")
    FName: Mapped[str | None] = text("fname")
    MiddleI: Mapped[str | None] = text("middlei")
    Preferred: Mapped[str | None] = text("preferred")
    PatStatus: Mapped[int | None] = code("patstatus", PAT_STATUS, index=True)
    Gender: Mapped[int | None] = code("gender", GENDER)
    Position: Mapped[int | None] = code("position", POSITION)
    Birthdate: Mapped[dt.date | None] = mapped_column("birthdate", Date)
    SSN: Mapped[str | None] = text("ssn")
    Address: Mapped[str | None] = text("address")
    Address2: Mapped[str | None] = text("address2")
    City: Mapped[str | None] = text("city")
    State: Mapped[str | None] = text("state")
    Zip: Mapped[str | None] = text("zip")
    HmPhone: Mapped[str | None] = text("hmphone")
    WkPhone: Mapped[str | None] = text("wkphone")
    WirelessPhone: Mapped[str | None] = text("wirelessphone")
    Guarantor: Mapped[int | None] = mapped_column("guarantor", BigInteger, index=True)
    Email: Mapped[str | None] = text("email")
    EstBalance: Mapped[Decimal | None] = mapped_column("estbalance", Money)
    PriProv: Mapped[int | None] = mapped_column("priprov", BigInteger)
    priProvAbbr: Mapped[str | None] = text("priprov_abbr")
    SecProv: Mapped[int | None] = mapped_column("secprov", BigInteger)
    secProvAbbr: Mapped[str | None] = text("secprov_abbr")
    FeeSched: Mapped[int | None] = mapped_column("feesched", BigInteger)
    BillingType: Mapped[str | None] = text("billingtype_name")
    ImageFolder: Mapped[str | None] = text("imagefolder")
    FamFinUrgNote: Mapped[str | None] = text("famfinurgnote")
    ChartNumber: Mapped[str | None] = text("chartnumber")
    MedicaidID: Mapped[str | None] = text("medicaidid")
    BalTotal: Mapped[Decimal | None] = mapped_column("baltotal", Money)
    EmployerNum: Mapped[int | None] = mapped_column("employernum", BigInteger)
    DateFirstVisit: Mapped[dt.date | None] = mapped_column("datefirstvisit", Date)
    ClinicNum: Mapped[int | None] = mapped_column("clinicnum", BigInteger, index=True)
    clinicAbbr: Mapped[str | None] = text("clinic_abbr")
    siteDesc: Mapped[str | None] = text("site_desc")
    Premed: Mapped[bool | None] = mapped_column("premed", Boolean)
    Ward: Mapped[str | None] = text("ward")
    PreferConfirmMethod: Mapped[int | None] = code("preferconfirmmethod", CONTACT_METHOD)
    PreferContactMethod: Mapped[int | None] = code("prefercontactmethod", CONTACT_METHOD)
    PreferRecallMethod: Mapped[int | None] = code("preferrecallmethod", CONTACT_METHOD)
    Language: Mapped[str | None] = text("language")
    AdmitDate: Mapped[dt.date | None] = mapped_column("admitdate", Date)
    DateTStamp: Mapped[dt.datetime | None] = mapped_column("datetstamp", Timestamp, index=True)
    SuperFamily: Mapped[int | None] = mapped_column("superfamily", BigInteger)
    TxtMsgOk: Mapped[int | None] = code("txtmsgok", YES_NO_UNKNOWN)
    SecDateEntry: Mapped[dt.date | None] = mapped_column("secdateentry", Date)
    # odmirror's own: fields the model does not know yet, and when we last wrote the row.
    odmirror_extra: Mapped[dict[str, Any] | None] = mapped_column(Extra)
    odmirror_synced_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
