"""Rows new to a MySQL or MariaDB mirror, written by LOAD DATA LOCAL INFILE.

A table's first load is mostly pages of keys the mirror does not hold. The upsert's multi-row
INSERT ... ON DUPLICATE KEY UPDATE costs twice there: PyMySQL's escape per value in Python, and
the server parsing a megabyte of SQL literals and its guarded assignments. LOAD DATA takes the
page as tab-separated text instead: text escaped only where a column holds one of the five
characters LOAD DATA reads specially, everything else written as the server reads it back.

LOCAL loading behaves as IGNORE (the server cannot stop the client's file mid-way): a key that
came meanwhile is skipped, and a value strict mode would refuse (too long, out of range) is cut
with a warning. So a load counts only if every row was loaded with no warning; otherwise its
savepoint undoes it and the caller upserts the rows, which writes or refuses them as always.
A server that refuses LOCAL loading (MySQL 8's default, local_infile=OFF) is not asked again.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Dialect, Table
from sqlalchemy.exc import DBAPIError

from etl.mapping.block import Block
from etl.mirror import fast_copy, fast_new_rows, mysql_local_files
from etl.mirror.fast_mysql_text import Unloadable, texts

log = logging.getLogger(__name__)

#: The server or the client refuses LOCAL loading: "not allowed with this version" (MySQL 5),
#: "local data is disabled" (MySQL 8), "local infile capability disabled" (MariaDB 10.6+), and
#: the C client library's own refusal.
REFUSED = frozenset({1148, 3948, 4166, 2068})
_refused: set[str] = set()  # the servers (URLs without password) that refused, this process


class _Refused(Exception):
    """No LOAD DATA LOCAL here: the server refuses it, or no file can be written to send."""


def load_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Block,
    constants: Mapping[str, Any] | None = None,
) -> bool:
    """Load rows the mirror does not hold into a MySQL or MariaDB table, exactly or not at all.

    Args:
        conn: a MySQL or MariaDB connection through PyMySQL (inside its transaction).
        table: the mirror table.
        columns: the block's columns, and the names of `constants`.
        rows: the rows, none of whose keys the mirror held when read.
        constants: values the same for every row, by column name (not in the rows).

    Returns:
        True if every row was loaded as given; False if none was (a key came meanwhile, a value
        would not be stored exactly, another driver, or the server refuses LOCAL loading).
    """
    server = conn.engine.url.render_as_string(hide_password=True)
    if conn.dialect.driver != "pymysql" or server in _refused:
        return False
    try:
        data = _tsv(conn, table, columns, rows, constants or {}).encode("utf-8")
    except (Unloadable, UnicodeEncodeError):
        return False
    fast_new_rows.mark(conn)  # released by the commit
    try:
        done = _load(conn, table, columns, data)
    except _Refused as exc:
        fast_new_rows.undo(conn)
        _refused.add(server)
        log.debug("no LOAD DATA LOCAL INFILE into %s (%s): new rows by INSERT", server, exc)
        return False
    except BaseException:
        fast_new_rows.undo(conn)
        raise
    if done != (len(rows), 0):  # a row skipped (its key came meanwhile) or a value changed
        fast_new_rows.undo(conn)
        return False
    return True


def _tsv(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Block,
    constants: Mapping[str, Any],
) -> str:
    """The rows as LOAD DATA's text: a line a row, its values separated by tabs.

    Raises:
        Unloadable: a value LOAD DATA's text cannot carry as the upsert would.
    """
    # Each line by one `%` of a format made once a block: a column of whole numbers (no NULL)
    # by %d, which writes what str() does without a string a value; a constant (the sync time)
    # as text inside the format; the others as their texts by %s.
    values = fast_copy.driver_columns(conn, table, columns, rows, constants)
    specs, args = [], []
    for name, column in zip(columns, values, strict=True):
        whole = _whole_seconds(conn.dialect, table.c[name])
        if name in constants:
            specs.append(texts([next(iter(column), None)], whole)[0].replace("%", "%%"))
            continue
        listed = list(column)
        if set(map(type, listed)) == {int}:  # type() is exact: bool is not int here
            specs.append("%d")
            args.append(listed)
        else:
            specs.append("%s")
            args.append(texts(listed, whole))
    line = "\t".join(specs) + "\n"
    if not args:
        return line * len(rows)
    return "".join(map(line.__mod__, zip(*args, strict=True)))


def _load(conn: Connection, table: Table, columns: Sequence[str], data: bytes) -> tuple[int, int]:
    """LOAD DATA the text; the rows loaded and the warnings.

    Raises:
        _Refused: the server refuses LOCAL loading, or the text cannot be written to a file.
    """
    dbapi: Any = conn.connection.dbapi_connection
    quote = conn.dialect.identifier_preparer.quote
    try:
        fd, path = tempfile.mkstemp(prefix="odmirror-", suffix=".tsv")  # its owner's only
    except OSError as exc:
        raise _Refused(f"no file for the rows: {exc}") from None
    try:
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
        except OSError as exc:
            raise _Refused(f"no file for the rows: {exc}") from None
        sql = (
            f"LOAD DATA LOCAL INFILE {dbapi.escape(path)} INTO TABLE {quote(table.name)}"
            " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\'"
            f" LINES TERMINATED BY '\\n' ({', '.join(map(quote, columns))})"
        )
        cursor = dbapi.cursor()
        try:
            with mysql_local_files.sending_only(dbapi, path):
                cursor.execute(sql)
            return int(cursor.rowcount), int(cursor.warning_count)
        except conn.dialect.loaded_dbapi.Error as exc:
            if exc.args and exc.args[0] in REFUSED:
                raise _Refused(str(exc.args[-1])) from None
            error = conn.dialect.loaded_dbapi.Error
            raise DBAPIError.instance(sql, None, exc, error) from None
        finally:
            cursor.close()
    finally:
        os.unlink(path)


@functools.lru_cache(maxsize=1024)  # columns of every table
def _whole_seconds(dialect: Dialect, column: Column[Any]) -> bool:
    """Whether the column keeps whole seconds (DATETIME, TIME: no fractional digits)."""
    return column.type.compile(dialect=dialect) in ("DATETIME", "TIME", "TIMESTAMP")
