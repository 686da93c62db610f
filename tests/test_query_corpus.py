"""Open Dental-style queries: MariaDB (Open Dental's own engine) answers, the other mirrors agree.

The same office (tests/od_office.py) is stored on MariaDB, SQLite and PostgreSQL exactly as Open
Dental stores it. Each query of tests/data/od_queries runs as written on MariaDB, the reference,
and through `odmirror query` on SQLite and PostgreSQL; the rows must be the same (numbers to the
cent, dates as text). A query marked `-- ordered` must also keep MariaDB's order; a query not
marked `-- may-be-empty` must find rows, so that no comparison passes on nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from etl.query.execute import run_query
from tests.mariadb import compat_functions, fresh_mariadb, fresh_postgres
from tests.od_office import Office, comparable, load

QUERIES = sorted((Path(__file__).parent / "data" / "od_queries").glob("*.sql"))
# Queries that cannot give MariaDB's answer on a database, with the reason (checked: strict).
_ACCENTS = "accents: utf8_general_ci has 'é' = 'e'; SQLite's NOCASE and PostgreSQL's UPPER() do not"
EXPECTED_TO_DIFFER: dict[tuple[str, str], str] = {
    ("68_accent_insensitive_name", "sqlite"): _ACCENTS,
    ("68_accent_insensitive_name", "postgresql"): _ACCENTS,
}


@pytest.fixture(scope="module")
def office() -> Office:
    """The seeded office, built once."""
    return Office()


@pytest.fixture(scope="module")
def mirrors(
    office: Office, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[str, str]]]:
    """The office on each database: name -> (URL, PostgreSQL function schema)."""
    sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('corpus') / 'mirror.db'}"
    found: dict[str, tuple[str, str]] = {"sqlite": (sqlite_url, "")}
    with (
        fresh_mariadb() as mysql_url,
        fresh_postgres() as pg_url,
        compat_functions(pg_url) as schema,
    ):
        found["mariadb"] = (mysql_url, "")
        found["postgresql"] = (pg_url, schema)
        for url, _ in found.values():
            engine = create_engine(url)
            load(engine, office)
            engine.dispose()
        yield found


def _rows(result_rows: tuple[tuple[Any, ...], ...], ordered: bool) -> list[tuple[Any, ...]]:
    rows = [tuple(comparable(v) for v in row) for row in result_rows]
    return rows if ordered else sorted(rows, key=repr)


_reference: dict[str, Any] = {}


def _mariadb_answer(query: Path, mirrors: dict[str, tuple[str, str]]) -> Any:
    if query.name not in _reference:
        _reference[query.name] = run_query(mirrors["mariadb"][0], query.read_text())
    return _reference[query.name]


def _cases() -> list[Any]:
    cases = []
    for query in QUERIES:
        for database in ("sqlite", "postgresql"):
            reason = EXPECTED_TO_DIFFER.get((query.stem, database))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(query, database, id=f"{query.stem}-{database}", marks=marks))
    return cases


def test_corpus_has_forty_queries() -> None:
    """The corpus is big enough to mean something."""
    assert len(QUERIES) >= 40


@pytest.mark.parametrize(("query", "database"), _cases())
def test_query_answers_as_on_open_dental(
    query: Path, database: str, mirrors: dict[str, tuple[str, str]]
) -> None:
    """The query through `odmirror query` gives MariaDB's rows."""
    sql = query.read_text()
    ordered = "-- ordered" in sql
    reference = _mariadb_answer(query, mirrors)
    if "-- may-be-empty" not in sql:
        assert reference.rows, (
            f"{query.name} finds nothing on MariaDB: the comparison would prove nothing"
        )
    url, schema = mirrors[database]
    answer = run_query(url, sql, compat_schema=schema or "odmirror_mysql")
    assert answer.headers == reference.headers
    assert _rows(answer.rows, ordered) == _rows(reference.rows, ordered)
