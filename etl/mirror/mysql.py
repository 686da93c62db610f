"""MySQL and MariaDB as the mirror: the connection's settings and the database's character set.

A MySQL mirror answers Open Dental's own SQL as Open Dental's server does, so its session is set
to store what odmirror sends and to refuse what is wrong, never to adjust it quietly:
- utf8mb4, so every character a note holds is kept (MySQL's "utf8" has no 4-byte ones);
- STRICT_TRANS_TABLES: a value too long or out of range is an error, not a cut or a clamp;
- no NO_ZERO_DATE / NO_ZERO_IN_DATE: they are not needed ("0001-01-01", Open Dental's "no
  date", is no zero date) and a server that sets them must not refuse what Open Dental stores;
- text is LONGTEXT, not TEXT (64 KB), so that what the other databases take it takes too;
- TIME_TRUNCATE_FRACTIONAL on MySQL 8 (MariaDB always truncates): a cursor time with
  microseconds must never be rounded up into the next second, which would skip the changes made
  in it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, Text, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import TypeCompiler

from etl.mirror import mysql_local_files

#: SQLAlchemy's names of the dialect: `mysql+pymysql://` and `mariadb+pymysql://` URLs.
NAMES = ("mysql", "mariadb")
#: Open Dental's own collation family: comparisons ignore case, as its queries expect.
CHARSET, COLLATION = "utf8mb4", "utf8mb4_general_ci"
#: Seconds to wait for the server to answer a new connection.
CONNECT_TIMEOUT = 10
#: ER_BAD_DB_ERROR: "Unknown database".
ER_BAD_DB = 1049
SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
#: The secondary indexes of one table (etl.mirror.fast_indexes).
INDEXES_SQL = (
    "SELECT DISTINCT index_name FROM information_schema.statistics"
    " WHERE table_schema = DATABASE() AND table_name = :name AND index_name <> 'PRIMARY'"
)


@compiles(Text, "mysql")
@compiles(Text, "mariadb")
def _longtext(_type: Text, _compiler: TypeCompiler, **_kw: Any) -> str:
    # MySQL's TEXT holds 64 KB; the API may send a longer note, which SQLite and PostgreSQL
    # store whole. Strict mode would refuse the row, and with it the page: store it whole too.
    return "LONGTEXT"


def is_mysql(dialect: str) -> bool:
    """Whether a dialect name (`engine.dialect.name`) is MySQL's or MariaDB's."""
    return dialect in NAMES


def server_url(url: str) -> str:
    """The URL without its database: the server, to create a practice's database on."""
    return make_url(url).set(database="").render_as_string(hide_password=False)


def unknown_database(exc: BaseException) -> bool:
    """Whether a database error says the URL's database does not exist (MySQL error 1049)."""
    args: tuple[Any, ...] = getattr(getattr(exc, "orig", None), "args", ())
    return bool(args) and args[0] == ER_BAD_DB


def connect_args() -> dict[str, Any]:
    """PyMySQL's arguments for every connection of a mirror engine."""
    return {"charset": CHARSET, "connect_timeout": CONNECT_TIMEOUT}


def configure(engine: Engine) -> None:
    """Set every new connection's session as the module docstring says."""
    event.listen(engine, "connect", _set_session)


def _set_session(dbapi_conn: Any, _record: Any) -> None:
    # A mirror engine connects with local_infile (etl.mirror.engine): on only around a load.
    mysql_local_files.refuse(dbapi_conn)
    cursor = dbapi_conn.cursor()
    try:
        mode = SQL_MODE
        if "mariadb" not in dbapi_conn.get_server_info().lower():
            mode += ",TIME_TRUNCATE_FRACTIONAL"
        cursor.execute(f"SET SESSION sql_mode = '{mode}'")
        cursor.execute(f"SET NAMES {CHARSET} COLLATE {COLLATION}")
    finally:
        cursor.close()


def use_utf8mb4(conn: Connection) -> None:
    """Make utf8mb4 the database's default, so the tables the migrations create take it.

    A server's default is often latin1 (MariaDB's own), which cannot hold most names a practice
    stores. Only the default for new tables changes; tables already there keep theirs.
    """
    row = conn.exec_driver_sql(
        "SELECT @@character_set_database, @@collation_database, DATABASE()"
    ).one()
    if row[0] == CHARSET:
        return
    quoted = conn.dialect.identifier_preparer.quote(str(row[2]))
    conn.exec_driver_sql(f"ALTER DATABASE {quoted} CHARACTER SET {CHARSET} COLLATE {COLLATION}")
