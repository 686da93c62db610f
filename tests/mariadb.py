"""MariaDB/MySQL test helpers: a fresh database per test on the test server, dropped after.

Tests import `mariadb_url` (a fixture) or `mirror_url` (a context manager over the three
databases). Like PostgreSQL, MariaDB tests never skip when CI=true: an unreachable server fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from tests.conftest import PG_URL, _require_postgres

MYSQL_URL = os.environ.get(
    "ODMIRROR_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
)
DATABASES = ("sqlite", "postgresql", "mariadb")
_problem: list[str] = []


def _mariadb_problem() -> str | None:
    if not _problem:
        try:
            engine = create_engine(MYSQL_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _problem.append("")
        except (SQLAlchemyError, ImportError) as exc:
            _problem.append(str(exc).splitlines()[0][:200])
    return _problem[0] or None


def require_mariadb() -> None:
    """Skip the test when MariaDB is unreachable; fail it instead when CI=true."""
    problem = _mariadb_problem()
    if problem is None:
        return
    message = f"MariaDB not reachable at {MYSQL_URL.split('?')[0]}: {problem}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI=true: MariaDB tests must run)")
    pytest.skip(message)


@contextmanager
def fresh_mariadb() -> Iterator[str]:
    """A new, empty database on the test server (utf8mb4), dropped on exit; yields its URL."""
    require_mariadb()
    name = f"odm_{uuid.uuid4().hex[:12]}"
    admin = create_engine(MYSQL_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    try:
        yield MYSQL_URL.replace("/test?", f"/{name}?", 1)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new schema on the test PostgreSQL server, dropped on exit; yields a URL that uses it."""
    _require_postgres()
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


@contextmanager
def mirror_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of one kind ("sqlite", "postgresql" or "mariadb"), removed after."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'mirror.db'}"
    elif kind == "postgresql":
        with fresh_postgres() as url:
            yield url
    else:
        with fresh_mariadb() as url:
            yield url


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A fresh, empty MariaDB database for one test."""
    with fresh_mariadb() as url:
        yield url


@contextmanager
def compat_functions(pg_url: str) -> Iterator[str]:
    """PostgreSQL's MySQL functions in a schema of their own, off the search path (so a query
    finds them only by the qualified names `odmirror query` writes); dropped on exit."""
    from etl.query.functions_postgres import create_compat_functions

    schema = pg_url.rsplit("%3D", 1)[1] + "_fn"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            create_compat_functions(conn, schema)
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()
