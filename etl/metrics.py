"""Prometheus metrics of the mirror: per office and resource, read from the mirror itself.

What a run did is in the mirror's bookkeeping (odmirror_sync_state, odmirror_sync_run,
odmirror_rejected), so the figures are read from there when scraped: they hold for runs of
this process, of an earlier one, and of a cron job alike, and the row counters never reset.
The API requests and retries by status are this process's own (etl/api/observe.py).

`odmirror run` serves them (etl/health.py, `metrics.port`); `odmirror sync` writes them as a
textfile for node_exporter (`metrics.textfile`) and pushes them to a Pushgateway
(`metrics.pushgateway`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, push_to_gateway, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, and_, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from etl.api import observe
from etl.catalog.resources import select_resources
from etl.config.settings import Settings
from etl.config.targets import targets
from etl.errors import OdMirrorError
from etl.mirror import rejects
from etl.mirror.bookkeeping import SyncRun, SyncState
from etl.mirror.engine import make_engine
from etl.sync.state import utcnow

log = logging.getLogger(__name__)
#: The office label of a config without practices.
SINGLE_OFFICE = "default"
PUSH_TIMEOUT = 10.0
_REMOVED = re.compile(r"(\d+) deleted in Open Dental, removed from the mirror")
_OUTCOMES = ("inserted", "updated", "rejected", "removed")


@dataclass
class ResourceFigures:
    """What the mirror records of one resource."""

    last_success: dt.datetime | None = None
    cursor_set_at: dt.datetime | None = None
    last_ok: bool | None = None
    last_seconds: float | None = None
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_OUTCOMES, 0))
    on_record: int = 0


@dataclass(frozen=True)
class Office:
    """One mirror to read: the office's label, its database, its resources, its API key."""

    name: str
    url: str
    resources: tuple[str, ...]
    customer_key: str


def offices(settings: Settings) -> list[Office]:
    """The office of the config (named SINGLE_OFFICE), or each practice of a group."""
    return [
        Office(
            t.name or SINGLE_OFFICE,
            t.settings.database.url,
            t.settings.sync.resources,
            t.settings.api.customer_key,
        )
        for t in targets(settings)
    ]


def read_figures(engine: Engine, resources: tuple[str, ...]) -> dict[str, ResourceFigures]:
    """The figures of each resource, from the mirror's bookkeeping."""
    found = {r.name: ResourceFigures() for r in select_resources(resources, allow_empty=True)}
    with engine.connect() as conn:
        _read_totals(conn, found)
        _read_state(conn, found)
        _read_last_runs(conn, found)
    for name, counts in rejects.count_by_resource(engine).items():
        if name in found:
            found[name].on_record = counts.rejected + counts.set_aside
    return found


def _read_totals(conn: Connection, found: dict[str, ResourceFigures]) -> None:
    sums = select(
        SyncRun.resource,
        func.sum(SyncRun.rows_inserted),
        func.sum(SyncRun.rows_updated),
        func.sum(SyncRun.rows_rejected),
    ).group_by(SyncRun.resource)
    for name, inserted, updated, rejected in conn.execute(sums):
        if name in found:
            totals = found[name].totals
            totals.update(inserted=inserted or 0, updated=updated or 0, rejected=rejected or 0)
    # Rows removed are counted in the run's note only (etl/sync/resource.py).
    notes = select(SyncRun.resource, SyncRun.note).where(SyncRun.note.like("%deleted in Open%"))
    for name, note in conn.execute(notes):
        if name in found and (match := _REMOVED.search(note or "")):
            found[name].totals["removed"] += int(match.group(1))


def _read_state(conn: Connection, found: dict[str, ResourceFigures]) -> None:
    # The cursor is the office's clock when the run that set it began (its cursor_after): the
    # cursor is as far behind the office's clock now as that start is behind this machine's.
    setter = and_(SyncRun.resource == SyncState.resource, SyncRun.cursor_after == SyncState.cursor)
    state = (
        select(SyncState.resource, SyncState.last_success_at, func.min(SyncRun.started_at))
        .outerjoin(SyncRun, setter)
        .group_by(SyncState.resource, SyncState.last_success_at)
    )
    for name, success, cursor_set_at in conn.execute(state):
        if name in found:
            found[name].last_success, found[name].cursor_set_at = success, cursor_set_at


def _read_last_runs(conn: Connection, found: dict[str, ResourceFigures]) -> None:
    # Each resource's latest run that ended (not running, not interrupted on request).
    ended = SyncRun.status.in_(("success", "failed"))
    latest = select(func.max(SyncRun.id)).where(ended).group_by(SyncRun.resource)
    runs = select(SyncRun.resource, SyncRun.status, SyncRun.started_at, SyncRun.finished_at)
    for name, status, started, finished in conn.execute(runs.where(SyncRun.id.in_(latest))):
        if name in found:
            found[name].last_ok = status == "success"
            if finished is not None:
                found[name].last_seconds = (finished - started).total_seconds()


