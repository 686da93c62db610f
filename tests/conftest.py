"""Shared fixtures: a fresh mirror on SQLite and PostgreSQL (MariaDB too where asked)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from etl.mirror.engine import make_engine
from tests.templates import Templates

DATA = Path(__file__).parent / "data"
PG_URL = os.environ.get("ODMIRROR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_problem: list[str] = []


def load_json(name: str) -> Any:
    """A saved API response from tests/data."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _postgres_problem() -> str | None:
    if not _pg_problem:
        try:
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_problem.append("")
        except (SQLAlchemyError, ImportError) as exc:
            _pg_problem.append(str(exc).splitlines()[0])
    return _pg_problem[0] or None


def _require_postgres() -> None:
    problem = _postgres_problem()
    if problem is None:
        return
    message = f"PostgreSQL not reachable at {PG_URL}: {problem}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI=true: PostgreSQL tests must run)")
    pytest.skip(message)


#: The databases of the mirror. Most tests run on the first two; the tests of what differs by
#: database (syncs, resources, upserts, rejects, the lock, status, views, migrations) run on all
#: three: their modules take `db_url_all` as their `db_url`.
DATABASES = ("sqlite", "postgresql", "mysql")


@pytest.fixture(params=DATABASES[:2])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh schema on the test PostgreSQL server.

    A mirror at the current schema instead when the test asks for `engine` too."""
    with empty_database(request.param, tmp_path, _templates_for(request)) as url:
        yield url


@pytest.fixture(params=DATABASES)
def db_url_all(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """`db_url`, and a fresh database on the test MariaDB server (tests/mariadb.py)."""
    with empty_database(request.param, tmp_path, _templates_for(request)) as url:
        yield url


@pytest.fixture(scope="session")
def head_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """The session's mirrors at the current schema, that `engine`'s databases are copies of."""
    from tests.mariadb import MYSQL_URL  # it imports this module

    templates = Templates(tmp_path_factory.mktemp("templates"), PG_URL, MYSQL_URL)
    yield templates
    templates.close()


def _templates_for(request: pytest.FixtureRequest) -> Templates | None:
    if "engine" not in request.fixturenames:
        return None
    templates: Templates = request.getfixturevalue("head_templates")
    return templates


@contextmanager
def empty_database(kind: str, tmp_path: Path, at_head: Templates | None = None) -> Iterator[str]:
    """An empty database of one kind of `DATABASES`, removed after; yields its URL.

    With `at_head`, the database is a copy of that template mirror at the current schema
    (tests/templates.py): what `upgrade` makes of an empty one, in a fraction of the time.
    """
    if kind == "sqlite":
        target = tmp_path / "mirror.db"
        yield at_head.sqlite_copy(target) if at_head else f"sqlite:///{target}"
        return
    if kind == "mysql":
        from tests.mariadb import fresh_mariadb  # it imports this module

        with fresh_mariadb() as url:
            if at_head:
                at_head.mariadb_fill(url)
            yield url
        return
    _require_postgres()
    if at_head:
        with at_head.postgres_copy() as url:
            yield url
        return
    schema = f"odm_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A mirror at the current schema, on each database (a copy of `head_templates`')."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def fast_paths_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the tests of a fast path itself: on even when ODMIRROR_PLAIN turns the others off."""
    monkeypatch.delenv("ODMIRROR_PLAIN", raising=False)


@pytest.fixture
def make_sim() -> Iterator[Any]:
    """Start simulators on loopback; all are stopped after the test."""
    from etl.simulator import Simulator, SimulatorConfig

    started: list[Simulator] = []

    def start(patients: Any = 0, clock: Any = None, seed: int = 1, **config: Any) -> Simulator:
        sim = Simulator(patients, SimulatorConfig(**config), clock=clock, seed=seed).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def settings_for(sim: Any, db_url: str, **api: Any) -> Any:
    """Settings that point at a simulator and a test database (no pacing unless asked)."""
    from etl.config.settings import ApiSettings, DatabaseSettings, Settings, SyncSettings

    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "developer_key": sim.config.developer_key,
        "customer_key": sim.config.customer_key,
        "page_size": 100,
        "min_request_interval": 0.0,
        "timeout": 10.0,
        "max_retries": 2,
        **api,
    }
    return Settings(
        api=ApiSettings(**values),
        database=DatabaseSettings(url=db_url),
        sync=SyncSettings(overlap_seconds=60),
    )


@pytest.fixture
def scripted() -> Iterator[Any]:
    """Start scripted API servers (tests/test_faults.py: Scripted); all are stopped after."""
    from tests.test_faults import Scripted

    servers: list[Any] = []

    def start(script: Any) -> Any:
        servers.append(Scripted(script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ODMIRROR_PLAIN (`make test-plain`), leave out the tests marked `plain_irrelevant`
    (they reach no fast path nor its twin) and those that turn the fast paths on again
    (`fast_paths_on`): for both, the first run already proved all they prove."""
    if not os.environ.get("ODMIRROR_PLAIN"):
        return
    kept = [
        item
        for item in items
        if item.get_closest_marker("plain_irrelevant") is None
        and "fast_paths_on" not in getattr(item, "fixturenames", ())
    ]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
