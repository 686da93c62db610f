"""odmirror's own bookkeeping: the cursor per resource and one row per run."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.orm import Session

from etl.mapping import office_clock
from etl.mirror.bookkeeping import SyncRun, SyncState
from etl.mirror.classify import LoadCounts
from etl.outside_text import shown
from etl.wording import plural

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    """This machine's clock in UTC, naive: only for our own records, never for the cursor."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: The most characters of a run's error the run table keeps.
ERROR_LIMIT = 1000


@dataclass
class RunStats(LoadCounts):
    """What one run did: what it fetched, and what saving did with it."""

    fetched: int = 0
    unique: int = 0
    rejected: int = 0
    set_aside: int = 0
    requests: int = 0
    office_clock: dt.datetime | None = None  # the first serverDateTime the run read, as sent


@dataclass
class RunResult:
    """How a run of one resource ended."""

    resource: str
    mode: str
    stats: RunStats
    seconds: float
    cursor: dt.datetime | None
    advanced: bool
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The one-line summary the CLI prints."""
        s = self.stats
        line = (
            f"{self.resource} ({self.mode}): fetched {plural(s.fetched, 'row')} "
            f"({s.unique} distinct), {s.inserted} inserted, {s.updated} updated, "
            f"{s.unchanged} unchanged; {plural(s.requests, 'request')}; {self.seconds:.1f} s"
        )
        if s.rejected or s.set_aside:
            line += (
                f"; {s.rejected} rejected, {s.set_aside} with values set aside "
                "(see odmirror_rejected)"
            )
        if self.cursor is not None:
            kept = "" if self.advanced else " (kept)"
            line += f"; cursor {self.cursor.strftime(TIME_FORMAT)} office time{kept}"
        return "; ".join([line, *self.notes])


def get_cursor(engine: Engine, resource: str) -> dt.datetime | None:
    """The saved cursor of a resource (office local time); None before the first success.

    A cursor later than any office clock can be now (saved by an earlier version from a server
    clock gone wrong) reads no later edit: it is ignored, and the run reads everything.
    """
    with engine.connect() as conn:
        cursor = conn.execute(
            select(SyncState.cursor).where(SyncState.resource == resource)
        ).scalar_one_or_none()
    if cursor is not None and not office_clock.plausible(cursor):
        log.warning(
            "%s: the saved cursor %s is later than any office clock now: reading everything",
            resource,
            cursor.strftime(TIME_FORMAT),
        )
        return None
    return cursor


def last_active(engine: Engine) -> dt.datetime | None:
    """When the mirror's latest run ended, or began if it has not ended (utcnow's clock)."""
    latest = select(SyncRun.started_at, SyncRun.finished_at).order_by(SyncRun.id.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(latest).first()
    return None if row is None else row.finished_at or row.started_at


def start_run(engine: Engine, resource: str, mode: str, cursor: dt.datetime | None) -> int:
    """Record a run as started; runs of this resource left 'running' by a killed process end."""
    with engine.begin() as conn:
        conn.execute(
            update(SyncRun)
            .where(SyncRun.resource == resource, SyncRun.status == "running")
            .values(status="interrupted", note="the process ended before the run finished")
        )
        run_id = conn.execute(
            insert(SyncRun)
            .values(
                resource=resource,
                mode=mode,
                status="running",
                started_at=utcnow(),
                cursor_before=cursor,
            )
            .returning(SyncRun.id)
        ).scalar_one()
    return int(run_id)


def close_run(
    conn: Connection,
    run_id: int,
    stats: RunStats,
    error: str | None = None,
    new_cursor: dt.datetime | None = None,
    note: str | None = None,
    status: str = "failed",
) -> None:
    """Close a run in the caller's transaction; on success save the cursor (if it advances).

    `status` is what a run with an error ended as: failed, or lost-lock (etl.mirror.lock).
    The transaction is the caller's, so that what must commit with the run's end does. The
    error is stored on one line, control characters escaped and cut: it may quote a server.
    """
    error = None if error is None else shown(error, ERROR_LIMIT)
    conn.execute(
        update(SyncRun)
        .where(SyncRun.id == run_id)
        .values(
            status=status if error else "success",
            finished_at=utcnow(),
            cursor_after=new_cursor,
            office_clock=stats.office_clock,
            error=error,
            note=note,
            **_counts(stats),
        )
    )
    if error is None:
        resource_name, mode = conn.execute(
            select(SyncRun.resource, SyncRun.mode).where(SyncRun.id == run_id)
        ).one()
        _save_success(conn, resource_name, run_id, new_cursor, replace=mode == "full")


def move_cursor(engine: Engine, resource: str, run_id: int, cursor: dt.datetime) -> None:
    """Move the cursor a completed run left where it was, once its change check found nothing
    (etl.sync.drift_checks); not if a later run of the resource has completed since."""
    with engine.begin() as conn:
        conn.execute(update(SyncRun).where(SyncRun.id == run_id).values(cursor_after=cursor))
        conn.execute(
            update(SyncState)
            .where(SyncState.resource == resource, SyncState.last_run_id == run_id)
            .values(cursor=cursor)
        )


def count_requests(engine: Engine, run_id: int, requests: int) -> None:
    """Count on a closed run the requests made for it after it closed (its change check)."""
    with engine.begin() as conn:
        conn.execute(
            update(SyncRun).where(SyncRun.id == run_id).values(requests=SyncRun.requests + requests)
        )


def interrupt_run(engine: Engine, run_id: int, stats: RunStats, note: str) -> None:
    """Close a run stopped on request: its pages are saved, its cursor is not moved."""
    with engine.begin() as conn:
        conn.execute(
            update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(
                status="interrupted",
                finished_at=utcnow(),
                office_clock=stats.office_clock,
                note=note,
                **_counts(stats),
            )
        )


def forget_run(engine: Engine, run_id: int) -> None:
    """Remove the row of a run begun ahead of its turn that never came (etl.sync.overlap): it
    saved nothing, and the resource's last run is the one before, as if it never began."""
    with engine.begin() as conn:
        conn.execute(delete(SyncRun).where(SyncRun.id == run_id))


def _counts(stats: RunStats) -> dict[str, int]:
    return {
        "rows_fetched": stats.fetched,
        "rows_inserted": stats.inserted,
        "rows_updated": stats.updated,
        "rows_unchanged": stats.unchanged,
        "rows_rejected": stats.rejected,
        "requests": stats.requests,
    }


def _save_success(
    conn: Connection, resource: str, run_id: int, cursor: dt.datetime | None, replace: bool
) -> None:
    values: dict[str, object] = {"last_success_at": utcnow(), "last_run_id": run_id}
    # A full run read everything again: what it derived replaces what earlier runs had (a
    # cursor it cannot move is cleared, so that a wrong one is never kept past `--full`).
    if cursor is not None or replace:
        values["cursor"] = cursor
    changed = conn.execute(
        update(SyncState).where(SyncState.resource == resource).values(**values)
    ).rowcount
    if not changed:  # the resource's first success (the run holds the mirror's lock)
        conn.execute(insert(SyncState).values(resource=resource, **values))


def latest_runs(engine: Engine, limit: int = 5) -> list[SyncRun]:
    """The most recent runs, newest first."""
    with Session(engine) as session:
        runs = session.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)).all()
        session.expunge_all()
        return list(runs)


def states(engine: Engine) -> list[SyncState]:
    """The saved state of every resource."""
    with Session(engine) as session:
        rows = session.scalars(select(SyncState).order_by(SyncState.resource)).all()
        session.expunge_all()
        return list(rows)
