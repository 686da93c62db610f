"""Where a run starts reading, and where its cursor moves when it completes.

Why the cursor is what it is:
- It is the server's `serverDateTime` at the run's first request (never this machine's clock),
  saved only when the run completes; the next run asks for `DateTStamp >= cursor - overlap`.
- Offset paging over an unordered, changing list can skip a row when another row moves behind
  the reading position. A single page cannot drift; so after a run of several pages we ask once
  more for anything changed since the run began. If something did, rows may have been skipped:
  the cursor stays where it was and the next run reads the same window again. Where the office
  allows SQL, that question waits for the run's one ShortQuery for all lists, which also tells
  whether a row was in fact skipped (etl.sync.drift_checks; `check_later`).
- A time later than any office's clock can be now (etl.mapping.office_clock: a server clock
  set to 2099, a serverDateTime of 9999-12-31) never becomes the cursor: the cursor would read
  no later edit. Such a serverDateTime keeps the cursor where it was; such a row change time is
  stored, but a cursor taken from the rows is taken from the others.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

from etl.api.client import ApiClient, Page
from etl.api.paginator import FirstPagePaginator
from etl.catalog.resources import Resource
from etl.mapping import office_clock
from etl.mapping.record import RejectedRecord, map_record, parse_server_time
from etl.sync import state
from etl.sync.row_stamps import RowStamps
from etl.sync.seen import ShownValues


def window_start(cursor: dt.datetime, overlap: dt.timedelta) -> dt.datetime:
    """Where an incremental run starts reading: the cursor less the overlap.

    Office times carry no zone, so when the clocks go back an hour for winter, the repeated
    hour's second pass stamps rows earlier than a cursor taken in its first pass. We do not know
    the office's zone, but every zone repeats an hour between 23:00 and 03:00 local time: a
    cursor taken then reads one hour further back (cheap: offices are quiet at night).
    """
    if cursor.time() >= dt.time(23, 0) or cursor.time() < dt.time(3, 0):
        return cursor - overlap - dt.timedelta(hours=1)
    return cursor - overlap


class RunCursor:
    """The server's time at one run's first request, and whether the run may move its cursor.

    Args:
        client: the API session, for the change check.
        resource: what the run pulls.
        shown: the resource's passes, which the change check asks again.
        stamps: each saved key's change time (the run fills it; empty unless kept).
        save: saves a page the change check read.
        note: records why the cursor cannot move.
    """

    def __init__(
        self,
        client: ApiClient,
        resource: Resource,
        shown: ShownValues,
        stamps: RowStamps,
        save: Callable[[Page], object],
        note: Callable[[str], None],
    ) -> None:
        self.client, self.resource, self.shown = client, resource, shown
        self.stamps, self.save, self.note = stamps, save, note
        self.run_start: dt.datetime | None = None
        self.first_sent: float | None = None
        self.multi_page = False
        #: The change check waits for the run's one SQL question (etl.sync.drift_checks)...
        self.check_later = False
        #: ...and is still due: the cursor returned moves only if it finds nothing.
        self.unchecked = False

    def saw_page(self, number: int, page: Page) -> None:
        """Note a pass's page `number` (from 0): whether the run read more than one page."""
        # An empty page after the first proves the first was the whole list.
        self.multi_page = self.multi_page or (number > 0 and bool(page.rows))

    def new_cursor(self, fetched: int) -> dt.datetime | None:
        """The cursor a completed run leaves, None to keep the old one.

        Args:
            fetched: how many records the run fetched.
        """
        latest = office_clock.latest_possible()
        if self.run_start is None and self.resource.cursor_from_rows:
            self.run_start = self._newest_trusted(latest)
        if self.run_start is None:
            if fetched and self.resource.cursor_param:
                self.note("the API sent no serverDateTime, so the cursor cannot move")
            return None
        if self.run_start > latest:
            shown = self.run_start.strftime(state.TIME_FORMAT)
            self.note(
                f"the office clock read {shown}, later than any time zone's clock now: "
                "cursor kept (check the office server's clock)"
            )
            return None
        if self.multi_page and self.resource.cursor_param:
            if self.check_later:
                self.unchecked = True
            elif self._changed_while_reading():
                self.note("rows changed while pages were read: cursor kept, next run reads again")
                return None
        return self.run_start

    def held_back(
        self, new_cursor: dt.datetime | None
    ) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(the cursor that waits for the run's change check, the cursor to save now)."""
        if new_cursor is not None and self.unchecked:
            return new_cursor, None
        return None, new_cursor

    def check_since(self) -> dt.datetime:
        """Where the change check starts: one second before the run began (a server whose
        filter is ">" must still show a change made in the very second the run began)."""
        assert self.run_start is not None
        return self.run_start - dt.timedelta(seconds=1)

    def _newest_trusted(self, latest: dt.datetime) -> dt.datetime | None:
        # The row change times come from the server's clock too, and nothing newer was read;
        # but a row stamped later than any clock now is stored, not trusted.
        newest, beyond = self.stamps.newest_trusted(latest)
        if beyond:
            self.note(
                f"{beyond} rows carry a change time later than any office clock now: "
                "stored, not used for the cursor"
            )
        return newest

    def _changed_while_reading(self) -> bool:
        assert self.resource.cursor_param
        since = self.check_since()
        changed = False
        for filters in self.shown.needed():
            params = {**filters, self.resource.cursor_param: since.strftime(state.TIME_FORMAT)}
            first = FirstPagePaginator(self.client.settings.page_size, self.resource.name)
            page = next(self.client.pages(self.resource.path, params, first))
            changed = changed or self._news(page.rows)
            self.save(page)
        return changed

    def _news(self, records: list[Any]) -> bool:
        if not self.resource.cursor_from_rows:
            return bool(records)
        # The cursor is the newest row read, which the check returns again: only a row this run
        # has not saved at that change time is news.
        key, stamp = self.resource.key_column, self.resource.cursor_column or ""
        for record in records:
            try:
                row = map_record(self.resource, record).row
            except RejectedRecord:
                continue
            if self.stamps.is_news(row[key], row.get(stamp)):
                return True
        return False

    def track(self, page: Page) -> None:
        """Take the run's start from the server times a page's rows carry (once known, kept)."""
        if self.first_sent is None:
            self.first_sent = page.sent_at
        if self.run_start is not None:
            return
        # Each distinct text once: a page's rows mostly carry the same time.
        rows = [r for r in page.rows if isinstance(r, dict)]
        texts = {v for r in rows if type(v := r.get("serverDateTime")) is str}
        known = [t for t in map(parse_server_time, texts) if t]
        if not known:
            return
        # The run's first request may have come back empty, without a server time. A duration on
        # our clock (zones do not matter to it) moves this page's server time back to before the
        # first request reached the server: it cannot have been later than this answer's arrival.
        first = page.sent_at == self.first_sent
        lag = 0 if first else math.ceil(max(0.0, page.received_at - self.first_sent))
        self.run_start = min(known) - dt.timedelta(seconds=lag)
