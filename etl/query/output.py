"""A query's rows as a plain aligned table, CSV or JSON (values as Open Dental shows them)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from etl.catalog.od_types import span_text

MAX_CELL = 200  # characters of one value shown in the table (CSV and JSON keep it whole)


def cell(value: Any) -> str | None:
    """One value as text: dates as "2024-01-31 08:00:00", spans as MySQL's "-1:30:00"."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if value.year >= 1000 else value.isoformat(" ")
    if isinstance(value, dt.timedelta):
        return span_text(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _for_table(value: Any) -> str:
    text = cell(value)
    if text is None:
        return "NULL"
    text = " ".join(text.splitlines())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def as_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain text: a header line, a rule, and one aligned line per row (numbers to the right)."""
    texts = [[_for_table(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in texts)]) for i, h in enumerate(headers)]
    numeric = [
        bool(rows) and all(isinstance(r[i], (int, float, Decimal)) or r[i] is None for r in rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(list(headers)), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in texts]
    return "\n".join(out)


def as_csv(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV with a header row; NULL is an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if (text := cell(v)) is None else text for v in row])
    return buffer.getvalue().rstrip("\n")


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        # A JSON number: whole amounts as integers, others the nearest double (exact to the cent).
        return int(value) if value == value.to_integral_value() else float(value)
    return cell(value)


def as_json(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A JSON array of objects, one per row, keyed by header."""
    return json.dumps(
        [dict(zip(headers, map(_json_value, row), strict=True)) for row in rows],
        ensure_ascii=False,
        indent=1,
    )
