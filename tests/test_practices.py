"""A dental group: practices mirrored into their own schemas or files, at once, with group views.

Where each practice's mirror lives, and the group views, are tested on all three databases; how
a group run goes (an office offline, one practice asked for, status and the scheduled job)
does not depend on the database, and is tested on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import logging
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, create_engine, text

from etl.cli import main
from etl.config.load import load_settings
from etl.config.targets import practice_url
from etl.mirror.engine import make_engine
from etl.mirror.group_views import mirrored_tables
from etl.mirror.views import view_names
from etl.scheduler import SyncJob
from etl.simulator import Simulator, SimulatorConfig
from etl.simulator.group import OfficeGroup
from etl.sync import state
from tests.conftest import PG_URL, _require_postgres
from tests.mariadb import MYSQL_URL, require_mariadb
from tests.test_sync import assert_mirror_matches

ROOT = Path(__file__).resolve().parent.parent
DEVELOPER_KEY = "NFF6i0KrXrxDkZHt"  # Open Dental's published test key
KEYS = {"north": "SynthNorthKey001", "south": "SynthSouthKey002", "east": "SynthEastKey0003"}
SIZES = {"north": 120, "south": 45, "east": 7}


@dataclass
class Group:
    """Where a test's group mirrors: the database URL, practice names and group schema."""

    url: str
    prefix: str
    group_schema: str

    def name(self, short: str) -> str:
        return f"{self.prefix}{short}"

    def engine(self, short: str) -> Engine:
        return make_engine(practice_url(self.url, self.name(short)))


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def group(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Group]:
    """SQLite files in tmp_path, or PostgreSQL schemas (MariaDB databases) whose names start
    with this test's uuid."""
    if request.param == "sqlite":
        yield Group(f"sqlite:///{tmp_path / 'mirror_{practice}.db'}", "", "everyone")
        return
    if request.param == "mysql":
        yield from _mariadb_group()
        return
    _require_postgres()
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield Group(PG_URL, prefix, f"{prefix}group")
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        names = conn.execute(text("SELECT schema_name FROM information_schema.schemata"))
        for (schema,) in names.all():
            if schema.startswith(prefix):
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _mariadb_group() -> Iterator[Group]:
    require_mariadb()
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield Group(MYSQL_URL, prefix, f"{prefix}group")
    admin = create_engine(MYSQL_URL)
    with admin.begin() as conn:
        for (name,) in conn.execute(text("SHOW DATABASES")).all():
            if name.startswith(prefix):
                conn.execute(text(f"DROP DATABASE `{name}`"))
    admin.dispose()


class Offices(dict[str, Simulator]):
    """The offices by short name, and the one API address they are reached at."""

    base_url = ""


@pytest.fixture
def offices() -> Iterator[Offices]:
    """Three offices with different data behind one API address."""
    sims = Offices(
        (short, Simulator(SIZES[short], SimulatorConfig(customer_key=KEYS[short]), seed=seed))
        for seed, short in enumerate(KEYS, 1)
    )
    with OfficeGroup(sims.values()) as front:
        sims.base_url = front.base_url
        yield sims


def write_config(
    tmp_path: Path, group: Group, base_url: str, practices: list[dict[str, Any]], **api: Any
) -> str:
    config = {
        "api": {
            "base_url": base_url,
            "developer_key": DEVELOPER_KEY,
            "page_size": 25,
            "min_request_interval": 0,
            "timeout": 5,
            "max_retries": 0,
            **api,
        },
        "database": {"url": group.url, "group_schema": group.group_schema},
        "practices": practices,
    }
    path = tmp_path / "group.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def three(tmp_path: Path, group: Group, offices: Offices, **api: Any) -> str:
    listed = [{"name": group.name(short), "customer_key": KEYS[short]} for short in KEYS]
    return write_config(tmp_path, group, offices.base_url, listed, **api)


def rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql)).mappings()]


def own_rows(group: Group, short: str) -> list[dict[str, Any]]:
    engine = group.engine(short)
    result = rows(engine, "SELECT * FROM patient ORDER BY patnum")
    engine.dispose()
    return result


def test_each_practice_mirrors_into_its_own_schema_or_file(
    tmp_path: Path, group: Group, offices: Offices, capsys: pytest.CaptureFixture[str]
) -> None:
    config = three(tmp_path, group, offices)
    assert main(["init", "--config", config]) == 0
    out = capsys.readouterr().out
    assert out.count("mirror schema ready at revision") == 3
    assert main(["sync", "--config", config]) == 0
    out = capsys.readouterr().out
    for short, size in SIZES.items():
        line = next(x for x in out.splitlines() if x.startswith(f"{group.name(short)}: patients"))
        assert f"({size} distinct), {size} inserted" in line
        engine = group.engine(short)
        assert_mirror_matches(engine, offices[short])
        engine.dispose()
    assert {sim.requests[0].authorization for sim in offices.values()} == {
        f"ODFHIR {DEVELOPER_KEY}/{key}" for key in KEYS.values()
    }


