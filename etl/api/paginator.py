"""Paginators: each way of paging a list endpoint is one small object that owns "next page / done".

Modelled on dlt's rest_client paginators: `update_request` says what to ask for next,
`update_state` takes the rows an answer brought, `has_next_page` says whether to ask again.
The client's loop (`ApiClient.pages`) is the same for every kind of paging; what differs lives
here, with the checks that a page moved the list on (a server that ignores Offset, or repeats
its last page, must end the run with one line, not run forever).
"""

from __future__ import annotations

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
        if not rows or (len(rows) < self.limit and len(rows) not in DOCUMENTED_CAPS):
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


def _hashable(value: Any) -> Hashable:
    # A key sent as a list or an object is a bad record (rejected later), not a crash here.
    return value if isinstance(value, Hashable) else repr(value)


class FirstPagePaginator(OffsetPaginator):
    """Only the first page of a list: enough to learn whether anything matches the filters."""

    def update_state(self, rows: list[Any]) -> None:
        """One page is all that is asked for."""
        self._more = False
