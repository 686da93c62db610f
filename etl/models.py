"""The mirror's tables: Open Dental's names in lower case, plus odmirror's own bookkeeping.

On a mirrored model, each attribute is named after the API's JSON key and maps to a column named
as in Open Dental's database; a column's `info["enum"]` lists the names the API sends for an
integer code (code = position in the list).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    Text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

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

# Balances are doubles in Open Dental; NUMERIC keeps them exact once parsed from the JSON text.
Money = Numeric(18, 4, asdecimal=True)
# SQLite keeps timestamps as text: write them as Open Dental shows them, without microseconds.
Timestamp = DateTime().with_variant(
    sqlite.DATETIME(  # type: ignore[no-untyped-call]
        storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
    ),
    "sqlite",
)
# SQL NULL, not the JSON text 'null', when a row has nothing extra.
Extra = JSON(none_as_null=True)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints the same way."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def text(name: str) -> Any:
    """A nullable text column (Open Dental's varchar limits are not enforced by the API)."""
    return mapped_column(name, Text)


def code(name: str, values: tuple[str, ...], index: bool = False) -> Any:
    """A nullable integer-code column for an enum the API sends by name."""
    return mapped_column(name, SmallInteger, index=index, info={"enum": values})


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


class SyncState(Base):
    """The cursor of each resource: the server's clock at the start of the last complete run."""

    __tablename__ = "odmirror_sync_state"

    resource: Mapped[str] = mapped_column(Text, primary_key=True)
    cursor: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_run_id: Mapped[int | None] = mapped_column(Integer)


class SyncRun(Base):
    """One row per run of one resource: when, how it ended, what it did."""

    __tablename__ = "odmirror_sync_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource: Mapped[str] = mapped_column(Text, index=True)
    mode: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    cursor_before: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    cursor_after: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    rows_fetched: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class Rejected(Base):
    """A record the mirror could not take whole, once per distinct problem (table
    `odmirror_rejected`).

    `loaded` false: the record was not mirrored (no usable key, not an object); `payload` holds it
    as the PHI policy allows. `loaded` true: the row is in the mirror but some values were not
    (set NULL and kept in `odmirror_extra`, or characters removed); `payload` is NULL, the values
    are in the row's extras. `seen_at` and `run_id` are the last run that saw the problem.
    """

    __tablename__ = "odmirror_rejected"

    fingerprint: Mapped[str] = mapped_column(Text, primary_key=True)
    resource: Mapped[str] = mapped_column(Text, index=True)
    key: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    loaded: Mapped[bool] = mapped_column(Boolean)
    payload: Mapped[Any | None] = mapped_column(Extra)
    seen_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    run_id: Mapped[int | None] = mapped_column(Integer)


# Every mirrored table registers on Base.metadata once models are imported (migrations, views).
from etl import tables as _tables  # noqa: E402, F401
