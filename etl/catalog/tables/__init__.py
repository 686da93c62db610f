"""The mirrored tables, declared from Open Dental's schema: a table is a catalog entry, not code.

Each mirrored table is Open Dental 24.3's own (etl.catalog.opendental: every column, in Open
Dental's order, typed to hold what Open Dental stores), then the text some endpoints derive from
another table (`priProvAbbr` -> `priprov_abbr`: an underscore, so never one of Open Dental's
names), then odmirror's own columns: `odmirror_extra` (what the API sent that no column holds),
`odmirror_synced_at` (when odmirror last wrote the row) and `odmirror_gone_at` (when odmirror
found that Open Dental no longer has the row). A column an endpoint does not send stays NULL:
the mirror does not know it.

`sent` lists the keys each endpoint's documented example carries (Open Dental's API pages,
checked 2026-11; `colorOverride` and `provColor` are ColorOverride and ProvColor): `odmirror
status` and the README name the other columns as not filled in that mode. Importing this module
declares every table on `Base.metadata`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlalchemy import Column, Index, Integer, MetaData, Table

from etl.catalog.base import Base, Extra, Timestamp
from etl.catalog.od_types import text
from etl.catalog.opendental import OD_TABLES, od_table
from etl.catalog.tables.money import money_tables


@dataclass(frozen=True)
class Mirrored:
    """How one Open Dental table is kept in the mirror.

    Attributes:
        derived: JSON keys of text an endpoint derives from another table, with their columns.
        indexes: the columns the mirror indexes (one index each) beyond the key.
        whole: pulled whole each run (rows a pull no longer returns get `odmirror_gone_at`).
            Every table has that column: fan-outs and key-range reconciliation mark rows too.
        sent: the keys the endpoint's documented example carries.
    """

    derived: Mapping[str, str] = field(default_factory=dict)
    indexes: tuple[str, ...] = ()
    whole: bool = False
    sent: tuple[str, ...] = ()


def _keys(words: str) -> tuple[str, ...]:
    return tuple(words.split())


MIRRORED: Mapping[str, Mirrored] = MappingProxyType(
    {
        "patient": Mirrored(
            derived={"priProvAbbr": "priprov_abbr", "secProvAbbr": "secprov_abbr",
                     "BillingType": "billingtype_name", "clinicAbbr": "clinic_abbr",
                     "siteDesc": "site_desc"},
            indexes=("patstatus", "clinicnum", "guarantor", "datetstamp"),
            sent=_keys("PatNum LName FName MiddleI Preferred PatStatus Gender Position Birthdate "
                       "SSN Address Address2 City State Zip HmPhone WkPhone WirelessPhone "
                       "Guarantor Email EstBalance PriProv SecProv FeeSched ImageFolder "
                       "FamFinUrgNote ChartNumber MedicaidID BalTotal EmployerNum DateFirstVisit "
                       "ClinicNum Premed Ward PreferConfirmMethod PreferContactMethod "
                       "PreferRecallMethod Language AdmitDate DateTStamp SuperFamily TxtMsgOk "
                       "SecDateEntry"),
        ),
        "appointment": Mirrored(
            derived={"confirmed": "confirmed_name", "provAbbr": "prov_abbr",
                     "unschedStatus": "unschedstatus_name", "IsMirrored": "ismirrored"},
            indexes=("datetstamp", "provnum", "patnum", "clinicnum", "aptstatus", "aptdatetime"),
            sent=_keys("AptNum PatNum AptStatus Pattern Confirmed TimeLocked Op Note ProvNum "
                       "ProvHyg AptDateTime NextAptNum UnschedStatus IsNewPatient ProcDescript "
                       "Assistant ClinicNum IsHygiene DateTStamp DateTimeArrived DateTimeSeated "
                       "DateTimeDismissed InsPlan1 InsPlan2 DateTimeAskedToArrive "
                       "AppointmentTypeNum SecUserNumEntry SecDateTEntry Priority "
                       "PatternSecondary ItemOrderPlanned ColorOverride"),
        ),
        "procedurelog": Mirrored(
            derived={"priority": "priority_name", "provAbbr": "prov_abbr", "dxName": "dx_name",
                     "procCode": "code_proccode", "descript": "code_descript"},
            indexes=("procstatus", "codenum", "provnum", "datetstamp", "aptnum", "clinicnum",
                     "patnum", "procdate"),
            sent=_keys("ProcNum PatNum AptNum ProcDate ProcFee Surf ToothNum ToothRange Priority "
                       "ProcStatus ProvNum Dx PlannedAptNum Prosthesis DateOriginalProsth "
                       "ClaimNote DateEntryC ClinicNum CodeNum UnitQty BaseUnits DateTP SiteNum "
                       "HideGraphics CanadianTypeCodes DateTStamp Prognosis IsLocked BillingNote "
                       "Discount IsDateProsthEst SecDateEntry"),
        ),
        "provider": Mirrored(
            indexes=("datetstamp",),
            sent=_keys("ProvNum Abbr LName FName MI Suffix FeeSched Specialty SSN StateLicense "
                       "IsSecondary IsHidden UsingTIN SigOnFile NationalProvID DateTStamp "
                       "IsNotPerson ProvStatus IsHiddenReport Birthdate SchedNote "
                       "PreferredName ProvColor"),
        ),
        "procedurecode": Mirrored(
            derived={"procCat": "proccat_name"},
            indexes=("datetstamp",),
            sent=_keys("CodeNum ProcCode Descript AbbrDesc ProcTime ProcCat TreatArea NoBillIns "
                       "IsProsth DefaultNote IsHygiene AlternateCode1 MedicalCode IsTaxed "
                       "LaymanTerm IsCanadianLab BaseUnits SubstitutionCode DateTStamp DrugNDC "
                       "RevenueCodeDefault ProvNumDefault IsRadiology DefaultClaimNote "
                       "DefaultTPNote PaintText AreaAlsoToothRange DiagnosticCodes"),
        ),
        "claim": Mirrored(
            indexes=("patnum", "clinicnum", "secdatetedit"),
            sent=_keys("ClaimNum PatNum DateService DateSent ClaimStatus DateReceived PlanNum "
                       "ProvTreat ClaimFee InsPayEst InsPayAmt DedApplied IsProsthesis PriorDate "
                       "ReasonUnderPaid ClaimNote ClaimType ProvBill AccidentRelated AccidentDate "
                       "AccidentST IsOrtho OrthoRemainM OrthoDate PatRelat PlanNum2 PatRelat2 "
                       "WriteOff ClaimForm InsSubNum InsSubNum2 PriorAuthorizationNumber "
                       "OrthoTotalM ClinicNum SecDateTEdit"),
        ),
        "claimpayment": Mirrored(
            derived={"payType": "paytype_name", "payGroup": "paygroup_name"},
            indexes=("checkdate", "clinicnum", "secdatetedit"),
            sent=_keys("ClaimPaymentNum CheckDate CheckAmt CheckNum BankBranch Note ClinicNum "
                       "DepositNum CarrierName DateIssued IsPartial PayType SecUserNumEntry "
                       "SecDateEntry SecDateTEdit PayGroup"),
        ),
        "inssub": Mirrored(
            indexes=("plannum", "secdatetedit", "subscriber"),
            sent=_keys("InsSubNum PlanNum Subscriber DateEffective DateTerm SubscriberID "
                       "BenefitNotes ReleaseInfo AssignBen SubscNote SecDateTEdit"),
        ),
        "treatplan": Mirrored(
            indexes=("patnum", "secdatetedit"),
            sent=_keys("TreatPlanNum PatNum DateTP Heading Note SigIsTopaz ResponsParty DocNum "
                       "TPStatus SecUserNumEntry SecDateEntry SecDateTEdit UserNumPresenter TPType "
                       "DateTSigned DateTPracticeSigned SignatureText "
                       "SignaturePracticeText"),
        ),
        "clinic": Mirrored(
            whole=True,
            sent=_keys("ClinicNum Description Address Address2 City State Zip BillingAddress "
                       "BillingAddress2 BillingCity BillingState BillingZip PayToAddress "
                       "PayToAddress2 PayToCity PayToState PayToZip Phone Abbr IsHidden"),
        ),
        "definition": Mirrored(
            whole=True, sent=_keys("DefNum Category ItemOrder ItemName ItemValue IsHidden")
        ),
        "operatory": Mirrored(
            derived={"operatoryType": "operatorytype_name"},
            whole=True,
            sent=_keys("OperatoryNum OpName Abbrev ItemOrder IsHidden ProvDentist ProvHygienist "
                       "IsHygiene ClinicNum SetProspective IsWebSched OperatoryType"),
        ),
        # Money, insurance, recalls and schedules (issue 21): etl.catalog.tables.money.
        **money_tables(Mirrored),
    }
)  # fmt: skip

#: Derived keys that are flags, not text (the others are text).
DERIVED_FLAGS = frozenset({"ismirrored"})


def declare(name: str, how: Mirrored, metadata: MetaData = Base.metadata) -> Table:
    """Declare one Open Dental table as the mirror keeps it (see the module docstring).

    Args:
        name: Open Dental's table, in lower case.
        how: its derived columns, indexes and whether it is pulled whole.
        metadata: where to declare it (the mirror's, unless a test keeps its own).

    Returns:
        The table: Open Dental's columns, the derived ones, odmirror's own, and its indexes.
    """
    texts = {c.name.lower() for c in OD_TABLES[name] if c.storage == "String"}
    table = od_table(name, metadata, indexed_text=set(how.indexes) & texts)
    for key, column in how.derived.items():
        kind = Integer() if column in DERIVED_FLAGS else text()
        table.append_column(Column(column, kind, info={"derived_from": key}))
    table.append_column(Column("odmirror_extra", Extra))
    table.append_column(Column("odmirror_synced_at", Timestamp))
    # Every table: a row Open Dental no longer has is marked, whether a whole pull, a fan-out or
    # a reconciliation of key ranges (etl.sync.reconcile) found it gone.
    table.append_column(Column("odmirror_gone_at", Timestamp))
    for column in how.indexes:
        Index(None, table.c[column])  # named by the metadata's convention: ix_<table>_<column>
    return table


TABLES: dict[str, Table] = {name: declare(name, how) for name, how in MIRRORED.items()}
"""Every mirrored table by name, declared on `Base.metadata`."""
