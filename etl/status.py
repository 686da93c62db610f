"""`odmirror status`: how fresh the mirror is, in text or JSON, with an exit code for monitors.

Exit codes: 0 fresh and the last run of every resource succeeded (or was stopped on request);
3 the last finished run of a resource failed but the mirror is still within `status.max_age`;
4 the mirror is stale (older than `status.max_age`, or never synced), or its office clock is in
doubt (etl.clock_watch: a time no zone has, a jump, a cursor that stands still while rows change).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from etl.catalog.query_tables import QueryResource, query_resource
from etl.catalog.resources import Resource, select_resources
from etl.clock_watch import clock_problems
from etl.config.operations import max_age
from etl.config.settings import Settings
from etl.mirror import rejects
from etl.mirror.bookkeeping import SyncRun, SyncState
from etl.outside_text import shown
from etl.sync import cadence, state
from etl.sync.query_mode import whole_every
from etl.wording import plural

OK, FAILED, STALE = 0, 3, 4
#: The word for each exit code, in the JSON answer.
VERDICTS = {OK: "ok", FAILED: "failed", STALE: "stale"}
_RUN_FIELDS = (
    "id",
    "mode",
    "status",
    "rows_fetched",
    "rows_inserted",
    "rows_updated",
    "rows_unchanged",
    "rows_rejected",
    "requests",
    "error",
    "note",
)


@dataclass
class ResourceStatus:
    """What `status` knows of one resource."""

    name: str
    rows: int
    cursor: dt.datetime | None
    last_success_at: dt.datetime | None
    age: dt.timedelta | None
    last_run: SyncRun | None
    last_finished: SyncRun | None
    problems: rejects.RejectCounts = field(default_factory=rejects.RejectCounts)
    clock: list[str] = field(default_factory=list)
    #: Open Dental's columns its endpoint does not send, and how many columns the table has.
    not_sent: tuple[str, ...] = ()
    od_columns: int = 0
    #: How much older than `status.max_age` it may be: a table read whole on a cadence.
    cadence: dt.timedelta = dt.timedelta(0)

    def stale(self, max_age: dt.timedelta) -> bool:
        """Whether it is older than it may be (never synced included)."""
        return self.age is None or self.age > max_age + self.cadence

    @property
    def failed(self) -> bool:
        """Whether the last run that ended, failed (or lost the mirror's lock)."""
        ended = self.last_finished
        return ended is not None and ended.status in ("failed", "lost-lock")


@dataclass
class MirrorStatus:
    """The whole answer of `odmirror status`."""

    now: dt.datetime
    max_age: dt.timedelta
    resources: list[ResourceStatus]

    def problems(self) -> list[str]:
        """One phrase per reason to exit non-zero."""
        found = []
        for res in self.resources:
            if res.age is None:
                found.append(f"{res.name} never synced")
            elif res.stale(self.max_age):
                limit = _age(self.max_age + res.cadence)
                found.append(f"{res.name} last synced {_age(res.age)} ago (limit {limit})")
            if res.failed:
                found.append(f"the last run of {res.name} failed")
            found += res.clock
        return found

    def exit_code(self) -> int:
        """0 ok, 3 last run failed, 4 stale or the office clock in doubt (stale wins)."""
        if any(r.stale(self.max_age) or r.clock for r in self.resources):
            return STALE
        return FAILED if any(r.failed for r in self.resources) else OK


def collect(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> MirrorStatus:
    """Read the status of the mirror; `now` is naive UTC (default: this machine's clock)."""
    now = now or state.utcnow()
    limit = max_age(settings, now.replace(tzinfo=dt.timezone.utc))
    saved = {s.resource: s for s in state.states(engine)}
    flaws = rejects.count_by_resource(engine)
    with Session(engine) as session:
        resources = [
            _resource_status(session, resource, saved.get(resource.name), now, limit)
            for resource in _chosen(settings)
        ]
    every = whole_every(settings) or dt.timedelta(0)
    for res, chosen in zip(resources, _chosen(settings), strict=True):
        res.problems = flaws.get(res.name, res.problems)
        if isinstance(chosen, QueryResource):
            res.cadence = every if chosen.cursor_field is None else dt.timedelta(0)
        else:  # a resource read on a cadence (`every`, or whole_tables_every) is that much older
            res.cadence = chosen.every or dt.timedelta(0)
    return MirrorStatus(now, limit, resources)


def _chosen(settings: Settings) -> list[Resource]:
    # The endpoints' resources, then the tables read with SQL (query mode).
    tables = [query_resource(name) for name in settings.sync.tables]
    endpoints = select_resources(settings.sync.resources, allow_empty=True)
    return [*cadence.with_whole_cadence(endpoints, whole_every(settings)), *tables]


def _resource_status(
    session: Session,
    resource: Resource,
    entry: SyncState | None,
    now: dt.datetime,
    limit: dt.timedelta,
) -> ResourceStatus:
    # A query-mode table is created by its first run: none yet is no row yet.
    exists = inspect(session.connection()).has_table(resource.table.name)
    rows = (session.scalar(select(func.count()).select_from(resource.table)) or 0) if exists else 0
    runs = _runs(session, select(SyncRun).where(SyncRun.resource == resource.name))
    success = entry.last_success_at if entry else None
    cursor = entry.cursor if entry else None
    moves = resource.cursor_param is not None
    return ResourceStatus(
        name=resource.name,
        rows=int(rows),
        cursor=entry.cursor if entry else None,
        last_success_at=success,
        age=max(now - success, dt.timedelta(0)) if success else None,
        last_run=runs[0] if runs else None,
        last_finished=next((r for r in runs if r.status != "running"), None),
        clock=clock_problems(resource.name, cursor, runs, now, limit, moves),
        not_sent=resource.columns_not_sent,
        od_columns=sum("od_storage" in c.info for c in resource.table.columns),
    )


def _runs(session: Session, query: Any, limit: int = 20) -> list[SyncRun]:
    runs = list(session.scalars(query.order_by(SyncRun.id.desc()).limit(limit)).all())
    session.expunge_all()
    return runs


def text_lines(status: MirrorStatus) -> list[str]:
    """The human answer: per resource its state and its last run, then the verdict."""
    lines = []
    for res in status.resources:
        lines.append(_resource_line(res))
        if res.last_run is not None:
            lines.append(f"  last run {_run_line(res.last_run)}")
    problems = status.problems()
    verdict = {OK: "ok", FAILED: "FAILED", STALE: "STALE"}[status.exit_code()]
    detail = "; ".join(problems) or f"every resource synced within {_age(status.max_age)}"
    lines.append(f"status: {verdict}: {detail}")
    return lines


def _resource_line(res: ResourceStatus) -> str:
    if res.last_success_at is None or res.age is None:
        return f"{res.name}: {plural(res.rows, 'row')}; never synced"
    # A resource read whole each time (no change filter) has no cursor.
    cursor = f"cursor {res.cursor:{state.TIME_FORMAT}} office time" if res.cursor else "no cursor"
    flaws = res.problems
    kept = ""
    if flaws.rejected or flaws.set_aside:
        kept = f"; odmirror_rejected: {flaws.rejected} rejected, {flaws.set_aside} set aside"

    return (
        f"{res.name}: {plural(res.rows, 'row')}; last success {res.last_success_at} UTC "
        f"({_age(res.age)} ago); {cursor}{kept}{_not_sent(res)}"
    )


def _not_sent(res: ResourceStatus) -> str:
    if not res.not_sent:
        return ""
    return (
        f"; {len(res.not_sent)} of {res.od_columns} Open Dental columns not sent by the endpoint"
        " (NULL; --json names them)"
    )


def _run_line(run: SyncRun) -> str:
    # Escaped again: a mirror written by an earlier version may hold raw server text.
    outcome = f"{run.status}: {shown(run.error, state.ERROR_LIMIT)}" if run.error else run.status
    ended = f", finished {run.finished_at} UTC" if run.finished_at else ""
    return (
        f"#{run.id} {run.mode} started {run.started_at} UTC{ended}: {outcome}; "
        f"fetched {run.rows_fetched}, inserted {run.rows_inserted}, updated {run.rows_updated}, "
        f"rejected {run.rows_rejected}; {plural(run.requests, 'request')}"
    )


def as_json(status: MirrorStatus, mirror: str, schema: str | None) -> str:
    """The machine answer: one JSON document (times in UTC with Z, cursors in office time)."""
    return json.dumps(as_document(status, mirror, schema), indent=2)


def as_document(status: MirrorStatus, mirror: str, schema: str | None) -> dict[str, Any]:
    """What `as_json` writes, as a dict (a group's answer holds one per practice)."""
    return {
        "mirror": mirror,
        "schema_revision": schema,
        "checked_at": _utc(status.now),
        "max_age_seconds": int(status.max_age.total_seconds()),
        "status": VERDICTS[status.exit_code()],
        "exit_code": status.exit_code(),
        "problems": status.problems(),
        "resources": [_resource_json(r) for r in status.resources],
    }


def _resource_json(res: ResourceStatus) -> dict[str, Any]:
    run = res.last_run
    last_run = None
    if run is not None:
        last_run = {name: getattr(run, name) for name in _RUN_FIELDS}
        last_run.update(started_at=_utc(run.started_at), finished_at=_utc(run.finished_at))
        clock = run.office_clock  # office time, no zone, like the cursor
        last_run["office_clock"] = clock.strftime(state.TIME_FORMAT) if clock else None
    return {
        "resource": res.name,
        "rows": res.rows,
        "cursor": res.cursor.strftime(state.TIME_FORMAT) if res.cursor else None,
        "last_success_at": _utc(res.last_success_at),
        "age_seconds": int(res.age.total_seconds()) if res.age is not None else None,
        "rejected": res.problems.rejected,
        "set_aside": res.problems.set_aside,
        "columns_not_sent": list(res.not_sent),
        "last_run": last_run,
    }


def _utc(moment: dt.datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _age(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"
