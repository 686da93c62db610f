"""MySQL / MariaDB as the mirror: the same values as SQLite and PostgreSQL, and what is its own.

The mirror tests run on MariaDB too (the `db_url` fixture); these are the tests that compare the
three databases, and those of what only MySQL has: its upsert's guard written column by column,
its collation, its session settings, its character set, its GET_LOCK.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, create_engine, select, text
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import DataError
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateTable

from etl.catalog.base import Base
from etl.catalog.resources import RESOURCES
from etl.errors import DatabaseError, SchemaError
from etl.mirror.bookkeeping import Rejected, SyncRun, SyncState
from etl.mirror.engine import check_schema, make_engine, upgrade
from etl.mirror.lock import MirrorLocked, mirror_lock
from etl.mirror.mysql_lock import lock_name
from etl.mirror.upsert import upsert_statement
from etl.mirror.views import view_names
from tests.mariadb import DATABASES, MYSQL_URL, fresh_mariadb, mirror_url, require_mariadb
from tests.practice import office_clock, sync
from tests.templates import Templates

PATIENTS = RESOURCES["patients"]
SYNCED = dt.datetime(2031, 3, 14, 9, 0, 0)
#: Columns that hold when odmirror wrote, not what it wrote.
WALL_CLOCK = {"odmirror_synced_at", "last_success_at"}


@pytest.fixture
def maria(head_templates: Templates) -> Iterator[Engine]:
    """A MariaDB mirror at the current schema (a copy of the session's: tests/templates.py)."""
    with fresh_mariadb() as url:
        head_templates.mariadb_fill(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


def _normal(value: Any) -> Any:
    # The same value as each database hands it back: bool or 0/1, Decimal, float or int (SQLite's
    # NUMERIC keeps 0 as an integer), date or text. Numbers compare to the cent.
    if isinstance(value, bool | int | Decimal | float):
        return f"{Decimal(str(int(value) if isinstance(value, bool) else value)):.2f}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # a TIME as pymysql hands it back
        seconds = int(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return value


def _dump(engine: Engine, name: str) -> list[tuple[Any, ...]]:
    """Every row of a table or view, its values normalised, without when odmirror wrote it."""
    table = Base.metadata.tables.get(name)
    # A table through its model (JSON as a dict on each database), a view as the database has it.
    query = select(table) if table is not None else text(f"SELECT * FROM {name}")
    with engine.connect() as conn:
        result = conn.execute(query)
        keys = [k for k in result.keys() if k not in WALL_CLOCK]  # noqa: SIM118 (a Result)
        rows = [tuple((k, _normal(row[k])) for k in keys) for row in result.mappings().all()]
    return sorted(rows, key=repr)


def test_three_mirrors_hold_identical_values_for_one_practice(
    make_sim: Any, tmp_path: Path
) -> None:
    practice = make_sim(120, clock=office_clock()).fill_practice()
    dumps: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for kind in DATABASES:
        with mirror_url(kind, tmp_path) as url:
            engine = make_engine(url)
            try:
                upgrade(engine)
                assert [r.resource for r in sync(practice, engine)] == list(RESOURCES)
                names = [r.table.name for r in RESOURCES.values()] + view_names()
                dumps[kind] = {name: _dump(engine, name) for name in names}
                dumps[kind]["odmirror_sync_state"] = _dump(engine, "odmirror_sync_state")
            finally:
                engine.dispose()
    sqlite_dump = dumps["sqlite"]
    assert len(sqlite_dump["patient"]) == 120 and len(sqlite_dump["procedurelog"]) > 100
    assert len(sqlite_dump["patient_v"]) == 120
    for kind in ("postgresql", "mariadb"):
        for name, rows in sqlite_dump.items():
            got = dumps[kind][name]
            assert len(got) == len(rows), f"{kind} {name}"
            for theirs, ours in zip(got, rows, strict=True):
                assert dict(theirs) == dict(ours), f"{kind} {name}"


def _patient(lname: str, stamp: dt.datetime | None, **more: Any) -> dict[str, Any]:
    return {"patnum": 7, "lname": lname, "datetstamp": stamp, "odmirror_synced_at": SYNCED, **more}


def _save(engine: Engine, rows: list[dict[str, Any]]) -> None:
    stmt = upsert_statement(PATIENTS.table, engine.dialect.name, rows[0], "datetstamp")
    with engine.begin() as conn:
        conn.execute(stmt, rows)


def _row(engine: Engine) -> dict[str, Any]:
    table = PATIENTS.table
    columns = [table.c.patnum, table.c.lname, table.c.fname, table.c.datetstamp]
    with engine.connect() as conn:
        row = conn.execute(select(*columns, table.c.odmirror_synced_at)).mappings().one()
    return dict(row)


def test_mysql_upsert_never_takes_an_older_row_and_writes_a_newer_one_whole(
    maria: Engine,
) -> None:
    old, new = dt.datetime(2031, 1, 1, 8, 0, 0), dt.datetime(2031, 1, 2, 8, 0, 0)
    _save(maria, [_patient("Smith", new, fname="Ann")])
    later = SYNCED + dt.timedelta(hours=1)
    _save(maria, [_patient("Older", old, fname="Bob", odmirror_synced_at=later)])
    assert _row(maria) == {
        "patnum": 7, "lname": "Smith", "fname": "Ann", "datetstamp": new,
        "odmirror_synced_at": SYNCED,
    }  # fmt: skip
    # Newer: every column it carries, and the guard column too (assigned last); fname is kept.
    newest = new + dt.timedelta(days=1)
    _save(maria, [_patient("Jones", newest, odmirror_synced_at=later)])
    assert _row(maria) == {
        "patnum": 7, "lname": "Jones", "fname": "Ann", "datetstamp": newest,
        "odmirror_synced_at": later,
    }  # fmt: skip


def test_mysql_upsert_leaves_an_unchanged_row_unwritten(maria: Engine) -> None:
    stamp = dt.datetime(2031, 1, 1, 8, 0, 0)
    _save(maria, [_patient("Smith", stamp)])
    later = SYNCED + dt.timedelta(hours=1)
    _save(maria, [_patient("Smith", stamp, odmirror_synced_at=later)])
    assert _row(maria)["odmirror_synced_at"] == SYNCED  # not written: not even its write time


@pytest.mark.parametrize("changed", ["smith", "Smith ", "Smíth"])
def test_mysql_upsert_writes_changes_its_collation_calls_equal(maria: Engine, changed: str) -> None:
    # utf8mb4_general_ci: 'Smith' = 'smith' = 'Smith ' = 'Smíth'. The mirror must still take them.
    stamp = dt.datetime(2031, 1, 1, 8, 0, 0)
    _save(maria, [_patient("Smith", stamp)])
    later = SYNCED + dt.timedelta(hours=1)
    _save(maria, [_patient(changed, stamp, odmirror_synced_at=later)])
    assert _row(maria) == {
        "patnum": 7, "lname": changed, "fname": None, "datetstamp": stamp,
        "odmirror_synced_at": later,
    }  # fmt: skip
    with maria.connect() as conn:  # and Open Dental's queries still compare as Open Dental does
        assert conn.execute(text("SELECT COUNT(*) FROM patient WHERE LName = 'smith'")).scalar()


def test_a_note_longer_than_mysql_text_is_stored_whole(maria: Engine) -> None:
    note = "Ünpaid balance. " * 8000  # 128,000 characters: MySQL's TEXT would hold 64 KB
    _save(maria, [_patient("Smith", None, famfinurgnote=note)])
    with maria.connect() as conn:
        assert conn.execute(text("SELECT famfinurgnote FROM patient")).scalar_one() == note


def test_mysql_upsert_with_a_null_change_time_on_either_side_overwrites(maria: Engine) -> None:
    stamp = dt.datetime(2031, 1, 1, 8, 0, 0)
    _save(maria, [_patient("Smith", None)])
    _save(maria, [_patient("Jones", stamp)])
    assert (_row(maria)["lname"], _row(maria)["datetstamp"]) == ("Jones", stamp)
    _save(maria, [_patient("Brown", None)])
    assert (_row(maria)["lname"], _row(maria)["datetstamp"]) == ("Brown", None)


def test_mysql_session_stores_what_open_dental_stores_and_refuses_what_is_wrong(
    maria: Engine,
) -> None:
    name = "Zoë 🦷 O'Brien"
    with maria.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patient (patnum, lname, birthdate, datetstamp) VALUES (1, :n, :d, :t)"
            ),
            {"n": name, "d": dt.date(1, 1, 1), "t": dt.datetime(1, 1, 1)},
        )
    with maria.connect() as conn:
        row = conn.execute(text("SELECT lname, birthdate, datetstamp FROM patient")).one()
    assert tuple(row) == (name, dt.date(1, 1, 1), dt.datetime(1, 1, 1))
    out_of_range = text("INSERT INTO patient (patnum, patstatus) VALUES (2, 99999999999)")
    with pytest.raises(DataError, match=r"\(1264, \"Out of range"), maria.begin() as conn:
        conn.execute(out_of_range)  # strict: an error, not a value clamped to INT's largest


def test_init_makes_a_latin1_database_utf8mb4_before_creating_tables() -> None:
    require_mariadb()
    name = f"odm_{uuid.uuid4().hex[:12]}"
    admin = create_engine(MYSQL_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET latin1"))
    try:
        engine = make_engine(MYSQL_URL.replace("/test?", f"/{name}?", 1))
        upgrade(engine)
        with engine.connect() as conn:
            charsets = conn.execute(
                text(
                    "SELECT DISTINCT character_set_name FROM information_schema.columns"
                    " WHERE table_schema = DATABASE() AND character_set_name IS NOT NULL"
                )
            ).scalars()
            assert set(charsets) == {"utf8mb4"}
        engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE {name}"))
        admin.dispose()


@pytest.mark.parametrize("model", [SyncState, SyncRun, Rejected])
def test_text_keys_are_varchar_on_mysql_only(model: Any) -> None:
    table: Table = model.__table__
    ddl = {
        name: str(CreateTable(table).compile(dialect=dialect.dialect()))
        for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql), ("mysql", mysql))
    }
    assert "resource TEXT NOT NULL" in ddl["sqlite"] and "VARCHAR" not in ddl["sqlite"]
    assert "resource TEXT NOT NULL" in ddl["postgresql"] and "VARCHAR" not in ddl["postgresql"]
    assert "resource VARCHAR(255) NOT NULL" in ddl["mysql"]


