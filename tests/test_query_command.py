"""`odmirror query` as a command: it only reads, says what is wrong in one line, prints rows."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select

from etl.catalog.opendental import od_table
from etl.query import command
from etl.query.connect import open_read_only
from etl.query.errors import QueryError
from tests.mariadb import DATABASES, mirror_url

PATIENTS = [
    {
        "patnum": 1,
        "lname": "Smith",
        "fname": "Ann",
        "birthdate": dt.date(1, 1, 1),
        "estbalance": 12.5,
    },
    {
        "patnum": 2,
        "lname": "smith",
        "fname": "Bob",
        "birthdate": dt.date(1990, 2, 3),
        "estbalance": 0,
    },
    {
        "patnum": 3,
        "lname": "O'Brien",
        "fname": "Zoë",
        "birthdate": dt.date(2001, 12, 31),
        "estbalance": -4.25,
    },
]
WRITES = [
    "UPDATE patient SET LName='x'",
    "DELETE FROM Patient WHERE PatNum=1",
    "INSERT INTO patient (PatNum) VALUES (9)",
    "REPLACE INTO patient (PatNum) VALUES (1)",
    "DROP TABLE patient",
    "TRUNCATE patient",
    "ALTER TABLE patient ADD x int",
    "CREATE TABLE copy AS SELECT * FROM patient",
    "WITH gone AS (DELETE FROM patient RETURNING *) SELECT * FROM gone",
    "SELECT * FROM patient INTO OUTFILE '/tmp/odmirror-test-out.txt'",
    "SELECT * FROM patient INTO DUMPFILE '/tmp/odmirror-test-out.txt'",
    "SELECT PatNum INTO @x FROM patient LIMIT 1",
    "SELECT 1; DELETE FROM patient",
    "SET @d='2024-01-01'; UPDATE patient SET LName=@d",
    "SELECT * FROM patient FOR UPDATE",
    "SELECT LOAD_FILE('/etc/passwd')",
    "SELECT SLEEP(5)",
    "SET @@session.sql_mode=''",
    "GRANT ALL ON *.* TO nobody",
    "CALL something()",
    "SELECT @n := 1",
]
BAD = [
    ("SELEC * FROM patient", "cannot read this query as MySQL"),
    ("SELECT 'unclosed", "cannot read this query as MySQL"),
    ("SELECT * FROM nosuchtable", "the database refused the query"),
    ("SELECT @FromDate", "@FromDate is used but not SET"),
    ("   ", "the query is empty"),
    ("SET @a=1", "only sets variables"),
]


@pytest.fixture(params=DATABASES)
def mirror(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A mirror on each database holding three patients."""
    with mirror_url(request.param, tmp_path) as url:
        metadata = MetaData()
        table = od_table("patient", metadata)
        engine = create_engine(url)
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(table.insert(), PATIENTS)
        engine.dispose()
        yield url


def _stored(url: str) -> list[tuple[Any, ...]]:
    table = od_table("patient", MetaData())
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [
            tuple(r)
            for r in conn.execute(select(table.c.patnum, table.c.lname).order_by(table.c.patnum))
        ]
    engine.dispose()
    return rows


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="odmirror")
    command.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["query", *argv])


