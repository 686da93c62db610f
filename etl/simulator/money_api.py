"""The simulated office's money, insurance, recall and schedule endpoints, in REST shapes.

The rows come from etl.simulator.money (`make_practice`: Open Dental's rows as its database
holds them) and are sent as the API sends them: Open Dental's key spellings, enums as names,
flags "true"/"false", dates and times as text, only the keys the endpoint's example carries
(etl.catalog.tables `sent`), a few derived captions (`payType`, `adjType`). Rows of patients the
simulator does not have are left out, so that every row names a patient the API lists. Tables
`make_practice` does not make (fees, referrals, commlogs, ...) get a few rows of their own.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Sequence
from typing import Any

from etl.catalog.enums import ENUM_NAMES
from etl.catalog.opendental import OD_TABLES, no_value
from etl.catalog.query_tables import change_column
from etl.catalog.resources import RESOURCES
from etl.catalog.tables import MIRRORED
from etl.simulator.clock import format_datetime
from etl.simulator.money import make_practice
from etl.simulator.money_rows import DENTISTS
from etl.simulator.shape import SHAPES, Shape
from etl.simulator.tables import Table, Tables

# endpoint: (table, key, change filter, equality filters, fan-out parameter)
ENDPOINTS: dict[str, tuple[str, str, str | None, tuple[str, ...], str | None]] = {
    "claimprocs": ("claimproc", "ClaimProcNum", None, ("ProcNum", "ClaimNum", "PatNum"), None),
    "paysplits": ("paysplit", "SplitNum", None, ("PatNum", "PayNum"), None),
    "payments": ("payment", "PayNum", None, ("PatNum",), None),
    "adjustments": ("adjustment", "AdjNum", None, ("PatNum",), "PatNum"),
    "insplans": ("insplan", "PlanNum", None, (), None),
    "carriers": ("carrier", "CarrierNum", None, (), None),
    "patplans": ("patplan", "PatPlanNum", None, ("PatNum",), None),
    "benefits": ("benefit", "BenefitNum", None, ("PlanNum",), None),
    "recalls": ("recall", "RecallNum", None, ("PatNum",), None),
    "recalltypes": ("recalltype", "RecallTypeNum", None, (), None),
    "schedules": ("schedule", "ScheduleNum", None, ("ProvNum",), None),
    "scheduleops": ("scheduleop", "ScheduleOpNum", None, ("ScheduleNum", "OperatoryNum"), None),
    "feescheds": ("feesched", "FeeSchedNum", None, (), None),
    "fees": ("fee", "FeeNum", None, ("FeeSched", "CodeNum"), None),
    "userods": ("userod", "UserNum", None, (), None),
    "referrals": ("referral", "ReferralNum", None, (), None),
    "refattaches": ("refattach", "RefAttachNum", "DateTStamp", ("PatNum",), None),
    "commlogs": ("commlog", "CommlogNum", "DateTStamp", ("PatNum",), None),
    "claimtrackings": ("claimtracking", "ClaimTrackingNum", None, ("ClaimNum",), None),
    "payplans": ("payplan", "PayPlanNum", None, ("PatNum",), "PatNum"),
    "payplancharges": ("payplancharge", "PayPlanChargeNum", None, (), "PayPlanNum"),
    "proctps": ("proctp", "ProcTPNum", None, (), "TreatPlanNum"),
    "treatplanattaches": ("treatplanattach", "TreatPlanAttachNum", None, (), "TreatPlanNum"),
    "payplanlinks": ("payplanlink", "PayPlanLinkNum", None, ("PayPlanNum",), None),
    "preferences": ("preference", "PrefNum", None, (), None),
}  # fmt: skip
# Captions some endpoints derive from a definition: (table, JSON key, column holding the DefNum)
CAPTIONS = (("payment", "payType", "paytype"), ("adjustment", "adjType", "adjtype"),
            ("paysplit", "unearnedType", "unearnedtype"))  # fmt: skip


#: Columns an endpoint sends under another key (vendor examples): (JSON key, column).
ALIASES = {r.table_name: r.aliases for r in RESOURCES.values() if r.aliases}
Aliases = tuple[tuple[str, str], ...]
# (JSON key, lower-case column, storage, enum names, Open Dental's blank, is a change stamp)
_Column = tuple[str, str, str, "Sequence[str] | None", Any, bool]
_CONVERTED = frozenset(("Interval", "Bool"))  # storage whose plain values the API rewrites


def interval_text(stored: int) -> str:
    """An Interval as the API shows it: "1y3m1w1d", parts of 0 left out, "" for none
    (OpenDentBusiness/Db/Interval.cs: a byte each for days, weeks, months, years)."""
    parts = zip((stored >> 24 & 0x7F, stored >> 16 & 0xFF, stored >> 8 & 0xFF, stored & 0xFF),
                "ymwd", strict=True)  # fmt: skip
    return "".join(f"{count}{unit}" for count, unit in parts if count)


def money_endpoints() -> list[Table]:
    """The endpoints, empty: a fan-out's parameter is required, schedules take a date range."""
    tables = []
    for path, (name, key, stamp, filters, required) in ENDPOINTS.items():
        table = Table(path, key, stamp, filters + ((required,) if required else ()),
                      required=required)  # fmt: skip
        if stamp is None and change_column(name) in MIRRORED[name].sent:
            table.sql_stamp = change_column(name)  # Open Dental's database stamps it all the same
        if path == "schedules":
            table.date_range = ("SchedDate", "dateStart", "dateEnd")
        if path == "payments":
            table.on_or_after = "DateEntry"
            table.server_time = True  # the only one of these lists whose example shows it
        tables.append(table)
    return tables


