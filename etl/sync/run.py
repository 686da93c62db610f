"""Bring a mirror up to date once: every chosen resource in turn, under the mirror's lock.

Each resource's run is etl.resource_sync.ResourceSync; where it starts reading and where its
cursor moves (and why the cursor is the server's time) is etl.cursor.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from etl.api.client import ApiClient
from etl.catalog.query_tables import query_resource
from etl.catalog.resources import Resource, select_resources
from etl.config.settings import Settings
from etl.control import RunControl, StopRequested
from etl.errors import DatabaseError, OdMirrorError
from etl.mirror.engine import check_schema, describe, make_engine
from etl.mirror.fast_indexes import CarriedBuilds
from etl.mirror.lock import mirror_lock
from etl.mirror.pii_scrub import apply_policy
from etl.sync import cadence, state, whole_probe
from etl.sync.cursor import window_start
from etl.sync.drift_checks import DriftChecks
from etl.sync.overlap import run_in_turn
from etl.sync.query_mode import sync_tables, whole_every
from etl.sync.reconcile_run import reconcile_tables
from etl.sync.resource import ResourceSync

__all__ = ["ResourceSync", "run_sync", "window_start"]
log = logging.getLogger(__name__)


def run_sync(
    settings: Settings,
    full: bool = False,
    client: ApiClient | None = None,
    control: RunControl | None = None,
    resources: Sequence[str] | None = None,
    reconcile: bool = False,
) -> list[state.RunResult]:
    """Bring every enabled resource of the mirror up to date once.

    Args:
        settings: the config.
        full: ignore the cursors and pull everything.
        client: an API session to use (default: a new one from settings.api).
        control: stop request and progress hook; a stop raises StopRequested after the page
            in flight is committed, with the run recorded as interrupted.
        resources: the names to sync (default: the config's `sync.resources`).
        reconcile: look for rows the office deleted now, whatever `sync.reconcile_every`.

    Returns:
        One result per resource.

    Raises:
        OdMirrorError: a one-line reason; the mirror keeps what earlier pages committed.
        MirrorLocked: another process is syncing this mirror.
    """
    chosen = (
        select_resources(settings.sync.resources, allow_empty=True)  # sync.tables only
        if resources is None
        else select_resources(resources)
    )
    chosen = cadence.with_whole_cadence(chosen, whole_every(settings))
    engine = make_engine(settings.database.url)
    overlap = dt.timedelta(seconds=settings.sync.overlap_seconds)
    try:
        check_schema(engine)
        with (
            mirror_lock(settings.database.url) as held,
            held.guard(engine),  # a lock lost mid-run stops it before its next write
            client or ApiClient(settings.api) as api,
        ):
            if control is not None:
                api.stop_with(control.stop)  # a stop ends waits and the request in flight
            _pace_after_last_run(engine, api)
            apply_policy(engine, settings.pii)  # a stricter policy reaches every stored row
            # One SQL probe for every whole pull: those provably unchanged are not read.
            probe = whole_probe.ask(engine, api, settings.api.queries, chosen, full, overlap)
            results: list[state.RunResult] = []
            # Lists read in pages check for changes with one SQL question, after the last.
            drift = DriftChecks(probe)
            try:
                # A first load's index build runs on into the next resource (PostgreSQL);
                # done before anything after the resources.
                with CarriedBuilds() as builds:
                    syncs = []
                    for resource in chosen:
                        one = ResourceSync(
                            engine, api, resource, overlap, full, settings.pii, control
                        )
                        one.probe, one.drift, one.builds = probe, drift, builds
                        syncs.append(one)
                    # The next ones begin while one is read (etl.sync.overlap).
                    run_in_turn(syncs, results)
            except Exception as exc:  # the lists read before the failure still move their cursors
                _settle_anyway(engine, api, drift, results, exc)
                raise
            drift.settle(engine, api, results)
            # Query mode (sync.tables) only on a whole run, not for a resource asked by name.
            if resources is None:
                results += sync_tables(engine, api, settings, full, control)
            read = _resources_read(chosen, settings, results)
            return results + reconcile_tables(engine, api, settings, read, reconcile, control)
    except SQLAlchemyError as exc:
        raise DatabaseError(describe(exc, settings.database.url)) from None
    finally:
        engine.dispose()


def _settle_anyway(
    engine: Engine,
    api: ApiClient,
    drift: DriftChecks,
    results: list[state.RunResult],
    failure: Exception,
) -> None:
    # A later resource failed (not a stop: StopRequested ends the run at once): its error is
    # what the user must see, so a failure here is logged, never raised over it.
    if isinstance(failure, StopRequested):
        return
    try:
        drift.settle(engine, api, results)
    except (SQLAlchemyError, OdMirrorError) as exc:
        log.warning("the change check of the lists read in pages was not made: %s", exc)


def _pace_after_last_run(engine: Engine, api: ApiClient) -> None:
    # The throttle counts every request with our keys, a previous process's too: a run that
    # starts right after another waits out the interval from its end (recorded to the second).
    last = state.last_active(engine)
    if last is not None:
        since = (state.utcnow() - last).total_seconds()
        api.not_before(api.settings.min_request_interval + 1.0 - since)


def _resources_read(
    chosen: Sequence[Resource], settings: Settings, results: Sequence[state.RunResult]
) -> list[tuple[Resource, state.RunResult]]:
    # Each resource with the result of its read this run (query-mode tables by their name).
    known = {r.name: r for r in chosen}
    read = []
    for result in results:
        resource = known.get(result.resource)
        if resource is None and result.resource in settings.sync.tables:
            resource = query_resource(result.resource)
        if resource is not None:
            read.append((resource, result))
    return read
