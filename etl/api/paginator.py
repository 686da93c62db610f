"""Paginators: each way of paging a list endpoint is one small object that owns "next page / done".

Modelled on dlt's rest_client paginators: `update_request` says what to ask for next,
`update_state` takes the rows an answer brought, `has_next_page` says whether to ask again.
The client's loop (`ApiClient.pages`) is the same for every kind of paging; what differs lives
here, with the checks that a page moved the list on (a server that ignores Offset, or repeats
its last page, must end the run with one line, not run forever).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from typing import Any, Protocol

from etl.errors import ApiError

#: Page caps the vendor documents (Remote, Local/Service, with or without Enterprise).
#: A page shorter than our Limit but exactly one of these may be a cap, not the last page.
DOCUMENTED_CAPS = frozenset({100, 1000, 10_000})


class Paginator(Protocol):
    """What the client's paging loop needs of a way of paging."""

    @property
    def has_next_page(self) -> bool:
        """Whether another request is needed."""

    def update_request(self, params: dict[str, Any]) -> dict[str, Any]:
        """The query parameters of the next request, from the caller's filters."""

    def update_state(self, rows: list[Any]) -> None:
        """Take the rows of the answer just received.

        Raises:
            ApiError: the answer did not move the list on.
        """


class OffsetPaginator:
    """Open Dental's Limit/Offset loop: ask again at Offset += rows while a page is full.

    A page shorter than Limit ends the list, unless its length is a documented cap (then the
    server capped our Limit and there may be more); an empty page always ends it. The same keys
    on three pages in a row mean the server ignores Offset: that ends paging with an ApiError,
    and so does a list longer than `max_pages` pages (a server that always sends a full page).

    Args:
        limit: the rows asked for a page.
        what: what is paged, for messages (a path or a resource name).
        key: the JSON key of a row's primary key, for the repeated-page check (None: no check).
        max_pages: the most pages the list may take (None: no ceiling).
    """

    def __init__(
        self, limit: int, what: str, key: str | None = None, max_pages: int | None = None
    ) -> None:
        self.limit, self.what, self.key, self.max_pages = limit, what, key, max_pages
        self.pages = 0
        self.offset = 0
        self.capped_at = 0  # a page of a documented cap seen short of Limit: maybe the server's
        self.cap_confirmed = 0  # ...and more rows came after it: the server caps pages there
        self._more = True
        self._previous_keys: set[Hashable] | None = None
        self._repeats = 0

    @property
    def has_next_page(self) -> bool:
        """Whether the list may go on."""
        return self._more

    def update_request(self, params: dict[str, Any]) -> dict[str, Any]:
        """The filters plus this page's Limit and Offset."""
        return {**params, "Limit": self.limit, "Offset": self.offset}

    def update_state(self, rows: list[Any]) -> None:
        """Move past the rows received, or end the list.

        Raises:
            ApiError: the same rows came for three pages in a row (Offset ignored), or the list
                goes on past `max_pages`.
        """
        if self.capped_at and rows:
            self.cap_confirmed = self.capped_at
        self.pages += 1
        self._check_progress(rows)
        if not full_page(rows, self.limit):
            self._more = False
            return
        if self.max_pages is not None and self.pages >= self.max_pages:
            raise ApiError(
                f"the API sent {self.pages} full pages of {self.what} and more were due: the "
                f"ceiling is api.max_pages ({self.max_pages}); stopping"
            )
        self.capped_at = len(rows) if len(rows) < self.limit else 0
        self.offset += len(rows)

    def _check_progress(self, rows: list[Any]) -> None:
        # The same page again, not merely keys seen before: a later pass (Archived) rightly
        # sends rows the first pass already brought.
        if self.key is None:
            return
        keys = {_hashable(r.get(self.key)) for r in rows if isinstance(r, dict)}
        self._repeats = self._repeats + 1 if keys and keys == self._previous_keys else 0
        self._previous_keys = keys
        if self._repeats >= 2:
            raise ApiError(
                f"the API sent the same {self.what} again for two pages "
                "(it seems to ignore Offset); stopping"
            )


def full_page(rows: list[Any], limit: int) -> bool:
    """Whether an answer may have more rows after it: a full page, or one of a documented cap."""
    return bool(rows) and (len(rows) >= limit or len(rows) in DOCUMENTED_CAPS)


def _hashable(value: Any) -> Hashable:
    # A key sent as a list or an object is a bad record (rejected later), not a crash here.
    return value if isinstance(value, Hashable) else repr(value)


class FirstPagePaginator(OffsetPaginator):
    """Only the first page of a list: enough to learn whether anything matches the filters."""

    def update_state(self, rows: list[Any]) -> None:
        """One page is all that is asked for."""
        self._more = False


#: Rows a ShortQuery call returns at most (Remote); the SQL asks for no more.
SHORT_QUERY_ROWS = 100


