"""The names the API sends for Open Dental's integer enums, by the enum's name in the schema file.

A name's position is its code, as Open Dental numbers them (checked against OpenDentBusiness'
Enumerations and table types: tests/test_resources.py). The REST API sends enums as these names;
the database, and so the mirror, holds the code. An enum not listed here is taken only as its
code: a name the mirror cannot place is set aside (NULL, kept in `odmirror_extra`), never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

ENUM_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "PatientStatus": (
            "Patient", "NonPatient", "Inactive", "Archived", "Deleted", "Deceased", "Prospective",
        ),
        "PatientGender": ("Male", "Female", "Unknown", "Other"),
        "PatientPosition": ("Single", "Married", "Child", "Widowed", "Divorced"),
        "ContactMethod": (
            "None", "DoNotCall", "HmPhone", "WkPhone", "WirelessPh", "Email", "SeeNotes", "Mail",
            "TextMessage",
        ),
        "YN": ("Unknown", "Yes", "No"),
        "ApptStatus": (
            "None", "Scheduled", "Complete", "UnschedList", "ASAP", "Broken", "Planned", "PtNote",
            "PtNoteCompleted",
        ),
        "ApptPriority": ("Normal", "ASAP"),
        # 0 is unused: TP=1, C=2, EC=3, EO=4, R=5, D=6, Cn=7, TPi=8.
        "ProcStat": ("", "TP", "C", "EC", "EO", "R", "D", "Cn", "TPi"),
        "ProviderStatus": ("Active", "Deleted"),
        "TreatmentArea": (
            "None", "Surf", "Tooth", "Mouth", "Quad", "Sextant", "Arch", "ToothRange",
        ),
        "Relat": (
            "Self", "Spouse", "Child", "Employee", "HandicapDep", "SignifOther",
            "InjuredPlaintiff", "LifePartner", "Dependent",
        ),
        "TreatPlanStatus": ("Saved", "Active", "Inactive"),
        "PlaceOfService": (
            "Office", "PatientsHome", "InpatHospital", "OutpatHospital", "SkilledNursFac",
            "CustodialCareFacility", "OtherLocation", "MobileUnit", "School", "MilitaryTreatFac",
            "FederalHealthCenter", "PublicHealthClinic", "RuralHealthClinic",
            "EmergencyRoomHospital", "AmbulatorySurgicalCenter",
        ),
        "TreatPlanType": ("Insurance", "Discount"),
        # Money, insurance, recalls and schedules (issue 21); Db/Enumerations.cs and
        # TableTypes/PayPlanCharge.cs.
        "ClaimProcStatus": (
            "NotReceived", "Received", "Preauth", "Adjustment", "Supplemental", "CapClaim",
            "Estimate", "CapComplete", "CapEstimate", "InsHist",
        ),
        "ScheduleType": ("Practice", "Provider", "Blockout", "Employee", "WebSchedASAP"),
        "SchedStatus": ("Open", "Closed", "Holiday"),
        "PayPlanChargeType": ("Debit", "Credit"),
        "RecallPriority": ("Normal", "ASAP"),
        # TableTypes/RefAttach.cs: the refattaches list sends them as names ("RefFrom", "None").
        "ReferralType": ("RefTo", "RefFrom", "RefCustom"),
        "ReferralToStatus": (
            "None", "Declined", "Scheduled", "Consulted", "InTreatment", "Complete",
        ),
    }
)  # fmt: skip
