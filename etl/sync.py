"""One run: pull what changed since the cursor, save it page by page, then move the cursor.

Why the cursor is what it is:
- It is the server's `serverDateTime` at the run's first request (never this machine's clock),
  saved only when the run completes; the next run asks for `DateTStamp >= cursor - overlap`.
- Offset paging over an unordered, changing list can skip a row when another row moves behind
  the reading position. A single page cannot drift; so after a run of several pages we ask once
  more for anything changed since the run began. If something did, rows may have been skipped:
  the cursor stays where it was and the next run reads the same window again.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from etl import state
from etl.client import ApiClient, Page
from etl.config import Settings
from etl.errors import ApiError, DatabaseError
from etl.load import save_rows
from etl.pipeline import Prefetch
from etl.resources import RESOURCES, Resource
from etl.schema import check_schema, describe, make_engine
from etl.seen import SeenKeys, ShownValues
from etl.transform import MappedRecord, RejectedRecord, map_record, parse_server_time

log = logging.getLogger(__name__)
_warned: set[tuple[str, str]] = set()


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


class ResourceSync:
    """Pull one resource into the mirror once.

    Args:
        engine: the mirror.
        client: the API session.
        resource: what to pull.
        overlap: how far before the cursor to ask again.
        full: ignore the cursor and pull everything.
    """

    def __init__(
        self,
        engine: Engine,
        client: ApiClient,
        resource: Resource,
        overlap: dt.timedelta,
        full: bool = False,
    ) -> None:
        self.engine, self.client, self.resource = engine, client, resource
        self.overlap, self.full = overlap, full
        self.stats = state.RunStats()
        self.run_start: dt.datetime | None = None
        self.first_sent: float | None = None
        self.multi_page = False
        self.seen = SeenKeys()
        self.shown = ShownValues(resource.passes)
        self.notes: list[str] = []

    def run(self) -> state.RunResult:
        """Run once; the run row records success or the error, and errors propagate."""
        began = time.monotonic()
        cursor = None if self.full else state.get_cursor(self.engine, self.resource.name)
        mode = "full" if cursor is None else "incremental"
        run_id = state.start_run(self.engine, self.resource.name, mode, cursor)
        requests_before = self.client.requests_made
        try:
            new_cursor = self._pull_all(cursor)
        except BaseException as exc:
            self.stats.requests = self.client.requests_made - requests_before
            self._record_failure(run_id, exc)
            raise
        self.stats.requests = self.client.requests_made - requests_before
        note = "; ".join(self.notes) or None
        state.finish_run(self.engine, run_id, self.stats, new_cursor=new_cursor, note=note)
        shown = new_cursor or cursor
        return state.RunResult(
            self.resource.name,
            mode,
            self.stats,
            time.monotonic() - began,
            shown,
            new_cursor is not None,
            self.notes,
        )

    def _pull_all(self, cursor: dt.datetime | None) -> dt.datetime | None:
        since = window_start(cursor, self.overlap) if cursor is not None else None
        for filters in self.shown.needed():
            self._pull(filters, since)
        if self.run_start is None:
            if self.stats.fetched:
                self._note("the API sent no serverDateTime, so the cursor cannot move")
            return None
        if self.multi_page and self.resource.cursor_param and self._changed_while_reading():
            self._note("rows changed while pages were read: cursor kept, next run reads again")
            return None
        return self.run_start

    def _pull(self, filters: dict[str, str], since: dt.datetime | None) -> None:
        params: dict[str, Any] = dict(filters)
        if since is not None and self.resource.cursor_param:
            params[self.resource.cursor_param] = since.strftime(state.TIME_FORMAT)
        repeated = 0
        with Prefetch(self.client.pages(self.resource.path, params)) as pages:
            for number, page in enumerate(pages):
                # An empty page after the first proves the first was the whole list.
                self.multi_page = self.multi_page or (number > 0 and bool(page.rows))
                if not filters:
                    self.shown.note(page.rows)
                repeated = self._check_repeated(number, page, self._save(page), repeated)

    def _check_repeated(self, number: int, page: Page, new_keys: int, repeated: int) -> int:
        repeated = repeated + 1 if page.rows and not new_keys and number > 0 else 0
        if repeated >= 2:
            raise ApiError(
                f"the API sent the same {self.resource.name} again for two pages "
                "(it seems to ignore Offset); stopping"
            )
        return repeated

    def _changed_while_reading(self) -> bool:
        assert self.run_start is not None and self.resource.cursor_param
        # One second earlier: a server whose filter is ">" must still show a change made in the
        # very second the run began.
        since = self.run_start - dt.timedelta(seconds=1)
        changed = False
        for filters in self.shown.needed():
            params = {
                **filters,
                self.resource.cursor_param: since.strftime(state.TIME_FORMAT),
                "Limit": self.client.settings.page_size,
                "Offset": 0,
            }
            now = time.monotonic()
            page = Page(self.client.get(self.resource.path, params), 0, now, now)
            if not isinstance(page.rows, list):
                raise ApiError(f"unexpected answer from {self.resource.path}: not a JSON array")
            self._save(page, track_time=False)
            changed = changed or bool(page.rows)
        return changed

    def _save(self, page: Page, track_time: bool = True) -> int:
        if track_time:
            self._track_server_time(page)
        rows = [m.row for m in self._map(page.rows)]
        # A row this run already saved may come again (the overlap, a shifted page, another
        # pass): it is saved again (the upsert keeps the newest) but counted only if newer.
        keys = {row[self.resource.key_column] for row in rows}
        again = {key for key in keys if key in self.seen}
        for key in keys - again:
            self.seen.add(key)
        self.stats.fetched += len(page.rows)
        self.stats.unique = len(self.seen)
        try:
            counts = save_rows(self.engine, self.resource, rows, state.utcnow(), counted=again)
        except SQLAlchemyError as exc:
            raise DatabaseError(describe(exc, str(self.engine.url))) from None
        self.stats += counts
        return len(keys) - len(again)

    def _map(self, records: list[Any]) -> list[MappedRecord]:
        mapped = []
        for record in records:
            try:
                result = map_record(self.resource, record)
            except RejectedRecord as exc:
                self.stats.rejected += 1
                self._warn_once("rejected", f"{exc}; record skipped (counted as rejected)")
                continue
            for key in result.unknown:
                self._warn_once(key, f"unknown field {key!r} kept in odmirror_extra")
            for key in result.invalid:
                self._warn_once(key, f"undecodable {key!r} stored as NULL, kept in odmirror_extra")
            mapped.append(result)
        return mapped

    def _track_server_time(self, page: Page) -> None:
        if self.first_sent is None:
            self.first_sent = page.sent_at
        if self.run_start is not None:
            return
        rows = [r for r in page.rows if isinstance(r, dict)]
        known = [t for t in (parse_server_time(r.get("serverDateTime")) for r in rows) if t]
        if not known:
            return
        # The run's first request may have come back empty, without a server time. A duration on
        # our clock (zones do not matter to it) moves this page's server time back to before the
        # first request reached the server: it cannot have been later than this answer's arrival.
        first = page.sent_at == self.first_sent
        lag = 0 if first else math.ceil(max(0.0, page.received_at - self.first_sent))
        self.run_start = min(known) - dt.timedelta(seconds=lag)

    def _warn_once(self, key: str, message: str) -> None:
        if (self.resource.name, key) not in _warned:
            _warned.add((self.resource.name, key))
            log.warning("%s: %s", self.resource.name, message)

    def _note(self, text: str) -> None:
        self.notes.append(text)
        log.warning("%s: %s", self.resource.name, text)

    def _record_failure(self, run_id: int, exc: BaseException) -> None:
        message = str(exc) if str(exc) else exc.__class__.__name__
        try:
            state.finish_run(self.engine, run_id, self.stats, error=message)
        except SQLAlchemyError:
            log.warning("could not record the failed run in the mirror database")


def run_sync(
    settings: Settings, full: bool = False, client: ApiClient | None = None
) -> list[state.RunResult]:
    """Bring every resource of the mirror up to date once.

    Args:
        settings: the config.
        full: ignore the cursors and pull everything.
        client: an API session to use (default: a new one from settings.api).

    Returns:
        One result per resource.

    Raises:
        OdMirrorError: a one-line reason; the mirror keeps what earlier pages committed.
    """
    engine = make_engine(settings.database.url)
    overlap = dt.timedelta(seconds=settings.sync.overlap_seconds)
    try:
        check_schema(engine)
        with client or ApiClient(settings.api) as api:
            return [
                ResourceSync(engine, api, resource, overlap, full).run()
                for resource in RESOURCES.values()
            ]
    except SQLAlchemyError as exc:
        raise DatabaseError(describe(exc, settings.database.url)) from None
    finally:
        engine.dispose()
