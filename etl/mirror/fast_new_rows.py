"""Rows new to the mirror, written fast: one savepoint to undo them, and COPY's rows in one piece.

A first load writes pages of keys the mirror does not hold by a plain insert (COPY on
PostgreSQL, LOAD DATA on MySQL and MariaDB), undone if a key came meanwhile (another writer,
despite the run's lock): then the upsert takes the page.

- `mark` sets the savepoint in one statement, where SQLAlchemy's savepoint costs two (SAVEPOINT,
  then RELEASE), each a round trip a page and a wait for the GIL while the fetch thread runs.
  The commit releases it; a savepoint of the same name set later in the transaction hides it.
- `write_rows`: psycopg's `Copy.write_row` formats a row in C, but reaches it through two Python
  calls a row (its own and its formatter's), a fifth of the COPY's CPU in the sync's process
  (measured on 1000-row pages of procedures). Here the same C formatter (the one `write_row`
  calls, with the transformer `set_types` configured) appends every row to one buffer, framed
  as PostgreSQL's binary COPY format frames it (a signature and header before the rows, a
  trailer after them), written once. Where psycopg has no such formatter (another version),
  each row goes by `write_row`, the plain twin.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Connection

#: PostgreSQL's binary COPY header: the signature, no flags, no header extension.
SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
#: The end of the rows: a field count of -1.
TRAILER = b"\xff\xff"

_SAVEPOINT = "odmirror_new_rows"
_BATCH, _FLUSH = 1000, 8 << 20  # rows formatted between checks; bytes held at most
_Format = Callable[[Sequence[Any], Any, bytearray], Any]


def mark(conn: Connection) -> None:
    """Set the savepoint that `undo` goes back to, before new rows are written."""
    conn.exec_driver_sql(f"SAVEPOINT {_SAVEPOINT}")


def undo(conn: Connection) -> None:
    """Undo what was written since the last `mark` (which stays set)."""
    conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")


@functools.cache  # looked up at the first COPY: psycopg is then imported, and only then
def formatter() -> _Format | None:
    """psycopg's binary row formatter (C where psycopg's C module is installed), or None."""
    for module in ("psycopg._copy_base", "psycopg.copy"):  # psycopg 3.2+, 3.1
        try:
            found = getattr(importlib.import_module(module), "format_row_binary", None)
        except ImportError:
            continue
        if callable(found):
            return found  # type: ignore[no-any-return]
    return None


def write_rows(copy: Any, rows: Iterable[Sequence[Any]], whole: bool = True) -> None:
    """Write rows into a binary COPY ... FROM STDIN whose types are set (`Copy.set_types`).

    Args:
        copy: psycopg's Copy object, before any row is written to it.
        rows: each row's values, in the COPY's column order.
        whole: format every row into one buffer (False: `write_row` a row, the plain twin).
    """
    transformer = getattr(getattr(copy, "formatter", None), "transformer", None)
    format_row = formatter() if whole else None
    if format_row is None or transformer is None:
        for row in rows:
            copy.write_row(row)
        return
    # Data given by write() is taken as the stream itself (signature to trailer): psycopg adds
    # neither, as it does for rows given by write_row.
    data = bytearray(SIGNATURE)
    remaining = iter(rows)
    while batch := list(islice(remaining, _BATCH)):
        for row in batch:
            format_row(row, transformer, data)
        if len(data) >= _FLUSH:  # a block larger than pages are: sent on the way
            copy.write(data)
            data = bytearray()
    data += TRAILER
    copy.write(data)
