"""Account, claim, recall, patient and schedule KPI views, as Open Dental's reports count them.

- `kpi_ar_aging`: one row per guarantor with a balance, aged as of the database's current date
  from transactions (Open Dental 24.3 `Db Multi Table/Ledgers.cs` GetAgingQueryString with
  PayPlansVersion 1): completed procedures (fee <> 0) by ProcDate; claimprocs Status 0, 1, 4, 5,
  7 of completed procedures or of no procedure: -InsPayAmt (unless on a payment plan) -WriteOff
  by DateCP when Status <> 0, while Status 0 estimates go to `ins_est`; adjustments by AdjDate;
  paysplits -SplitAmt by DatePay (not those on payment plans, not hidden unearned types); payment
  plans -CompletedAmt by PayPlanDate. Charges (positive rows) fall in 0-30, 31-60, 61-90 or over
  90 days by date; credits up to today are summed and consume the oldest bucket first. Amounts
  are rounded to the cent. Other PayPlansVersion values and AgingProcLifo change the rules: then
  the amounts are NULL (unknown), never a different answer.
- `kpi_insurance_outstanding`: sent claims (ClaimStatus 'S') other than preauthorizations whose
  plan and carrier exist (Reports/RpOutstandingIns.cs), aged from DateSent in days (`age_bucket`
  '0-30', '31-60', '61-90', '90+'); `days_since_service` for those who age from the visit.
- `kpi_recalls`: recalls due (DateDue set) that are not disabled, of patients with PatStatus 0,
  of the recall types the office lists (preference RecallTypesShowingInList; empty = all), not
  disabled until a later date, nor until the family balance (the guarantor's BalTotal less
  InsEst, as Open Dental stored them) falls below DisableUntilBalance, from Data
  Interface/Recalls.cs GetRecallList (its reminder filters serve calling lists and are left
  out); `is_scheduled` = DateScheduled set, `is_overdue` = DateDue before today; provider and
  clinic are the patient's.
- `kpi_new_patients`: one row per patient, dated the first completed procedure; provider and
  clinic the patient's; `referralnum` the first "referred from" (RefType 1, lowest ItemOrder).
- `kpi_schedule_utilization`: per provider and day, the minutes of provider schedules (SchedType
  1, Status 0; overlapping blocks merged, as Reports/RpProdGoal.cs does) and the minutes booked in
  scheduled or completed appointments (5 minutes per character of Pattern), credited to the
  hygienist for hygiene appointments with one, else to the appointment's provider.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from etl.mirror.kpi_sql import HIDDEN_UNEARNED, live, pref

if TYPE_CHECKING:
    from etl.mirror.kpi_sql import KpiDialect

_TRANSACTIONS = (
    "SELECT pl.patnum, pl.procdate AS trandate, pl.procfee * (pl.unitqty + pl.baseunits) AS amount,"
    " 0 AS ins_est FROM procedurelog pl WHERE pl.procstatus = 2 AND pl.procfee <> 0"
    f" AND {live('pl')}"
    " UNION ALL SELECT cp.patnum, cp.datecp, CASE WHEN cp.status <> 0 THEN"
    " (CASE WHEN cp.payplannum = 0 THEN -cp.inspayamt ELSE 0 END) - cp.writeoff ELSE 0 END,"
    " CASE WHEN cp.status = 0 THEN cp.inspayest + cp.writeoff ELSE 0 END"
    " FROM claimproc cp LEFT JOIN procedurelog cpl ON cpl.procnum = cp.procnum"
    f" AND {live('cpl')} WHERE cp.status IN (0, 1, 4, 5, 7) AND {live('cp')}"
    " AND (cp.procnum = 0 OR cpl.procstatus = 2)"
    " UNION ALL SELECT a.patnum, a.adjdate, a.adjamt, 0 FROM adjustment a WHERE a.adjamt <> 0"
    f" AND {live('a')}"
    " UNION ALL SELECT ps.patnum, ps.datepay,"
    " CASE WHEN ps.payplannum = 0 THEN -ps.splitamt ELSE 0 END, 0 FROM paysplit ps"
    f" WHERE ps.splitamt <> 0 AND {live('ps')} AND ps.unearnedtype NOT IN {HIDDEN_UNEARNED}"
    " UNION ALL SELECT pp.patnum, pp.payplandate, -pp.completedamt, 0 FROM payplan pp"
    f" WHERE pp.completedamt <> 0 AND {live('pp')}"
)


def _charges(d: KpiDialect, newer_than: int | None, older_than: int | None) -> str:
    """The sum of charges dated within a bucket (days before today)."""
    conds = ["t.amount > 0"]
    if older_than is None:
        conds.append(f"t.trandate <= {d.today}")
    else:
        conds.append(f"t.trandate < {d.days_before_today(older_than)}")
    if newer_than is not None:
        conds.append(f"t.trandate >= {d.days_before_today(newer_than)}")
    return f"SUM(CASE WHEN {' AND '.join(conds)} THEN t.amount ELSE 0 END)"


def ar_aging(d: KpiDialect) -> str:
    """Balances by guarantor in 0-30/31-60/61-90/90+ buckets, oldest paid first."""
    sums = (
        f"SELECT pt.guarantor, {_charges(d, None, 90)} AS c90, {_charges(d, 90, 60)} AS c61,"
        f" {_charges(d, 60, 30)} AS c31, {_charges(d, 30, None)} AS c0,"
        f" -SUM(CASE WHEN t.amount < 0 AND t.trandate <= {d.today} THEN t.amount ELSE 0 END)"
        " AS credits, SUM(t.amount) AS bal_total, SUM(t.ins_est) AS ins_est"
        f" FROM ({_TRANSACTIONS}) t JOIN patient pt ON pt.patnum = t.patnum AND {live('pt')}"
        " GROUP BY pt.guarantor"
    )
    known = f"{pref('PayPlansVersion', '1')} = '1' AND {pref('AgingProcLifo', '0')} <> '1'"
    older = ["s.c90", "s.c90 + s.c61", "s.c90 + s.c61 + s.c31", "s.c90 + s.c61 + s.c31 + s.c0"]
    buckets = {
        "bal_over_90": "CASE WHEN s.credits >= s.c90 THEN 0 ELSE s.c90 - s.credits END",
        "bal_61_90": f"CASE WHEN s.credits <= s.c90 THEN s.c61 WHEN {older[1]} <= s.credits"
        f" THEN 0 ELSE {older[1]} - s.credits END",
        "bal_31_60": f"CASE WHEN s.credits < {older[1]} THEN s.c31 WHEN {older[2]} <= s.credits"
        f" THEN 0 ELSE {older[2]} - s.credits END",
        "bal_0_30": f"CASE WHEN s.credits < {older[2]} THEN s.c0 WHEN {older[3]} <= s.credits"
        f" THEN 0 ELSE {older[3]} - s.credits END",
        "bal_total": "s.bal_total",
        "ins_est": "s.ins_est",
    }
    cols = ", ".join(
        f"CASE WHEN {known} THEN {d.round2(expr)} END AS {name}" for name, expr in buckets.items()
    )
    nonzero = " OR ".join(f"b.{name} <> 0" for name in buckets)
    return (
        "SELECT b.guarantor, b.bal_0_30, b.bal_31_60, b.bal_61_90, b.bal_over_90, b.bal_total,"
        f" b.ins_est, {d.today} AS as_of FROM (SELECT s.guarantor, {cols} FROM ({sums}) s) b"
        f" WHERE b.bal_total IS NULL OR {nonzero}"
    )


def insurance_outstanding(d: KpiDialect) -> str:
    """Sent claims (not preauthorizations) with their age since sent."""
    inner = (
        "SELECT c.claimnum, c.patnum, c.clinicnum, c.provtreat AS provnum, ca.carriername,"
        " c.claimtype, c.dateservice, c.datesent, c.datesentorig, c.claimfee, c.inspayest,"
        f" {d.days_since('c.datesent')} AS days_since_sent,"
        f" {d.days_since('c.dateservice')} AS days_since_service FROM claim c"
        f" JOIN insplan ip ON ip.plannum = c.plannum AND {live('ip')}"
        f" JOIN carrier ca ON ca.carriernum = ip.carriernum AND {live('ca')}"
        " WHERE UPPER(c.claimstatus) = 'S' AND LOWER(c.claimtype) <> 'preauth'"
        f" AND {live('c')}"
    )
    return (
        "SELECT o.*, CASE WHEN o.days_since_sent <= 30 THEN '0-30'"
        " WHEN o.days_since_sent <= 60 THEN '31-60' WHEN o.days_since_sent <= 90 THEN '61-90'"
        f" ELSE '90+' END AS age_bucket FROM ({inner}) o"
    )


def recalls(d: KpiDialect) -> str:
    """Recalls due, with whether each is scheduled and whether it is overdue."""
    shown = pref("RecallTypesShowingInList", "")
    wrapped = d.concat("','", shown, "','")
    pattern = d.concat("'%,'", d.as_text("r.recalltypenum"), "',%'")
    listed = f"{wrapped} LIKE {pattern}"
    # Open Dental's family balance for "disabled until the balance is below": the guarantor's
    # stored BalTotal, less InsEst unless the office says balances do not subtract insurance.
    no_ins = f"LOWER({pref('BalancesDontSubtractIns', '0')}) IN ('1', 'true')"
    balance = f"(gu.baltotal - CASE WHEN {no_ins} THEN 0 ELSE gu.insest END)"
    return (
        f"SELECT r.recallnum, r.patnum, pt.guarantor, pt.priprov AS provnum, pt.clinicnum,"
        f" r.recalltypenum, r.datedue AS day, {d.month('r.datedue')} AS month, r.datescheduled,"
        " CASE WHEN r.datescheduled > '1880-01-01' THEN 1 ELSE 0 END AS is_scheduled,"
        f" CASE WHEN r.datedue < {d.today} THEN 1 ELSE 0 END AS is_overdue"
        f" FROM recall r JOIN patient pt ON pt.patnum = r.patnum AND {live('pt')}"
        f" JOIN patient gu ON gu.patnum = pt.guarantor AND {live('gu')}"
        f" WHERE {d.flag('r.isdisabled')} = 0 AND {live('r')} AND pt.patstatus = 0"
        " AND r.datedue > '1880-01-01'"
        f" AND ({shown} = '' OR {listed}) AND r.disableuntildate <= {d.today}"
        f" AND NOT (r.disableuntilbalance > 0 AND {balance} > r.disableuntilbalance)"
    )


def new_patients(d: KpiDialect) -> str:
    """Patients by the date of their first completed procedure."""
    referral = (
        "(SELECT ra.referralnum FROM refattach ra WHERE ra.patnum = f.patnum AND ra.reftype = 1"
        f" AND {live('ra')} ORDER BY ra.itemorder, ra.refattachnum LIMIT 1)"
    )
    return (
        f"SELECT f.patnum, f.day, {d.month('f.day')} AS month, pt.priprov AS provnum,"
        f" pt.clinicnum, {referral} AS referralnum FROM (SELECT patnum, MIN(procdate) AS day"
        f" FROM procedurelog fp WHERE procstatus = 2 AND {live('fp')} GROUP BY patnum) f"
        f" JOIN patient pt ON pt.patnum = f.patnum AND {live('pt')}"
    )


def schedule_utilization(d: KpiDialect) -> str:
    """Scheduled minutes (merged blocks) and booked appointment minutes, per provider and day."""
    order = "PARTITION BY provnum, scheddate ORDER BY start_min, stop_min, schedulenum"
    blocks = (
        "SELECT schedulenum, provnum, scheddate,"
        f" {d.minutes_of_day('starttime')} AS start_min, {d.minutes_of_day('stoptime')} AS stop_min"
        f" FROM schedule sc WHERE schedtype = 1 AND status = 0 AND provnum <> 0 AND {live('sc')}"
    )
    starts = (
        "SELECT schedulenum, provnum, scheddate, start_min, stop_min, CASE WHEN start_min <="
        f" MAX(stop_min) OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        f" THEN 0 ELSE 1 END AS is_new FROM ({blocks}) b WHERE stop_min > start_min"
    )
    islands = (
        f"SELECT provnum, scheddate, start_min, stop_min, SUM(is_new) OVER ({order}"
        f" ROWS UNBOUNDED PRECEDING) AS island FROM ({starts}) m"
    )
    merged = (
        "SELECT provnum, scheddate AS day, MAX(stop_min) - MIN(start_min) AS sched, 0 AS booked"
        f" FROM ({islands}) g GROUP BY provnum, scheddate, island"
    )
    booked = (
        f"SELECT CASE WHEN {d.flag('ap.ishygiene')} = 1 AND ap.provhyg <> 0"
        " THEN ap.provhyg ELSE ap.provnum END,"
        f" {d.day('ap.aptdatetime')}, 0, {d.length('ap.pattern')} * 5 FROM appointment ap"
        f" WHERE ap.aptstatus IN (1, 2) AND {live('ap')}"
    )
    return (
        f"SELECT u.provnum, u.day, {d.month('u.day')} AS month, SUM(u.sched) AS scheduled_minutes,"
        " SUM(u.booked) AS booked_minutes FROM"
        f" ({merged} UNION ALL {booked}) u GROUP BY u.provnum, u.day"
    )


VIEWS: dict[str, Callable[[KpiDialect], str]] = {
    "kpi_ar_aging": ar_aging,
    "kpi_insurance_outstanding": insurance_outstanding,
    "kpi_recalls": recalls,
    "kpi_new_patients": new_patients,
    "kpi_schedule_utilization": schedule_utilization,
}
