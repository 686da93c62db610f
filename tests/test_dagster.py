"""The Dagster assets, materialised in-process with Dagster's own harness (no daemon): a group
of two offices (simulators behind one address) into PostgreSQL, one partition per office."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from etl.config.load import load_settings
from etl.config.targets import practice_url
from etl.mirror.engine import make_engine
from etl.simulator import Simulator, SimulatorConfig
from etl.simulator.group import OfficeGroup
from tests.conftest import PG_URL, _require_postgres
from tests.test_sync import assert_mirror_matches

try:
    import dagster as dg

    from etl.dagster_assets import JOB, build_assets, build_definitions, cron_of, office_partitions
except ModuleNotFoundError as exc:  # the optional extra
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise
    pytest.skip(f"dagster is not installed ({exc.name}): pip install 'odmirror[dagster]'",
                allow_module_level=True)  # fmt: skip

KEYS = {"north": "SimOffice001Key0", "south": "SimOffice002Key0"}
SIZES = {"north": 40, "south": 15}


@pytest.fixture
def group(tmp_path: Path) -> Iterator[tuple[str, dict[str, Simulator], str]]:
    """A config of two practices in PostgreSQL schemas of this test's own; the offices."""
    _require_postgres()
    prefix = f"d{uuid.uuid4().hex[:10]}_"
    sims = {
        name: Simulator(SIZES[name], SimulatorConfig(customer_key=KEYS[name]), seed=seed)
        for seed, name in enumerate(KEYS, 1)
    }
    with OfficeGroup(sims.values()) as front:
        config = {
            "api": {
                "base_url": front.base_url,
                "developer_key": "NFF6i0KrXrxDkZHt",  # Open Dental's published test key
                "min_request_interval": 0,
                "max_retries": 0,
            },
            "database": {"url": PG_URL, "group_schema": f"{prefix}group"},
            "sync": {"resources": ["patients"]},
            "schedule": {"every": "15m"},
            "practices": [{"name": f"{prefix}{n}", "customer_key": k} for n, k in KEYS.items()],
        }
        path = tmp_path / "group.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        yield str(path), {f"{prefix}{n}": sim for n, sim in sims.items()}, prefix
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        for (schema,) in conn.execute(text("SELECT nspname FROM pg_namespace")).all():
            if schema.startswith(prefix):
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def materialised(result: Any, key: str) -> dict[str, Any]:
    """The metadata of the materialisation of asset odmirror/KEY in a run's result."""
    (event,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["odmirror", key])
    ]
    return {name: value.value for name, value in event.metadata.items()}


def test_the_assets_materialise_each_office_into_its_schema(
    group: tuple[str, dict[str, Simulator], str],
) -> None:
    config, sims, _prefix = group
    settings = load_settings(config)
    assets = build_assets(settings, office_partitions(settings))
    instance = dg.DagsterInstance.ephemeral()
    for office, sim in sims.items():
        result = dg.materialize(assets, partition_key=office, instance=instance)
        assert result.success
        assert materialised(result, "schema")["revision"]
        found = materialised(result, "patients")
        assert (found["mode"], found["rows fetched"], found["inserted"]) == (
            "full",
            len(sim.store),
            len(sim.store),
        )
        engine = make_engine(practice_url(PG_URL, office))
        assert_mirror_matches(engine, sim)
        engine.dispose()
    # The next materialisation of one office reads what changed there only.
    office, sim = next(iter(sims.items()))
    sim.store.update(1, LName="Changed")
    result = dg.materialize(assets, partition_key=office, instance=instance)
    found = materialised(result, "patients")
    assert found["mode"] == "incremental" and found["updated"] == 1
    records = instance.get_run_records()
    assert len(records) == 3 and all(r.dagster_run.tags["dagster/partition"] for r in records)


def test_the_job_and_schedule_cover_every_office(
    group: tuple[str, dict[str, Simulator], str],
) -> None:
    config, sims, _prefix = group
    defs = build_definitions(config)
    job = defs.resolve_job_def(JOB)
    assert sorted(job.partitions_def.get_partition_keys()) == sorted(sims)
    schedule = defs.resolve_schedule_def("odmirror_schedule")
    assert schedule.cron_schedule == "*/15 * * * *"
    when = dt.datetime(2026, 12, 7, 3, 15, tzinfo=dt.timezone.utc)
    repository = defs.get_repository_def()
    with dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=repository
    ) as context:
        requests = schedule.evaluate_tick(context).run_requests or []
    assert sorted(r.partition_key for r in requests) == sorted(sims)


@pytest.mark.parametrize(
    ("every", "cron"),
    [("15m", "*/15 * * * *"), ("7m", "*/6 * * * *"), ("2h", "0 */2 * * *"), ("5h", "0 */4 * * *")],
)
def test_the_schedule_as_a_crontab_line(tmp_path: Path, every: str, cron: str) -> None:
    path = tmp_path / "c.yaml"
    config = {
        "api": {"base_url": "http://127.0.0.1:9/api/v1", "developer_key": "NFF6i0KrXrxDkZHt",
                "customer_key": "VzkmZEaUWOjnQX2z"},
        "database": {"url": "sqlite:///m.db"},
        "schedule": {"every": every},
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert cron_of(load_settings(path)) == cron