@pytest.mark.parametrize("group", ["postgresql"], indirect=True)
def test_the_version_table_and_tables_live_in_the_practice_schema(
    tmp_path: Path, group: Group, offices: Offices
) -> None:
    assert main(["init", "--config", three(tmp_path, group, offices)]) == 0
    engine = make_engine(PG_URL)
    found = rows(
        engine,
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE table_schema LIKE '{group.prefix}%' ORDER BY 1, 2",
    )
    engine.dispose()
    per_schema: dict[str, set[str]] = {}
    for row in found:
        per_schema.setdefault(row["table_schema"], set()).add(row["table_name"])
    expected = {t.name for t in mirrored_tables()} | {"odmirror_alembic_version"}
    for short in KEYS:
        assert expected <= per_schema[group.name(short)]
    readable = set(view_names())
    assert per_schema[group.group_schema] == {t.name for t in mirrored_tables()} | readable


def test_group_views_union_every_practice_with_its_name(
    tmp_path: Path, group: Group, offices: Offices, capsys: pytest.CaptureFixture[str]
) -> None:
    config = three(tmp_path, group, offices)
    assert main(["init", "--config", config]) == 0
    assert main(["sync", "--config", config]) == 0
    out = capsys.readouterr().out
    expected = {group.name(short): own_rows(group, short) for short in KEYS}
    got = group_view_rows(group, out)
    assert sorted(got) == sorted(expected)
    for name, own in expected.items():
        assert [{k: v for k, v in r.items() if k != "practice"} for r in got[name]] == own
        assert len(own) == SIZES[name.removeprefix(group.prefix)]


def group_view_rows(group: Group, init_out: str) -> dict[str, list[dict[str, Any]]]:
    """The rows of the group's patient view, by practice, ordered by patnum."""
    if group.url.startswith("sqlite"):
        script = Path(group.url.removeprefix("sqlite:///")).parent / "mirror_everyone.sql"
        assert f"group views: SQLite script {script}" in init_out
        conn = sqlite3.connect(":memory:")
        conn.row_factory = sqlite3.Row
        conn.executescript(script.read_text(encoding="utf-8"))
        found = [dict(r) for r in conn.execute("SELECT * FROM patient ORDER BY practice, patnum")]
        conn.close()
    else:
        assert f"group views: schema {group.group_schema} over" in init_out
        engine = make_engine(group.url)
        view = f"{engine.dialect.identifier_preparer.quote(group.group_schema)}.patient"
        found = rows(engine, f"SELECT * FROM {view} ORDER BY practice, patnum")
        engine.dispose()
    by_practice: dict[str, list[dict[str, Any]]] = {}
    for row in found:
        by_practice.setdefault(row["practice"], []).append(row)
    return by_practice


@pytest.mark.parametrize("group", ["sqlite", "postgresql"], indirect=True)  # orchestration
def test_one_office_offline_the_others_succeed(
    tmp_path: Path, group: Group, offices: Offices, capsys: pytest.CaptureFixture[str]
) -> None:
    alone = Simulator(9, SimulatorConfig(customer_key="SynthWestKey0004"), seed=9).start()
    config = three(tmp_path, group, offices)
    settings = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
    west = {"name": group.name("west"), "customer_key": "SynthWestKey0004"}
    settings["practices"].append({**west, "base_url": alone.base_url})
    Path(config).write_text(yaml.safe_dump(settings), encoding="utf-8")
    try:
        assert main(["init", "--config", config]) == 0
        offices["south"].office_online = False
        alone.office_online = False
        capsys.readouterr()
        assert main(["sync", "--config", config]) == 1
    finally:
        alone.stop()
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert errors[:2] == [
        f"odmirror: error: practice {group.name('south')}: the office is unreachable (400)"
        + errors[0].split("(400)", 1)[1],
        f"odmirror: error: practice {group.name('west')}: the office is unreachable (400)"
        + errors[1].split("(400)", 1)[1],
    ]
    names = f"{group.name('south')}, {group.name('west')}"
    assert errors[2:] == [f"odmirror: error: 2 of 4 practices failed: {names}"]
    assert alone.requests, "west was asked at its own base_url"
    for short in ("north", "east"):
        engine = group.engine(short)
        assert_mirror_matches(engine, offices[short])
        engine.dispose()
    assert own_rows(group, "south") == []


@pytest.mark.parametrize("group", ["sqlite", "postgresql"], indirect=True)  # orchestration
def test_practice_option_syncs_only_that_practice(
    tmp_path: Path, group: Group, offices: Offices, capsys: pytest.CaptureFixture[str]
) -> None:
    config = three(tmp_path, group, offices)
    assert main(["init", "--config", config, "--practice", group.name("east")]) == 0
    out = capsys.readouterr().out
    assert out.count("mirror schema ready") == 1
    left_out = f"left out (run `odmirror init`): {group.name('north')}, {group.name('south')}"
    assert f"over {group.name('east')}; {left_out}" in out
    assert main(["sync", "--config", config, "--practice", group.name("east")]) == 0
    assert offices["north"].requests == offices["south"].requests == []
    engine = group.engine("east")
    assert_mirror_matches(engine, offices["east"])
    engine.dispose()