def fill_money(
    tables: Tables,
    patients: list[dict[str, Any]],
    seed: int,
    now: dt.datetime,
    shape: Shape = SHAPES["default"],
) -> None:
    """Serve the endpoints, filled from `make_practice` for these patients."""
    for table in money_endpoints():
        tables.add_table(table)
    practice = make_practice(seed, now.date(), patients=max(len(patients), 1), shape=shape)
    rng = random.Random(f"{seed}-money")
    _more_rows(practice, rng, tables, now)
    captions = {d["defnum"]: d["itemname"] for d in practice["definition"]}
    known = {p["PatNum"] for p in patients}
    # The made rows are let go as soon as they are sent or not needed: a practice of millions
    # of rows held twice over (as made and as sent) would be gigabytes more.
    served = {name for name, *_rest in ENDPOINTS.values()}
    for name in [name for name in practice if name not in served]:
        del practice[name]
    for path, (name, *_rest) in ENDPOINTS.items():
        made = practice.pop(name, [])
        rows = [_api_row(name, r, captions, rng, now) for r in made
                if r.get("patnum", 0) in known or "patnum" not in r]  # fmt: skip
        del made
        tables.load(path, rows, owned=True)


def _api_row(
    table: str, row: dict[str, Any], captions: dict[int, str], rng: random.Random, now: dt.datetime
) -> dict[str, Any]:
    columns, captioned, aliases = _plan(table)
    record: dict[str, Any] = {}
    for name, lower, storage, names, blank, stamped in columns:
        value = row.get(lower, blank)
        if stamped and value == blank:
            value = now - dt.timedelta(seconds=rng.randrange(60, 400 * 86400))
        kind = type(value)
        if (kind is str or kind is int) and names is None and storage not in _CONVERTED:
            record[name] = value  # the common case, sent as stored (what _rest_value returns)
        else:
            record[name] = _rest_value(storage, names, value)
    for key, column_name in captioned:
        record[key] = captions.get(row.get(column_name, 0), "")
    for key, column_name in aliases:  # sent under another name, as documented
        if column_name in record:
            record[key] = record.pop(column_name)
    return record


