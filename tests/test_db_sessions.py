"""sync.max_db_sessions: a group never holds more database sessions than the config allows."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from etl.commands import init_mirrors, sync_mirrors
from etl.config.load import settings_from_dict
from etl.config.settings import SESSIONS_PER_PRACTICE
from etl.config.targets import practice_url, targets
from etl.errors import ConfigError
from etl.mirror.engine import make_engine
from etl.simulator import Simulator, SimulatorConfig
from etl.simulator.group import OfficeGroup
from etl.sync.group import run_each
from tests.conftest import PG_URL, _require_postgres
from tests.test_sync import assert_mirror_matches

DEVELOPER_KEY = "NFF6i0KrXrxDkZHt"  # Open Dental's published test key
RESOURCES = ["patients", "appointments", "procedurelogs"]


def config(url: str, base_url: str, names: list[str], **sync: Any) -> dict[str, Any]:
    return {
        "api": {"base_url": base_url, "developer_key": DEVELOPER_KEY, "page_size": 40,
                "min_request_interval": 0, "timeout": 10, "max_retries": 0},
        "database": {"url": url, "group_schema": f"{names[0]}_group"},
        "sync": {"resources": RESOURCES, **sync},
        "practices": [{"name": n, "customer_key": f"SessKey{i:03d}"} for i, n in enumerate(names)],
    }  # fmt: skip


@pytest.mark.parametrize("value", [1, 2, -3, "many", 100_001])
def test_a_bound_below_one_practices_sessions_is_refused(value: object) -> None:
    raw = config(
        "sqlite:///m_{practice}.db", "http://127.0.0.1:1/api/v1", ["a"], max_db_sessions=value
    )
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(raw)
    message = str(caught.value)
    assert "'sync.max_db_sessions' must be" in message and "\n" not in message


@pytest.mark.parametrize(("value", "wanted"), [(0, 0), (3, 3), ("7", 7)])
def test_a_bound_of_zero_or_at_least_one_practices_sessions_is_taken(
    value: object, wanted: int
) -> None:
    raw = config(
        "sqlite:///m_{practice}.db", "http://127.0.0.1:1/api/v1", ["a"], max_db_sessions=value
    )
    assert settings_from_dict(raw).sync.max_db_sessions == wanted


def test_practices_work_at_most_bound_over_sessions_at_once(tmp_path: Path) -> None:
    """Two practices at a time for a bound of two practices' sessions: the barrier of two
    shows that two ran together, the peak that never three."""
    names = [f"p{n}" for n in range(6)]
    raw = config(f"sqlite:///{tmp_path}/m_{{practice}}.db", "http://127.0.0.1:1/api/v1", names)
    chosen = targets(settings_from_dict(raw))
    active, peak, lock = [0], [0], threading.Lock()
    pair = threading.Barrier(2, timeout=30)

    def work(target: Any) -> str:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        pair.wait()
        with lock:
            active[0] -= 1
        return str(target.name)

    bound = 2 * SESSIONS_PER_PRACTICE + 1
    outcomes = run_each(chosen, work, max_sessions=bound)
    assert [(o.name, o.value, o.error) for o in outcomes] == [(n, n, None) for n in names]
    assert peak == [2]


@pytest.fixture
def pg_group() -> Iterator[str]:
    """A prefix for this test's practice schemas on the test PostgreSQL, dropped after."""
    _require_postgres()
    prefix = f"s{uuid.uuid4().hex[:10]}"
    yield prefix
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        found = conn.execute(text("SELECT schema_name FROM information_schema.schemata"))
        for (schema,) in found.all():
            if schema.startswith(prefix):
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_a_group_sync_holds_at_most_max_db_sessions_on_postgresql(pg_group: str) -> None:
    """Three practices (nine sessions at once unbounded), a bound of six: PostgreSQL's own
    count of this process's sessions (pg_stat_activity, read over and over while the group
    syncs) never passes six, and every practice's mirror holds its office's patients."""
    names = [f"{pg_group}_p{n}" for n in range(3)]
    sims = [
        Simulator(40, SimulatorConfig(customer_key=f"SessKey{n:03d}"), seed=n + 1).fill_practice()
        for n in range(len(names))
    ]
    app = f"{pg_group}app"
    url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}application_name={app}"
    with OfficeGroup(sims) as front:
        settings = settings_from_dict(config(url, front.base_url, names, max_db_sessions=6))
        init_mirrors(settings, out=lambda _line: None)
        with _SessionCount(app) as count:
            sync_mirrors(settings, out=lambda _line: None)
    assert 0 < count.peak <= 6, count.peak
    for name, sim in zip(names, sims, strict=True):
        engine = make_engine(practice_url(url, name))
        assert_mirror_matches(engine, sim)
        engine.dispose()


class _SessionCount:
    """The most sessions of this process that pg_stat_activity showed at once, while open.

    The mirror's sessions carry the URL's application_name; the run lock's session its own
    (`odmirror pid N on HOST`), counted by this process's pid.
    """

    def __init__(self, app: str) -> None:
        self.app, self.peak = app, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="session-count")

    def __enter__(self) -> _SessionCount:
        self._engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        self._conn = self._engine.connect()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(30)
        self._conn.close()
        self._engine.dispose()

    def _watch(self) -> None:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND (application_name = :app OR application_name LIKE :lock)"
        )
        params = {"app": self.app, "lock": f"odmirror pid {os.getpid()} on %"}
        while not self._done.is_set():  # each read its own transaction: a fresh snapshot
            self.peak = max(self.peak, int(self._conn.execute(query, params).scalar_one()))
