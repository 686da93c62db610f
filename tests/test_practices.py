"""A dental group: practices mirrored into their own schemas or files, at once, with group views."""

from __future__ import annotations

import itertools
import logging
import os
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

from etl import state
from etl.cli import main
from etl.config import load_settings
from etl.errors import ApiError
from etl.group_views import mirrored_tables
from etl.practices import practice_url, run_each, targets
from etl.scheduler import sync_job
from etl.schema import current_revision, head_revision, make_engine
from etl.simulator import Simulator, SimulatorConfig
from etl.simulator.group import OfficeGroup
from tests.conftest import PG_URL, _require_postgres
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


@pytest.fixture(params=["sqlite", "postgresql"])
def group(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Group]:
    """SQLite files in tmp_path, or PostgreSQL schemas whose names start with this test's uuid."""
    if request.param == "sqlite":
        yield Group(f"sqlite:///{tmp_path / 'mirror_{practice}.db'}", "", "everyone")
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


@pytest.fixture
def offices() -> Iterator[dict[str, Simulator]]:
    """Three offices with different data behind one API address."""
    sims = {
        short: Simulator(SIZES[short], SimulatorConfig(customer_key=KEYS[short]), seed=seed)
        for seed, short in enumerate(KEYS, 1)
    }
    with OfficeGroup(sims.values()) as front:
        for sim in sims.values():
            sim.front = front  # type: ignore[attr-defined]
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


def three(tmp_path: Path, group: Group, offices: dict[str, Simulator], **api: Any) -> str:
    base_url = offices["north"].front.base_url  # type: ignore[attr-defined]
    listed = [{"name": group.name(short), "customer_key": KEYS[short]} for short in KEYS]
    return write_config(tmp_path, group, base_url, listed, **api)


def rows(engine: Engine, sql: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql)).mappings()]


def own_rows(group: Group, short: str) -> list[dict[str, Any]]:
    engine = group.engine(short)
    result = rows(engine, "SELECT * FROM patient ORDER BY patnum")
    engine.dispose()
    return result


