"""Made-up rows for any Open Dental table, raw as its database holds them (for ShortQuery).

Every column gets a value of its storage type, Open Dental's "no value" among them
("0001-01-01", '', 0) and text that is hard to carry (quotes, line breaks, other scripts).
All of it drawn from a seed; nothing real.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from etl.catalog.opendental import OD_TABLES, OdColumn
from etl.catalog.query_tables import change_column
from etl.simulator.clock import format_datetime

TEXTS = (
    "",
    "Pt prefers mornings",
    "O'Brien's mom calls \"first\"",
    "Zoë 😀 山田",
    "Late twice.\nCall day before.\t(cell)",
    "C:\\x-rays\\",
    "'); DROP TABLE x;--",
)


def office_rows(
    table: str, count: int, now: datetime, seed: int = 1, first_key: int = 1
) -> list[dict[str, Any]]:
    """`count` rows of an Open Dental table, keys from `first_key`, changed before `now`.

    Args:
        table: Open Dental's table, lower case.
        count: how many rows.
        now: the office clock; every date-time is before it.
        seed: the random seed.
        first_key: the first primary key.

    Returns:
        Rows by Open Dental's column names, values as its MySQL holds them.
    """
    rng = random.Random(f"{seed}-{table}")
    columns, stamp = OD_TABLES[table], change_column(table)
    rows = []
    for key in range(first_key, first_key + count):
        row = {c.name: _value(c, rng, now) for c in columns[1:]}
        row[columns[0].name] = key
        if stamp is not None:
            row[stamp] = format_datetime(now - timedelta(seconds=rng.randrange(60, 86_400 * 30)))
        rows.append(row)
    return rows


def _value(column: OdColumn, rng: random.Random, now: datetime) -> Any:
    storage = column.storage
    if storage in ("Long", "Int", "Interval"):
        return rng.choice((0, rng.randrange(1, 40)))
    if storage in ("Byte", "Bool"):
        return rng.randrange(2)
    if storage == "Double":
        return rng.choice((0.0, round(rng.uniform(-50, 2500), 2)))
    if storage == "Float":
        return rng.randrange(0, 40) / 4  # exact in single precision
    if storage in ("String", "EnumAsString"):
        return rng.choice(TEXTS)
    moment = now - timedelta(seconds=rng.randrange(60, 86_400 * 900))
    if storage == "Date":
        return rng.choice(("0001-01-01", moment.date().isoformat()))
    if storage == "DateT":
        return rng.choice(("0001-01-01 00:00:00", format_datetime(moment)))
    return f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
