"""Group views: for every mirrored table, one view over all practices with a `practice` column.

The same for every readable `_v` view (etl/mirror/views.py), so a BI tool sees the labels and
joins of the whole group. PostgreSQL: views in one shared schema (`database.group_schema`),
each a UNION ALL of the practices' schemas, recreated by `odmirror init` with the grants they
had; MySQL the same, its schemas being databases. SQLite keeps no view across files, so there
`odmirror init` writes a script that ATTACHes every practice's file to a session and creates
TEMP views in it: `.read` it in sqlite3, or `executescript` it in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Table, text
from sqlalchemy.engine import make_url

from etl.catalog.base import Base
from etl.config.practices import PLACEHOLDER
from etl.config.settings import Settings
from etl.config.targets import Target
from etl.errors import DatabaseError
from etl.mirror import mysql
from etl.mirror.engine import current_revision, head_revision, make_engine
from etl.mirror.grants import Grant, give_grants, grants_kept, read_grants
from etl.mirror.views import view_names

#: The column each group view adds: the name of the practice a row comes from.
PRACTICE_COLUMN = "practice"


def mirrored_tables() -> list[Table]:
    """Every table of the mirror's metadata, without odmirror's own bookkeeping."""
    return [t for t in Base.metadata.sorted_tables if not t.name.startswith("odmirror_")]


def union_sql(
    table: Table, names: Sequence[str], quote: Callable[[str], str], text_type: str = "TEXT"
) -> str:
    """SELECT the table's columns from each practice's schema, UNION ALL, practice first."""
    columns = ", ".join(quote(column.name) for column in table.columns)
    return "\nUNION ALL\n".join(
        f"SELECT CAST('{name}' AS {text_type}) AS {PRACTICE_COLUMN}, {columns} "
        f"FROM {quote(name)}.{quote(table.name)}"
        for name in names
    )


def readable_union_sql(
    view: str, names: Sequence[str], quote: Callable[[str], str], text_type: str = "TEXT"
) -> str:
    """SELECT a readable view's rows from each practice's schema, UNION ALL, practice first.

    The columns are the view's own (`*`): every practice is at the same revision (see
    `ready`), so their views have the same columns, in the same order.
    """
    return "\nUNION ALL\n".join(
        f"SELECT CAST('{name}' AS {text_type}) AS {PRACTICE_COLUMN}, v.* "
        f"FROM {quote(name)}.{quote(view)} v"
        for name in names
    )


def ready(chosen: Sequence[Target]) -> list[str]:
    """The practices whose mirror is at this version's schema (the others would break a view)."""
    head = head_revision()
    names = []
    for target in chosen:
        url = make_url(target.settings.database.url)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
            continue  # not initialised; connecting would create an empty file
        engine = make_engine(target.settings.database.url)
        try:
            if current_revision(engine) == head:
                names.append(str(target.name))
        finally:
            engine.dispose()
    return names


# Whether the group schema exists: PostgreSQL's way, and MySQL's (where it is a database).
_SCHEMA_THERE = {
    False: text("SELECT to_regnamespace(:s) WHERE to_regnamespace(:s) IS NOT NULL"),
    True: text("SELECT schema_name FROM information_schema.schemata WHERE schema_name = :s"),
}


def release(settings: Settings) -> list[Grant]:
    """Drop the PostgreSQL group views before the practices are upgraded, and return their
    grants for `refresh` to give again: a group view holds the practices' tables and views,
    which a practice's upgrade drops and recreates. Nothing to do on SQLite (TEMP views)."""
    if settings.database.url.startswith("sqlite"):
        return []
    engine = make_engine(settings.database.url)
    schema = settings.database.group_schema
    try:
        with engine.begin() as conn:
            quote = conn.dialect.identifier_preparer.quote
            names = [t.name for t in mirrored_tables()] + view_names()
            grants = read_grants(conn, names, schema)
            there = _SCHEMA_THERE[mysql.is_mysql(conn.dialect.name)]
            if conn.execute(there, {"s": schema}).first():
                for view in names:
                    conn.execute(text(f"DROP VIEW IF EXISTS {quote(schema)}.{quote(view)}"))
            return grants
    finally:
        engine.dispose()


