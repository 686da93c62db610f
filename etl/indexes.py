"""A first load builds a table's secondary indexes once, from the loaded rows, at its end.

Keeping an index up to date row by row costs more than building it once the rows are in, and
an index on a change time is written at random places (measured, 100,000 patients loaded a
page at a time: 1.7 s with the four indexes kept, 1.0 s dropped and built after on SQLite;
1.3 s and 1.1 s on PostgreSQL, whose manual gives the same advice for a new table). So a run
that starts on an empty table drops the indexes it can rebuild (not the key, not a unique one)
and builds them once its pages are in, while its last requests wait for the API, whether it
succeeds or fails. A run killed in between leaves them missing; the next run on that table
makes them before it writes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from sqlalchemy import Connection, Engine, Index, Table, text
from sqlalchemy.exc import OperationalError

from etl.control import shield_thread
from etl.schema import describe

log = logging.getLogger(__name__)
#: How long dropping an index may wait for others' locks on PostgreSQL.
LOCK_WAIT = "2s"
_LISTED = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :name",
    "postgresql": (
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :name"
    ),
}


def defer(engine: Engine, table: Table, empty: bool) -> list[Index]:
    """On an empty table, drop the secondary indexes and return them; else make missing ones.

    Args:
        engine: the mirror.
        table: the table a run is about to write.
        empty: whether it holds no row (the run holds the mirror's lock: no one adds one).

    Returns:
        The indexes to build when the run ends (`build`): none unless the table was empty.
    """
    secondary = [index for index in table.indexes if not index.unique]
    if not secondary:
        return []
    if not empty:
        build(engine, secondary)
        return []
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # DROP INDEX waits for every open transaction that read the table (a BI tool
                # may keep one for hours): rather load with the indexes than wait that long.
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
            present = _present(conn, table)
            for index in secondary:
                if index.name in present:
                    index.drop(conn)
    except OperationalError as exc:
        url = engine.url.render_as_string(hide_password=False)
        log.info("%s keeps its indexes during this load: %s", table.name, describe(exc, url))
        return []
    return secondary


def build(engine: Engine, indexes: list[Index]) -> None:
    """Make those of the indexes that the database does not have (all on one table)."""
    if not indexes:
        return
    with engine.begin() as conn:
        table = indexes[0].table
        assert isinstance(table, Table)
        present = _present(conn, table)
        _create(conn, [i for i in indexes if i.name not in present])


@contextlib.contextmanager
def built_meanwhile(engine: Engine, indexes: list[Index]) -> Iterator[None]:
    """`build` on a thread of its own while the body runs (the body must not need them).

    Raises:
        SQLAlchemyError: the build failed (after the body, if the body did not fail itself).
    """
    failed: list[BaseException] = []

    def work() -> None:
        shield_thread()
        try:
            build(engine, indexes)
        except BaseException as exc:  # raised again on the caller's thread
            failed.append(exc)

    worker = threading.Thread(target=work, name="odmirror-indexes", daemon=True)
    worker.start()
    try:
        yield
    finally:
        worker.join()
    if failed:
        raise failed[0]


def _create(conn: Connection, indexes: list[Index]) -> None:
    for index in indexes:
        index.create(conn)


def _present(conn: Connection, table: Table) -> set[str]:
    found = conn.execute(text(_LISTED[conn.dialect.name]), {"name": table.name})
    return {str(name) for (name,) in found}
