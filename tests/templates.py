"""Mirrors at the current schema, copied from one made per test session (the `engine` fixture).

Upgrading an empty database to the head revision costs a second or more on PostgreSQL and
MariaDB (eight migrations, then 49 views), and about 370 tests start from such a mirror. Each
kind of database is upgraded once per session instead, and each test gets a copy:

- SQLite: the template file, copied byte for byte (mode 0600, as `make_engine` makes it).
- PostgreSQL: `CREATE DATABASE ... TEMPLATE` (an exact copy), its one schema renamed so that
  each test's database and schema carry a name of their own, as `empty_database` gives them;
  the copies are dropped together when the session ends (see `postgres_copy`).
- MariaDB: each table's `SHOW CREATE TABLE` and its rows, then each view's definition.

tests/test_templates.py proves a copy is what `upgrade` makes of an empty database: the same
tables, columns, indexes, views and rows, and nothing for `upgrade` to do on it.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from etl.mirror.engine import make_engine, upgrade

_DEFINER = re.compile(r"\s+DEFINER=`[^`]*`@`[^`]*`")


class Templates:
    """The session's template of each kind of database, each made when first asked for."""

    def __init__(self, directory: Path, pg_url: str, mysql_url: str) -> None:
        self.directory, self.pg_url, self.mysql_url = directory, pg_url, mysql_url
        self._made: dict[str, str] = {}
        self._copies: list[str] = []  # PostgreSQL databases to drop at the end

    def sqlite_copy(self, target: Path) -> str:
        """A copy of the SQLite template at `target` (mode 0600); returns its URL."""
        if "sqlite" not in self._made:
            path = self.directory / "template.db"
            _upgraded(f"sqlite:///{path}")
            assert not Path(f"{path}-wal").exists(), "the template's WAL is not checkpointed"
            self._made["sqlite"] = str(path)
        data = Path(self._made["sqlite"]).read_bytes()
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return f"sqlite:///{target}"

    @contextmanager
    def postgres_copy(self) -> Iterator[str]:
        """A new database copied from the PostgreSQL template, dropped when the session ends.

        Its one schema has the database's own name (odm_...), on the URL's search path. The
        drops wait for the session's end because each DROP DATABASE forces a checkpoint, which
        costs seconds on a busy server: one after another at the end, only the first does.
        """
        admin = create_engine(self.pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        if "postgresql" not in self._made:
            self._made["postgresql"] = _postgres_template(admin, self.pg_url)
        template = self._made["postgresql"]
        name = f"odm_{uuid.uuid4().hex[:12]}"
        try:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
            self._copies.append(name)
            url = _pg_database_url(self.pg_url, name)
            renamer = create_engine(url, poolclass=NullPool)
            with renamer.begin() as conn:
                conn.execute(text(f"ALTER SCHEMA {template} RENAME TO {name}"))
            renamer.dispose()
        finally:
            admin.dispose()
        yield url

    def mariadb_fill(self, url: str) -> None:
        """Make the empty MariaDB database at `url` a copy of the MariaDB template."""
        if "mysql" not in self._made:
            self._made["mysql"] = f"odm_tmpl_{uuid.uuid4().hex[:8]}"
            made = self.mysql_url.replace("/test?", f"/{self._made['mysql']}?", 1)
            admin = create_engine(self.mysql_url, poolclass=NullPool)
            with admin.begin() as conn:
                conn.execute(text(f"CREATE DATABASE {self._made['mysql']} CHARACTER SET utf8mb4"))
            admin.dispose()
            _upgraded(made)
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                _mariadb_copy(conn, self._made["mysql"])
        finally:
            engine.dispose()

    def close(self) -> None:
        """Drop the copies and the server-side templates made this session."""
        if "postgresql" in self._made or self._copies:
            admin = create_engine(self.pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
            with admin.connect() as conn:
                for name in [*self._copies, self._made.get("postgresql")]:
                    # FORCE: a connection a failed test left open must not keep the database.
                    if name:
                        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
        if "mysql" in self._made:
            admin = create_engine(self.mysql_url, poolclass=NullPool)
            with admin.begin() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {self._made['mysql']}"))
            admin.dispose()
        self._made.clear()
        self._copies.clear()


def _upgraded(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _pg_database_url(server_url: str, database: str) -> str:
    base = server_url.split("?", 1)[0].rsplit("/", 1)[0]
    return f"{base}/{database}?options=-csearch_path%3D{database}"


def _postgres_template(admin: Engine, server_url: str) -> str:
    name = f"odm_tmpl_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = _pg_database_url(server_url, name)
    maker = create_engine(url, poolclass=NullPool)
    with maker.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    maker.dispose()
    _upgraded(url)
    return name


def _mariadb_copy(conn: Connection, template: str) -> None:
    kinds = conn.execute(
        text(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = :db ORDER BY table_name"
        ),
        {"db": template},
    ).all()
    for table, kind in kinds:
        if kind == "BASE TABLE":
            ddl = conn.execute(text(f"SHOW CREATE TABLE `{template}`.`{table}`")).one()[1]
            conn.execute(text(ddl))
            conn.execute(text(f"INSERT INTO `{table}` SELECT * FROM `{template}`.`{table}`"))
    # A view is made after the views it reads: those whose views are not there yet wait for
    # the next pass (each pass makes at least one, or the copy fails).
    views = [table for table, kind in kinds if kind == "VIEW"]
    while views:
        left = []
        for view in views:
            ddl = conn.execute(text(f"SHOW CREATE VIEW `{template}`.`{view}`")).one()[1]
            ddl = _DEFINER.sub("", ddl).replace(f"`{template}`.", "")
            try:
                conn.execute(text(ddl))
            except DBAPIError:  # a view over a view not made yet
                conn.rollback()
                left.append(view)
        if len(left) == len(views):
            raise AssertionError(f"views of the template that cannot be copied: {left}")
        views = left
    conn.commit()
