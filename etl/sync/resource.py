"""One resource's run: pull what changed since the cursor, save it page by page, move the cursor.

The run reads every pass the resource needs (etl.seen.ShownValues), saves each page as it comes
(etl.saver), records the run's row, and leaves the cursor where etl.cursor says it may go.
What the run's SQL probe proves needs no request is etl.sync.probe_use's; marking the rows a
complete read no longer lists, etl.sync.unlisted's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterator

from sqlalchemy import Engine, Index
from sqlalchemy.exc import SQLAlchemyError

from etl import fast_paths
from etl.api.client import ApiClient, Page
from etl.catalog.resources import Resource
from etl.control import RunControl, StopRequested
from etl.mapping.pii import DEFAULT_POLICY, PiiPolicy
from etl.mirror import fast_indexes, rejects
from etl.mirror.fast_indexes import CarriedBuilds
from etl.mirror.upsert import has_rows
from etl.sync import (
    cadence,
    changed_rows,
    pass_cadence,
    pass_probe,
    probe_use,
    requests,
    series,
    state,
    unlisted,
    whole_probe,
    whole_skip,
)
from etl.sync.changed_rows import ChangedRows
from etl.sync.cursor import RunCursor, window_start
from etl.sync.drift_checks import DriftChecks
from etl.sync.fast_prefetch import Prefetch
from etl.sync.saver import PageSaver
from etl.sync.seen import ShownValues

# The run's warnings keep the logger name they always had (JSON logs show it).
log = logging.getLogger("etl.sync.run")


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
        self.overlap, self.full, self.pii = overlap, full, pii
        self.control = control or RunControl()
        self.stats = state.RunStats()
        self.shown = ShownValues(resource.passes)
        self.notes: list[str] = []
        self.saver = PageSaver(engine, resource, pii, self.stats)
        self.run_cursor = RunCursor(
            client, resource, self.shown, self.saver.stamps, self.saver.save, self._note
        )
        self.deferred: list[Index] = []  # its indexes, to build when the rows are in
        self.sampled = False  # whether the first page has shown which are cheap to keep
        self.listed: list[dict[str, str]] = []  # unfiltered request series read to their end
        self.probe: whole_probe.WholeProbe | None = None  # the run's probe of whole pulls
        self.parents: list[int] | None = None  # a fan-out's parents the probe chose
        self.changes: ChangedRows | None = None  # its changed rows, read by SQL
        self.listed_from = 0  # rows read before the whole list (changed rows given up on)
        self.listing = resource  # as its lists are asked (a paced window narrowed: cadence)
        self.drift: DriftChecks | None = None  # the run's change checks asked by SQL
        self.pass_from: dict[str, dt.datetime] = {}  # status passes' own, older cursors
        self.builds: CarriedBuilds | None = None  # index builds carried into the next resource

    def run(self) -> state.RunResult:
        """Run once; the run row records success or the error, and errors propagate."""
        self.control.check()  # a stop asked for during an earlier resource: do not start
        due = None if self.full else cadence.next_due(self.engine, self.resource, state.utcnow())
        if due is not None:  # its own cadence (`every`): not yet
            return cadence.skipped(self.resource, due)
        if not self.full:  # provably nothing to read (etl.sync.probe_use)
            unchanged = probe_use.skip_if_proved(
                self.engine, self.resource, self.probe, self.overlap
            )
            if unchanged is not None:
                return unchanged
        if not self.full:  # a whole pull that changed a little: its changed rows by SQL
            self.changes = changed_rows.planned(
                self.engine, self.client, self.resource, self.probe, self.overlap, self.pii,
                self.stats, self.control,
            )  # fmt: skip
        charged = probe_use.before_pull(self.engine, self.resource, self.probe)
        vouched = probe_use.vouch_quiet_passes(self.resource, self.probe, self.shown, self.notes)
        self.run_cursor.check_later = self.drift is not None and self.drift.takes(self.resource)
        began = time.monotonic()
        cursor = None if self.full else state.get_cursor(self.engine, self.resource.name)
        mode = "full" if cursor is None else "incremental"
        run_id = self.saver.run_id = state.start_run(self.engine, self.resource.name, mode, cursor)
        requests_before = self.client.requests_made - charged  # the probe's, made before
        try:
            self.saver.fresh = not has_rows(self.engine, self.resource.table)
            # The plain twin keeps the indexes (defer on a table said not to be empty).
            deferring = self.saver.fresh and fast_paths.enabled("deferred_indexes")
            self.deferred = fast_indexes.defer(self.engine, self.resource.table, deferring)
            new_cursor = self._read(cursor)
            if vouched:  # the skipped passes are vouched for up to the probe's clock only
                new_cursor = pass_probe.cap(new_cursor, vouched)
            waits, new_cursor = self.run_cursor.held_back(new_cursor)
            self.stats.requests = self.client.requests_made - requests_before
            self._succeed(run_id, new_cursor)  # inside: a lock lost just before is recorded
            pass_cadence.remember(self.engine, self.resource, self.shown, new_cursor or cursor)
            if waits is not None and self.drift is not None:
                window = None if cursor is None else window_start(cursor, self.overlap)
                since = self.run_cursor.check_since()
                self.drift.wait(self.resource, run_id, window, since, waits)
            if self.listing is self.resource:  # its whole window read (if it has one)
                cadence.window_read(self.engine, self.resource, state.utcnow())
            if self.changes is not None:
                self.changes.keep(self.probe)
            else:
                listed = self.stats.fetched - self.listed_from
                whole_skip.after_pull(self.engine, self.resource, self.probe, listed)
            probe_use.remember(
                self.engine,
                self.resource,
                self.probe,
                cursor,
                self.parents is not None,
                self.listed,
            )
        except (StopRequested, KeyboardInterrupt) as exc:
            self._build_anyway()
            self.stats.requests = self.client.requests_made - requests_before
            how = "signal" if isinstance(exc, StopRequested) else "Ctrl-C, at once"
            state.interrupt_run(self.engine, run_id, self.stats, f"stopped on request ({how})")
            raise
        except BaseException as exc:
            self._build_anyway()
            self.stats.requests = self.client.requests_made - requests_before
            self._record_failure(run_id, exc)
            raise
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

    def _read(self, cursor: dt.datetime | None) -> dt.datetime | None:
        """The changed rows by SQL where planned (the cursor stays), else (or then) the list."""
        if self.changes is not None and self.changes.run(self.saver.run_id, self.notes):
            return None
        self.changes, self.listed_from = None, self.stats.fetched
        return self._pull_all(cursor)

    def _pace_window(self) -> None:
        # Without SQL, `sync.whole_tables_every` paces a date window's far reaches.
        narrowed = cadence.narrowed(self.engine, self.resource, state.utcnow())
        if narrowed is not None:
            self.listing, note = narrowed
            self.notes.append(note)

    def _build_anyway(self) -> None:
        # The run has failed: its error is what the user must see, not a second one.
        if self.builds is not None:
            self.builds.finish()  # its own, if carried: those it did not make are made here
        try:
            fast_indexes.build(self.engine, self.deferred)
        except SQLAlchemyError:
            log.warning("could not build the indexes of %s; the next run will", self.resource.name)

    def _pull_all(self, cursor: dt.datetime | None) -> dt.datetime | None:
        since = window_start(cursor, self.overlap) if cursor is not None else None
        # A fan-out's cursor is its parents' newest change, read before its children; a date
        # window's only says that a complete run happened (etl.sync.requests).
        fan_out, window = self.resource.fan_out, self.resource.window
        parents_seen = requests.parent_high_water(self.engine, fan_out) if fan_out else None
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
        self._pull(since)
        # The last requests (Deleted rows, change checks) wait for the API: the indexes a first
        # load deferred are built meanwhile, and on PostgreSQL on into the next resource.
        carried = self.builds is not None and self.builds.start(self.engine, self.deferred)
        with fast_indexes.built_meanwhile(self.engine, [] if carried else self.deferred):
            self._after_pull()
            if fan_out is not None:
                return parents_seen
            if window is not None:  # the office's date read: a complete run happened
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

    def _succeed(self, run_id: int, new_cursor: dt.datetime | None) -> None:
        # Problems the run resolved go in the transaction that records its success: a failed
        # or stopped run, or one whose end is not recorded, removes none.
        with self.engine.begin() as conn:
            resolved = rejects.clear_resolved(conn, self.resource.name, run_id, self.saver.seen)
            if resolved:
                problems = "problem" if resolved == 1 else "problems"
                self.notes.append(
                    f"{resolved} earlier {problems} no longer seen, removed from odmirror_rejected"
                )
                log.info("%s: %s", self.resource.name, self.notes[-1])
            note = "; ".join(self.notes) or None
            state.close_run(conn, run_id, self.stats, new_cursor=new_cursor, note=note)

    def _pull(self, since: dt.datetime | None) -> None:
        pages_of = Prefetch if fast_paths.enabled("prefetch") else contextlib.nullcontext
        with pages_of(self._pages(since)) as pages:
            for _filters, number, page in pages:
                self.run_cursor.saw_page(number, page)
                self._save(page)
                self.control.report(
                    self.resource.name, self.stats.fetched, self.client.requests_made
                )
                self.control.check()  # between pages: the page just saved is committed

    def _pages(self, since: dt.datetime | None) -> Iterator[tuple[dict[str, str], int, Page]]:
        """The pages of every pass still needed, each with its pass and number (fetch thread).

        A pass starts as soon as the one before has been read, while its pages are still being
        written: whether it is needed depends only on the plain list's pages.
        """
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

    def _note(self, text: str) -> None:
        self.notes.append(text)
        log.warning("%s: %s", self.resource.name, text)

    def _record_failure(self, run_id: int, exc: BaseException) -> None:
        message = str(exc) if str(exc) else exc.__class__.__name__
        try:
            with self.engine.begin() as conn:
                status = getattr(exc, "run_status", "failed")  # lost-lock (etl.mirror.lock)
                state.close_run(conn, run_id, self.stats, error=message, status=status)
        except SQLAlchemyError:
            log.warning("could not record the failed run in the mirror database")