def _run(url: str, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = command.run(_args(*argv), url, stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def test_writes_are_refused(mirror: str) -> None:
    """Every kind of write is refused with one line, and the mirror is unchanged."""
    before = _stored(mirror)
    for sql in WRITES:
        code, out, err = _run(mirror, sql)
        assert (code, out) == (2, ""), sql
        assert err.startswith("odmirror: error: refused") and err.count("\n") == 1, (sql, err)
    assert _stored(mirror) == before == [(1, "Smith"), (2, "smith"), (3, "O'Brien")]
    assert not Path("/tmp/odmirror-test-out.txt").exists()


def test_connection_cannot_write(mirror: str) -> None:
    """Past the guard, the database itself refuses: the connection is read-only."""
    with pytest.raises(Exception) as caught, open_read_only(mirror) as session:
        session.cursor.execute("DELETE FROM patient")
    assert "read" in str(caught.value).lower()
    assert len(_stored(mirror)) == 3


def test_bad_queries_get_one_line(mirror: str) -> None:
    """A query that cannot run says why in one line, with exit code 2 and no traceback."""
    for sql, reason in BAD:
        code, out, err = _run(mirror, sql)
        assert (code, out) == (2, ""), sql
        assert err.startswith("odmirror: error: ") and err.count("\n") == 1, (sql, err)
        assert reason in err, (sql, err)
        assert "Traceback" not in err


def test_table_output_finds_both_cases(mirror: str) -> None:
    """The plain table: Open Dental's headers, 'smith' finds Smith, sentinels kept, NULL shown."""
    sql = (
        "SET @Name='SMITH'; SELECT PatNum, LName, Birthdate, EstBalance, NULL AS Nothing"
        " FROM Patient WHERE LName=@Name ORDER BY PatNum"
    )
    code, out, err = _run(mirror, sql)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["PatNum", "LName", "Birthdate", "EstBalance", "Nothing"]
    assert [line.split()[:3] for line in lines[2:]] == [
        ["1", "Smith", "0001-01-01"],
        ["2", "smith", "1990-02-03"],
    ]
    assert [line.split()[-1] for line in lines[2:]] == ["NULL", "NULL"]


def test_csv_json_and_show_sql(mirror: str, tmp_path: Path) -> None:
    """--csv and --json carry the same rows; --show-sql prints the SQL that ran first."""
    query = tmp_path / "q.sql"
    query.write_text(
        "SELECT PatNum, FName FROM `patient` WHERE PatNum > 1 ORDER BY PatNum;\n", encoding="utf-8"
    )
    code, out, _ = _run(mirror, "--csv", "--file", str(query))
    assert (code, out) == (0, "PatNum,FName\n2,Bob\n3,Zoë\n")
    code, out, _ = _run(mirror, "--json", stdin=query.read_text(encoding="utf-8"))
    assert (code, json.loads(out)) == (
        0,
        [{"PatNum": 2, "FName": "Bob"}, {"PatNum": 3, "FName": "Zoë"}],
    )
    code, out, _ = _run(mirror, "--show-sql", "--csv", query.read_text(encoding="utf-8"))
    sql_part, rows_part = out.split("\n\n")
    assert "patient" in sql_part and sql_part.endswith(";")
    assert rows_part == "PatNum,FName\n2,Bob\n3,Zoë\n"


def test_rows_are_bounded(mirror: str) -> None:
    """--max-rows keeps the first rows and says on stderr that the rest were cut."""
    code, out, err = _run(
        mirror, "--csv", "--max-rows", "2", "SELECT PatNum FROM patient ORDER BY PatNum"
    )
    assert (code, out) == (0, "PatNum\n1\n2\n")
    assert err == "odmirror: only the first 2 rows are shown (--max-rows)\n"


def test_query_from_nowhere_is_one_line(tmp_path: Path) -> None:
    """No query, two queries, or a missing file: one line each."""
    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert _run(url, "--file", str(tmp_path / "missing.sql"))[2].startswith(
        "odmirror: error: cannot read"
    )
    assert "not both" in _run(url, "SELECT 1", "--file", "x.sql")[2]
    assert "no SQLite mirror" in _run(url, "SELECT 1")[2]
    with pytest.raises(QueryError, match="not a database URL"):
        from etl.query.connect import target_of

        target_of("not a url")


def test_missing_postgres_functions_are_named(tmp_path: Path) -> None:
    """On PostgreSQL without the MySQL functions, the one line says how to get them."""
    # A schema nobody made: the shared odmirror_mysql exists once any init ran on this server.
    absent = f"odmirror_mysql_{uuid.uuid4().hex[:8]}"
    with mirror_url("postgresql", tmp_path) as url:
        out, err_text = io.StringIO(), io.StringIO()
        args = _args("SELECT DATE_FORMAT('2024-01-02', '%Y') AS y")
        code = command.run(args, url, stdout=out, stderr=err_text, compat_schema=absent)
    err = err_text.getvalue()
    assert code == 2
    assert absent in err and "`odmirror init` creates them" in err


def test_error_text_is_one_safe_line() -> None:
    """A server message with newlines and control characters prints as one bounded line."""
    message = str(QueryError("bad\nthing\x1b[31m" + "x" * 1000))
    assert "\n" not in message and "\x1b" not in message and len(message) <= 300
