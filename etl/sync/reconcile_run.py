"""Which tables a run reconciles (etl.sync.reconcile), when, and how each is recorded.

Every table read this run with an integer key and `odmirror_gone_at`, whose reads do not
already see removed rows (a whole pull marks them itself), is reconciled every
`sync.reconcile_every` (default 1d; 0 or off: never), counted from its last reconciliation,
or from its first complete read: right after a first load there is nothing to find.
`odmirror sync --reconcile` reconciles them now. It runs after the reads, in the same run, so
the mirror is current up to the office's clock; only when the office allows SQL.

Each table's reconciliation is a run of its own in the run table (mode `reconcile`, its
note says what it found), so `odmirror status` shows when it last ran. A table the office
refuses (401, 400), that still times out, or whose answers fail is recorded as failed with one
line, and the others go on (an office out of reach ends the reconciling for this run); the
reads, already saved, are not failed by it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence

from sqlalchemy import Engine, Integer, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from etl.api.client import ApiClient
from etl.catalog.opendental import OD_TABLES
from etl.catalog.query_tables import QueryResource
from etl.catalog.resources import Resource
from etl.config.operations import parse_duration
from etl.config.settings import Settings
from etl.control import RunControl, StopRequested
from etl.errors import ApiError, OfficeUnreachableError
from etl.mirror.bookkeeping import SyncRun
from etl.sync import state
from etl.sync.query_detect import queries_allowed
from etl.sync.reconcile import Reconciler, Target

log = logging.getLogger("etl.sync.run")
MODE = "reconcile"
OFF = ("0", "off", "no", "false", "never")


def reconcile_every(settings: Settings) -> dt.timedelta | None:
    """`sync.reconcile_every` as a duration; None when it is off."""
    every = settings.sync.reconcile_every
    if every is None or every.strip().lower() in OFF:
        return None
    return parse_duration(every)


def target(resource: Resource) -> Target | None:
    """The table to reconcile for a resource, or None if reconciling it adds nothing."""
    table = resource.table
    if resource.mark_missing or resource.table_name not in OD_TABLES:
        return None  # a whole pull marks what it no longer gets
    if isinstance(resource, QueryResource) and resource.cursor_field is None:
        return None
    if resource.window is not None and resource.window.first_back is not None:
        # The mirror holds only the dates its windows read (schedules): the office's other rows
        # would be "not yet read" in every range, every day. The windows mark their own.
        return None
    if "odmirror_gone_at" not in table.c:
        return None
    if not isinstance(table.c[resource.key_column].type, Integer):
        return None
    od_key = OD_TABLES[resource.table_name][0].name
    return Target(resource.table_name, od_key, table, resource.key_column)


def reconcile_tables(
    engine: Engine,
    client: ApiClient,
    settings: Settings,
    read: Sequence[tuple[Resource, state.RunResult]],
    force: bool = False,
    control: RunControl | None = None,
) -> list[state.RunResult]:
    """Reconcile the tables read this run that are due (all of them with `force`).

    Args:
        engine: the mirror.
        client: the office's API session.
        settings: the config (`sync.reconcile_every`, `sync.removed_rows`, `api.queries`).
        read: each resource read this run, with its result (a skipped one is left alone).
        force: reconcile now, whatever the cadence (`odmirror sync --reconcile`).
        control: stop requests.

    Returns:
        One result per table reconciled (mode `reconcile`).
    """
    every = reconcile_every(settings)
    if every is None and not force:
        return []
    now = state.utcnow()
    chosen = [
        (resource, goal)
        for resource, result in read
        if result.mode != "skipped" and (goal := target(resource)) is not None
        if force or (every is not None and _due(engine, resource.name, every, now))
    ]
    if not chosen:
        return []
    try:
        allowed = queries_allowed(engine, client, settings.api.queries, bool(settings.sync.tables))
    except ApiError as exc:  # asked again next run
        log.warning("removed rows not reconciled: %s", exc)
        return []
    if not allowed:
        log.info("removed rows not reconciled: the office does not allow SQL queries")
        return []
    drop = settings.sync.removed_rows == "delete"
    results = []
    for resource, goal in chosen:
        try:
            result = _one(engine, client, resource.name, goal, drop, control)
        except OfficeUnreachableError:
            break  # the others would wait out the same timeouts: next time
        if result is not None:
            results.append(result)
    return results


def _one(
    engine: Engine,
    client: ApiClient,
    name: str,
    goal: Target,
    drop: bool,
    control: RunControl | None,
) -> state.RunResult | None:
    began, before = time.monotonic(), client.requests_made
    run_id = state.start_run(engine, name, MODE, None)
    stats = state.RunStats()
    try:
        outcome = Reconciler(engine, client, goal, state.utcnow(), control, drop).run()
    except StopRequested:
        stats.requests = client.requests_made - before
        state.interrupt_run(engine, run_id, stats, "stopped on request (signal)")
        raise
    except ApiError as exc:  # the reads are saved: the run goes on, this table's is failed
        log.warning("%s not reconciled: %s", name, exc)
        _close(engine, run_id, client.requests_made - before, "failed", str(exc), None)
        if isinstance(exc, OfficeUnreachableError):
            raise
        return None
    except BaseException as exc:
        _close(engine, run_id, client.requests_made - before, "failed", str(exc), None)
        raise
    stats.requests = client.requests_made - before
    note = outcome.note(stats.requests)
    _close(engine, run_id, stats.requests, "success", None, note)
    seconds = time.monotonic() - began
    return state.RunResult(name, MODE, stats, seconds, None, False, [note])


def _close(
    engine: Engine, run_id: int, requests: int, status: str, error: str | None, note: str | None
) -> None:
    # Not state.close_run: a reconciliation is no read, so the resource's last success and
    # cursor stay the read's.
    try:
        with engine.begin() as conn:
            conn.execute(
                update(SyncRun)
                .where(SyncRun.id == run_id)
                .values(
                    status=status,
                    finished_at=state.utcnow(),
                    error=None if error is None else error[: state.ERROR_LIMIT],
                    note=note,
                    requests=requests,
                )
            )
    except SQLAlchemyError:
        if error is None:
            raise
        log.warning("could not record the failed reconciliation in the mirror database")


def _due(engine: Engine, name: str, every: dt.timedelta, now: dt.datetime) -> bool:
    """Whether `every` has passed since the last reconciliation (or the first complete read)."""
    runs = select(SyncRun.finished_at).where(SyncRun.resource == name, SyncRun.status == "success")
    with engine.connect() as conn:
        last = conn.execute(
            runs.with_only_columns(func.max(SyncRun.finished_at)).where(SyncRun.mode == MODE)
        ).scalar()
        if last is None:
            last = conn.execute(
                runs.with_only_columns(func.min(SyncRun.finished_at)).where(SyncRun.mode != MODE)
            ).scalar()
    return last is not None and (now - last >= every or last > now)