def test_each_practice_mirrors_into_its_own_schema_or_file(
    tmp_path: Path, group: Group, offices: dict[str, Simulator], capsys: pytest.CaptureFixture[str]
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


def test_the_version_table_and_tables_live_in_the_practice_schema(
    tmp_path: Path, group: Group, offices: dict[str, Simulator]
) -> None:
    if group.url.startswith("sqlite"):
        pytest.skip("PostgreSQL schemas only")
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
    assert per_schema[group.group_schema] == {t.name for t in mirrored_tables()}


def test_group_views_union_every_practice_with_its_name(
    tmp_path: Path, group: Group, offices: dict[str, Simulator], capsys: pytest.CaptureFixture[str]
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
        engine = make_engine(PG_URL)
        view = f'"{group.group_schema}".patient'
        found = rows(engine, f"SELECT * FROM {view} ORDER BY practice, patnum")
        engine.dispose()
    by_practice: dict[str, list[dict[str, Any]]] = {}
    for row in found:
        by_practice.setdefault(row["practice"], []).append(row)
    return by_practice


def test_one_office_offline_the_others_succeed(
    tmp_path: Path, group: Group, offices: dict[str, Simulator], capsys: pytest.CaptureFixture[str]
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


def test_practice_option_syncs_only_that_practice(
    tmp_path: Path, group: Group, offices: dict[str, Simulator], capsys: pytest.CaptureFixture[str]
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
    tmp_path: Path, offices: dict[str, Simulator], capsys: pytest.CaptureFixture[str]
) -> None:
    """The vendor's Remote API throttles each customer key: a request sooner than the interval
    after the same key's last is refused. The practices' requests interleave (they run at
    once), and no office ever refused one (each kept its own pace)."""
    for sim in offices.values():
        sim.config.mode, sim.config.throttle_interval = "remote", 0.2
    group = Group(f"sqlite:///{tmp_path / 'm_{practice}.db'}", "", "odmirror_group")
    config = three(tmp_path, group, offices, page_size=10, min_request_interval=0.2)
    assert main(["init", "--config", config]) == 0
    assert main(["sync", "--config", config]) == 0
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


def test_log_lines_name_their_practice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(
        write_config(
            tmp_path,
            Group(f"sqlite:///{tmp_path / '{practice}.db'}", "", "odmirror_group"),
            "http://127.0.0.1:9/api/v1",
            [{"name": n, "customer_key": KEYS[n]} for n in KEYS],
        )
    )

    def work(target: Any) -> int:
        logging.getLogger("etl.sync").warning("a warning")
        if target.name == "south":
            raise ApiError("south is down")
        if target.name == "east":
            raise ValueError("a bug")
        return 1

    with caplog.at_level(logging.WARNING):
        outcomes = run_each(targets(settings), work)
    assert sorted(r.getMessage() for r in caplog.records) == [
        "east: a warning",
        "north: a warning",
        "south: a warning",
    ]
    assert [(o.name, o.value, o.error) for o in outcomes] == [
        ("north", 1, None),
        ("south", None, "south is down"),
        ("east", None, "unexpected ValueError: a bug"),
    ]


def test_practice_url_keeps_other_options_and_replaces_the_search_path() -> None:
    base = "postgresql+psycopg://u:pw@db/od?sslmode=require&options=-c%20statement_timeout%3D5"
    assert practice_url(base, "north") == (
        "postgresql+psycopg://u:pw@db/od?options=-c+statement_timeout%3D5+-csearch_path%3Dnorth"
        "&sslmode=require"
    )
    fixture = "postgresql+psycopg://u@db/od?options=-csearch_path%3Dodm_1"
    assert practice_url(fixture, "south") == (
        "postgresql+psycopg://u@db/od?options=-csearch_path%3Dsouth"
    )
    assert practice_url("sqlite:///data/m_{practice}.db", "east") == "sqlite:///data/m_east.db"


BASE = """
api:
  base_url: http://127.0.0.1:9/api/v1
  developer_key: NFF6i0KrXrxDkZHt
database:
  url: {url}
practices:
  - name: north
    customer_key: SynthNorthKey001
  - {second}
"""


@pytest.mark.parametrize(
    ("url", "second", "message"),
    [
        ("sqlite:///m_{practice}.db", "{name: North, customer_key: k}", "practice 2: name 'North'"),
        ("sqlite:///m_{practice}.db", "{name: a-b, customer_key: k}", "name 'a-b' must be lower"),
        ("sqlite:///m_{practice}.db", "{name: public, customer_key: k}", "name 'public' must"),
        ("sqlite:///m_{practice}.db", "{name: pg_x, customer_key: k}", "name 'pg_x' must"),
        ("sqlite:///m_{practice}.db", "{name: odmirror_group, customer_key: k}", "odmirror_group"),
        ("sqlite:///m_{practice}.db", "{name: north, customer_key: k}", "two practices are named"),
        (
            "sqlite:///m_{practice}.db",
            "{name: south, customer_key: SynthNorthKey001}",
            "practices 'north' and 'south' have the same customer_key",
        ),
        ("sqlite:///m_{practice}.db", "{name: south}", "practice 2 has no 'customer_key'"),
        ("sqlite:///m_{practice}.db", "{name: s, customer_key: k, x: 1}", "unknown key 'x'"),
        ("sqlite:///m_{practice}.db", "{name: s, customer_key: k, base_url: ftp://x}", "base_url"),
        ("sqlite:///m.db", "{name: s, customer_key: k}", "needs {practice} in its file name"),
        ("postgresql://u@h/d_{practice}", "{name: s, customer_key: k}", "remove {practice}"),
        ("sqlite:///m_{practice}.db", "just-a-string", "practice 2 must be a mapping"),
    ],
)
def test_bad_practices_are_one_line_config_errors_exit_2(
    tmp_path: Path, url: str, second: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(BASE.format(url=url, second=second), encoding="utf-8")
    assert main(["sync", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"odmirror: error: {path}: ") and message in err, err
    assert err.count("\n") == 1


def test_customer_key_in_api_with_practices_and_placeholder_without(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    text = BASE.format(url="sqlite:///m_{practice}.db", second="{name: s, customer_key: k}")
    path.write_text(text.replace("developer_key:", "customer_key: x\n  developer_key:"), "utf-8")
    assert main(["init", "--config", str(path)]) == 2
    assert "'api.customer_key' is not used with practices" in capsys.readouterr().err
    path.write_text(
        text.split("practices:")[0].replace("developer_key:", "customer_key: x\n  developer_key:"),
        "utf-8",
    )
    assert main(["init", "--config", str(path)]) == 2
    assert "has {practice} but no practices are listed" in capsys.readouterr().err


def test_practice_option_must_name_a_practice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        BASE.format(
            url=f"sqlite:///{tmp_path}/m_{{practice}}.db", second="{name: s, customer_key: k}"
        ),
        "utf-8",
    )
    assert main(["sync", "--config", str(path), "--practice", "nowhere"]) == 2
    assert (
        "no practice named 'nowhere' in the config (it lists north, s)" in capsys.readouterr().err
    )
    single = text_single(tmp_path)
    assert main(["sync", "--config", single, "--practice", "north"]) == 2
    assert "--practice needs a `practices:` list" in capsys.readouterr().err


def text_single(tmp_path: Path) -> str:
    path = tmp_path / "single.yaml"
    path.write_text(
        "api:\n  base_url: http://127.0.0.1:9/api/v1\n  developer_key: d\n  customer_key: c\n"
        f"database:\n  url: sqlite:///{tmp_path}/single.db\n",
        "utf-8",
    )
    return str(path)


def test_status_and_scheduled_job_cover_every_practice(
    tmp_path: Path,
    group: Group,
    offices: dict[str, Simulator],
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
        assert sync_job(load_settings(config)) is False
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any(m.startswith(f"{group.name('north')}: patients (full)") for m in logged)
    assert f"1 of 3 practices failed: {group.name('east')}" in logged
    offices["east"].office_online = True
    assert sync_job(load_settings(config)) is True
    capsys.readouterr()
    assert main(["status", "--config", config]) == 0
    out = capsys.readouterr().out
    for short, size in SIZES.items():
        assert f"{group.name(short)}: patients: {size} rows; last success" in out
    assert f"{group.name('east')}: run #2 patients full" in out


def test_alembic_from_the_repo_upgrades_one_practice(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    text = BASE.format(
        url=f"sqlite:///{tmp_path}/m_{{practice}}.db", second="{name: s, customer_key: k}"
    )
    config.write_text(text, encoding="utf-8")

    def alembic(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "alembic", *extra, "upgrade", "head"],
            cwd=ROOT,
            env={**os.environ, "ODMIRROR_CONFIG": str(config)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    refused = alembic()
    assert refused.returncode != 0 and "pass -x practice=NAME" in refused.stderr
    assert not list(tmp_path.glob("*.db"))
    assert alembic("-x", "practice=s").returncode == 0
    assert [p.name for p in tmp_path.glob("*.db")] == ["m_s.db"]
    engine = make_engine(f"sqlite:///{tmp_path}/m_s.db")
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_ctrl_c_stops_every_practice_at_its_next_request(
    tmp_path: Path, offices: dict[str, Simulator]
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
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == (
        "odmirror: error: interrupted; the mirror keeps every page saved so far"
    )
    assert "Traceback" not in err
    # North needs 24 pages of 5: it had not finished, and pages saved so far stay.
    assert len(offices["north"].requests) < 24
    assert 5 <= len(own_rows(group, "north")) < SIZES["north"]
    engine = group.engine("north")
    assert state.get_cursor(engine, "patients") is None
    engine.dispose()