class KeysetPaginator:
    """ShortQuery pages of one table by keyset: each page's SQL starts after the last row seen.

    Without `stamp`, pages go by primary key (`WHERE Key > k ORDER BY Key LIMIT n`): a first
    load, or a table without a change column. With it, by (stamp, key) from `since` up to
    `until` (exclusive): `(Stamp > t OR (Stamp = t AND Key > k)) AND Stamp < T1`, the OR form
    so old MySQL can use an index on the stamp. Offset is never used: each call re-runs the
    SELECT on the office's live database, so only the keyset is stable. A full page that does
    not move the keyset on ends paging with one line; a page shorter than asked ends the table.

    Args:
        table: Open Dental's table name.
        key: its primary key column, as Open Dental spells it.
        stamp: its change column, or None (pages by key only).
        since: with stamp, the change time to start from (rows at it with key > 0 come).
        until: with stamp, the office clock when the run began (rows at or after it wait).
        limit: rows a page (at most SHORT_QUERY_ROWS).
        max_pages: the most pages the table may take (None: no ceiling).
    """

    def __init__(
        self,
        table: str,
        key: str,
        stamp: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = SHORT_QUERY_ROWS,
        max_pages: int | None = None,
    ) -> None:
        if stamp is not None and (since is None or until is None):
            raise ValueError("a stamp keyset needs since and until")
        self.table, self.key, self.stamp = table, key, stamp
        self.until = until
        self.limit = min(limit, SHORT_QUERY_ROWS)
        self.after: tuple[dt.datetime | None, int] = (since, 0)
        self.max_pages, self.pages = max_pages, 0
        self._more = True

    @property
    def has_next_page(self) -> bool:
        """Whether the table may go on."""
        return self._more

    def update_request(self, params: dict[str, Any]) -> dict[str, Any]:
        """The body of the next ShortQuery call: the SQL of the page after the last row."""
        return {**params, "SqlCommand": self.sql()}

    def sql(self) -> str:
        """The SELECT of the next page (names come from the catalog, values are parsed)."""
        stamp_at, key_at = self.after
        if self.stamp is None:
            where, order = f"{self.key} > {key_at}", self.key
        else:
            assert stamp_at is not None and self.until is not None
            at, until = _literal(stamp_at), _literal(self.until)
            where = (
                f"({self.stamp} > {at} OR ({self.stamp} = {at} AND {self.key} > {key_at})) "
                f"AND {self.stamp} < {until}"
            )
            order = f"{self.stamp}, {self.key}"
        return f"SELECT * FROM {self.table} WHERE {where} ORDER BY {order} LIMIT {self.limit}"

    def update_state(self, rows: list[Any]) -> None:
        """Move past the last row, or end the table.

        Raises:
            ApiError: a full page did not move the keyset on, its last row has no position, or
                the table goes on past `max_pages`.
        """
        self.pages += 1
        if len(rows) < self.limit:
            self._more = False
            return
        if self.max_pages is not None and self.pages >= self.max_pages:
            raise ApiError(
                f"ShortQuery sent {self.pages} full pages of {self.table} and more were due: "
                f"the ceiling is api.max_pages ({self.max_pages}); stopping"
            )
        position = self._position(rows[-1])
        if not _moved(self.after, position):
            raise ApiError(
                f"ShortQuery on {self.table} sent a page that does not move past the one "
                "before (the server ignores the keyset); stopping"
            )
        self.after = position

    def shrink(self) -> None:
        """Ask for half as many rows a page (after a 504).

        Raises:
            ApiError: a page of one row already timed out.
        """
        if self.limit <= 1:
            raise ApiError(
                f"ShortQuery on {self.table} timed out (504) even for one row a page; stopping"
            )
        self.limit = max(1, self.limit // 2)

    def _position(self, row: Any) -> tuple[dt.datetime | None, int]:
        key = row.get(self.key) if isinstance(row, dict) else None
        if not isinstance(key, int) or isinstance(key, bool):
            raise ApiError(f"ShortQuery on {self.table} sent a row without a whole {self.key}")
        if self.stamp is None:
            return (None, key)
        stamp = parse_query_time(row.get(self.stamp))
        if stamp is None:
            raise ApiError(f"ShortQuery on {self.table} sent a row without a usable {self.stamp}")
        return (stamp, key)


def parse_query_time(value: Any) -> dt.datetime | None:
    """A ShortQuery date-time ("yyyy-MM-ddTHH:mm:ss", or with a space), or None if not one."""
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.strip()).replace(microsecond=0, tzinfo=None)
    except ValueError:
        return None


def _literal(moment: dt.datetime) -> str:
    # isoformat, not strftime: Linux's strftime writes year 1 as "1", not "0001".
    return f"'{moment.replace(microsecond=0).isoformat(sep=' ')}'"


def _moved(before: tuple[dt.datetime | None, int], after: tuple[dt.datetime | None, int]) -> bool:
    if before[0] is None or after[0] is None:
        return after[1] > before[1]
    return (after[0], after[1]) > (before[0], before[1])
