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
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, Index
from sqlalchemy.exc import SQLAlchemyError

from etl import indexes, rejects, removals, state
from etl.block import Block
from etl.client import ApiClient, Page
from etl.columnar import map_page
from etl.config import Settings
from etl.control import RunControl, StopRequested
from etl.errors import ApiError, DatabaseError
from etl.load import has_rows, save_blocks
from etl.lock import mirror_lock
from etl.pii import DEFAULT_POLICY, PiiPolicy
from etl.pipeline import Prefetch
from etl.resources import Resource, select_resources
from etl.schema import check_schema, describe, make_engine
from etl.seen import SeenKeys, ShownValues
from etl.transform import RejectedRecord, map_record, parse_server_time

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
        pii: the PHI policy applied to every record before it is stored.
        control: stop request and progress hook.
    """

    def __init__(
        self,
        engine: Engine,
        client: ApiClient,
        resource: Resource,
        overlap: dt.timedelta,
        full: bool = False,
        pii: PiiPolicy = DEFAULT_POLICY,
        control: RunControl | None = None,
    ) -> None:
        self.engine, self.client, self.resource = engine, client, resource
        self.overlap, self.full = overlap, full
        self.control = control or RunControl()
        self.stats = state.RunStats()
        self.run_start: dt.datetime | None = None
        self.first_sent: float | None = None
        self.multi_page = False
        self.seen = SeenKeys()
        # A cursor taken from the rows, or marking rows a whole pull no longer lists, needs each
        # key's change time; only such resources keep them (they are the small ones).
        wanted = resource.cursor_from_rows or resource.mark_missing
        self.stamps: dict[Any, dt.datetime | None] = {}
        self.keep_stamps = bool(wanted)
        self.shown = ShownValues(resource.passes)
        self.notes: list[str] = []
        self.pii = pii
        self.run_id: int | None = None
        self.pending_rejects: list[rejects.Reject] = []
        self.fresh = False  # the table held no row when the run began
        self.deferred: list[Index] = []  # its indexes, to build when the rows are in

    def run(self) -> state.RunResult:
        """Run once; the run row records success or the error, and errors propagate."""
        self.control.check()  # a stop asked for during an earlier resource: do not start
        began = time.monotonic()
        cursor = None if self.full else state.get_cursor(self.engine, self.resource.name)
        mode = "full" if cursor is None else "incremental"
        run_id = self.run_id = state.start_run(self.engine, self.resource.name, mode, cursor)
        requests_before = self.client.requests_made
        try:
            self.fresh = not has_rows(self.engine, self.resource.table)
            self.deferred = indexes.defer(self.engine, self.resource.table, self.fresh)
            new_cursor = self._pull_all(cursor)
        except StopRequested:
            self._build_anyway()
            self.stats.requests = self.client.requests_made - requests_before
            state.interrupt_run(self.engine, run_id, self.stats, "stopped on request (signal)")
            raise
        except BaseException as exc:
            self._build_anyway()
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

    def _build_anyway(self) -> None:
        # The run has failed: its error is what the user must see, not a second one.
        try:
            indexes.build(self.engine, self.deferred)
        except SQLAlchemyError:
            log.warning("could not build the indexes of %s; the next run will", self.resource.name)

    def _pull_all(self, cursor: dt.datetime | None) -> dt.datetime | None:
        since = window_start(cursor, self.overlap) if cursor is not None else None
        self._pull(since)
        # The last requests (Deleted rows, change checks) wait for the API: the indexes a first
        # load deferred are built meanwhile.
        with indexes.built_meanwhile(self.engine, self.deferred):
            self._after_pull()
            return self._new_cursor()

    def _new_cursor(self) -> dt.datetime | None:
        if self.run_start is None and self.resource.cursor_from_rows:
            # The row change times come from the server's clock too, and nothing newer was read.
            self.run_start = max((s for s in self.stamps.values() if s is not None), default=None)
        if self.run_start is None:
            if self.stats.fetched and self.resource.cursor_param:
                self._note("the API sent no serverDateTime, so the cursor cannot move")
            return None
        if self.multi_page and self.resource.cursor_param and self._changed_while_reading():
            self._note("rows changed while pages were read: cursor kept, next run reads again")
            return None
        return self.run_start

    def _after_pull(self) -> None:
        # Only after every pass completed: a failed pull has raised before this point.
        resource, now = self.resource, state.utcnow()
        if resource.deletions is not None:
            gone = removals.delete_rows(
                self.engine, resource, removals.deleted_keys(self.client, resource)
            )
            if gone:
                self.notes.append(f"{gone} deleted in Open Dental, removed from the mirror")
        if resource.mark_missing and resource.cursor_param is None:
            marked, back = removals.mark_missing(self.engine, resource, self.stamps, now)
            if marked or back:
                self.notes.append(f"{marked} no longer listed (odmirror_gone_at set), {back} back")

    def _pull(self, since: dt.datetime | None) -> None:
        repeated, previous, current = 0, None, None
        with Prefetch(self._pages(since)) as pages:
            for filters, number, page in pages:
                if filters is not current:
                    repeated, previous, current = 0, None, filters
                # An empty page after the first proves the first was the whole list.
                self.multi_page = self.multi_page or (number > 0 and bool(page.rows))
                self._save(page)
                self.control.report(
                    self.resource.name, self.stats.fetched, self.client.requests_made
                )
                self.control.check()  # between pages: the page just saved is committed
                repeated, previous = self._check_repeated(page, repeated, previous)

    def _pages(self, since: dt.datetime | None) -> Iterator[tuple[dict[str, str], int, Page]]:
        """The pages of every pass still needed, each with its pass and number (fetch thread).

        A pass starts as soon as the one before has been read, while its pages are still being
        written: whether it is needed depends only on the plain list's pages.
        """
        for filters in self.shown.needed():
            params: dict[str, Any] = dict(filters)
            if since is not None and self.resource.cursor_param:
                params[self.resource.cursor_param] = since.strftime(state.TIME_FORMAT)
            for number, page in enumerate(self.client.pages(self.resource.path, params)):
                if not filters:
                    self.shown.note(page.rows)
                yield filters, number, page

    def _check_repeated(
        self, page: Page, repeated: int, previous: set[Any] | None
    ) -> tuple[int, set[Any]]:
        # The same page again, not merely keys seen before: a later pass (Archived) rightly
        # sends rows the first pass already brought.
        keys = {r.get(self.resource.key) for r in page.rows if isinstance(r, dict)}
        repeated = repeated + 1 if keys and keys == previous else 0
        if repeated >= 2:
            raise ApiError(
                f"the API sent the same {self.resource.name} again for two pages "
                "(it seems to ignore Offset); stopping"
            )
        return repeated, keys

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
            changed = changed or self._news(page.rows)
            self._save(page, track_time=False)
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
            if row[key] not in self.stamps or (row.get(stamp) or dt.datetime.min) > (
                self.stamps[row[key]] or dt.datetime.min
            ):
                return True
        return False

    def _save(self, page: Page, track_time: bool = True) -> int:
        if track_time:
            self._track_server_time(page)
        blocks = self._map(page.rows)
        # A row this run already saved may come again (the overlap, a shifted page, another
        # pass): it is saved again (the upsert keeps the newest) but counted only if newer.
        keys = {k for block in blocks for k in block.column(self.resource.key_column)}
        again = {key for key in keys if key in self.seen}
        for key in keys - again:
            self.seen.add(key)
        if self.keep_stamps:
            self._remember(blocks)
        self.stats.fetched += len(page.rows)
        self.stats.unique = len(self.seen)
        try:
            counts = save_blocks(
                self.engine, self.resource, blocks, state.utcnow(), again, self.fresh
            )
            rejects.record(self.engine, self.pending_rejects, self.run_id, state.utcnow())
            self.pending_rejects.clear()
        except SQLAlchemyError as exc:
            raise DatabaseError(describe(exc, str(self.engine.url))) from None
        self.stats += counts
        return len(keys) - len(again)

    def _remember(self, blocks: list[Block]) -> None:
        column = self.resource.cursor_column or ""
        for block in blocks:
            for key, stamp in zip(
                block.column(self.resource.key_column), block.column(column), strict=True
            ):
                old = self.stamps.get(key)
                if key not in self.stamps or (stamp is not None and (old is None or stamp > old)):
                    self.stamps[key] = stamp

    def _map(self, records: list[Any]) -> list[Block]:
        page = map_page(self.resource, records, self.pii)
        others = {}
        for index, at in enumerate(page.at):
            if at is None and (row := self._map_one(records[index])) is not None:
                others[index] = row
        return page.blocks(others, self.resource.key_column, self.resource.cursor_column)

    def _map_one(self, record: Any) -> dict[str, Any] | None:
        """A record off the short path: its row, what it set aside noted; None if refused."""
        try:
            result = map_record(self.resource, record, self.pii)
        except RejectedRecord as exc:
            self.stats.rejected += 1
            self.pending_rejects.append(rejects.rejected(self.resource, record, str(exc), self.pii))
            self._warn_once("rejected", f"{exc}; record kept in odmirror_rejected")
            return None
        flawed = rejects.flawed(self.resource, result)
        if flawed is not None:
            self.stats.set_aside += 1
            self.pending_rejects.append(flawed)
        for key in result.unknown:
            self._warn_once(key, f"unknown field {key!r} kept in odmirror_extra")
        for key in result.invalid:
            self._warn_once(key, f"undecodable {key!r} stored as NULL, kept in odmirror_extra")
        return result.row

    def _track_server_time(self, page: Page) -> None:
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
    settings: Settings,
    full: bool = False,
    client: ApiClient | None = None,
    control: RunControl | None = None,
    resources: Sequence[str] | None = None,
) -> list[state.RunResult]:
    """Bring every enabled resource of the mirror up to date once.

    Args:
        settings: the config.
        full: ignore the cursors and pull everything.
        client: an API session to use (default: a new one from settings.api).
        control: stop request and progress hook; a stop raises StopRequested after the page
            in flight is committed, with the run recorded as interrupted.
        resources: the names to sync (default: the config's `sync.resources`).

    Returns:
        One result per resource.

    Raises:
        OdMirrorError: a one-line reason; the mirror keeps what earlier pages committed.
        MirrorLocked: another process is syncing this mirror.
    """
    chosen = select_resources(settings.sync.resources if resources is None else resources)
    engine = make_engine(settings.database.url)
    overlap = dt.timedelta(seconds=settings.sync.overlap_seconds)
    try:
        check_schema(engine)
        with mirror_lock(settings.database.url), client or ApiClient(settings.api) as api:
            _pace_after_last_run(engine, api)
            return [
                ResourceSync(engine, api, resource, overlap, full, settings.pii, control).run()
                for resource in chosen
            ]
    except SQLAlchemyError as exc:
        raise DatabaseError(describe(exc, settings.database.url)) from None
    finally:
        engine.dispose()


def _pace_after_last_run(engine: Engine, api: ApiClient) -> None:
    # The throttle counts every request with our keys, a previous process's too: a run that
    # starts right after another waits out the interval from its end (recorded to the second).
    last = state.last_active(engine)
    if last is not None:
        since = (state.utcnow() - last).total_seconds()
        api.not_before(api.settings.min_request_interval + 1.0 - since)