def test_mysql_migrations_build_the_models_exactly(maria: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from etl.mirror.engine import VERSION_TABLE

    with maria.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, Base.metadata) == []


def test_two_mirrors_on_one_mysql_server_do_not_block_each_other() -> None:
    with fresh_mariadb() as first, fresh_mariadb() as second:
        with (
            mirror_lock(first),
            mirror_lock(second),
            pytest.raises(MirrorLocked),
            mirror_lock(first),
        ):
            pass  # pragma: no cover
        with mirror_lock(first):  # released at the end of the `with`
            pass
    assert len(lock_name("x" * 200)) <= 64
    assert lock_name("odm_a") != lock_name("odm_b")


def test_the_mysql_lock_outlives_the_servers_wait_timeout() -> None:
    # The lock's session is idle for the whole run: a server that ends idle sessions after
    # wait_timeout (here 1 s, set for every session of the URL) must not end it.
    with fresh_mariadb() as fresh:
        url = f"{fresh}&init_command=SET SESSION wait_timeout %3D 1"
        with mirror_lock(url):
            # A session that went idle after the lock's did: once the server has ended it, the
            # lock's session has been idle longer than the timeout.
            sentinel = create_engine(url, poolclass=NullPool).connect()
            session = sentinel.execute(text("SELECT CONNECTION_ID()")).scalar_one()
            sentinel.commit()
            _wait_until_gone(session)
            with pytest.raises(MirrorLocked), mirror_lock(url):
                pass  # pragma: no cover