def test_practices_run_at_once_each_at_its_own_pace(
    tmp_path: Path, offices: Offices, capsys: pytest.CaptureFixture[str]
) -> None:
    """The vendor's Remote API throttles each customer key: a request sooner than the interval
    after the same key's last is refused. The practices' requests interleave (they run at
    once), and no office ever refused one (each kept its own pace).

    The sync runs in a process of its own: the offices' servers, here, note when a request
    arrived on a thread that must first get this process's GIL, which the three syncs' threads
    would hold for tens of milliseconds at a time. A real server's clock does not wait for them.
    """
    for sim in offices.values():
        sim.config.mode, sim.config.throttle_interval = "remote", 0.2
    group = Group(f"sqlite:///{tmp_path / 'm_{practice}.db'}", "", "odmirror_group")
    config = three(tmp_path, group, offices, page_size=10, min_request_interval=0.2)
    assert main(["init", "--config", config]) == 0
    sync = [sys.executable, "-m", "etl", "sync", "--config", config]
    done = subprocess.run(sync, capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr[-3000:]  # all of it, if not
    log = sorted(
        (request.arrived, short) for short, sim in offices.items() for request in sim.requests
    )
    assert all(r.status == 200 for sim in offices.values() for r in sim.requests)
    order = [short for _, short in log]
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    # One after the other, the log would be three blocks: two switches.
    assert switches >= 6, order
    # Every practice had begun before the two long ones (ten requests and more) had finished.
    last = {short: len(order) - 1 - order[::-1].index(short) for short in ("north", "south")}
    assert max(order.index(short) for short in KEYS) < min(last.values()), order


@pytest.mark.parametrize("group", ["sqlite", "postgresql"], indirect=True)  # orchestration
def test_status_and_scheduled_job_cover_every_practice(
    tmp_path: Path,
    group: Group,
    offices: Offices,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = three(tmp_path, group, offices)
    assert main(["run", "--config", config]) == 1
    err = capsys.readouterr().err
    assert err.count("run `odmirror init`") == 3 and "3 of 3 practices failed" in err
    assert main(["init", "--config", config]) == 0
    offices["east"].office_online = False
    with caplog.at_level(logging.INFO):
        assert SyncJob(load_settings(config))() is False
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any(m.startswith(f"{group.name('north')}: patients (full)") for m in logged)
    assert any(f"1 of 3 practices failed: {group.name('east')}" in m for m in logged)
    offices["east"].office_online = True
    assert SyncJob(load_settings(config))() is True
    capsys.readouterr()
    assert main(["status", "--config", config]) == 0
    out = capsys.readouterr().out
    for short, size in SIZES.items():
        assert f"{group.name(short)}: patients: {size} rows; last success" in out
    assert f"{group.name('east')}:   last run #2 full started" in out


def test_ctrl_c_stops_every_practice_after_its_page_in_flight(
    tmp_path: Path, offices: Offices
) -> None:
    group = Group(f"sqlite:///{tmp_path / 'm_{practice}.db'}", "", "odmirror_group")
    config = three(tmp_path, group, offices, page_size=5, min_request_interval=0.3)
    assert main(["init", "--config", config]) == 0
    started = {short: threading.Event() for short in KEYS}
    for short, sim in offices.items():
        sim.on_request(lambda index, _log, short=short: index >= 1 and started[short].set())
    proc = subprocess.Popen(
        [sys.executable, "-m", "etl", "sync", "--config", config],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert all(event.wait(60) for event in started.values())
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, err
    assert err.splitlines()[-1] == (
        "odmirror: sync stopped on request; the pages read so far are saved"
    )
    assert "Traceback" not in err
    # North needs 24 pages of 5: it had not finished, and pages saved so far stay.
    assert len(offices["north"].requests) < 24
    assert 5 <= len(own_rows(group, "north")) < SIZES["north"]
    engine = group.engine("north")
    assert state.get_cursor(engine, "patients") is None
    assert state.latest_runs(engine)[0].status == "interrupted"
    engine.dispose()


def test_init_goes_on_past_a_practice_it_cannot_create(
    tmp_path: Path, offices: Offices, capsys: pytest.CaptureFixture[str]
) -> None:
    group = Group(f"sqlite:///{tmp_path}/{{practice}}/mirror.db", "", "odmirror_group")
    for short in ("north", "east"):
        (tmp_path / short).mkdir()
    assert main(["init", "--config", three(tmp_path, group, offices)]) == 1
    captured = capsys.readouterr()
    script = tmp_path / "odmirror_group" / "mirror.sql"
    assert f"group views: SQLite script {script} (.read it in a session) over north, east; " in (
        captured.out
    )
    assert "left out (run `odmirror init`): south" in captured.out
    assert captured.err.splitlines() == [
        f"odmirror: error: practice south: database sqlite:///{tmp_path}/south/mirror.db: "
        "unable to open database file",
        "odmirror: error: 1 of 3 practices failed: south",
    ]
    assert "ATTACH DATABASE" in script.read_text(encoding="utf-8")
