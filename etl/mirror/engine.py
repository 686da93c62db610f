"""The mirror database: connecting to it, and creating or upgrading its schema with Alembic."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

import etl
from etl import fast_paths
from etl.errors import DatabaseError, SchemaError
from etl.mirror import drift, fast_checkpoints, idle_ping, mysql, mysql_local_files
from etl.mirror.db_errors import reason

log = logging.getLogger(__name__)

#: Alembic's own table, named so nobody takes it for one of Open Dental's.
VERSION_TABLE = "odmirror_alembic_version"
#: user:password@ in any URL, and password=... in a libpq connection string.
_USERINFO = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")
_KEYWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.I)


def migrations_dir() -> Path:
    """Where the migrations are: inside an installed wheel, else the repository's migrations/."""
    package = Path(etl.__file__).resolve().parent
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise SchemaError("the migrations of odmirror are missing from this installation")


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    if ":" not in url and "@" not in url:
        return url  # a label such as "(mirror)": nothing to hide
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(invalid database URL)"


def mask_password(text: str, url: str | None = None) -> str:
    """Hide database passwords in a message: the URL's own, and any user:password@ or password=.

    Args:
        text: the message.
        url: the database URL whose password must not show (as given, perhaps malformed).

    Returns:
        The message with each password replaced by ***.
    """
    password = _password(url) if url else None
    if password:
        for form in {password, quote_plus(password), quote(password, safe="")}:
            text = text.replace(form, "***")
    return _KEYWORD.sub(r"\1***", _USERINFO.sub(r"\1***\3", text))


def _password(url: str) -> str | None:
    try:
        return make_url(url).password and str(make_url(url).password)
    except (ArgumentError, ValueError):
        match = _USERINFO.search(url)
        return match.group(2) if match else None


def make_engine(url: str) -> Engine:
    """An engine for the mirror; raises DatabaseError with a one-line reason.

    A SQLite file is created readable and writable by its owner only (0600) before the first
    connection; its WAL and shared-memory files take the same mode. `?timeout=SECONDS` in a
    SQLite URL sets how long a write waits for another writer's lock (default 30).
    """
    try:
        parsed = make_url(url)
        backend, _port = parsed.get_backend_name(), parsed.port
    except (ArgumentError, ValueError) as exc:
        raise DatabaseError(mask_password(f"invalid database URL: {exc}", url)) from None
    if backend not in ("postgresql", "sqlite", *mysql.NAMES):
        raise DatabaseError(
            f"odmirror mirrors into PostgreSQL, MySQL, MariaDB or SQLite, not {backend}"
        )
    options: dict[str, Any] = {}
    if mysql.is_mysql(backend):
        options["connect_args"] = mysql.connect_args()
        if parsed.get_driver_name() == "pymysql" and mysql_local_files.switchable():
            # New rows may come by LOAD DATA LOCAL (etl.mirror.fast_mysql_load).
            options["connect_args"]["local_infile"] = True
    elif backend == "postgresql" and fast_paths.enabled("async_commit"):
        # A page's commit need not wait for the disk (2 ms a commit here, some 600 a first
        # load): a crash of the server loses at most the last fraction of a second of commits,
        # in order, the cursors written with them too, so the mirror is as a run stopped a
        # moment earlier left it, and the next run reads those pages again.
        given = parsed.query.get("options", "")  # the URL's own (a search_path) come first
        if isinstance(given, str):
            options["connect_args"] = {"options": f"{given} -c synchronous_commit=off".strip()}
    try:
        engine = create_engine(url, **options)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        raise DatabaseError(
            mask_password(
                f"no driver for {safe_url(url)} ({exc}); for PostgreSQL install "
                "odmirror[postgres], for MySQL or MariaDB odmirror[mysql] and mysql+pymysql://",
                url,
            )
        ) from None
    except (ArgumentError, ValueError, TypeError) as exc:
        raise DatabaseError(
            mask_password(f"invalid database URL {safe_url(url)}: {exc}", url)
        ) from None
    idle_ping.attach(engine)
    if mysql.is_mysql(engine.dialect.name):
        mysql.configure(engine)
    if engine.dialect.name == "sqlite":
        in_file = _plain_file(parsed) and fast_paths.enabled("checkpoints")
        event.listen(engine, "do_connect", lambda *_: _create_private(parsed))
        event.listen(engine, "connect", _sqlite_pragmas("timeout" not in parsed.query, in_file))
        if in_file:
            fast_checkpoints.attach(engine)
    return engine


