"""The simulated office database's patient table, and how the Simple endpoint selects from it."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from etl.simulator.clock import OfficeClock, format_date, format_datetime
from etl.simulator.data import (
    blank_patient,
    clinic_abbr,
    image_folder,
    prov_abbr,
)
from etl.simulator.query import ORDERS, SimpleQuery
from etl.simulator.stamps import StampIndex

_DERIVED = (("PriProv", "priProvAbbr", prov_abbr), ("SecProv", "secProvAbbr", prov_abbr),
            ("ClinicNum", "clinicAbbr", clinic_abbr))  # fmt: skip


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    return format_date(value) if isinstance(value, date) else value


class PatientStore:
    """The office's patient table as API JSON rows keyed by PatNum; every method is thread-safe.

    Like MySQL's ON UPDATE CURRENT_TIMESTAMP, a change bumps DateTStamp unless it sets one.
    """

    def __init__(self, clock: OfficeClock, patients: list[dict[str, Any]] | None = None) -> None:
        """Create a store.

        Args:
            clock: the office clock that stamps changes.
            patients: initial rows (copied as they are).
        """
        self.clock = clock
        self._rows: dict[int, dict[str, Any]] = {}
        self._lock = threading.RLock()
        # The last list selected, until the next write: paging a large table is then a slice
        # per page, not a filter and sort of every row (the benchmark's million patients).
        self._listed: tuple[Any, list[dict[str, Any]]] | None = None
        #: Bumped by every write: ShortQuery's copy of the patients is kept until it changes.
        self.version = 0
        self._stamps = StampIndex()
        for record in patients or []:
            self._rows[int(record["PatNum"])] = dict(record)
        self._stamps.rebuild(self._rows)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def get(self, patnum: int) -> dict[str, Any] | None:
        """A copy of one patient, or None."""
        with self._lock:
            row = self._rows.get(patnum)
            return None if row is None else dict(row)

    def all(self) -> list[dict[str, Any]]:
        """Copies of every patient, in PatNum order."""
        with self._lock:
            return [dict(self._rows[patnum]) for patnum in sorted(self._rows)]

    def update(self, patnum: int, **fields: Any) -> dict[str, Any]:
        """Change fields of one patient (API JSON names and values) and bump its DateTStamp.

        Dates and datetimes are formatted as the API does. Changing PriProv, SecProv or
        ClinicNum re-derives its abbreviation unless that is given too.

        Args:
            patnum: the patient.
            **fields: the new values; a DateTStamp given here wins over the clock.

        Returns:
            A copy of the changed row.

        Raises:
            KeyError: no such patient.
            ValueError: fields tries to change PatNum.
        """
        if fields.get("PatNum", patnum) != patnum:
            raise ValueError("PatNum cannot change")
        with self._lock:
            self._changed()
            row = self._rows[patnum]
            self._stamps.remove(patnum, row)
            row["DateTStamp"] = format_datetime(self.clock.now())
            row.update({key: _json_value(value) for key, value in fields.items()})
            _derive(row, fields)
            self._stamps.add(patnum, row)
            return dict(row)

    def add(self, **fields: Any) -> int:
        """Add a new patient with the next PatNum and defaults for every documented field.

        Args:
            **fields: values to use instead of the defaults (not PatNum).

        Returns:
            The new PatNum.
        """
        if "PatNum" in fields:
            raise ValueError("add() assigns the PatNum; use replace() to choose one")
        now = self.clock.now()
        with self._lock:
            patnum = max(self._rows, default=0) + 1
            row = blank_patient()
            row.update(PatNum=patnum, Guarantor=patnum, PriProv=1)
            row.update(SecDateEntry=format_date(now), DateTStamp=format_datetime(now))
            row.update({key: _json_value(value) for key, value in fields.items()})
            _derive(row, {key: None for key in ("PriProv", "SecProv", "ClinicNum")} | fields)
            if "ImageFolder" not in fields:
                row["ImageFolder"] = image_folder(str(row["LName"]), str(row["FName"]), patnum)
            self._changed()
            self._rows[patnum] = row
            self._stamps.add(patnum, row)
            return patnum

    def touch(self, patnums: Iterable[int], stamp: datetime) -> None:
        """Set the DateTStamp of many patients to one value (as one bulk UPDATE would).

        Raises:
            KeyError: a patient does not exist (then nothing changes).
        """
        text = format_datetime(stamp)
        with self._lock:
            self._changed()
            rows = [(patnum, self._rows[patnum]) for patnum in patnums]
            for patnum, row in rows:
                self._stamps.remove(patnum, row)
                row["DateTStamp"] = text
                self._stamps.add(patnum, row)

    def replace(self, record: dict[str, Any]) -> None:
        """Store a raw record as it is (any keys), replacing the row with its PatNum."""
        key = int(record["PatNum"])
        with self._lock:
            self._changed()
            if key in self._rows:
                self._stamps.remove(key, self._rows[key])
            self._rows[key] = dict(record)
            self._stamps.add(key, self._rows[key])

    def select(
        self, query: SimpleQuery, cap: int, inclusive: bool, order: str, hide_deleted: bool
    ) -> list[dict[str, Any]]:
        """One page of Simple: filter, order, then Offset and Limit (capped at cap).

        Returns:
            Copies of the page's rows.
        """
        limit = cap if query.limit is None else min(query.limit, cap)
        filters = (query.since, tuple(query.equals.items()), tuple(query.prefixes.items()))
        which = (filters, inclusive, order, hide_deleted)
        with self._lock:
            if self._listed is None or self._listed[0] != which:
                rows = [
                    r
                    for r in query.candidates(self._indexed(query.since))
                    if query.matches(r, inclusive, hide_deleted)
                ]
                rows.sort(key=ORDERS[order])
                self._listed = (which, rows)
            rows = self._listed[1]
            return [dict(row) for row in rows[query.offset : query.offset + limit]]

    def _changed(self) -> None:
        # Under the lock: the listing kept for paging is stale, and so is any copy of the rows.
        self._listed = None
        self.version += 1

    def _indexed(self, since: str | None) -> Iterable[dict[str, Any]]:
        if since is None:
            return self._rows.values()
        return [self._rows[key] for key in self._stamps.since(since)]


def _derive(row: dict[str, Any], changed: Mapping[str, Any]) -> None:
    for key, abbr_key, derive in _DERIVED:
        if key in changed and abbr_key not in changed:
            row[abbr_key] = derive(int(row.get(key) or 0))
