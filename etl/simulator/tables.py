"""The simulated office's other tables (appointments, procedures, claims, ...) and their lists.

Each endpoint is a `Table`: rows keyed by their primary key, an optional change filter
(DateTStamp or SecDateTEdit, stamped from the office clock on every change, inclusive unless the
simulator says otherwise), a few equality filters, Limit/Offset with the page cap. As in the
vendor's examples, only the DateTStamp endpoints add serverDateTime to each row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from etl.simulator.clock import OfficeClock, format_datetime, parse_datetime
from etl.simulator.query import QueryError
from etl.simulator.table_rows import Listing, Rows, check_date, whole, within


@dataclass
class Table:
    """One list endpoint of the simulated API.

    Attributes:
        path: the endpoint under /api/v1, lower case.
        key: the primary key's JSON name.
        stamp: the change-time field the list filters on, or None (the list is pulled whole).
        filters: other query parameters that select rows by equality.
        server_time: whether each row carries serverDateTime.
        hidden: a field that, when "true", keeps a row out of the list (Clinics GET).
        required: a filter the list cannot do without (a fan-out's parent key): 400 if absent.
        date_range: (date field, first-date parameter, last-date parameter), inclusive.
        on_or_after: a date field whose same-named parameter keeps rows on or after it.
        sql_stamp: a change column the database stamps though the list has no filter on it
            (what ShortQuery sees of a whole pull's table: etl.simulator.rest_sql).
    """

    path: str
    key: str
    stamp: str | None = None
    filters: tuple[str, ...] = ()
    server_time: bool = False
    hidden: str | None = None
    rows: dict[int, dict[str, Any]] = field(default_factory=Rows)
    required: str | None = None
    date_range: tuple[str, str, str] | None = None
    on_or_after: str | None = None
    sql_stamp: str | None = None
    _listing: Listing = field(default_factory=Listing, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # Rows given as a plain dict (a test's own table) become Rows, which count changes.
        if name == "rows" and not isinstance(value, Rows):
            value = Rows(value)
        super().__setattr__(name, value)

    def select(self, params: Mapping[str, str], cap: int, inclusive: bool) -> list[dict[str, Any]]:
        """One page: filter, order by key, then Offset and Limit (capped).

        Raises:
            QueryError: a parameter is malformed.
        """
        given = {k.casefold(): v for k, v in params.items() if v != ""}
        limit = min(whole("Limit", given.get("limit", str(cap))), cap)
        offset = whole("Offset", given.get("offset", "0"))
        since = self._since(given)
        equals = {n: given[n.casefold()] for n in self.filters if n.casefold() in given}
        if self.required and self.required not in equals:
            raise QueryError(f"{self.required} is required.")
        dates = self._dates(given)
        which = (since, inclusive, tuple(equals.items()), tuple(dates))

        def keep(row: dict[str, Any]) -> bool:
            return self._keep(row, since, inclusive, equals) and within(row, dates)

        assert isinstance(self.rows, Rows)  # made so by __setattr__
        equal = next(iter(equals.items()), None)
        return self._listing.page(self.rows, which, offset, limit, keep, equal)

    def _dates(self, given: dict[str, str]) -> list[tuple[str, str, str]]:
        """(field, first, last) date bounds the request asks for ("" for open)."""
        bounds = []
        if self.date_range is not None:
            name, first, last = self.date_range
            bounds.append((name, check_date(given.get(first.casefold(), "")),
                           check_date(given.get(last.casefold(), "")) or "9999-12-31"))  # fmt: skip
        if self.on_or_after is not None and self.on_or_after.casefold() in given:
            name = self.on_or_after
            bounds.append((name, check_date(given[name.casefold()]), "9999-12-31"))
        return bounds

    def _since(self, given: dict[str, str]) -> str | None:
        if self.stamp is None or self.stamp.casefold() not in given:
            return None
        try:
            return format_datetime(parse_datetime(given[self.stamp.casefold()]))
        except ValueError:
            raise QueryError(f"{self.stamp} must be in the format yyyy-MM-dd HH:mm:ss.") from None

    def _keep(
        self, row: dict[str, Any], since: str | None, inclusive: bool, equals: dict[str, str]
    ) -> bool:
        if self.hidden and str(row.get(self.hidden)).lower() == "true":
            return False
        if since is not None and self.stamp is not None:
            stamp = str(row.get(self.stamp, ""))
            if stamp < since or (stamp == since and not inclusive):
                return False
        return all(str(row.get(name)) == value for name, value in equals.items())


class Tables:
    """Every simulated endpoint other than patients; thread-safe; changes stamp like MySQL."""

    def __init__(self, clock: OfficeClock, tables: list[Table]) -> None:
        self.clock = clock
        self._tables = {t.path: t for t in tables}
        self._lock = threading.RLock()
        self._hook: Callable[[int, str], None] | None = None
        self._served = 0

    def on_serve(self, hook: Callable[[int, str], None] | None) -> None:
        """Run hook(index, path) before each list request selects its rows (None removes it)."""
        with self._lock:
            self._hook, self._served = hook, 0

    def __getitem__(self, path: str) -> Table:
        return self._tables[path]

    def add_table(self, table: Table) -> None:
        """Serve one more endpoint (a test's own resource)."""
        with self._lock:
            self._tables[table.path] = table

    def load(self, path: str, rows: list[dict[str, Any]], owned: bool = False) -> None:
        """Put rows into a table as they are.

        Args:
            path: the table.
            rows: the rows.
            owned: the rows are the table's from now on, kept rather than copied (a practice
                of millions of rows is made once, not twice).
        """
        table = self._tables[path]
        with self._lock:
            table.rows.update((int(row[table.key]), row if owned else dict(row)) for row in rows)

    def all(self, path: str) -> list[dict[str, Any]]:
        """Copies of a table's rows in key order (hidden ones included)."""
        with self._lock:
            return [dict(r) for _, r in sorted(self._tables[path].rows.items())]

    def update(self, path: str, key: int, **fields: Any) -> dict[str, Any]:
        """Change a row's fields and bump its change time (unless given); returns a copy."""
        table = self._tables[path]
        with self._lock:
            row = table.rows[key]
            assert isinstance(table.rows, Rows)
            table.rows.touch()  # changed in place: a kept listing may no longer hold
            for stamp in filter(None, (table.stamp, table.sql_stamp)):
                row[stamp] = format_datetime(self.clock.now())
            row.update(fields)
            return dict(row)

    def add(self, path: str, **fields: Any) -> int:
        """Add a row with the next key (fields as the API sends them); returns the key."""
        table = self._tables[path]
        with self._lock:
            key = max(table.rows, default=0) + 1
            row = {**fields, table.key: key}
            for stamp in filter(None, (table.stamp, table.sql_stamp)):
                row.setdefault(stamp, format_datetime(self.clock.now()))
            table.rows[key] = row
            return key

    def delete_appointment(self, aptnum: int) -> None:
        """Hard-delete an appointment, leaving a "Deleted" history row, as Open Dental does."""
        with self._lock:
            row = self._tables["appointments"].rows.pop(aptnum)
            self.add(
                "histappointments",
                HistUserNum=0,
                HistDateTStamp=format_datetime(self.clock.now()),
                HistApptAction="Deleted",
                ApptSource="None",
                **{k: v for k, v in row.items() if k != "serverDateTime"},
            )

    def serve(
        self, path: str, params: Mapping[str, str], cap: int, inclusive: bool
    ) -> list[dict[str, Any]] | None:
        """The rows of GET /{path}, or None if no such endpoint.

        Raises:
            QueryError: a parameter is malformed.
        """
        table = self._tables.get(path.strip("/").casefold())
        if table is None:
            return None
        with self._lock:
            hook, index = self._hook, self._served
            self._served += 1
        if hook is not None:
            hook(index, table.path)
        stamp = format_datetime(self.clock.now())
        with self._lock:
            rows = table.select(params, cap, inclusive)
        if table.server_time:
            for row in rows:
                row["serverDateTime"] = stamp
        return rows


def empty_tables(clock: OfficeClock) -> Tables:
    """Every endpoint odmirror mirrors beyond patients, with no rows yet."""
    return Tables(
        clock,
        [
            Table("appointments", "AptNum", "DateTStamp", ("PatNum", "AptStatus", "ClinicNum"),
                  server_time=True),
            Table("histappointments", "HistApptNum", None,
                  ("HistApptAction", "AptNum", "PatNum", "ClinicNum")),
            Table("procedurelogs", "ProcNum", "DateTStamp", ("PatNum", "AptNum", "ClinicNum"),
                  server_time=True),
            Table("providers", "ProvNum", "DateTStamp", server_time=True),
            Table("procedurecodes", "CodeNum", "DateTStamp", server_time=True),
            Table("claims", "ClaimNum", "SecDateTEdit", ("PatNum", "ClaimStatus")),
            Table("claimpayments", "ClaimPaymentNum", "SecDateTEdit"),
            Table("inssubs", "InsSubNum", "SecDateTEdit", ("PlanNum", "Subscriber")),
            Table("treatplans", "TreatPlanNum", "SecDateTEdit", ("PatNum", "TPStatus")),
            Table("clinics", "ClinicNum", hidden="IsHidden"),
            Table("definitions", "DefNum", None, ("Category",)),
            Table("operatories", "OperatoryNum", None, ("ClinicNum",)),
        ],
    )  # fmt: skip
