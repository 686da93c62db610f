"""Issue 22, item 1: what broke for a new user, an office's IT person and a dental group."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from etl.cli import main
from etl.config.load import load_settings
from etl.scheduler import SyncJob
from etl.status import ResourceStatus, _resource_line
from etl.sync.state import RunResult, RunStats
from tests import test_practices as practices
from tests.conftest import PG_URL, _require_postgres
from tests.test_cli import _keys, run_cli, write_config  # noqa: F401 - _keys: autouse
from tests.test_practices import KEYS, SIZES, Group, Offices, rows, three

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "postgresql"])
def group(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Group]:
    """tests/test_practices.py's: where a group mirrors, on each database."""
    yield from practices.group.__wrapped__(request, tmp_path)  # type: ignore[attr-defined]


@pytest.fixture
def offices() -> Iterator[Offices]:
    """tests/test_practices.py's: three offices behind one API address."""
    yield from practices.offices.__wrapped__()  # type: ignore[attr-defined]


def test_status_json_on_a_group_is_one_document_with_every_practice(
    tmp_path: Path, group: Group, offices: Offices, capsys: pytest.CaptureFixture[str]
) -> None:
    config = three(tmp_path, group, offices)
    assert main(["init", "--config", config]) == 0
    assert main(["sync", "--config", config]) == 0
    capsys.readouterr()
    assert main(["status", "--json", "--config", config]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["status"], document["exit_code"]) == ("ok", 0)
    found = {p["practice"]: p for p in document["practices"]}
    assert sorted(found) == sorted(group.name(short) for short in KEYS)
    for short, size in SIZES.items():
        practice = found[group.name(short)]
        assert practice["status"] == "ok" and practice["schema_revision"]
        (patients,) = practice["resources"]
        assert (patients["resource"], patients["rows"]) == ("patients", size)
        assert patients["last_run"]["status"] == "success"


def test_a_scheduled_group_run_logs_each_summary_once_then_a_total(
    tmp_path: Path, group: Group, offices: Offices, caplog: pytest.LogCaptureFixture
) -> None:
    config = three(tmp_path, group, offices)
    assert main(["init", "--config", config]) == 0
    with caplog.at_level(logging.INFO):
        assert SyncJob(load_settings(config))() is True
    logged = [r.getMessage() for r in caplog.records]
    summaries = [m for m in logged if "patients (full): fetched" in m]
    assert sorted(m.split(":")[0] for m in summaries) == sorted(group.name(s) for s in KEYS)
    (total,) = [m for m in logged if m.startswith("group: ")]
    assert total.startswith(
        "group: 3 practices, 3 synced, 0 failed; fetched 172 rows, 172 inserted, 0 updated; "
    )


def test_group_readable_views_show_labels_of_every_practice(
    tmp_path: Path, group: Group, offices: Offices, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    config = three(tmp_path, group, offices)
    assert main(["init", "--config", config]) == 0
    assert main(["sync", "--config", config]) == 0
    query = "SELECT * FROM {view} ORDER BY practice, patnum"
    if group.url.startswith("sqlite"):
        script = Path(group.url.removeprefix("sqlite:///")).parent / "mirror_everyone.sql"
        conn = sqlite3.connect(":memory:")
        conn.row_factory = sqlite3.Row
        conn.executescript(script.read_text(encoding="utf-8"))
        got = [dict(r) for r in conn.execute(query.format(view="patient_v"))]
        conn.close()
    else:
        engine = create_engine(PG_URL)
        got = rows(engine, query.format(view=f'"{group.group_schema}".patient_v'))
        engine.dispose()
    for short in KEYS:
        engine = group.engine(short)
        own = rows(engine, "SELECT * FROM patient_v ORDER BY patnum")
        engine.dispose()
        mine = [r for r in got if r["practice"] == group.name(short)]
        assert [{k: v for k, v in r.items() if k != "practice"} for r in mine] == own
        assert len(own) == SIZES[short] and all(r["patstatus_label"] for r in own)


@pytest.fixture
def reader() -> Any:
    """A PostgreSQL role with no login, dropped after the test: a BI tool's reader."""
    _require_postgres()
    name = f"reader_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {name} NOLOGIN"))
    yield name
    with admin.begin() as conn:
        conn.execute(text(f"DROP OWNED BY {name}"))
        conn.execute(text(f"DROP ROLE {name}"))
    admin.dispose()