def refresh(settings: Settings, chosen: Sequence[Target], grants: Sequence[Grant] = ()) -> str:
    """Recreate the group views over the practices that are ready, with their grants (and
    `grants`, from `release`); returns a line to show."""
    names = ready(chosen)
    missing = [str(t.name) for t in chosen if t.name not in names]
    left_out = f"; left out (run `odmirror init`): {', '.join(missing)}" if missing else ""
    if not names:
        return f"group views: none, no practice is initialised{left_out}"
    if settings.database.url.startswith("sqlite"):
        path = write_sqlite_script(settings, chosen, names)
        where = f"SQLite script {path} (.read it in a session)"
    else:
        create_postgres_views(settings, names, grants)
        where = f"schema {settings.database.group_schema}"
    return f"group views: {where} over {', '.join(names)}{left_out}"


def create_postgres_views(
    settings: Settings, names: Sequence[str], grants: Sequence[Grant] = ()
) -> None:
    """(Re)create the group views in the group schema, in one transaction (but on MySQL, whose
    DDL commits itself), grants kept (and `grants` given)."""
    engine = make_engine(settings.database.url)
    schema = settings.database.group_schema
    try:
        with engine.begin() as conn:
            quote = conn.dialect.identifier_preparer.quote
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}"))
            bodies = _view_bodies(names, quote, _text_type(conn.dialect.name))
            with grants_kept(conn, list(bodies), schema):
                # Dropped, not replaced: a column added in the middle would refuse REPLACE. A
                # user's own view on ours makes the drop fail, which says so, rather than vanish.
                for view in reversed(bodies):
                    conn.execute(text(f"DROP VIEW IF EXISTS {quote(schema)}.{quote(view)}"))
                for view, body in bodies.items():
                    conn.execute(text(f"CREATE VIEW {quote(schema)}.{quote(view)} AS\n{body}"))
            give_grants(conn, grants, schema)
    finally:
        engine.dispose()


def _view_bodies(
    names: Sequence[str], quote: Callable[[str], str], text_type: str
) -> dict[str, str]:
    # Each group view by name: the tables', then the readable views'.
    bodies = {table.name: union_sql(table, names, quote, text_type) for table in mirrored_tables()}
    for view in view_names():
        bodies[view] = readable_union_sql(view, names, quote, text_type)
    return bodies


def _text_type(dialect: str) -> str:
    return "CHAR" if mysql.is_mysql(dialect) else "TEXT"  # MySQL casts to CHAR, not TEXT


def sqlite_script_path(settings: Settings) -> Path:
    """Where the SQLite group script goes: the practice file name with the group's, in .sql."""
    database = make_url(settings.database.url).database or ""
    return Path(database.replace(PLACEHOLDER, settings.database.group_schema)).with_suffix(".sql")


def sqlite_script(files: Sequence[tuple[str, Path]]) -> str:
    """The script that attaches each (practice, file) and creates the TEMP group views."""

    def quote(name: str) -> str:
        return f'"{name}"'

    lines = [
        "-- odmirror group views, written by `odmirror init`: read it into a SQLite session.",
        "-- SQLite attaches at most 10 files to a session unless built with a higher limit.",
    ]
    for name, path in files:
        literal = str(path.resolve()).replace("'", "''")
        lines.append(f"ATTACH DATABASE '{literal}' AS {quote(name)};")
    for view, body in _view_bodies([name for name, _ in files], quote, "TEXT").items():
        lines.append(f"CREATE TEMP VIEW {quote(view)} AS\n{body};")
    return "\n".join(lines) + "\n"


def write_sqlite_script(settings: Settings, chosen: Sequence[Target], names: Sequence[str]) -> Path:
    """Write the SQLite group script over the named practices; returns its path."""
    files = [
        (str(t.name), Path(make_url(t.settings.database.url).database or ""))
        for t in chosen
        if t.name in names
    ]
    path = sqlite_script_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sqlite_script(files), encoding="utf-8")
    except OSError as exc:
        raise DatabaseError(f"cannot write the group views script {path}: {exc.strerror}") from None
    return path.resolve()
