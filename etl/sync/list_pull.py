"""How a resource's list is read: the pages of its passes, fetched on a thread, saved in turn.

Where it starts (the cursor, a status pass's own cursor, a paced window, the parents the probe
chose) is decided before its fetch thread starts, so that the run may begin it while the
resource before ends (etl.sync.overlap); the pages are then saved as they come, and what a
complete read allows (deletions, unlisted rows, the new cursor) follows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import Engine, Index

from etl import fast_paths
from etl.api.client import ApiClient, Page
from etl.api.tally import RequestTally
from etl.catalog.resources import Resource
from etl.control import RunControl
from etl.mirror import fast_indexes
from etl.mirror.fast_indexes import CarriedBuilds
from etl.sync import (
    cadence,
    pass_cadence,
    probe_use,
    requests,
    series,
    state,
    unlisted,
    whole_probe,
)
from etl.sync.cursor import RunCursor, window_start
from etl.sync.fast_prefetch import Prefetch
from etl.sync.saver import PageSaver
from etl.sync.seen import ShownValues

#: A page as the fetch thread hands it over: its pass's filters, its number, the page.
NumberedPage = tuple[dict[str, str], int, Page]


class ListPull:
    """The list-reading half of a resource's run (etl.sync.resource.ResourceSync sets it up)."""

    engine: Engine
    client: ApiClient
    resource: Resource
    listing: Resource
    overlap: dt.timedelta
    full: bool
    control: RunControl
    stats: state.RunStats
    shown: ShownValues
    notes: list[str]
    saver: PageSaver
    run_cursor: RunCursor
    tally: RequestTally
    probe: whole_probe.WholeProbe | None
    builds: CarriedBuilds | None
    deferred: list[Index]
    sampled: bool
    listed: list[dict[str, str]]
    parents: list[int] | None
    parents_seen: dt.datetime | None
    pass_from: dict[str, dt.datetime]
    cursor: dt.datetime | None
    pages: Iterable[NumberedPage] | None
    start_next: Callable[[], None] | None
    _opened: contextlib.ExitStack

    def _pace_window(self) -> None:
        # Without SQL, `sync.whole_tables_every` paces a date window's far reaches.
        narrowed = cadence.narrowed(self.engine, self.resource, state.utcnow())
        if narrowed is not None:
            self.listing, note = narrowed
            self.notes.append(note)

    def _open_pull(self) -> None:
        """Where the list starts, its passes and parents; then its fetch thread starts."""
        cursor = self.cursor
        since = window_start(cursor, self.overlap) if cursor is not None else None
        # A fan-out's cursor is its parents' newest change, read before its children.
        fan_out = self.resource.fan_out
        self.parents_seen = requests.parent_high_water(self.engine, fan_out) if fan_out else None
        unprobed = self.probe is None or self.probe.clock is None
        if since is not None and unprobed:
            self._pace_window()
        if cursor is not None:  # a status pass a run left out reads from its own cursor
            self.pass_from = pass_cadence.plan(
                self.engine, self.resource, self.shown, cursor, self.notes, unprobed
            )
        if not self.full:
            self.parents = probe_use.parents(
                self.engine, self.client, self.resource, self.probe, self.overlap, since
            )
            self.notes += (
                [f"{len(self.parents)} parents read (change probe)"] if self.parents else []
            )
        pages = self._pages(since)
        if fast_paths.enabled("prefetch"):  # the plain twin fetches a page when it is wanted
            self.pages = Prefetch(pages)
            self._opened.push(self.pages)  # its fetch thread, when it starts, ends with the run
        else:
            self.pages = pages

    def _pull_all(self) -> dt.datetime | None:
        self._pull()
        # The last requests (Deleted rows, change checks) wait for the API: the indexes a first
        # load deferred are built meanwhile, and on PostgreSQL on into the next resource.
        carried = self.builds is not None and self.builds.start(self.engine, self.deferred)
        with fast_indexes.built_meanwhile(self.engine, [] if carried else self.deferred):
            self._after_pull()
            # A fan-out's cursor is its parents' newest change; a date window's only says that
            # a complete run happened (etl.sync.requests).
            if self.resource.fan_out is not None:
                return self.parents_seen
            if self.resource.window is not None:  # the office's date read: a complete run
                today = dt.datetime.combine(requests.office_today(self.engine), dt.time())
                return self.run_cursor.new_cursor(self.stats.fetched) or today
            return self.run_cursor.new_cursor(self.stats.fetched)

    def _after_pull(self) -> None:
        # Only after every pass completed: a failed pull has raised before this point.
        resource = self.resource
        if resource.deletions is not None:
            note = probe_use.read_deletions(self.engine, self.client, resource, self.probe)
            self.notes.extend([note] if note else [])
        seen, fresh = self.saver.seen, self.saver.fresh
        self.notes += unlisted.mark_unlisted(self.engine, resource, seen, self.listed, fresh)

    def _pull(self) -> None:
        if isinstance(self.pages, Prefetch):
            self.pages.start()  # unless started already, by the resource before (overlap)
        self._start_next()
        with self._opened:  # the fetch thread ends with the loop, told of the error if any
            for _filters, number, page in self.pages or ():
                self.run_cursor.saw_page(number, page)
                self._save(page)
                self.control.report(
                    self.resource.name, self.stats.fetched, self.client.requests_made
                )
                self.control.check()  # between pages: the page just saved is committed
                self._start_next()
        self._start_next()

    def _start_next(self) -> None:
        # The next resources begin between two pages (etl.sync.overlap).
        if self.start_next is not None:
            self.start_next()

    def _close_pages(self, failure: BaseException) -> None:
        # Its fetch thread ends, or is left to end alone (fast_prefetch.ABANDON_AFTER).
        self._opened.__exit__(type(failure), failure, failure.__traceback__)

    def _pages(self, since: dt.datetime | None) -> Iterator[tuple[dict[str, str], int, Page]]:
        """The pages of every pass still needed, each with its pass and number (fetch thread).

        A pass starts as soon as the one before has been read, while its pages are still being
        written: whether it is needed depends only on the plain list's pages.
        """
        self.client.tallies.work_for(self.tally)  # the fetch thread works for this run
        today = requests.office_today(self.engine) if self.resource.window else None
        for filters in self.shown.needed():
            # One request series per parent key or date window (etl.sync.requests).
            extras = requests.request_params(self.engine, self.listing, since, today, self.parents)
            listed = None if filters else self.listed  # a filtered pass lists part of its scope
            own = self.pass_from.get(pass_cadence.pass_name(self.resource, filters))
            start = since if own is None else window_start(own, self.overlap)
            for number, page in series.pass_pages(
                self.client, self.resource, filters, extras, start, listed
            ):
                if not filters:
                    self.shown.note(page.rows)
                yield filters, number, page

    def _save(self, page: Page) -> int:
        self.run_cursor.track(page)
        new = self.saver.save(page)
        if self.deferred and not self.sampled:
            self.sampled = True  # the first page of a first load: the only rows in the table
            self.deferred = fast_indexes.keep_cheap(self.engine, self.deferred)
        return new
