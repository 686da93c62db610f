"""The money, insurance, recall and schedule tables (issue 21), declared as the dashboard's are.

Each entry is a `Mirrored` (etl.catalog.tables): Open Dental 24.3's own table, the text some
endpoints derive from another table, the indexes the KPI views and the sync read (each table's
change column among them), and whether the table is pulled whole. `sent` is every column but
the ones Open Dental's API pages leave out of their examples (/work/shared notes, checked
2026-12): a key the endpoint does not send stays NULL in the mirror.

`claimsnapshot` has no endpoint: it is declared so that query mode (ShortQuery) can fill it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from etl.catalog.opendental import OD_TABLES

if TYPE_CHECKING:
    from etl.catalog.tables import Mirrored


def all_but(table: str, left_out: str = "") -> tuple[str, ...]:
    """Open Dental's names of every column of `table` except the ones named in `left_out`."""
    omitted = set(left_out.split())
    return tuple(c.name for c in OD_TABLES[table] if c.name not in omitted)


def money_tables(mirrored: type[Mirrored]) -> Mapping[str, Mirrored]:
    """The entries, built with the caller's `Mirrored` (it lives beside MIRRORED)."""
    m = mirrored
    return MappingProxyType(
        {
            "claimproc": m(
                indexes=("procnum", "datecp", "procdate", "patnum", "claimnum", "secdatetedit",
                         "claimpaymentnum"),
                whole=True,
                sent=all_but("claimproc", "LineNumber IsOverpay SecurityHash"),
            ),
            "paysplit": m(
                derived={"unearnedType": "unearnedtype_name"},
                indexes=("datepay", "paynum", "patnum", "secdatetedit"),
                whole=True,
                sent=all_but("paysplit", "IsDiscount ProcDate FSplitNum DiscountType "
                                         "SecUserNumEntry SecurityHash"),
            ),
            "payment": m(
                derived={"payType": "paytype_name"},
                indexes=("paydate", "dateentry", "patnum", "secdatetedit"),
                sent=all_but("payment", "PaymentStatus MerchantFee IsSplit ExternalId"),
            ),
            "adjustment": m(
                derived={"adjType": "adjtype_name"},
                indexes=("adjdate", "patnum", "secdatetedit"),
                sent=all_but("adjustment", "StatementNum TaxTransID"),
            ),
            "insplan": m(
                indexes=("secdatetedit",), whole=True,
                sent=_keys("PlanNum GroupName GroupNum PlanNote FeeSched PlanType ClaimFormNum "
                           "CopayFeeSched EmployerNum CarrierNum IsMedical FilingCode "
                           "ShowBaseUnits CodeSubstNone IsHidden MonthRenew "
                           "SecDateTEdit IsBlueBookEnabled"),
            ),
            "carrier": m(
                whole=True,
                sent=_keys("CarrierNum CarrierName Address Address2 City State Zip Phone "
                           "ElectID NoSendElect IsCDA"),
            ),
            "patplan": m(indexes=("patnum", "secdatetedit"), whole=True,
                         sent=all_but("patplan")),
            "benefit": m(
                derived={"procCode": "code_proccode"},
                indexes=("plannum", "secdatetedit"), whole=True,
                sent=all_but("benefit", "TreatArea"),
            ),
            "recall": m(indexes=("datedue", "patnum", "datetstamp"), whole=True,
                        sent=all_but("recall", "DateDueCalc")),
            "recalltype": m(whole=True, sent=all_but("recalltype")),
            "schedule": m(indexes=("scheddate", "datetstamp"),
                          sent=all_but("schedule", "Status ClinicNum")),
            "scheduleop": m(indexes=("schedulenum",), whole=True, sent=all_but("scheduleop")),
            "feesched": m(indexes=("secdatetedit",), whole=True, sent=all_but("feesched")),
            "fee": m(indexes=("secdatetedit",), whole=True,
                     sent=all_but("fee", "OldCode UseDefaultFee UseDefaultCov")),
            "userod": m(
                whole=True,
                sent=_keys("UserNum UserName EmployeeNum ClinicNum IsHidden UserNumCEMT"),
            ),
            "referral": m(indexes=("datetstamp",), whole=True,
                          sent=all_but("referral", "NationalProvID Slip IsTrustedDirect")),
            "refattach": m(indexes=("patnum", "datetstamp"), sent=all_but("refattach", "RefType")),
            "commlog": m(
                indexes=("patnum", "datetstamp"),
                sent=all_but("commlog", "Signature SigIsTopaz DateTimeEnd CommReferralBehavior"),
            ),
            "claimtracking": m(indexes=("claimnum",), whole=True, sent=all_but("claimtracking")),
            "payplan": m(indexes=("patnum", "guarantor"),
                         sent=all_but("payplan", "Signature SigIsTopaz MobileAppDeviceNum "
                                                 "SecurityHash")),
            "payplancharge": m(indexes=("payplannum", "patnum", "secdatetedit"),
                               sent=all_but("payplancharge")),
            "proctp": m(indexes=("treatplannum", "secdatetedit"), sent=all_but("proctp")),
            "treatplanattach": m(indexes=("treatplannum",), sent=all_but("treatplanattach")),
            "payplanlink": m(indexes=("payplannum",), whole=True, sent=all_but("payplanlink")),
            "preference": m(whole=True, sent=all_but("preference")),
            # No change column: query mode reads it whole, marking rows it no longer has.
            "claimsnapshot": m(indexes=("claimprocnum",), whole=True),
        }
    )  # fmt: skip


def _keys(words: str) -> tuple[str, ...]:
    return tuple(words.split())