def _plain_file(url: URL) -> bool:
    database = url.database
    return bool(database) and database != ":memory:" and not str(database).startswith("file:")


def _create_private(url: URL) -> None:
    database = url.database
    if not database or not _plain_file(url):
        return
    try:
        fd = os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return  # it exists, or its directory does not: SQLite says what is wrong on connect
    os.close(fd)


def _sqlite_pragmas(default_timeout: bool, in_file: bool) -> Any:
    def apply(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        if default_timeout:
            cursor.execute("PRAGMA busy_timeout = 30000")
        # A BI tool may read while we write: WAL lets readers and one writer work at once.
        cursor.execute("PRAGMA journal_mode = WAL")
        # WAL's recommended setting: a commit no longer waits for the disk, and a power cut can
        # undo the last commits but never corrupt the file. The cursor lives in the same file, so
        # what a lost commit held is read again by the next run.
        cursor.execute("PRAGMA synchronous = NORMAL")
        if in_file:
            fast_checkpoints.pragma(cursor)
        cursor.close()

    return apply


def describe(exc: BaseException, url: str) -> str:
    """A one-line reason for a database failure, without the password or any row's values
    (etl.mirror.db_errors)."""
    orig = getattr(exc, "orig", None) or exc
    return mask_password(f"database {safe_url(url)}: {reason(exc, orig)}", url)


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs our migrations on this engine (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> list[str]:
    """Create or upgrade the mirror schema (Alembic `upgrade head`).

    At the head revision, a table or column dropped or retyped by hand is made again
    (etl.mirror.drift).

    Returns:
        What was repaired, one phrase each.
    """
    fixed: list[str] = []
    try:
        # At the head already, the repair comes first: the views made after every upgrade
        # read the columns it makes again.
        if revision == "head" and current_revision(engine) == head_revision():
            fixed += _repair(engine)
        command.upgrade(alembic_config(engine), revision)
        if revision == "head":
            fixed += _repair(engine)
    except SQLAlchemyError as exc:
        raise DatabaseError(describe(exc, str(engine.url))) from None
    for what in fixed:
        log.warning("repaired: %s (the next sync reads its resource again)", what)
    return fixed


def _repair(engine: Engine) -> list[str]:
    with engine.begin() as conn:
        return [d.describe() for d in drift.repair(conn)]


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
        if mysql.unknown_database(exc):
            return None  # a practice's MySQL database is made by `odmirror init`
        raise DatabaseError(describe(exc, str(engine.url))) from None


def check_schema(engine: Engine) -> None:
    """Raise SchemaError unless the database is at this version's head revision.

    A SQLite file that is not there is not created (connecting would make an empty one).
    """
    url, file = engine.url, engine.url.database or ""
    if url.get_backend_name() == "sqlite" and _plain_file(url) and not Path(file).exists():
        raise SchemaError(f"no mirror at {file}: run `odmirror init` (or check database.url)")
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
    try:
        with engine.connect() as conn:
            drifts = drift.find(conn)
    except SQLAlchemyError as exc:
        raise DatabaseError(describe(exc, str(engine.url))) from None
    if drifts:
        more = f" (and {len(drifts) - 1} more)" if len(drifts) > 1 else ""
        raise SchemaError(f"{drifts[0].describe()}{more}: run `odmirror init` to repair it")


def create_schema(url: str, schema: str | None) -> None:
    """Create a practice's PostgreSQL schema or MySQL database if missing (None: a SQLite file)."""
    if schema is None:
        return
    # On MySQL the practice's URL names the database to create: connect to the server alone.
    backend = make_url(url).get_backend_name()
    engine = make_engine(mysql.server_url(url) if mysql.is_mysql(backend) else url)
    try:
        with engine.begin() as conn:
            quoted = conn.dialect.identifier_preparer.quote(schema)
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
    finally:
        engine.dispose()
