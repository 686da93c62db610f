"""The mirror database: connecting to it, and creating or upgrading its schema with Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

import etl
from etl.errors import DatabaseError, SchemaError

#: Alembic's own table, named so nobody takes it for one of Open Dental's.
VERSION_TABLE = "odmirror_alembic_version"


def migrations_dir() -> Path:
    """Where the migrations are: inside an installed wheel, else the repository's migrations/."""
    package = Path(etl.__file__).resolve().parent
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise SchemaError("the migrations of odmirror are missing from this installation")


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid database URL)"


def make_engine(url: str) -> Engine:
    """An engine for the mirror; raises DatabaseError with a one-line reason."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError as exc:
        raise DatabaseError(f"invalid database URL {safe_url(url)}: {exc}") from None
    if backend not in ("postgresql", "sqlite"):
        raise DatabaseError(f"odmirror mirrors into PostgreSQL or SQLite, not {backend}")
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        raise DatabaseError(
            f"no driver for {safe_url(url)} ({exc}); for PostgreSQL install odmirror[postgres]"
        ) from None
    except ArgumentError as exc:
        raise DatabaseError(f"invalid database URL {safe_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # A BI tool may read while we write: WAL lets readers and one writer work at once.
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def describe(exc: BaseException, url: str) -> str:
    """A one-line reason for a database failure, without the password."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [orig.__class__.__name__])[0]
    return f"database {safe_url(url)}: {first}"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs our migrations on this engine (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the mirror schema (Alembic `upgrade head`)."""
    try:
        command.upgrade(alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(describe(exc, str(engine.url))) from None


def head_revision() -> str | None:
    """The newest migration this version of odmirror ships."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None if odmirror never initialised it."""
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    except SQLAlchemyError as exc:
        raise DatabaseError(describe(exc, str(engine.url))) from None


def check_schema(engine: Engine) -> None:
    """Raise SchemaError unless the database is at this version's head revision."""
    current, head = current_revision(engine), head_revision()
    if current is None:
        raise SchemaError(
            f"{safe_url(str(engine.url))} has no odmirror schema yet: run `odmirror init`"
        )
    if current != head:
        raise SchemaError(
            f"the mirror schema is at {current} but this odmirror needs {head}: "
            "run `odmirror init` to upgrade it"
        )