@functools.cache
def _plan(table: str) -> tuple[tuple[_Column, ...], tuple[tuple[str, str], ...], Aliases]:
    """What a table's API row holds, worked out once (a million rows are made per table)."""
    aliases = ALIASES.get(table, ())
    sent = set(MIRRORED[table].sent) | {column for _key, column in aliases}
    columns = tuple(
        (c.name, c.name.lower(), c.storage, ENUM_NAMES.get(c.enum or ""), no_value(c.storage),
         c.name in ("SecDateTEdit", "DateTStamp"))
        for c in OD_TABLES[table] if c.name in sent
    )  # fmt: skip
    captioned = tuple((key, column) for name, key, column in CAPTIONS if name == table)
    return columns, captioned, tuple(aliases)


def _rest_value(storage: str, names: Sequence[str] | None, value: Any) -> Any:
    if storage == "Interval" and isinstance(value, int):
        return interval_text(value)
    if names and isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    if storage == "Bool":
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        return value + 0.0  # -0.0 (a discount of nothing) is sent as 0, as Open Dental shows it
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return value


def _more_rows(practice: dict[str, list[dict[str, Any]]], rng: random.Random, tables: Tables,
               now: dt.datetime) -> None:  # fmt: skip
    """A few rows of the tables make_practice does not make, pointing at rows that exist."""
    patnums = sorted({r["patnum"] for r in practice["patient"]})
    plans = [r["plannum"] for r in practice["insplan"]]
    practice["feesched"] = [{"feeschednum": n, "description": f"Fees {n}", "itemorder": n}
                            for n in (1, 2)]  # fmt: skip
    practice["fee"] = [{"feenum": n, "amount": float(50 + 5 * n), "feesched": 1 + n % 2,
                        "codenum": n} for n in range(1, 13)]  # fmt: skip
    practice["userod"] = [{"usernum": n, "username": f"user{n}", "ishidden": int(n == 4),
                           "provnum": n if n in DENTISTS else 0}
                          for n in range(1, 5)]  # fmt: skip
    practice["referral"] = [{"referralnum": n, "lname": f"Referrer{n}", "isdoctor": 1}
                            for n in range(1, 9)]  # fmt: skip
    practice["patplan"] = [{"patplannum": i + 1, "patnum": p, "ordinal": 1,
                            "inssubnum": plans[i % len(plans)]}
                           for i, p in enumerate(patnums[::3])]  # fmt: skip
    practice["benefit"] = [{"benefitnum": i + 1, "plannum": p, "percent": 80, "monetaryamt": -1.0}
                           for i, p in enumerate(plans)]  # fmt: skip
    practice["commlog"] = [{"commlognum": i + 1, "patnum": p, "note": "Called about recall",
                            "commdatetime": now - dt.timedelta(days=i)}
                           for i, p in enumerate(patnums[::5])]  # fmt: skip
    claims = [r["claimnum"] for r in practice.get("claim", [])]
    practice["claimtracking"] = [{"claimtrackingnum": i + 1, "claimnum": c, "note": "Called"}
                                 for i, c in enumerate(claims[::4])]  # fmt: skip
    plans_paid = [r["payplannum"] for r in practice.get("payplan", [])]
    practice["payplanlink"] = [{"payplanlinknum": i + 1, "payplannum": p}
                               for i, p in enumerate(plans_paid)]  # fmt: skip
    treatplans = tables.all("treatplans")
    practice["proctp"] = [{"proctpnum": i + 1, "treatplannum": t["TreatPlanNum"],
                           "patnum": t["PatNum"], "proccode": "D2391",
                           "feeamt": round(rng.uniform(90, 300), 2)}
                          for i, t in enumerate(treatplans)]  # fmt: skip
    practice["treatplanattach"] = [{"treatplanattachnum": i + 1,
                                    "treatplannum": t["TreatPlanNum"], "procnum": i + 1}
                                   for i, t in enumerate(treatplans)]  # fmt: skip
