"""Open Dental tables beyond `patient`, one module per area; importing this registers them.

Field lists come from Open Dental's API pages (opendental.com/site/api<resource>.html: the
example responses of Appointments, ProcedureLogs, Providers, ProcedureCodes, Claims,
ClaimPayments, InsSubs, TreatPlans, Clinics, Operatories), checked 2026-11 through the search
tool; integer codes follow Open Dental's database schema documentation (enum order = code).
Definitions' API page was not found: its model keeps the columns of the `definition` table that
the schema documents. Keys an endpoint sends that a model does not know land in
`odmirror_extra`, so nothing is lost when a version adds fields.
"""

from __future__ import annotations

from etl.tables.clinical import ProcedureCode, ProcedureLog, TreatPlan
from etl.tables.insurance import Claim, ClaimPayment, InsSub
from etl.tables.practice import Clinic, Definition, Operatory, Provider
from etl.tables.schedule import Appointment

__all__ = [
    "Appointment",
    "Claim",
    "ClaimPayment",
    "Clinic",
    "Definition",
    "InsSub",
    "Operatory",
    "ProcedureCode",
    "ProcedureLog",
    "Provider",
    "TreatPlan",
]