def _epoch(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


class MirrorCollector(Collector):
    """The metrics of every office of the config, read from its mirror at each collection.

    Args:
        settings: the config.
    """

    def __init__(self, settings: Settings) -> None:
        self.offices = offices(settings)
        self.engines: dict[str, Engine] = {}
        self.lock = threading.Lock()  # scrapes come on threads of their own

    def collect(self) -> Iterator[Metric]:
        """Every metric family, read now."""
        up = GaugeMetricFamily(
            "odmirror_mirror_up", "1 if the mirror could be read", labels=["office"]
        )
        families = _families()
        for office in self.offices:
            figures = self.read(office)
            up.add_metric([office.name], 0 if figures is None else 1)
            for resource, found in (figures or {}).items():
                _add(families, [office.name, resource], found)
        yield up
        yield from families.values()
        yield from _api_families(self.offices)

    def close(self) -> None:
        """Close the database connections."""
        for engine in self.engines.values():
            engine.dispose()
        self.engines.clear()

    def read(self, office: Office) -> dict[str, ResourceFigures] | None:
        """One office's figures, or None if its mirror cannot be read (or is not there)."""
        with self.lock:
            return self._read(office)

    def _read(self, office: Office) -> dict[str, ResourceFigures] | None:
        url = make_url(office.url)
        file = url.database if url.get_backend_name() == "sqlite" else None
        if file and not Path(file).is_file():
            return None  # not initialised: reading would create an empty file
        try:
            if office.name not in self.engines:
                self.engines[office.name] = make_engine(office.url)
            return read_figures(self.engines[office.name], office.resources)
        except (SQLAlchemyError, OdMirrorError) as exc:
            log.warning(
                "metrics: cannot read the mirror of %s: %s", office.name, type(exc).__name__
            )
            return None


def _families() -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
    labels = ["office", "resource"]
    return {
        "success": GaugeMetricFamily(
            "odmirror_last_success_timestamp_seconds",
            "When the resource's last successful run ended (Unix time)",
            labels=labels,
        ),
        "ok": GaugeMetricFamily(
            "odmirror_last_run_success", "1 if the last run that ended succeeded", labels=labels
        ),
        "seconds": GaugeMetricFamily(
            "odmirror_last_run_duration_seconds", "How long the last run took", labels=labels
        ),
        "lag": GaugeMetricFamily(
            "odmirror_cursor_lag_seconds",
            "How far the cursor is behind the office's clock (since the run that set it began)",
            labels=labels,
        ),
        "rows": CounterMetricFamily(
            "odmirror_rows", "Rows written by all runs, by outcome", labels=[*labels, "outcome"]
        ),
        "record": GaugeMetricFamily(
            "odmirror_rejected_on_record",
            "Distinct problems in odmirror_rejected (records not mirrored, values set aside)",
            labels=labels,
        ),
    }


def _add(families: dict[str, GaugeMetricFamily | CounterMetricFamily], labels: list[str],
         found: ResourceFigures) -> None:  # fmt: skip
    now = utcnow()
    if found.last_success is not None:
        families["success"].add_metric(labels, _epoch(found.last_success))
    if found.last_ok is not None:
        families["ok"].add_metric(labels, 1 if found.last_ok else 0)
    if found.last_seconds is not None:
        families["seconds"].add_metric(labels, found.last_seconds)
    if found.cursor_set_at is not None:
        families["lag"].add_metric(labels, max(0.0, (now - found.cursor_set_at).total_seconds()))
    for outcome, total in found.totals.items():
        families["rows"].add_metric([*labels, outcome], total)
    families["record"].add_metric(labels, found.on_record)


def _api_families(chosen: list[Office]) -> Iterator[Metric]:
    names = {office.customer_key: office.name for office in chosen}
    requests = CounterMetricFamily(
        "odmirror_api_requests",
        "API requests this process made, by final status (error: no answer)",
        labels=["office", "status"],
    )
    retries = CounterMetricFamily(
        "odmirror_api_retries",
        "API tries this process made again, by the failed try's status",
        labels=["office", "status"],
    )
    for (key, kind, status), count in sorted(observe.snapshot().items()):
        if key in names:
            family = requests if kind == observe.REQUEST else retries
            family.add_metric([names[key], status], count)
    yield requests
    yield retries


def registry_for(settings: Settings) -> tuple[CollectorRegistry, MirrorCollector]:
    """A registry holding only the mirror's metrics (no process metrics: a textfile is shared)."""
    registry = CollectorRegistry(auto_describe=False)
    collector = MirrorCollector(settings)
    registry.register(collector)
    return registry, collector


def export(settings: Settings) -> None:
    """After a one-shot sync: write the textfile and push to the Pushgateway, as configured.

    A failure is a warning: the sync itself succeeded.
    """
    metrics = settings.metrics
    if not (metrics.textfile or metrics.pushgateway):
        return
    registry, collector = registry_for(settings)
    try:
        if metrics.textfile:
            try:
                write_to_textfile(metrics.textfile, registry)
            except OSError as exc:
                log.warning("metrics: cannot write %s: %s", metrics.textfile, exc.strerror)
        if metrics.pushgateway:
            try:
                push_to_gateway(
                    metrics.pushgateway, job="odmirror", registry=registry, timeout=PUSH_TIMEOUT
                )
            except OSError as exc:
                log.warning("metrics: cannot push to %s: %s", metrics.pushgateway, exc)
    finally:
        collector.close()
