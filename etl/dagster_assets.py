"""Dagster integration (optional: `pip install "odmirror[dagster]"`): the mirror as assets.

For a dental group that outgrows one `odmirror run`: Dagster runs the same sync code, one
materialisation per resource and office, with its retries, schedules, concurrency limits and
run records. In a Dagster code location:

    from etl.dagster_assets import build_definitions
    defs = build_definitions("/etc/odmirror/config.yaml")

Assets `odmirror/schema` (create or upgrade the office's mirror) and `odmirror/<resource>`
for each of `sync.resources`, all partitioned by office (each practice of the config, or
`default` for a config of one office). A run materialises one office: its resources one after
another (the in-process executor), as `odmirror sync` does. Limits: every resource asset is
in the pool `odmirror_database` (`dagster instance concurrency set odmirror_database 4`: so many
syncs write at once), and one run per office at a time (per API key, since the throttle is
per customer key) is the run queue's `tag_concurrency_limits` on the tag `dagster/partition`
(see README). A run that finds its office's mirror locked is retried later.
"""

# No `from __future__ import annotations` here: Dagster reads the `context` annotation of an
# asset's function as an object, and a string would not do.

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from etl.config.load import load_settings
from etl.config.operations import parse_duration
from etl.config.settings import Settings
from etl.config.targets import Target, targets
from etl.mirror.engine import create_schema, current_revision, make_engine, upgrade
from etl.sync.group import api_client
from etl.sync.run import run_sync

#: The partition of a config without `practices:`.
SINGLE_OFFICE = "default"
PREFIX = "odmirror"
DATABASE_POOL = "odmirror_database"
JOB = "odmirror_sync"
#: A resource's materialisation that fails (office offline, mirror locked) is tried again.
RETRIES = dg.RetryPolicy(max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL)


def build_definitions(config: str | Path | None = None) -> dg.Definitions:
    """The assets, the job and the schedule of the config (None: $ODMIRROR_CONFIG or
    ./config.yaml)."""
    settings = load_settings(config)
    offices = office_partitions(settings)
    assets = build_assets(settings, offices)
    # Partitioned as its assets are; one office's resources one after another, in one process.
    job = dg.define_asset_job(
        JOB, selection=dg.AssetSelection.groups(PREFIX), executor_def=dg.in_process_executor
    )
    return dg.Definitions(assets=assets, jobs=[job], schedules=[_schedule(settings, job, offices)])


def office_partitions(settings: Settings) -> dg.StaticPartitionsDefinition:
    """One partition per office: each practice of the config, or SINGLE_OFFICE."""
    return dg.StaticPartitionsDefinition([_office(t) for t in targets(settings)])


def build_assets(settings: Settings, offices: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The schema asset, then one asset per resource of `sync.resources`."""
    assets = [_schema_asset(settings, offices)]
    return assets + [_resource_asset(settings, offices, name) for name in settings.sync.resources]


def _office(target: Target) -> str:
    return target.name or SINGLE_OFFICE


def _target(settings: Settings, office: str) -> Target:
    chosen = None if office == SINGLE_OFFICE else office
    (target,) = targets(settings, chosen)
    return target


def _schema_asset(settings: Settings, offices: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="schema",
        key_prefix=[PREFIX],
        group_name=PREFIX,
        partitions_def=offices,
        description="The office's mirror schema, created or upgraded (odmirror init)",
        kinds={"sql"},
    )
    def schema(context: dg.AssetExecutionContext) -> dg.MaterializeResult[None]:
        target = _target(settings, context.partition_key)
        create_schema(target.settings.database.url, target.schema)
        engine = make_engine(target.settings.database.url)
        try:
            upgrade(engine)
            revision = current_revision(engine)
        finally:
            engine.dispose()
        return dg.MaterializeResult(metadata={"revision": revision or ""})

    return schema


def _resource_asset(
    settings: Settings, offices: dg.PartitionsDefinition, resource: str
) -> dg.AssetsDefinition:
    @dg.asset(
        name=resource,
        key_prefix=[PREFIX],
        group_name=PREFIX,
        partitions_def=offices,
        deps=[dg.AssetKey([PREFIX, "schema"])],
        pool=DATABASE_POOL,
        retry_policy=RETRIES,
        description=f"The mirror's {resource}, brought up to date (odmirror sync)",
        kinds={"sql"},
    )
    def sync(context: dg.AssetExecutionContext) -> dg.MaterializeResult[None]:
        target = _target(settings, context.partition_key)
        client = api_client(target.settings.api)
        (result,) = run_sync(target.settings, client=client, resources=[resource])
        context.log.info(result.summary())
        return dg.MaterializeResult(metadata=_metadata(result))

    return sync


def _metadata(result: Any) -> dict[str, Any]:
    stats = result.stats
    return {
        "mode": result.mode,
        "rows fetched": stats.fetched,
        "inserted": stats.inserted,
        "updated": stats.updated,
        "rejected": stats.rejected,
        "requests": stats.requests,
        "seconds": round(result.seconds, 1),
        "cursor (office time)": str(result.cursor) if result.cursor else "",
    }


def cron_of(settings: Settings) -> str:
    """The schedule as a crontab line: `schedule.cron`, else `every` (or the old interval) as
    the nearest line a crontab can say (every N minutes or hours that divide the hour or day)."""
    if settings.schedule.cron:
        return settings.schedule.cron
    minutes = (
        parse_duration(settings.schedule.every).total_seconds() / 60
        if settings.schedule.every
        else settings.sync.interval_minutes
    )
    whole = max(1, round(minutes))
    if whole < 60:
        step = max(d for d in range(1, whole + 1) if 60 % d == 0)
        return f"*/{step} * * * *"
    hours = max(1, whole // 60)
    step = max(d for d in range(1, min(hours, 24) + 1) if 24 % d == 0)
    return f"0 */{step} * * *"


def _schedule(
    settings: Settings, job: Any, offices: dg.StaticPartitionsDefinition
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="odmirror_schedule",
        cron_schedule=cron_of(settings),
        job=job,
        execution_timezone=settings.schedule.timezone,
    )
    def every_office(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        stamp = (
            context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else ""
        )
        for office in offices.get_partition_keys():
            yield dg.RunRequest(run_key=f"{office}:{stamp}", partition_key=office)

    return every_office
