"""One Open Dental table's run in query mode: read it with ShortQuery, save it like a resource.

The run takes the office's clock first (`NOW()`, T1), in the same SELECT that asks every table
with a cursor whether its incremental read would return anything (etl.sync.change_probe): a
table that would get no row is not read, its cursor moves to T1, so a run with no change costs
one request for up to 99 tables. A table the mirror has no cursor
for is loaded by primary-key keyset (`WHERE Key > k ORDER BY Key LIMIT 100`): Open Dental
indexes its change columns with PatNum, not the key, so a first load ordered by the change
column would filesort the whole table on every call. Later runs read by the change column from
the cursor minus the overlap up to T1, key as tie-breaker (etl.api.paginator.KeysetPaginator),
and the cursor becomes T1: a row stamped during the run, or committed late with an older stamp,
is read again next time. A table without a change column is read whole each run, and rows it
no longer has get `odmirror_gone_at`. Pages are saved as the endpoints' are (etl.sync.saver):
the same mapping, upsert, rejects and run bookkeeping.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from etl.api import short_query
from etl.api.client import ApiClient
from etl.api.paginator import KeysetPaginator
from etl.api.short_query import QueryNotAllowed, QueryRefused
from etl.catalog.query_tables import QueryResource, query_resource
from etl.config.operations import parse_duration
from etl.config.settings import Settings
from etl.control import RunControl, StopRequested
from etl.mapping.pii import DEFAULT_POLICY, PiiPolicy
from etl.mirror import drift
from etl.mirror.upsert import has_rows
from etl.sync import bulk_load, change_probe, removals, state
from etl.sync.cursor import window_start
from etl.sync.query_detect import queries_allowed
from etl.sync.saver import PageSaver

log = logging.getLogger("etl.sync.run")


class QueryTableSync:
    """Read one Open Dental table through ShortQuery into the mirror once.

    Args:
        engine: the mirror (the table is created if it is missing).
        client: the API session.
        resource: the table (etl.catalog.query_tables.query_resource).
        overlap: how far before the cursor to read again.
        full: ignore the cursor and load the whole table by key.
        pii: the PHI policy applied to every row before it is stored.
        control: stop request and progress hook.
        clock: the office clock the run's change probe read (etl.sync.change_probe); None:
            the run asks `SELECT NOW()` itself.
    """

    def __init__(
        self,
        engine: Engine,
        client: ApiClient,
        resource: QueryResource,
        overlap: dt.timedelta,
        full: bool = False,
        pii: PiiPolicy = DEFAULT_POLICY,
        control: RunControl | None = None,
        clock: dt.datetime | None = None,
    ) -> None:
        self.engine, self.client, self.resource = engine, client, resource
        self.overlap, self.full, self.clock = overlap, full, clock
        self.control = control or RunControl()
        self.stats = state.RunStats()
        self.notes: list[str] = []
        self.saver = PageSaver(engine, resource, pii, self.stats)
        self.charged = 0  # requests made for it before its run: the run's change probe
        self.expected: int | None = None  # the rows after which the read may stop, if known

    def run(self) -> state.RunResult:
        """Run once; the run row records success or the error, and errors propagate."""
        self.control.check()
        began = time.monotonic()
        self.resource.table.create(self.engine, checkfirst=True)
        drift.add_missing_columns(self.engine, self.resource.table)
        cursor = None if self.full else state.get_cursor(self.engine, self.resource.name)
        stamp = self.resource.cursor_field
        mode = "full" if cursor is None or stamp is None else "incremental"
        run_id = self.saver.run_id = state.start_run(self.engine, self.resource.name, mode, cursor)
        requests_before = self.client.requests_made - self.charged
        try:
            self.saver.fresh = not has_rows(self.engine, self.resource.table)
            new_cursor = self._read(cursor if stamp is not None else None)
            self.stats.requests = self.client.requests_made - requests_before
            with self.engine.begin() as conn:
                note = "; ".join(self.notes) or None
                state.close_run(conn, run_id, self.stats, new_cursor=new_cursor, note=note)
        except StopRequested:
            self.stats.requests = self.client.requests_made - requests_before
            state.interrupt_run(self.engine, run_id, self.stats, "stopped on request (signal)")
            raise
        except BaseException as exc:
            self.stats.requests = self.client.requests_made - requests_before
            self._record_failure(run_id, exc)
            raise
        seconds = time.monotonic() - began
        return state.RunResult(
            self.resource.name, mode, self.stats, seconds, new_cursor, True, self.notes
        )

    def _read(self, cursor: dt.datetime | None) -> dt.datetime:
        """Read what the run needs; returns the new cursor (the office clock it began at)."""
        until = self.clock or short_query.office_now(self.client)
        self.stats.office_clock = until
        table, key, stamp = self.resource.table_name, self.resource.key, self.resource.cursor_field
        ceiling = self.client.settings.max_pages
        if cursor is None or stamp is None:
            paging = KeysetPaginator(table, key, max_pages=ceiling)
        else:
            since = min(window_start(cursor, self.overlap), until)
            paging = KeysetPaginator(table, key, stamp, since, until, max_pages=ceiling)
        first = self.full or self.saver.fresh or (stamp is not None and cursor is None)
        stop = None if first else self.expected  # a whole read is not the probe's window
        for page in bulk_load.pages(  # a big first load may go through SFTP
            self.client, self.resource, paging, self.control, self.notes, first
        ):
            self.saver.save(page)
            self.control.report(self.resource.name, self.stats.fetched, self.client.requests_made)
            self.control.check()  # between pages: the page just saved is committed
            if stop is not None and self.stats.fetched >= stop:
                # Every row the probe counted is read: no empty page to learn the end (why
                # that is safe: etl.sync.change_probe.ProbeAnswer.stop_after).
                break
        if stamp is None and self.resource.mark_missing:
            if not self.saver.fresh:  # a table empty when the run began has nothing to mark
                self._mark_missing()
        elif stamp is None:
            # A whole read of a table without odmirror_gone_at: say so, never guess.
            self.notes.append("rows it no longer has are not marked (no odmirror_gone_at)")
        return until

    def _mark_missing(self) -> None:
        # Only after the whole table was read: a failed read has raised before this point.
        marked, back = removals.mark_missing(
            self.engine, self.resource, self.saver.seen, state.utcnow()
        )
        if marked or back:
            self.notes.append(
                f"{marked} no longer in the table (odmirror_gone_at set), {back} back"
            )

    def _record_failure(self, run_id: int, exc: BaseException) -> None:
        message = str(exc) if str(exc) else exc.__class__.__name__
        try:
            with self.engine.begin() as conn:
                status = getattr(exc, "run_status", "failed")
                state.close_run(conn, run_id, self.stats, error=message, status=status)
        except SQLAlchemyError:
            log.warning("could not record the failed run in the mirror database")


def sync_tables(
    engine: Engine,
    client: ApiClient,
    settings: Settings,
    full: bool = False,
    control: RunControl | None = None,
) -> list[state.RunResult]:
    """Read every table `sync.tables` names, if the office may run SQL.

    A tier without the Queries permission skips them all with one line; a table the office
    refuses (401 or 400: a restricted query user, a table its version lacks) is skipped with
    one line naming it, its run recorded as failed, and the others go on.
    """
    names = settings.sync.tables
    if not names:
        return []
    before = client.requests_made
    if not queries_allowed(engine, client, settings.api.queries):
        log.warning("sync.tables skipped (%s): the office does not allow SQL", ", ".join(names))
        for name in names:  # so that `odmirror status` shows each table and why
            _record_skip(engine, name, "skipped: the office's API tier does not allow SQL queries")
        return []
    overlap = dt.timedelta(seconds=settings.sync.overlap_seconds)
    chosen = [r for r in map(query_resource, names) if full or _due_logged(engine, r, settings)]
    if not chosen:
        return []
    asked = client.requests_made - before  # the Queries permission's check, when it is made
    answer = change_probe.probe_tables(engine, client, chosen, overlap, full)
    results: list[state.RunResult] = []
    for resource in chosen:
        # The probe (and the check) are counted on the run's first table, so the summary's
        # requests add up to what the run spent.
        charge = asked + answer.requests if answer is not None and not results else 0
        if answer is not None and answer.unchanged(resource.name):
            results.append(change_probe.record_unchanged(engine, resource, answer, charge, asked))
            continue
        clock = answer.clock if answer is not None else None
        table = QueryTableSync(
            engine, client, resource, overlap, full, settings.pii, control, clock
        )
        table.charged = charge
        table.expected = answer.stop_after(resource.name, overlap) if answer is not None else None
        try:
            results.append(table.run())
        except (QueryNotAllowed, QueryRefused) as exc:
            log.warning("%s skipped: %s", resource.name, exc)
    return results


def _due_logged(engine: Engine, resource: QueryResource, settings: Settings) -> bool:
    if due(engine, resource, settings):
        return True
    log.info("%s: read whole less than %s ago, not yet due", resource.name, whole_every(settings))
    return False


def whole_every(settings: Settings) -> dt.timedelta | None:
    """How often a table without a change column is read whole (None: every run)."""
    every = settings.sync.whole_tables_every
    return parse_duration(every) if every else None


def due(engine: Engine, resource: QueryResource, settings: Settings) -> bool:
    """Whether a table is to be read this run: always, unless it is read whole on a cadence
    (`sync.whole_tables_every`) and its last success is more recent than that."""
    every = whole_every(settings)
    if resource.cursor_field is not None or every is None:
        return True
    saved = {s.resource: s.last_success_at for s in state.states(engine)}
    last = saved.get(resource.name)
    return last is None or state.utcnow() - last >= every


def _record_skip(engine: Engine, name: str, why: str) -> None:
    run_id = state.start_run(engine, name, "full", None)
    with engine.begin() as conn:
        state.close_run(conn, run_id, state.RunStats(), error=why)
