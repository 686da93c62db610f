"""One resource's run: pull what changed since the cursor, save it page by page, move the cursor.

The run reads every pass the resource needs (etl.seen.ShownValues), saves each page as it comes
(etl.saver), records the run's row, and leaves the cursor where etl.cursor says it may go.
What the run's SQL probe proves needs no request is etl.sync.probe_use's; marking the rows a
complete read no longer lists, etl.sync.unlisted's; reading the list, etl.sync.list_pull's.
A run is begun (`start`: its decisions, its row, its fetch thread) and then ended (`run`); the
resource before may begin it early, and abandon it if the run ends first (etl.sync.overlap).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable

from sqlalchemy import Engine, Index
from sqlalchemy.exc import SQLAlchemyError

from etl import fast_paths
from etl.api.client import ApiClient
from etl.api.tally import RequestTally
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
    state,
    whole_probe,
    whole_skip,
)
from etl.sync.changed_rows import ChangedRows
from etl.sync.cursor import RunCursor, window_start
from etl.sync.drift_checks import DriftChecks
from etl.sync.fast_prefetch import Prefetch
from etl.sync.list_pull import ListPull, NumberedPage
from etl.sync.saver import PageSaver
from etl.sync.seen import ShownValues

# The run's warnings keep the logger name they always had (JSON logs show it).
log = logging.getLogger("etl.sync.run")


class ResourceSync(ListPull):
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
        # The run as `start` began it (etl.sync.overlap may call it before this one's turn).
        self.tally = RequestTally()  # the requests made for this run, on any thread
        self.started, self.recorded = False, False  # begun; its row closed
        self.early = False  # begun before its turn
        self.early_failure: Exception | None = None  # what ended a start made early
        self.skipped: state.RunResult | None = None  # not read: its cadence, or the probe
        self.run_id: int | None = None
        self.cursor: dt.datetime | None = None  # where it stood when the run began
        self.mode, self.began, self.requests_before = "full", 0.0, 0
        self.vouched: dt.datetime | None = None  # the probe's clock, if it read a pass for it
        self.parents_seen: dt.datetime | None = None  # a fan-out's parents' newest change
        self._opened = contextlib.ExitStack()  # its fetch thread, once started
        self.pages: Iterable[NumberedPage] | None = None
        self.start_next: Callable[[], None] | None = None  # the next ones' early start

    def run(self) -> state.RunResult:
        """Run once (or end the run `start_early` began); its row records success or the error,
        and errors propagate."""
        self.client.tallies.work_for(self.tally)  # this thread's requests are this run's now
        if not self.started:
            self.start()
        if self.early_failure is not None:
            raise self.early_failure  # its run's row says so already
        if self.skipped is not None:
            return self.skipped
        assert self.run_id is not None
        if self.early:  # its time is its own: from its turn
            self.began = time.monotonic()
        try:
            new_cursor = self._read()
            if self.vouched:  # the skipped passes are vouched for up to the probe's clock only
                new_cursor = pass_probe.cap(new_cursor, self.vouched)
            waits, new_cursor = self.run_cursor.held_back(new_cursor)
            self.stats.requests = self.tally.count - self.requests_before
            self._succeed(self.run_id, new_cursor)  # inside: a lock lost just before is recorded
            self._remember(self.run_id, new_cursor, waits)
        except BaseException as exc:
            self._failed(exc)
            raise
        shown = new_cursor or self.cursor
        return state.RunResult(
            self.resource.name,
            self.mode,
            self.stats,
            time.monotonic() - self.began,
            shown,
            new_cursor is not None,
            self.notes,
        )

    def start(self, fetch: bool = True) -> None:
        """Decide what to read and begin: the run's row, its first requests on the fetch thread.

        Sets `skipped` when the run reads nothing (its cadence, or the probe's proof). Errors
        propagate, the run's row recording them.

        Args:
            fetch: start the list's fetch thread too (else `run`, or the resource before, does).
        """
        self.started = True
        was_for = self.client.tallies.work_for(self.tally)
        try:
            self._start()
        finally:
            self.client.tallies.work_for(was_for)
        if fetch and isinstance(self.pages, Prefetch):
            self.pages.start()

    def start_early(self) -> Prefetch[NumberedPage] | None:
        """Start while the resource before is read (etl.sync.overlap), all but the fetch.

        A failure is kept, and raised when this resource's turn comes: it is not the other's.

        Returns:
            Its pages' fetch, not started, when it reads a list; the one before starts it.
        """
        self.early = True
        try:
            self.start(fetch=False)
        except Exception as exc:
            self.early_failure = exc
            return None
        return self.pages if isinstance(self.pages, Prefetch) else None

    def abandon(self, failure: BaseException) -> None:
        """The run ended before this resource's turn: stop its fetch, undo what it began."""
        self._close_pages(failure)
        if self.run_id is None or self.recorded:
            return
        self._build_anyway()
        try:
            state.forget_run(self.engine, self.run_id)  # never its turn: as if never started
        except SQLAlchemyError:
            log.warning("could not remove the run of %s that never began", self.resource.name)

    def _start(self) -> None:
        self.control.check()  # a stop asked for during an earlier resource: do not start
        due = None if self.full else cadence.next_due(self.engine, self.resource, state.utcnow())
        if due is not None:  # its own cadence (`every`): not yet
            self.skipped = cadence.skipped(self.resource, due)
            return
        if not self.full:  # provably nothing to read (etl.sync.probe_use)
            self.skipped = probe_use.skip_if_proved(
                self.engine, self.resource, self.probe, self.overlap
            )
            if self.skipped is not None:
                return
        if not self.full:  # a whole pull that changed a little: its changed rows by SQL
            self.changes = changed_rows.planned(
                self.engine, self.client, self.resource, self.probe, self.overlap, self.pii,
                self.stats, self.control,
            )  # fmt: skip
        charged = probe_use.before_pull(self.engine, self.resource, self.probe)
        self.vouched = probe_use.vouch_quiet_passes(
            self.resource, self.probe, self.shown, self.notes
        )
        self.run_cursor.check_later = self.drift is not None and self.drift.takes(self.resource)
        self.began = time.monotonic()
        cursor = None if self.full else state.get_cursor(self.engine, self.resource.name)
        self.cursor = cursor
        self.mode = "full" if cursor is None else "incremental"
        self.run_id = self.saver.run_id = state.start_run(
            self.engine, self.resource.name, self.mode, cursor
        )
        self.requests_before = self.tally.count - charged  # the probe's, made before
        try:
            self.saver.fresh = not has_rows(self.engine, self.resource.table)
            # The plain twin keeps the indexes (defer on a table said not to be empty).
            deferring = self.saver.fresh and fast_paths.enabled("deferred_indexes")
            self.deferred = fast_indexes.defer(self.engine, self.resource.table, deferring)
            if self.changes is None:  # the list's first pages are fetched from now on
                self._open_pull()
        except BaseException as exc:
            self._failed(exc)
            raise

    def _remember(
        self, run_id: int, new_cursor: dt.datetime | None, waits: dt.datetime | None
    ) -> None:
        # After the run's success is recorded: what the next runs go by.
        cursor = self.cursor
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

    def _failed(self, exc: BaseException) -> None:
        # Its pages' fetch stopped, the indexes it dropped made again, the run's row closed.
        self._close_pages(exc)
        self._build_anyway()
        self.stats.requests = self.tally.count - self.requests_before
        assert self.run_id is not None
        self.recorded = True
        if isinstance(exc, (StopRequested, KeyboardInterrupt)):
            how = "signal" if isinstance(exc, StopRequested) else "Ctrl-C, at once"
            state.interrupt_run(self.engine, self.run_id, self.stats, f"stopped on request ({how})")
        else:
            self._record_failure(self.run_id, exc)

    def _read(self) -> dt.datetime | None:
        """The changed rows by SQL where planned (the cursor stays), else (or then) the list."""
        if self.changes is not None and self.changes.run(self.saver.run_id, self.notes):
            return None
        self.changes, self.listed_from = None, self.stats.fetched
        if self.pages is None:  # not begun by `start`
            self._open_pull()
        return self._pull_all()

    def _build_anyway(self) -> None:
        # The run has failed: its error is what the user must see, not a second one.
        if self.builds is not None:
            self.builds.finish()  # its own, if carried: those it did not make are made here
        try:
            fast_indexes.build(self.engine, self.deferred)
        except SQLAlchemyError:
            log.warning("could not build the indexes of %s; the next run will", self.resource.name)

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
