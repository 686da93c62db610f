"""A database failure in words that never quote a row: by type, table, column and constraint.

A database's message about a row's values (a constraint violated, a value that does not fit
its column, an error a trigger raised with the row) may quote the row, which is patient data.
Such a failure is told by what the driver says of it structurally (psycopg's `diag`: table,
column, constraint; SQLite's own "UNIQUE constraint failed: t.c"). Any other message (a
connection refused, a missing table) is its first line, escaped and cut (etl.outside_text).
"""

from __future__ import annotations

import re

from sqlalchemy.exc import DataError, IntegrityError, InternalError

from etl.outside_text import shown

#: SQLite names the constraint and its columns, never the values: "UNIQUE constraint failed: t.c".
_SQLITE_CONSTRAINT = re.compile(r"[A-Z ]+ constraint failed: [\w.]+(, [\w.]+)*")


def reason(exc: BaseException, orig: BaseException) -> str:
    """Why a database operation failed, in words that quote no row.

    Args:
        exc: the error SQLAlchemy raised.
        orig: the driver's error under it (or `exc` itself).
    """
    sqlstate = str(getattr(orig, "sqlstate", None) or "")
    first = (str(orig).strip().splitlines() or [orig.__class__.__name__])[0]
    # SQLSTATE classes 22 (data exception), 23 (integrity constraint violation), P0 (raised
    # by a trigger or function).
    about_rows = isinstance(exc, IntegrityError | DataError | InternalError)
    if not about_rows and sqlstate[:2] not in ("22", "23", "P0"):
        return shown(first)
    parts = [orig.__class__.__name__ + (f" (SQLSTATE {sqlstate})" if sqlstate else "")]
    diag = getattr(orig, "diag", None)
    for label in ("table", "column", "constraint"):
        name = getattr(diag, f"{label}_name", None)
        if name:
            parts.append(f"{label} {shown(str(name), 63)}")
    if diag is None and _SQLITE_CONSTRAINT.fullmatch(first):
        parts.append(first)
    return f"{', '.join(parts)} (the row's values are not shown)"
