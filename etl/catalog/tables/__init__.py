"""Open Dental's tables as the mirror declares them; importing this registers them all.

Field lists come from Open Dental's API pages (opendental.com/site/api<resource>.html: the
example responses of Appointments, ProcedureLogs, Providers, ProcedureCodes, Claims,
ClaimPayments, InsSubs, TreatPlans, Clinics, Operatories), checked 2026-11 through the search
tool; integer codes follow Open Dental's database schema documentation (enum order = code).
Definitions' API page was not found: its model keeps the columns of the `definition` table that
the schema documents. Keys an endpoint sends that a model does not know land in
`odmirror_extra`, so nothing is lost when a version adds fields.
"""

from __future__ import annotations

from etl.catalog.tables.clinical import ProcedureCode, ProcedureLog, TreatPlan
from etl.catalog.tables.insurance import Claim, ClaimPayment, InsSub
from etl.catalog.tables.patient import Patient
from etl.catalog.tables.practice import Clinic, Definition, Operatory, Provider
from etl.catalog.tables.schedule import Appointment

__all__ = [
    "Appointment",
    "Claim",
    "ClaimPayment",
    "Clinic",
    "Definition",
    "InsSub",
    "Operatory",
    "Patient",
    "ProcedureCode",
    "ProcedureLog",
    "Provider",
    "TreatPlan",
]
