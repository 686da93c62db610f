"""The row maker the simulated practice's parts share: keys, randomness, Open Dental's blanks."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from etl.simulator.shape import SHAPES, Shape

Row = dict[str, Any]
Practice = dict[str, list[Row]]

NO_DATE = date(1, 1, 1)
NO_DATETIME = datetime(1, 1, 1)
#: A recall interval of six months as Open Dental stores it (Interval.cs: months << 16).
SIX_MONTHS = 6 << 16
CLINICS = (1, 2)
DENTISTS = (1, 2)
HYGIENISTS = (3, 4)
OPS = {1: (1, 1, 3), 2: (1, 1, 3), 3: (2, 2, 4), 4: (2, 2, 4)}  # op: (clinic, dentist, hygienist)
ADJ_DISCOUNT, ADJ_FINANCE, ADJ_BAD_DEBT = 10, 11, 12
PAY_TYPES = (20, 21, 22)
PREPAYMENT, TP_PREPAYMENT_HIDDEN = 30, 31
PLAN_PPO, PLAN_PERCENT, PLAN_CAPITATION, PLAN_NO_CARRIER = 1, 2, 3, 4
HYGIENE_CODES = (("D0120", 55.0), ("D1110", 98.0), ("D0274", 72.0))
TREATMENT_CODES = (
    ("D2391", 185.0),
    ("D2740", 1150.0),
    ("D3330", 1080.0),
    ("D7140", 210.0),
    ("D4341", 240.0),
    ("D2950", 295.5),
    ("D9986", 0.0),
)
PREFERENCES = {
    "ReportsPPOwriteoffDefaultToProcDate": "0",
    "ReportPandIschedProdSubtractsWO": "1",
    "RecallTypesShowingInList": "1,2",
    "PayPlansVersion": "1",
    "AgingProcLifo": "0",
    "BadDebtAdjustmentTypes": str(ADJ_BAD_DEBT),
}


class RowMaker:
    """Appends rows with the next key; holds the office's random source and current date."""

    def __init__(self, rng: random.Random, today: date, shape: Shape = SHAPES["default"]) -> None:
        self.rng = rng
        self.today = today
        self.shape = shape
        self.rows: defaultdict[str, list[Row]] = defaultdict(list)
        self.keys: defaultdict[str, int] = defaultdict(int)
        self.checks: dict[tuple[int, date], Row] = {}
        self.busy: set[tuple[int, date, int]] = set()

    def add(self, table: str, key: str, **values: Any) -> Row:
        """Append a row with the next primary key."""
        self.keys[table] += 1
        row = {key: self.keys[table], **values}
        self.rows[table].append(row)
        return row

    def money(self, low: float, high: float) -> float:
        """An amount with cents."""
        return round(self.rng.uniform(low, high), 2)

    def chance(self, p: float) -> bool:
        """True with probability p."""
        return self.rng.random() < p

    def weekday(self, day: date) -> date:
        """The day, or the Monday after it when it falls on a weekend."""
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return day
