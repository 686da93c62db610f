"""Production and income KPI views, one row per transaction, as Open Dental's P&I reports count.

Rules from Open Dental 24.3 `OpenDentBusiness/Reports/RpProdInc.cs` (GetMonthlyProdIncDataSet,
the monthly and annual Production and Income report):

- `kpi_production`: completed procedures (ProcStatus 2) dated ProcDate; fee =
  ProcFee * (UnitQty + BaseUnits); amount = fee minus the capitation write-offs (claimproc
  Status 7, CapComplete) of the same procedure.
- `kpi_scheduled_production`: treatment-planned procedures (ProcStatus 1) on scheduled
  appointments (AptStatus 1) dated the appointment's day, clinic from the appointment; amount =
  fee minus write-off estimates (WriteOffEstOverride unless -1, else WriteOffEst) of claimprocs
  Status 8 (CapEstimate) always and Status 6 (Estimate) only when the preference
  ReportPandIschedProdSubtractsWO is on. `discount` is -(Discount + DiscountPlanAmt), which the
  report adds to that day's adjustments (NULL when the mirror lacks the discount columns).
- `kpi_adjustments`: every adjustment, signed AdjAmt, dated AdjDate.
- `kpi_writeoffs`: insurance write-offs dated by the preference
  ReportsPPOwriteoffDefaultToProcDate: 0 (insurance pay date) claimprocs Status 1, 4 dated
  DateCP; 1 (procedure date) Status 0, 1, 4 dated claimproc.ProcDate; 2 (initial claim date)
  the claimsnapshot write-off (-1 = none) of Status 0, 1, 4 dated the snapshot's DateTEntry
  (`kind` 'estimate') plus, for Status 1, 4, the claimproc write-off minus that snapshot write-off
  dated DateCP (`kind` 'adjustment'). `amount` is positive, as stored; production subtracts it.
  Under 2 with no claimsnapshot row mirrored (endpoint mode reads none) the write-offs are
  unknown: the rows stay, their amounts NULL (and every amount of `kpi_net_production`).
- `kpi_net_production`: production + adjustments - write-offs (`kind` says which).
- `kpi_patient_collections`: paysplits (not IsDiscount) dated DatePay, provider and clinic from
  the split; `amount` is earned income (UnearnedType 0), `unearned_amount` the prepayments,
  except unearned types the office hides (their definition has an ItemValue).
- `kpi_insurance_collections`: claimprocs Status 1, 4 attached to an insurance check
  (claimpayment), dated the check's CheckDate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from etl.mirror.kpi_sql import HIDDEN_UNEARNED, live, pref

if TYPE_CHECKING:
    from etl.mirror.kpi_sql import KpiDialect

_FEE = "pl.procfee * (pl.unitqty + pl.baseunits)"


def production(d: KpiDialect) -> str:
    """Completed procedures less capitation write-offs, by procedure date."""
    cap = (
        "COALESCE((SELECT SUM(cc.writeoff) FROM claimproc cc"
        f" WHERE cc.procnum = pl.procnum AND cc.status = 7 AND {live('cc')}), 0)"
    )
    return (
        f"SELECT pl.procnum, pl.patnum, pl.procdate AS day, {d.month('pl.procdate')} AS month,"
        f" pl.provnum, pl.clinicnum, {_FEE} AS fee, {cap} AS capitation_writeoff,"
        f" {_FEE} - {cap} AS amount"
        f" FROM procedurelog pl WHERE pl.procstatus = 2 AND {live('pl')}"
    )


def scheduled_production(d: KpiDialect, discounts: bool = True) -> str:
    """Treatment-planned procedures on scheduled appointments, less write-off estimates.

    Without `discounts` (the REST procedurelogs omit DiscountPlanAmt) `discount` is NULL.
    """
    subtracts_ppo = f"LOWER({pref('ReportPandIschedProdSubtractsWO', '0')}) IN ('1', 'true')"
    estimate = (
        "COALESCE((SELECT SUM(CASE WHEN ce.writeoffestoverride <> -1"
        " THEN ce.writeoffestoverride ELSE ce.writeoffest END) FROM claimproc ce"
        f" WHERE ce.procnum = pl.procnum AND {live('ce')}"
        " AND (ce.writeoffest <> -1 OR ce.writeoffestoverride <> -1)"
        f" AND (ce.status = 8 OR (ce.status = 6 AND {subtracts_ppo}))), 0)"
    )
    # CASE without a match: a NULL that PostgreSQL types as a number.
    discount = (
        "-(pl.discount + pl.discountplanamt)" if discounts else "CASE WHEN 1 = 0 THEN 0.0 END"
    )
    inner = (
        f"SELECT pl.procnum, ap.aptnum, ap.patnum, {d.day('ap.aptdatetime')} AS day,"
        f" pl.provnum, ap.clinicnum, {_FEE} AS fee, {estimate} AS writeoff_estimate,"
        f" {discount} AS discount FROM appointment ap"
        " JOIN procedurelog pl ON pl.aptnum = ap.aptnum AND pl.procstatus = 1"
        f" AND {live('pl')} WHERE ap.aptstatus = 1 AND {live('ap')}"
    )
    return (
        f"SELECT s.procnum, s.aptnum, s.patnum, s.day, {d.month('s.day')} AS month, s.provnum,"
        " s.clinicnum, s.fee, s.writeoff_estimate, s.discount,"
        f" s.fee - s.writeoff_estimate AS amount FROM ({inner}) s"
    )


def adjustments(d: KpiDialect) -> str:
    """Every adjustment, signed, by adjustment date."""
    return (
        f"SELECT a.adjnum, a.patnum, a.adjdate AS day, {d.month('a.adjdate')} AS month,"
        " a.provnum, a.clinicnum, a.adjtype, a.adjamt AS amount FROM adjustment a"
        f" WHERE {live('a')}"
    )


def snapshots_unknown() -> str:
    """The condition that write-offs are dated by the initial claim but no snapshot is mirrored.

    Setting 2 of ReportsPPOwriteoffDefaultToProcDate needs claimsnapshot, which only query mode
    reads: with no snapshot at all the estimates (and so the rest of each write-off) are unknown.
    """
    return (
        f"{pref('ReportsPPOwriteoffDefaultToProcDate', '0')} = '2' AND NOT EXISTS"
        f" (SELECT 1 FROM claimsnapshot sk WHERE {live('sk')})"
    )


def writeoffs(d: KpiDialect) -> str:
    """Insurance write-offs, dated as the office's report setting says.

    Under setting 2 with no claimsnapshot row mirrored (endpoint mode), each write-off is still
    listed but its amounts are NULL and its 'estimate' row has no day: unknown, not zero.
    """
    mode = pref("ReportsPPOwriteoffDefaultToProcDate", "0")
    unknown = snapshots_unknown()
    cols = "cp.claimprocnum, cp.patnum, {day} AS day, {month} AS month, cp.provnum, cp.clinicnum"
    snap = "CASE WHEN cs.writeoff = -1 THEN 0 ELSE cs.writeoff END"
    by_pay = cols.format(day="cp.datecp", month=d.month("cp.datecp"))
    by_proc = cols.format(day="cp.procdate", month=d.month("cp.procdate"))
    by_snap = cols.format(day=d.day("cs.datetentry"), month=d.month("cs.datetentry"))
    undated = cols.format(day="CASE WHEN 1 = 0 THEN cp.datecp END", month="NULL")
    return (
        f"SELECT {by_pay}, 'writeoff' AS kind, cp.writeoff AS amount FROM claimproc cp"
        f" WHERE cp.status IN (1, 4) AND {live('cp')} AND {mode} = '0'"
        f" UNION ALL SELECT {by_proc}, 'writeoff', cp.writeoff FROM claimproc cp"
        f" WHERE cp.status IN (0, 1, 4) AND {live('cp')} AND {mode} = '1'"
        f" UNION ALL SELECT {by_snap}, 'estimate', {snap} FROM claimproc cp"
        f" JOIN claimsnapshot cs ON cs.claimprocnum = cp.claimprocnum AND {live('cs')}"
        f" WHERE cp.status IN (0, 1, 4) AND {live('cp')} AND {mode} = '2'"
        f" UNION ALL SELECT {undated}, 'estimate', CASE WHEN 1 = 0 THEN cp.writeoff END"
        f" FROM claimproc cp WHERE cp.status IN (0, 1, 4) AND {live('cp')} AND {unknown}"
        f" UNION ALL SELECT {by_pay}, 'adjustment', CASE WHEN NOT ({unknown})"
        f" THEN cp.writeoff - COALESCE({snap}, 0) END"
        " FROM claimproc cp LEFT JOIN claimsnapshot cs ON cs.claimprocnum = cp.claimprocnum"
        f" AND {live('cs')} WHERE cp.status IN (1, 4) AND {live('cp')} AND {mode} = '2'"
    )


def net_production(d: KpiDialect) -> str:
    """Production plus adjustments minus write-offs, one row per underlying row.

    When the write-offs are unknown (`snapshots_unknown`) every amount is NULL: a sum that
    skipped the NULL write-offs would be a wrong net production, not a partial one.
    """
    del d  # the parts are views already
    known = f"NOT ({snapshots_unknown()})"
    return (
        f"SELECT day, month, provnum, clinicnum, 'production' AS kind, CASE WHEN {known}"
        " THEN amount END AS amount FROM kpi_production"
        f" UNION ALL SELECT day, month, provnum, clinicnum, 'adjustment', CASE WHEN {known}"
        " THEN amount END FROM kpi_adjustments"
        " UNION ALL SELECT day, month, provnum, clinicnum, 'writeoff', -amount FROM kpi_writeoffs"
    )


def patient_collections(d: KpiDialect) -> str:
    """Patient payments by split, dated DatePay; earned and unearned apart."""
    return (
        f"SELECT ps.splitnum, ps.paynum, ps.patnum, ps.datepay AS day,"
        f" {d.month('ps.datepay')} AS month, ps.provnum, ps.clinicnum, ps.unearnedtype,"
        " CASE WHEN ps.unearnedtype = 0 THEN ps.splitamt ELSE 0 END AS amount,"
        " CASE WHEN ps.unearnedtype <> 0 THEN ps.splitamt ELSE 0 END AS unearned_amount"
        # IsDiscount is unused in Open Dental's source and the REST paysplits omit it (NULL):
        # NULL is "not a discount", else a mirror fed by the API would count no collection.
        f" FROM paysplit ps WHERE COALESCE({d.flag('ps.isdiscount')}, 0) = 0 AND {live('ps')}"
        f" AND ps.unearnedtype NOT IN {HIDDEN_UNEARNED}"
    )


def insurance_collections(d: KpiDialect) -> str:
    """Insurance payments finalized on a check, dated the check date."""
    return (
        "SELECT cp.claimprocnum, cp.claimnum, cp.claimpaymentnum, cp.patnum,"
        f" cy.checkdate AS day, {d.month('cy.checkdate')} AS month, cp.provnum, cp.clinicnum,"
        " cp.inspayamt AS amount FROM claimproc cp"
        f" JOIN claimpayment cy ON cy.claimpaymentnum = cp.claimpaymentnum AND {live('cy')}"
        f" WHERE cp.status IN (1, 4) AND {live('cp')}"
    )


VIEWS: dict[str, Callable[[KpiDialect], str]] = {
    "kpi_production": production,
    "kpi_scheduled_production": scheduled_production,
    "kpi_adjustments": adjustments,
    "kpi_writeoffs": writeoffs,
    "kpi_net_production": net_production,
    "kpi_patient_collections": patient_collections,
    "kpi_insurance_collections": insurance_collections,
}

# A second way to make a view when the database refuses the first for a missing column.
FALLBACKS: dict[str, Callable[[KpiDialect], str]] = {
    "kpi_scheduled_production": lambda d: scheduled_production(d, discounts=False),
}
