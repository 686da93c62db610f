"""The Simple endpoint's query: its parameters parsed, and the rows they take."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from etl.simulator.clock import format_date, format_datetime, parse_datetime
from etl.simulator.data import GENDERS, PAT_STATUSES, POSITIONS

INT_FILTERS = ("ClinicNum", "Guarantor", "PriProv", "SuperFamily", "EmployerNum", "FeeSched")
ENUM_FILTERS = {"PatStatus": PAT_STATUSES, "Gender": GENDERS, "Position": POSITIONS}
PREFIX_FILTERS = ("LName", "FName")
ORDERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "patnum": lambda row: row["PatNum"],
    "datetstamp": lambda row: (str(row.get("DateTStamp", "")), row["PatNum"]),
    "reverse": lambda row: -row["PatNum"],
}


class QueryError(ValueError):
    """A bad query parameter; the server answers 400 with the message."""


@dataclass(frozen=True)
class SimpleQuery:
    """The parsed parameters of GET /patients/Simple."""

    limit: int | None = None
    offset: int = 0
    since: str | None = None
    equals: dict[str, Any] = field(default_factory=dict)
    prefixes: dict[str, str] = field(default_factory=dict)

    def candidates(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows that `matches` may take: a cheap first cut, as an index would make.

        One comprehension a filter, with no call a row: an incremental run's query over a large
        table then costs the server about what an indexed query costs a real one.
        """
        found = list(rows)
        if self.since is not None:
            since = self.since
            found = [
                r for r in found if not (type(s := r.get("DateTStamp", "")) is str and s < since)
            ]
        for key, value in self.equals.items():
            found = [r for r in found if r.get(key) == value]
        return found

    def matches(self, row: Mapping[str, Any], inclusive: bool, hide_deleted: bool) -> bool:
        """Whether a row passes the filters (DateTStamp >= since when inclusive, else >)."""
        deleted = row.get("PatStatus") == "Deleted"
        if deleted and hide_deleted and self.equals.get("PatStatus") != "Deleted":
            return False
        if self.since is not None:
            # The fixed-width format sorts as text in time order.
            stamp = str(row.get("DateTStamp", ""))
            if stamp < self.since or (stamp == self.since and not inclusive):
                return False
        if any(row.get(key) != value for key, value in self.equals.items()):
            return False
        return all(
            str(row.get(key, "")).casefold().startswith(prefix)
            for key, prefix in self.prefixes.items()
        )


def parse_simple_query(params: Mapping[str, str]) -> SimpleQuery:
    """Parse Simple's query parameters; names match case-insensitively, as in ASP.NET.

    Args:
        params: the query parameters. Empty values count as absent; unknown names are ignored.

    Returns:
        The query.

    Raises:
        QueryError: a value is malformed (the message says which).
    """
    given = {name.casefold(): value for name, value in params.items() if value != ""}

    def pick(name: str) -> str | None:
        return given.get(name.casefold())

    equals: dict[str, Any] = {}
    for name in INT_FILTERS:
        if (text := pick(name)) is not None:
            equals[name] = _integer(name, text)
    for name, names in ENUM_FILTERS.items():
        if (text := pick(name)) is not None:
            if text not in names:
                raise QueryError(f"{name} is invalid. Valid values: {', '.join(names)}.")
            equals[name] = text
    if (text := pick("Birthdate")) is not None:
        equals["Birthdate"] = _date(text)
    since = pick("DateTStamp")
    limit = pick("Limit")
    return SimpleQuery(
        limit=None if limit is None else _integer("Limit", limit),
        offset=_integer("Offset", pick("Offset") or "0"),
        since=None if since is None else _stamp(since),
        equals=equals,
        prefixes={n: t.casefold() for n in PREFIX_FILTERS if (t := pick(n)) is not None},
    )


def _integer(name: str, text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise QueryError(f"{name} must be a whole number, 0 or more.")
    return int(text)


def _stamp(text: str) -> str:
    try:
        return format_datetime(parse_datetime(text))
    except ValueError:
        raise QueryError("DateTStamp must be in the format yyyy-MM-dd HH:mm:ss.") from None


def _date(text: str) -> str:
    try:
        return format_date(date.fromisoformat(text))
    except ValueError:
        raise QueryError("Birthdate must be in the format yyyy-MM-dd.") from None
