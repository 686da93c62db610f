"""Open Dental's report arithmetic redone in plain Python over a practice's rows, for parity tests.

Written from Open Dental 24.3's report code (Reports/RpProdInc.cs, Db Multi Table/Ledgers.cs,
Reports/RpOutstandingIns.cs, Data Interface/Recalls.cs, Reports/RpProdGoal.cs), not from the
views: it walks the rows as the C# does (filters, dictionaries, sorted intervals), in exact
Decimal, and never runs SQL. Each function returns {key: figure}; money is in Decimal cents.
Rows the mirror marks removed (`odmirror_gone_at` set) are left out of every table first, as if
Open Dental had never had them.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

Row = dict[str, Any]
Practice = dict[str, list[Row]]
Totals = dict[tuple[Any, ...], Decimal]
CENT = Decimal("0.01")
F = TypeVar("F", bound=Callable[..., Any])


def _present(practice: Practice) -> Practice:
    """The practice without the rows marked removed."""
    return {
        name: [r for r in rows if r.get("odmirror_gone_at") is None]
        for name, rows in practice.items()
    }


def live_only(report: F) -> F:
    """Run a report over the rows Open Dental still has."""

    @functools.wraps(report)
    def run(practice: Practice, *args: Any) -> Any:
        return report(_present(practice), *args)

    return run  # type: ignore[return-value]


def dec(value: Any) -> Decimal:
    """A stored amount as an exact Decimal (amounts are written with cents)."""
    return Decimal(str(value))


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _pref(practice: Practice, name: str, default: str) -> str:
    values = [p["valuestring"] for p in practice["preference"] if p["prefname"] == name]
    return values[0] if values else default


def _total(rows: Iterable[tuple[tuple[Any, ...], Decimal]]) -> Totals:
    sums: Totals = defaultdict(Decimal)
    for key, amount in rows:
        sums[key] += amount
    return {key: value.quantize(CENT) for key, value in sums.items()}


def _fee(proc: Row) -> Decimal:
    return dec(proc["procfee"]) * int(proc["unitqty"] + proc["baseunits"])


@live_only
def production(practice: Practice) -> Totals:
    """(day, provnum, clinicnum) -> completed production less capitation write-offs."""
    cap: dict[int, Decimal] = defaultdict(Decimal)
    for cp in practice["claimproc"]:
        if cp["status"] == 7:
            cap[cp["procnum"]] += dec(cp["writeoff"])
    return _total(
        ((p["procdate"], p["provnum"], p["clinicnum"]), _fee(p) - cap[p["procnum"]])
        for p in practice["procedurelog"]
        if p["procstatus"] == 2
    )


@live_only
def scheduled_production(practice: Practice) -> Totals:
    """(day, provnum, clinicnum) -> planned fees on scheduled appointments less estimates."""
    subtract_ppo = _pref(practice, "ReportPandIschedProdSubtractsWO", "0").lower() in ("1", "true")
    estimates: dict[int, Decimal] = defaultdict(Decimal)
    for cp in practice["claimproc"]:
        counted = cp["status"] == 8 or (cp["status"] == 6 and subtract_ppo)
        if counted and (cp["writeoffest"] != -1 or cp["writeoffestoverride"] != -1):
            chosen = (
                cp["writeoffestoverride"] if cp["writeoffestoverride"] != -1 else cp["writeoffest"]
            )
            estimates[cp["procnum"]] += dec(chosen)
    scheduled = {a["aptnum"]: a for a in practice["appointment"] if a["aptstatus"] == 1}
    rows = []
    for proc in practice["procedurelog"]:
        apt = scheduled.get(proc["aptnum"])
        if apt is None or proc["procstatus"] != 1:
            continue
        key = (_day(apt["aptdatetime"]), proc["provnum"], apt["clinicnum"])
        rows.append((key, _fee(proc) - estimates[proc["procnum"]]))
    return _total(rows)


@live_only
def adjustments(practice: Practice) -> Totals:
    """(day, provnum, clinicnum) -> signed adjustments by AdjDate."""
    return _total(
        ((a["adjdate"], a["provnum"], a["clinicnum"]), dec(a["adjamt"]))
        for a in practice["adjustment"]
    )


@live_only
def writeoffs(practice: Practice) -> Totals:
    """(day, provnum, clinicnum) -> write-offs dated per ReportsPPOwriteoffDefaultToProcDate."""
    mode = _pref(practice, "ReportsPPOwriteoffDefaultToProcDate", "0")
    snapshots: dict[int, list[Row]] = defaultdict(list)
    for snap in practice.get("claimsnapshot", []):
        snapshots[snap["claimprocnum"]].append(snap)
    rows = []
    for cp in practice["claimproc"]:
        where = (cp["provnum"], cp["clinicnum"])
        if mode == "0" and cp["status"] in (1, 4):
            rows.append(((cp["datecp"], *where), dec(cp["writeoff"])))
        elif mode == "1" and cp["status"] in (0, 1, 4):
            rows.append(((cp["procdate"], *where), dec(cp["writeoff"])))
        elif mode == "2" and cp["status"] in (0, 1, 4):
            original = [
                Decimal(0) if s["writeoff"] == -1 else dec(s["writeoff"])
                for s in snapshots[cp["claimprocnum"]]
            ]
            for snap, amount in zip(snapshots[cp["claimprocnum"]], original, strict=True):
                rows.append(((_day(snap["datetentry"]), *where), amount))
            if cp["status"] in (1, 4):
                for estimate in original or [Decimal(0)]:
                    rows.append(((cp["datecp"], *where), dec(cp["writeoff"]) - estimate))
    return _total(rows)


@live_only
def net_production(practice: Practice) -> Totals:
    """(day, provnum, clinicnum) -> production + adjustments - write-offs."""
    parts = [production(practice), adjustments(practice)]
    minus = writeoffs(practice)
    keys = set(parts[0]) | set(parts[1]) | set(minus)
    return {
        k: parts[0].get(k, Decimal(0)) + parts[1].get(k, Decimal(0)) - minus.get(k, Decimal(0))
        for k in keys
    }


@live_only
def patient_collections(practice: Practice) -> dict[tuple[Any, ...], tuple[Decimal, Decimal]]:
    """(day, provnum, clinicnum) -> (earned income, unearned income) of paysplits by DatePay."""
    hidden = {d["defnum"] for d in practice["definition"] if d["category"] == 29 and d["itemvalue"]}
    earned: list[tuple[tuple[Any, ...], Decimal]] = []
    unearned: list[tuple[tuple[Any, ...], Decimal]] = []
    for split in practice["paysplit"]:
        if split["isdiscount"] != 0 or split["unearnedtype"] in hidden:
            continue
        key = (split["datepay"], split["provnum"], split["clinicnum"])
        (earned if split["unearnedtype"] == 0 else unearned).append((key, dec(split["splitamt"])))
    e, u = _total(earned), _total(unearned)
    return {k: (e.get(k, Decimal("0.00")), u.get(k, Decimal("0.00"))) for k in set(e) | set(u)}


@live_only
def insurance_collections(practice: Practice) -> Totals:
    """(check date, provnum, clinicnum) -> insurance paid on checks."""
    checks = {c["claimpaymentnum"]: c["checkdate"] for c in practice["claimpayment"]}
    return _total(
        ((checks[cp["claimpaymentnum"]], cp["provnum"], cp["clinicnum"]), dec(cp["inspayamt"]))
        for cp in practice["claimproc"]
        if cp["status"] in (1, 4) and cp["claimpaymentnum"] in checks
    )


def _aging_transactions(practice: Practice) -> Iterable[tuple[int, date, Decimal, Decimal]]:
    """(patnum, date, amount, insurance estimate) of every ledger entry aging counts."""
    procs = {p["procnum"]: p for p in practice["procedurelog"]}
    hidden = {d["defnum"] for d in practice["definition"] if d["category"] == 29 and d["itemvalue"]}
    for p in procs.values():
        if p["procstatus"] == 2 and p["procfee"] != 0:
            yield p["patnum"], p["procdate"], _fee(p), Decimal(0)
    for cp in practice["claimproc"]:
        proc = procs.get(cp["procnum"])
        completed = cp["procnum"] == 0 or (proc is not None and proc["procstatus"] == 2)
        if cp["status"] not in (0, 1, 4, 5, 7) or not completed:
            continue
        if cp["status"] == 0:
            yield cp["patnum"], cp["datecp"], Decimal(0), dec(cp["inspayest"]) + dec(cp["writeoff"])
        else:
            paid = dec(cp["inspayamt"]) if cp["payplannum"] == 0 else Decimal(0)
            yield cp["patnum"], cp["datecp"], -paid - dec(cp["writeoff"]), Decimal(0)
    for adj in practice["adjustment"]:
        yield adj["patnum"], adj["adjdate"], dec(adj["adjamt"]), Decimal(0)
    for split in practice["paysplit"]:
        if split["splitamt"] != 0 and split["unearnedtype"] not in hidden:
            amount = -dec(split["splitamt"]) if split["payplannum"] == 0 else Decimal(0)
            yield split["patnum"], split["datepay"], amount, Decimal(0)
    for plan in practice.get("payplan", []):
        if plan["completedamt"] != 0:
            yield plan["patnum"], plan["payplandate"], -dec(plan["completedamt"]), Decimal(0)


@live_only
def ar_aging(practice: Practice, today: date) -> dict[int, tuple[Decimal, ...]]:
    """guarantor -> (0-30, 31-60, 61-90, over 90, total, insurance estimate), rounded to cents."""
    guarantor = {p["patnum"]: p["guarantor"] for p in practice["patient"]}
    # buckets[g] = [over 90, 61-90, 31-60, 0-30] charges, then credits, total, ins estimate
    sums: dict[int, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 7)
    for patnum, day, amount, ins in _aging_transactions(practice):
        if patnum not in guarantor:
            continue
        s = sums[guarantor[patnum]]
        age = (today - day).days
        if amount > 0 and day <= today:
            s[0 if age > 90 else 1 if age > 60 else 2 if age > 30 else 3] += amount
        elif amount < 0 and day <= today:
            s[4] -= amount
        s[5] += amount
        s[6] += ins
    result = {}
    for guar, s in sums.items():
        credits, aged = s[4], []
        for charges in s[:4]:  # the oldest bucket takes the credits first
            used = min(credits, charges)
            aged.append(charges - used)
            credits -= used
        row = tuple(x.quantize(CENT) for x in (aged[3], aged[2], aged[1], aged[0], s[5], s[6]))
        if any(row):
            result[guar] = row
    return result


@live_only
def insurance_outstanding(practice: Practice, today: date) -> dict[int, tuple[int, int, str]]:
    """claimnum -> (days since sent, since service, age bucket) of sent claims with a carrier."""
    carriers = {c["carriernum"] for c in practice["carrier"]}
    plans = {p["plannum"] for p in practice["insplan"] if p["carriernum"] in carriers}
    result = {}
    for claim in practice["claim"]:
        if claim["claimstatus"].upper() != "S" or claim["claimtype"].lower() == "preauth":
            continue
        if claim["plannum"] not in plans:
            continue
        days = (today - claim["datesent"]).days
        bucket = (
            "0-30" if days <= 30 else "31-60" if days <= 60 else "61-90" if days <= 90 else "90+"
        )
        result[claim["claimnum"]] = (days, (today - claim["dateservice"]).days, bucket)
    return result


@live_only
def recalls(practice: Practice, today: date) -> dict[int, tuple[int, int, int, int]]:
    """recallnum -> (provnum, clinicnum, is scheduled, is overdue) of the recall list."""
    shown = [t for t in _pref(practice, "RecallTypesShowingInList", "").split(",") if t]
    subtract_ins = _pref(practice, "BalancesDontSubtractIns", "0").lower() not in ("1", "true")
    patients = {p["patnum"]: p for p in practice["patient"]}
    result = {}
    for recall in practice["recall"]:
        patient = patients.get(recall["patnum"])
        if patient is None or patient["patstatus"] != 0 or recall["isdisabled"]:
            continue
        guarantor = patients.get(patient["guarantor"])
        if guarantor is None or recall["disableuntildate"] > today:
            continue
        family = dec(guarantor["baltotal"]) - (dec(guarantor["insest"]) if subtract_ins else 0)
        if recall["disableuntilbalance"] > 0 and family > dec(recall["disableuntilbalance"]):
            continue
        if recall["datedue"].year < 1880 or (shown and str(recall["recalltypenum"]) not in shown):
            continue
        scheduled = int(recall["datescheduled"].year >= 1880)
        result[recall["recallnum"]] = (
            patient["priprov"],
            patient["clinicnum"],
            scheduled,
            int(recall["datedue"] < today),
        )
    return result


@live_only
def new_patients(practice: Practice) -> dict[int, tuple[date, int | None]]:
    """patnum -> (first completed procedure date, first referred-from referral)."""
    first: dict[int, date] = {}
    for proc in practice["procedurelog"]:
        if proc["procstatus"] == 2:
            seen = first.get(proc["patnum"])
            first[proc["patnum"]] = (
                proc["procdate"] if seen is None else min(seen, proc["procdate"])
            )
    referrals = sorted(
        (r for r in practice["refattach"] if r["reftype"] == 1),
        key=lambda r: (r["itemorder"], r["refattachnum"]),
    )
    referral: dict[int, int] = {}
    for r in referrals:
        referral.setdefault(r["patnum"], r["referralnum"])
    return {patnum: (day, referral.get(patnum)) for patnum, day in first.items()}


@live_only
def schedule_utilization(practice: Practice) -> dict[tuple[int, date], tuple[int, int]]:
    """(provnum, day) -> (scheduled minutes with overlaps merged, booked appointment minutes)."""
    blocks: dict[tuple[int, date], list[tuple[int, int]]] = defaultdict(list)
    for s in practice["schedule"]:
        start = s["starttime"].hour * 60 + s["starttime"].minute
        stop = s["stoptime"].hour * 60 + s["stoptime"].minute
        if s["schedtype"] == 1 and s["status"] == 0 and s["provnum"] != 0 and stop > start:
            blocks[(s["provnum"], s["scheddate"])].append((start, stop))
    minutes: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0])
    for key, spans in blocks.items():
        covered, end = 0, -1
        for start, stop in sorted(spans):
            if start > end:
                covered += stop - start
            elif stop > end:
                covered += stop - end
            end = max(end, stop)
        minutes[key][0] = covered
    for apt in practice["appointment"]:
        if apt["aptstatus"] in (1, 2):
            prov = (
                apt["provhyg"] if apt["ishygiene"] == 1 and apt["provhyg"] != 0 else apt["provnum"]
            )
            minutes[(prov, _day(apt["aptdatetime"]))][1] += len(apt["pattern"]) * 5
    return {key: (v[0], v[1]) for key, v in minutes.items()}
