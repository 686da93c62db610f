"""A simulated list table's rows, and the listing it serves pages from until the next write.

A page of a list is its rows filtered, ordered by key, then sliced by Offset and Limit. Doing
that for every page makes reading a table of a million rows a million rows per page; instead
the filtered and ordered list is kept per query (everything but Offset and Limit) and later
pages are slices of it, as etl.simulator.store does for the patients.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Hashable
from typing import Any

from etl.simulator.query import QueryError

Row = dict[str, Any]
# Versions are unique across tables: a table given new rows never matches an old listing.
_CHANGES = itertools.count(1)


class Rows(dict[int, Row]):
    """Rows by primary key; every change of which rows there are bumps `version`.

    Tests take rows out (`rows.pop(key)`) and put them in directly: the listing kept for paging
    must then be thrown away, so each such change counts. A change inside a row is counted by
    whoever makes it (`touch`), as `Tables.update` does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.version = next(_CHANGES)

    def touch(self) -> None:
        """Count a change the dictionary cannot see (a row's value changed in place)."""
        self.version = next(_CHANGES)

    def __setitem__(self, key: int, value: Row) -> None:
        self.version = next(_CHANGES)
        super().__setitem__(key, value)

    def __delitem__(self, key: int) -> None:
        self.version = next(_CHANGES)
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        """As dict.pop (counted as a change)."""
        self.version = next(_CHANGES)
        return super().pop(*args)

    def popitem(self) -> tuple[int, Row]:
        """As dict.popitem (counted as a change)."""
        self.version = next(_CHANGES)
        return super().popitem()

    def clear(self) -> None:
        """As dict.clear (counted as a change)."""
        self.version = next(_CHANGES)
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        """As dict.update (counted as a change)."""
        self.version = next(_CHANGES)
        super().update(*args, **kwargs)

    def setdefault(self, key: int, default: Any = None) -> Any:
        """As dict.setdefault (counted as a change)."""
        self.version = next(_CHANGES)
        return super().setdefault(key, default)


class Listing:
    """The last list selected from a table, for the same query, while the rows are unchanged."""

    def __init__(self) -> None:
        self._which: tuple[Hashable, int] | None = None
        self._rows: list[Row] = []
        # Per field: the table's version, and keys in order by the field's value (`equal`).
        self._index: dict[str, tuple[int, dict[str, list[int]]]] = {}

    def page(
        self,
        rows: Rows,
        which: Hashable,
        offset: int,
        limit: int,
        keep: Callable[[Row], bool],
        equal: tuple[str, str] | None = None,
    ) -> list[Row]:
        """Copies of one page of the rows `keep` selects, in key order.

        A first page (Offset 0) always selects anew, so a list read from its start never sees
        an older listing (even of rows changed in place behind the table's back); later pages
        of the same query slice the kept listing.

        Args:
            rows: the table's rows.
            which: the query without Offset and Limit.
            offset: rows to skip.
            limit: rows to return at most.
            keep: whether a row is in the list.
            equal: a (field, value) that `keep` requires: only rows with that value (its text)
                are looked at, found by an index of the field kept while the rows are
                unchanged. A fan-out asks once per parent: without it, a practice of 50,000
                patients cost 50,000 scans of every adjustment.
        """
        stamp = (which, rows.version)
        if offset == 0 or self._which != stamp:
            keys = sorted(rows) if equal is None else self._keys(rows, *equal)
            self._rows = [row for key in keys if keep(row := rows[key])]
            self._which = stamp
        return [dict(row) for row in self._rows[offset : offset + limit]]

    def _keys(self, rows: Rows, field: str, value: str) -> list[int]:
        version, index = self._index.get(field, (None, {}))
        if version != rows.version:
            index = {}
            for key in sorted(rows):
                index.setdefault(str(rows[key].get(field)), []).append(key)
            self._index[field] = (rows.version, index)
        return index.get(value, [])


def check_date(text: str) -> str:
    """A date parameter as given ("" for none).

    Raises:
        QueryError: not yyyy-MM-dd.
    """
    if text and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise QueryError("Dates must be in the format yyyy-MM-dd.")
    return text


def within(row: Row, bounds: list[tuple[str, str, str]]) -> bool:
    """Whether each (field, first, last) date bound holds for the row (inclusive)."""
    return all(first <= str(row.get(name, ""))[:10] <= last for name, first, last in bounds)


def whole(name: str, text: str) -> int:
    """A whole-number parameter.

    Raises:
        QueryError: not a whole number.
    """
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise QueryError(f"{name} must be a whole number, 0 or more.")
    return int(text)
