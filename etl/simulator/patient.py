"""What a patient looks like in Open Dental's JSON (GET /patients/Simple): every documented key
in the vendor's order with its empty value, the enumerations, and the values derived from others.
"""

from __future__ import annotations

from typing import Any

PAT_STATUSES = (
    "Patient", "NonPatient", "Inactive", "Archived", "Deleted", "Deceased", "Prospective",
)  # fmt: skip
GENDERS = ("Male", "Female", "Unknown", "Other")
POSITIONS = ("Single", "Married", "Child", "Widowed", "Divorced")
CONTACT_METHODS = (
    "None", "DoNotCall", "HmPhone", "WkPhone", "WirelessPh", "Email", "SeeNotes", "Mail",
    "TextMessage",
)  # fmt: skip
TXT_MSG_OK = ("Unknown", "Yes", "No")
BILLING_TYPES = ("Standard Account", "Insurance Only", "Collections", "Payment Plan")
CLINIC_ABBRS = {1: "MAIN", 2: "NORTH", 3: "EAST"}
NO_DATE = "0001-01-01"

# Every documented key, in the order of the vendor's example, with its "empty" value.
_BLANK: dict[str, Any] = {
    "PatNum": 0, "LName": "", "FName": "", "MiddleI": "", "Preferred": "",
    "PatStatus": "Patient", "Gender": "Unknown", "Position": "Single", "Birthdate": NO_DATE,
    "SSN": "", "Address": "", "Address2": "", "City": "", "State": "", "Zip": "",
    "HmPhone": "", "WkPhone": "", "WirelessPhone": "", "Guarantor": 0, "Email": "",
    "EstBalance": 0.0, "PriProv": 0, "priProvAbbr": "", "SecProv": 0, "secProvAbbr": "",
    "FeeSched": 0, "BillingType": "Standard Account", "ImageFolder": "", "FamFinUrgNote": "",
    "ChartNumber": "", "MedicaidID": "", "BalTotal": 0.0, "EmployerNum": 0,
    "DateFirstVisit": NO_DATE, "ClinicNum": 0, "clinicAbbr": "", "Premed": "false", "Ward": "",
    "PreferConfirmMethod": "None", "PreferContactMethod": "None", "PreferRecallMethod": "None",
    "Language": "", "AdmitDate": NO_DATE, "siteDesc": "", "DateTStamp": "0001-01-01 00:00:00",
    "SuperFamily": 0, "TxtMsgOk": "Unknown", "SecDateEntry": NO_DATE,
}  # fmt: skip
FIELDS = tuple(_BLANK)

_VENDOR_EXAMPLE: dict[str, Any] = {
    "PatNum": 48, "LName": "Smith", "FName": "Jane", "PatStatus": "Patient", "Gender": "Female",
    "Position": "Single", "Birthdate": "1976-05-24", "Address": "125 Satin Heights",
    "City": "San Jose", "State": "CA", "Zip": "97301", "HmPhone": "(536)624-5871",
    "Guarantor": 48, "Email": "smithfam@yahoo.com", "EstBalance": 0.0, "PriProv": 1,
    "priProvAbbr": "DOC", "BillingType": "Standard Account", "ImageFolder": "SmithJane48",
    "FamFinUrgNote": "CC on file expiring soon", "BalTotal": 111.9,
    "DateFirstVisit": "2021-12-16", "Premed": "false", "PreferConfirmMethod": "None",
    "PreferContactMethod": "WirelessPh", "PreferRecallMethod": "TextMessage", "Language": "spa",
    "AdmitDate": "0001-01-01", "DateTStamp": "2021-12-08 15:34:34", "TxtMsgOk": "Unknown",
    "SecDateEntry": "2021-12-04",
}  # fmt: skip


def prov_abbr(provnum: int) -> str:
    """The provider abbreviation the simulator derives for a ProvNum ("" for 0)."""
    return f"DOC{provnum}" if provnum else ""


def clinic_abbr(clinicnum: int) -> str:
    """The clinic abbreviation the simulator derives for a ClinicNum ("" for 0)."""
    return CLINIC_ABBRS.get(clinicnum, f"CLINIC{clinicnum}") if clinicnum else ""


def image_folder(lname: str, fname: str, patnum: int) -> str:
    """Open Dental's image folder name: the letters of LName+FName, then the PatNum."""
    return "".join(c for c in lname + fname if c.isalpha()) + str(patnum)


def blank_patient() -> dict[str, Any]:
    """A patient with every documented key at its empty value, in the vendor's key order."""
    return dict(_BLANK)


def vendor_example_patient() -> dict[str, Any]:
    """The API page's documented example patient 48, "Jane Smith", with every key."""
    return {**_BLANK, **_VENDOR_EXAMPLE}
