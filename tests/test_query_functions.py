"""MySQL's functions on SQLite and PostgreSQL give MariaDB's answers, edge values included."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine

from etl.query.execute import run_query
from etl.query.functions_postgres import compat_sql, create_compat_functions
from tests.mariadb import compat_functions, fresh_mariadb, fresh_postgres
from tests.od_office import comparable

EXPRESSIONS = [
    "DATE_FORMAT('2024-03-05 14:07:09', '%Y-%m-%d %H:%i:%s|%M %b %W %a|%e %c %h %l %p %j %D')",
    "DATE_FORMAT('2024-03-05 14:07:09', '%T|%r|%%')",
    "DATE_FORMAT('0001-01-01', '%Y-%m-%d %H:%i')",
    "DATE_FORMAT('2024-12-21 00:05:00', '%y %k %I %S')",
    "DATE_ADD('2024-01-31', INTERVAL 1 MONTH)",
    "DATE_SUB('2024-03-31', INTERVAL 1 MONTH)",
    "DATE_ADD('2024-02-29', INTERVAL 1 YEAR)",
    "DATE_ADD('2024-01-31 10:00:00', INTERVAL 1 MONTH)",
    "DATE_ADD('2024-12-31', INTERVAL 1 DAY)",
    "DATE_SUB('2024-01-01', INTERVAL 2 WEEK)",
    "DATE_ADD('2024-01-01', INTERVAL 1 QUARTER)",
    "DATE_ADD('2024-01-01 20:00:00', INTERVAL 25 HOUR)",
    "'2024-01-31' + INTERVAL 1 MONTH",
    "DATEDIFF('2024-01-02 01:00:00', '2024-01-01 23:00:00')",
    "DATEDIFF('2024-03-01', '0001-01-01')",
    "YEAR('0001-01-01')",
    "MONTH('2024-12-31 23:59:59')",
    "DAY('2024-02-29')",
    "QUARTER('2024-05-01')",
    "LAST_DAY('2024-02-10')",
    "DAYOFWEEK('2024-03-03')",
    "IFNULL(NULL, 'x')",
    "IF(0, 'a', 'b')",
    "IF(2, 'a', 'b')",
    "IF(NULL, 'a', 'b')",
    "CONCAT('a', NULL)",
    "CONCAT('a', 1, 'b')",
    "CONCAT_WS('-', 'a', NULL, 'b')",
    "CONCAT_WS(NULL, 'a')",
    "LEFT('Smith', 2)",
    "RIGHT('Smith', 3)",
    "LEFT('Smith', 0)",
    "RIGHT('Smith', 10)",
    "SUBSTRING_INDEX('a.b.c', '.', 2)",
    "SUBSTRING_INDEX('a.b.c', '.', -1)",
    "SUBSTRING_INDEX('a.b.c', '.', 0)",
    "SUBSTRING_INDEX('abc', '.', 1)",
    "5/2",
    "1/0",
    "7 DIV 2",
    "TRUE + TRUE",
    "'abc' = 'ABC'",
    "'abc' LIKE 'A%'",
    "CURDATE() = DATE(NOW())",
    "TIMESTAMPDIFF(MONTH, '2024-01-31', '2024-02-29')",
    "TIMESTAMPDIFF(YEAR, '1980-07-02', '2026-07-01')",
    "TIMESTAMPDIFF(DAY, '2024-01-02', '2024-01-01 12:00:00')",
    "TIMESTAMPDIFF(MONTH, '2024-03-31', '2024-01-30')",
]
NOT_ON: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, str]]]:
    """An empty database of each kind (PostgreSQL with the functions): name -> (URL, schema)."""
    path = tmp_path_factory.mktemp("functions") / "empty.db"
    sqlite3.connect(path).close()
    with (
        fresh_mariadb() as mysql_url,
        fresh_postgres() as pg_url,
        compat_functions(pg_url) as schema,
    ):
        yield {
            "sqlite": (f"sqlite:///{path}", ""),
            "postgresql": (pg_url, schema),
            "mariadb": (mysql_url, ""),
        }


def _cases() -> list[Any]:
    cases: list[Any] = []
    for expression in EXPRESSIONS:
        for database in ("sqlite", "postgresql"):
            reason = NOT_ON.get((expression, database))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(
                pytest.param(expression, database, id=f"{expression[:40]}-{database}", marks=marks)
            )
    return cases


@pytest.mark.parametrize(("expression", "database"), _cases())
def test_function_answers_as_mariadb(
    expression: str, database: str, engines: dict[str, tuple[str, str]]
) -> None:
    """`SELECT <expression>` through `odmirror query` gives MariaDB's value."""
    sql = f"SELECT {expression} AS answer"
    expected = run_query(engines["mariadb"][0], sql).rows
    url, schema = engines[database]
    answer = run_query(url, sql, compat_schema=schema or "odmirror_mysql").rows
    assert [tuple(map(comparable, row)) for row in answer] == [
        tuple(map(comparable, row)) for row in expected
    ]


def test_compat_functions_serve_pasted_sql(engines: dict[str, tuple[str, str]]) -> None:
    """With the schema on the search path, MySQL-style calls run as written in a BI tool."""
    url, schema = engines["postgresql"]
    engine = create_engine(f"{url}%2C{schema}")
    pasted = (
        "SELECT CURDATE() = CURRENT_DATE, DATE_FORMAT('2024-03-05 14:07:09', '%M %e, %Y'),"
        " IFNULL(NULL::int, 0), IF(1, 'yes', 'no'), DATEDIFF('2024-03-01', '2024-02-01'),"
        " DATE_ADD(DATE '2024-01-31', INTERVAL '1 month'),"
        " YEAR(DATE '0001-01-01'), SUBSTRING_INDEX('a@b.com', '@', -1), ROUND(2.675::float8, 2),"
        " (SELECT GROUP_CONCAT(x, '; ' ORDER BY x) FROM (VALUES (2), (1)) v(x))"
    )
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(pasted)
        row = cursor.fetchone()
    engine.dispose()
    assert row is not None
    assert [comparable(v) for v in row] == [
        1,
        "March 5, 2024",
        0.0,
        "yes",
        29.0,
        "2024-02-29",
        1.0,
        "b.com",
        2.68,
        "1; 2",
    ]


def test_compat_functions_are_created_again_safely(engines: dict[str, tuple[str, str]]) -> None:
    """Running the creation twice changes nothing and fails nothing (init runs it every time)."""
    url, schema = engines["postgresql"]
    engine = create_engine(url)
    with engine.begin() as conn:
        create_compat_functions(conn, schema)
        create_compat_functions(conn, schema)
    engine.dispose()
    assert len(compat_sql(schema)) > 20
    with pytest.raises(ValueError):
        compat_sql("bad; DROP SCHEMA x")
