"""The appointment table (GET /appointments; deletions from GET /histappointments)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Mapped

from etl.catalog.base import Base, code, text
from etl.catalog.tables.columns import extra, fk, flag, key, moment, number, synced_at

# ApptStatus in Open Dental's schema: 0 None, 1 Scheduled, 2 Complete, 3 UnschedList, 4 ASAP,
# 5 Broken, 6 Planned, 7 PtNote, 8 PtNoteCompleted.
APT_STATUS = (
    "None", "Scheduled", "Complete", "UnschedList", "ASAP", "Broken", "Planned", "PtNote",
    "PtNoteCompleted",
)  # fmt: skip
APPT_PRIORITY = ("Normal", "ASAP")


class Appointment(Base):
    """One row per appointment (table `appointment`)."""

    __tablename__ = "appointment"

    AptNum: Mapped[int] = key("aptnum")
    PatNum: Mapped[int | None] = fk("patnum", index=True)
    AptStatus: Mapped[int | None] = code("aptstatus", APT_STATUS, index=True)
    Pattern: Mapped[str | None] = text("pattern")
    Confirmed: Mapped[int | None] = fk("confirmed")
    confirmed: Mapped[str | None] = text("confirmed_name")
    TimeLocked: Mapped[bool | None] = flag("timelocked")
    Op: Mapped[int | None] = fk("op")
    Note: Mapped[str | None] = text("note")
    ProvNum: Mapped[int | None] = fk("provnum", index=True)
    provAbbr: Mapped[str | None] = text("prov_abbr")
    ProvHyg: Mapped[int | None] = fk("provhyg")
    AptDateTime: Mapped[dt.datetime | None] = moment("aptdatetime", index=True)
    NextAptNum: Mapped[int | None] = fk("nextaptnum")
    UnschedStatus: Mapped[int | None] = fk("unschedstatus")
    unschedStatus: Mapped[str | None] = text("unschedstatus_name")
    IsNewPatient: Mapped[bool | None] = flag("isnewpatient")
    ProcDescript: Mapped[str | None] = text("procdescript")
    Assistant: Mapped[int | None] = fk("assistant")
    ClinicNum: Mapped[int | None] = fk("clinicnum", index=True)
    IsHygiene: Mapped[bool | None] = flag("ishygiene")
    DateTStamp: Mapped[dt.datetime | None] = moment("datetstamp", index=True)
    DateTimeArrived: Mapped[dt.datetime | None] = moment("datetimearrived")
    DateTimeSeated: Mapped[dt.datetime | None] = moment("datetimeseated")
    DateTimeDismissed: Mapped[dt.datetime | None] = moment("datetimedismissed")
    InsPlan1: Mapped[int | None] = fk("insplan1")
    InsPlan2: Mapped[int | None] = fk("insplan2")
    DateTimeAskedToArrive: Mapped[dt.datetime | None] = moment("datetimeaskedtoarrive")
    AppointmentTypeNum: Mapped[int | None] = fk("appointmenttypenum")
    SecUserNumEntry: Mapped[int | None] = fk("secusernumentry")
    SecDateTEntry: Mapped[dt.datetime | None] = moment("secdatetentry")
    Priority: Mapped[int | None] = code("priority", APPT_PRIORITY)
    PatternSecondary: Mapped[str | None] = text("patternsecondary")
    ItemOrderPlanned: Mapped[int | None] = number("itemorderplanned")
    IsMirrored: Mapped[bool | None] = flag("ismirrored")
    odmirror_extra: Mapped[dict[str, Any] | None] = extra()
    odmirror_synced_at: Mapped[dt.datetime | None] = synced_at()


__all__ = ["APT_STATUS", "Appointment"]