def _wait_until_gone(session: int) -> None:
    admin = create_engine(MYSQL_URL, poolclass=NullPool)
    query = text("SELECT COUNT(*) FROM information_schema.processlist WHERE id = :id")
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            with admin.connect() as conn:
                if conn.execute(query, {"id": session}).scalar_one() == 0:
                    return
            time.sleep(0.05)  # polling the server for the session's end
    finally:
        admin.dispose()
    raise AssertionError(f"the server did not end idle session {session}")


def test_a_mariadb_url_works_as_a_mysql_one() -> None:
    with fresh_mariadb() as fresh:
        url = fresh.replace("mysql+pymysql://", "mariadb+pymysql://", 1)
        engine = make_engine(url)
        try:
            upgrade(engine)
            assert engine.dialect.name == "mariadb"
            _save(engine, [_patient("Smith", dt.datetime(2031, 1, 1, 8, 0, 0))])
            with mirror_lock(url), pytest.raises(MirrorLocked), mirror_lock(fresh):
                pass  # pragma: no cover (the same lock, whichever the URL's name)
            with engine.connect() as conn:
                found = conn.execute(text("SELECT patnum, lname, age FROM patient_v")).all()
            assert [tuple(row) for row in found] == [(7, "Smith", None)]
        finally:
            engine.dispose()


def test_a_column_dropped_by_hand_is_named_then_repaired_on_mysql(maria: Engine) -> None:
    with maria.begin() as conn:
        conn.execute(text("ALTER TABLE patient DROP COLUMN chartnumber"))
    with pytest.raises(SchemaError, match="the column chartnumber of the mirror table patient"):
        check_schema(maria)
    assert upgrade(maria) == ["the column chartnumber of the mirror table patient is missing"]
    check_schema(maria)
    with maria.connect() as conn:  # the views are made again
        assert conn.execute(text("SELECT COUNT(chartnumber) FROM patient_v")).scalar() == 0


def test_a_mysql_failure_is_one_line_without_the_password() -> None:
    engine = make_engine("mysql+pymysql://odm:s3cr%40t@127.0.0.1:1/mirror")
    with pytest.raises(DatabaseError) as caught:
        upgrade(engine)
    message = str(caught.value)
    assert "s3cr" not in message and "\n" not in message
    assert message.startswith("database mysql+pymysql://odm:***@127.0.0.1:1/mirror: ")