def reads(role: str, sql: str) -> int:
    """The row count `sql` gives when run as `role`."""
    engine = create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"SET LOCAL ROLE {role}"))
            return len(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def test_init_again_keeps_a_readers_select_on_the_views(
    tmp_path: Path, make_sim: Any, reader: str
) -> None:
    schema = f"odm_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        config = str(write_config(tmp_path, make_sim(12), url))
        assert main(["init", "--config", config]) == 0
        assert main(["sync", "--config", config]) == 0
        with admin.begin() as conn:
            conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {reader}"))
            conn.execute(text(f"GRANT SELECT ON {schema}.patient_v TO {reader}"))
        assert reads(reader, f"SELECT * FROM {schema}.patient_v") == 12
        assert main(["init", "--config", config]) == 0  # drops and recreates the views
        assert reads(reader, f"SELECT * FROM {schema}.patient_v") == 12
        with pytest.raises(Exception, match="permission denied"):
            reads(reader, f"SELECT * FROM {schema}.provider_v")  # never granted, still not
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_init_again_keeps_a_readers_select_on_the_group_views(
    tmp_path: Path, offices: Offices, reader: str
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    group = Group(PG_URL, prefix, f"{prefix}group")
    config = three(tmp_path, group, offices)
    admin = create_engine(PG_URL)
    try:
        assert main(["init", "--config", config]) == 0
        assert main(["sync", "--config", config]) == 0
        with admin.begin() as conn:
            conn.execute(text(f"GRANT USAGE ON SCHEMA {group.group_schema} TO {reader}"))
            for short in KEYS:
                conn.execute(text(f"GRANT USAGE ON SCHEMA {group.name(short)} TO {reader}"))
                conn.execute(text(f"GRANT SELECT ON {group.name(short)}.patient_v TO {reader}"))
            conn.execute(text(f"GRANT SELECT ON {group.group_schema}.patient_v TO {reader}"))
        view = f"SELECT * FROM {group.group_schema}.patient_v"
        assert reads(reader, view) == sum(SIZES.values())
        assert main(["init", "--config", config]) == 0
        assert reads(reader, view) == sum(SIZES.values())
    finally:
        with admin.begin() as conn:
            for (name,) in conn.execute(text("SELECT nspname FROM pg_namespace")).all():
                if name.startswith(prefix):
                    conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def test_init_and_status_need_no_api_keys(
    tmp_path: Path, make_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = str(write_config(tmp_path, make_sim(3), f"sqlite:///{tmp_path / 'm.db'}"))
    monkeypatch.delenv("OD_DEVELOPER_KEY")
    monkeypatch.delenv("OD_CUSTOMER_KEY")
    assert main(["init", "--config", config]) == 0
    assert main(["status", "--config", config]) == 4  # never synced: stale, but it answers
    assert main(["sync", "--config", config]) == 2  # a sync does need them


def test_a_bad_environment_override_is_blamed_on_its_variable(tmp_path: Path) -> None:
    config = write_config(tmp_path, _NoSim(), f"sqlite:///{tmp_path / 'm.db'}")
    result = run_cli("sync", "--config", str(config), cwd=tmp_path, env=_env(page_size="lots"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "odmirror: error: environment variable ODMIRROR_API_PAGE_SIZE: 'api.page_size' must be "
        "an integer, not 'lots'"
    ]


def test_a_misspelled_odmirror_variable_is_named_with_the_closest_known(tmp_path: Path) -> None:
    config = write_config(tmp_path, _NoSim(), f"sqlite:///{tmp_path / 'm.db'}")
    env = {**_env(), "ODMIRROR_DATABSE_URL": "sqlite:///elsewhere.db"}
    result = run_cli("init", "--config", str(config), cwd=tmp_path, env=env)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        "WARNING: environment variable ODMIRROR_DATABSE_URL is not one odmirror reads "
        "(did you mean ODMIRROR_DATABASE_URL?); ignored"
    ]
    assert (tmp_path / "m.db").is_file() and not (tmp_path / "elsewhere.db").exists()


def test_the_env_examples_placeholder_key_is_refused(tmp_path: Path) -> None:
    example = (ROOT / "deploy" / "odmirror.env.example").read_text(encoding="utf-8")
    keys = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    config = write_config(tmp_path, _NoSim(), f"sqlite:///{tmp_path / 'm.db'}")
    result = run_cli("sync", "--config", str(config), cwd=tmp_path, env={**_env(), **keys})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"odmirror: error: {config}: 'api.developer_key' is a placeholder, not a key: put the "
        "real key in the environment (see config.example.yaml)"
    ]


def test_status_on_a_missing_sqlite_file_does_not_create_it(tmp_path: Path) -> None:
    missing = tmp_path / "never.db"
    config = write_config(tmp_path, _NoSim(), f"sqlite:///{missing}")
    result = run_cli("status", "--config", str(config), cwd=tmp_path, env=_env())
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"odmirror: error: no mirror at {missing}: run `odmirror init` (or check database.url)"
    ]
    assert not missing.exists()


def test_version_is_the_installed_packages() -> None:
    result = run_cli("--version", cwd=ROOT)
    assert result.stdout.strip() == f"odmirror {metadata.version('odmirror')}"


def test_counts_of_one_are_singular_and_no_cursor_is_said_plainly() -> None:
    stats = RunStats(fetched=1, unique=1, inserted=1, requests=1)
    line = RunResult("providers", "full", stats, 0.25, None, False).summary()
    assert line == (
        "providers (full): fetched 1 row (1 distinct), 1 inserted, 0 updated, 0 unchanged; "
        "1 request; 0.2 s"
    )
    success = dt.datetime(2026, 12, 1, 2, 0, 0)
    status = ResourceStatus("providers", 1, None, success, dt.timedelta(minutes=5), None, None)
    assert _resource_line(status) == (
        "providers: 1 row; last success 2026-12-01 02:00:00 UTC (5 min ago); no cursor"
    )


class _NoSim:
    """A config's API address where nothing listens: for commands that make no request."""

    base_url = "http://127.0.0.1:9/api/v1"


def _env(**api: str) -> dict[str, str]:
    keys = {"OD_DEVELOPER_KEY": "NFF6i0KrXrxDkZHt", "OD_CUSTOMER_KEY": "VzkmZEaUWOjnQX2z"}
    overrides = {f"ODMIRROR_API_{key.upper()}": value for key, value in api.items()}
    base = {k: v for k, v in os.environ.items() if not k.startswith("ODMIRROR_")}
    return {**base, **keys, **overrides}


def test_a_groups_init_needs_no_customer_keys(
    tmp_path: Path, offices: Offices, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = Group(f"sqlite:///{tmp_path / 'mirror_{practice}.db'}", "", "everyone")
    listed = [{"name": short, "customer_key": f"${{OD_KEY_{short.upper()}}}"} for short in KEYS]
    config = practices.write_config(tmp_path, group, offices.base_url, listed)
    for short in KEYS:
        monkeypatch.delenv(f"OD_KEY_{short.upper()}", raising=False)
    assert main(["init", "--config", config]) == 0
    assert all((tmp_path / f"mirror_{short}.db").is_file() for short in KEYS)
    assert main(["sync", "--config", config]) == 2  # a sync needs them


def test_inits_at_once_on_one_postgresql_server_all_succeed() -> None:
    """Each practice's init (or another host's) replaces the shared MySQL-compatible functions;
    without a lock two at once fail with "tuple concurrently updated"."""
    import threading

    from etl.query.functions_postgres import create_compat_functions

    _require_postgres()
    errors: list[str] = []

    def init_functions() -> None:
        engine = create_engine(PG_URL)
        try:
            for _ in range(4):
                with engine.begin() as conn:
                    create_compat_functions(conn)
        except Exception as exc:  # what failed is the assertion's message
            errors.append(str(exc).splitlines()[0])
        finally:
            engine.dispose()

    threads = [threading.Thread(target=init_functions) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
