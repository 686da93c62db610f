"""The Alembic migrations: they build exactly the models, and `alembic upgrade head` works."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, Table, inspect, text

from etl.catalog.base import Base
from etl.catalog.opendental import SCHEMA_FILE
from etl.catalog.resources import RESOURCES
from etl.catalog.tables import MIRRORED, TABLES
from etl.mirror import fast_indexes
from etl.mirror.engine import (
    VERSION_TABLE,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """These tests run on MariaDB too (tests/conftest.py)."""
    return db_url_all


ROOT = Path(__file__).resolve().parent.parent


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_only_our_tables_and_open_dental_names(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {VERSION_TABLE}
    assert {"patient", "appointment", "procedurelog", "provider", "clinic"} <= tables
    columns = {c["name"] for c in inspect(engine).get_columns("patient")}
    assert {"patnum", "lname", "patstatus", "datetstamp", "billingtype_name"} <= columns
    for table in tables:
        names = [c["name"] for c in inspect(engine).get_columns(table)]
        assert all(name == name.lower() for name in names), table


def test_alembic_upgrade_head_from_the_repo_reads_our_config(tmp_path: Path) -> None:
    db = tmp_path / "viaalembic.db"
    config = tmp_path / "config.yaml"
    config.write_text(
        "api:\n  base_url: http://127.0.0.1:1/api/v1\n  developer_key: a\n  customer_key: b\n"
        f"database:\n  url: sqlite:///{db}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env={**os.environ, "ODMIRROR_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    from etl.mirror.engine import make_engine

    engine = make_engine(f"sqlite:///{db}")
    assert current_revision(engine) == head_revision()
    engine.dispose()


def secondary_indexes(engine: Engine) -> dict[str, set[str | None]]:
    """The non-unique indexes each mirrored table has in the database."""
    inspector = inspect(engine)
    return {
        table.name: {i["name"] for i in inspector.get_indexes(table.name) if not i["unique"]}
        for table in mirrored_tables()
    }


def mirrored_tables() -> list[Table]:
    return list({resource.table.name: resource.table for resource in RESOURCES.values()}.values())


def assert_downgrade_to_base_and_back(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) == {VERSION_TABLE}
    assert inspect(engine).get_view_names() == []

    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, Base.metadata) == []


@pytest.mark.parametrize("killed", [False, True], ids=["indexes_in_place", "killed_first_load"])
def test_downgrade_to_base_and_upgrade_again(engine: Engine, killed: bool) -> None:
    """A first load killed before its end leaves the secondary indexes dropped: still downgrades."""
    model = {
        table.name: {i.name for i in table.indexes if not i.unique} for table in mirrored_tables()
    }
    assert any(model.values())
    if killed:
        for table in mirrored_tables():
            fast_indexes.defer(engine, table, empty=True)  # what a first load does before its pages
        if engine.dialect.name == "mysql":
            # MySQL takes the plain twin and keeps them; drop them to downgrade without them.
            assert secondary_indexes(engine) == model
            with engine.begin() as conn:
                for table in mirrored_tables():
                    for index in table.indexes:
                        index.drop(conn)
        assert secondary_indexes(engine) == {name: set() for name in model}
    else:
        assert secondary_indexes(engine) == model

    assert_downgrade_to_base_and_back(engine)
    assert secondary_indexes(engine) == model


def test_every_mirrored_table_is_open_dental_s_own_columns_in_its_order(engine: Engine) -> None:
    """The mirror, as the database shows it, diffed against Open Dental 24.3's schema file."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    for resource in RESOURCES.values():
        name = resource.table.name
        have = [c["name"] for c in inspect(engine).get_columns(name)]
        od = [column.lower() for column, _storage, _enum in schema[name]]
        assert have[: len(od)] == od, name
        ours = set(have[len(od) :])
        derived = set(MIRRORED[name].derived.values())
        assert ours - derived <= {"odmirror_extra", "odmirror_synced_at", "odmirror_gone_at"}, name
        assert not ours & set(od), name  # never one of Open Dental's names


def test_the_previous_release_s_mirror_upgrades_to_open_dental_s_values(engine: Engine) -> None:
    """A mirror as the release before 0004 wrote it (BOOLEAN, NULL for 0001-01-01, SQLite
    times with a .000000 suffix), upgraded in place, then downgraded back."""
    command.downgrade(alembic_config(engine), "0003")
    sqlite = engine.dialect.name == "sqlite"
    stamp = "2024-05-01 12:00:00" + (".000000" if sqlite else "")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO patient (patnum, lname, premed, birthdate, admitdate, datetstamp,"
                " estbalance) VALUES (7, 'Smith', :premed, '1980-02-03', NULL, :stamp, 12.5)"
            ),
            {"premed": True, "stamp": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO appointment (aptnum, patnum, ishygiene, isnewpatient, ismirrored,"
                " aptdatetime, datetimearrived) VALUES (3, 7, :no, :yes, NULL,"
                " '2024-06-01 09:30:00', NULL)"
            ),
            {"no": False, "yes": True},
        )
    upgrade(engine)
    patient = _row(engine, "SELECT * FROM patient WHERE patnum = 7")
    assert (patient["premed"], patient["birthdate"], patient["admitdate"]) == (
        1, dt.date(1980, 2, 3), dt.date(1, 1, 1))  # fmt: skip
    assert patient["datetstamp"] == dt.datetime(2024, 5, 1, 12)
    assert patient["bal_0_30"] is None and patient["billingtype"] is None  # not known yet
    appointment = _row(engine, "SELECT * FROM appointment WHERE aptnum = 3")
    assert (appointment["ishygiene"], appointment["isnewpatient"]) == (0, 1)
    assert appointment["ismirrored"] is None
    assert appointment["datetimearrived"] == dt.datetime(1, 1, 1)
    assert appointment["aptdatetime"] == dt.datetime(2024, 6, 1, 9, 30)
    # Back to the previous shape: flags as booleans again, "no date" as NULL.
    command.downgrade(alembic_config(engine), "0003")
    patient = _row(engine, "SELECT * FROM patient WHERE patnum = 7")
    assert (bool(patient["premed"]), patient["admitdate"]) == (True, None)
    assert "bal_0_30" not in patient and patient["lname"] == "Smith"
    upgrade(engine)
    assert _row(engine, "SELECT premed FROM patient WHERE patnum = 7") == {"premed": 1}


def _row(engine: Engine, sql: str) -> dict[str, Any]:
    """One row read through the mirror's own table types (dates as dates on SQLite too)."""
    table = TABLES[sql.split("FROM ")[1].split()[0]] if "*" in sql else None
    with engine.connect() as conn:
        if table is None:
            return dict(conn.execute(text(sql)).mappings().one())
        names = [c["name"] for c in inspect(conn).get_columns(table.name)]
        typed = text(sql).columns(*(table.c[n] for n in names if n in table.c))
        return dict(conn.execute(typed).mappings().one())
