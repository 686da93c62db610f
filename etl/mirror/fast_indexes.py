"""A first load builds a table's secondary indexes once, from the loaded rows, at its end.

Keeping an index up to date row by row costs more than building it once the rows are in, and
an index on a change time is written at random places (measured, 100,000 patients loaded a
page at a time: 1.7 s with the four indexes kept, 1.0 s dropped and built after on SQLite;
1.3 s and 1.1 s on PostgreSQL, whose manual gives the same advice for a new table). So a run
that starts on an empty table drops the indexes it can rebuild (not the key, not a unique one)
and builds them once its pages are in, while its last requests wait for the API, whether it
succeeds or fails. A run killed in between leaves them missing; the next run on that table
makes them before it writes.

On PostgreSQL the build at the end is time no fetch hides (each CREATE INDEX reads the whole
table again), while an index kept during the load is written by the server's own process as
pages arrive. An index whose values come in order, or take few values, is written at its edge
or a few places, which costs little: such indexes, as the first page shows them, are made again
right after it (measured, 100,000 patients, 16 rounds side by side: the time after the last
request fell from 170-300 ms to 60-165, and the run was shorter in 13, for 5% more of the
server's CPU time). On SQLite the index is written by the sync's own thread, the busiest one:
all wait (there the same change made the run longer in 4 rounds of 6). On PostgreSQL the
build at the end runs on while the run reads the next resource (`CarriedBuilds`). MySQL keeps
its indexes during a load (dropping them and building them after did not help).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Index, Table, literal_column, select, text
from sqlalchemy.exc import OperationalError

from etl.control import shield_thread
from etl.mirror import mysql
from etl.mirror.engine import describe

log = logging.getLogger(__name__)
#: How long dropping an index may wait for others' locks on PostgreSQL.
LOCK_WAIT = "2s"
#: The first page's rows that `keep_cheap` reads, and the fewest it decides on.
SAMPLE, MIN_SAMPLE = 1000, 50
_LISTED = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :name",
    "postgresql": (
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :name"
    ),
    "mysql": mysql.INDEXES_SQL,
    "mariadb": mysql.INDEXES_SQL,
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
    if not empty or mysql.is_mysql(engine.dialect.name):
        # MySQL takes the plain twin: its indexes are kept up to date row by row.
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


def keep_cheap(engine: Engine, deferred: list[Index]) -> list[Index]:
    """On PostgreSQL, make the deferred indexes that the rows in so far show cheap to keep.

    Call it once the first page of a first load is in (its rows only are in the table).

    Returns:
        The indexes still deferred.
    """
    if not deferred or engine.dialect.name != "postgresql":
        return deferred
    table = deferred[0].table
    assert isinstance(table, Table)
    columns = list(dict.fromkeys(c for index in deferred for c in index.columns))
    # A fresh table's physical order is the order its rows were written in.
    query = select(*columns).order_by(literal_column("ctid")).limit(SAMPLE)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    kept = []
    for index in deferred:
        at = [columns.index(c) for c in index.columns]
        if cheap_to_keep([tuple(row[i] for i in at) for row in rows]):
            kept.append(index)
    build(engine, kept)
    return [index for index in deferred if index not in kept]


def cheap_to_keep(values: Sequence[tuple[Any, ...]]) -> bool:
    """Whether an index is cheap to keep while rows come with these values, in this order.

    So it is when 95% of them come in the index's order (written at its edge), or when they
    take few values (at most a tenth as many as the rows: written at a few places). A sample of
    fewer than `MIN_SAMPLE` rows decides nothing (False).
    """
    if len(values) < MIN_SAMPLE:
        return False
    if len(set(values)) <= len(values) // 10:
        return True
    # As PostgreSQL orders them: NULL after every value.
    keys = [tuple((v is None, v) for v in value) for value in values]
    in_order = sum(1 for a, b in itertools.pairwise(keys) if a <= b)
    return in_order >= 0.95 * (len(keys) - 1)


@contextlib.contextmanager
def built_meanwhile(engine: Engine, indexes: list[Index]) -> Iterator[None]:
    """`build` on a thread of its own while the body runs (the body must not need them).

    Raises:
        SQLAlchemyError: the build failed (after the body, if the body did not fail itself).
    """
    if not indexes:  # most resources, every run: no thread
        yield
        return
    failed: list[BaseException] = []
    worker = _builder(engine, indexes, failed.append)  # raised again on the caller's thread
    try:
        yield
    finally:
        worker.join()
    if failed:
        raise failed[0]


class CarriedBuilds:
    """Index builds carried past their resource's end, into the next (PostgreSQL).

    There the server builds a table's indexes in a session of its own, so the run need not
    wait for it before it asks for the next resource's pages (at 0.05 s a page the wait was
    most of the gap between two resources). On SQLite a build holds the database's one write
    lock: the next resource's first write would wait for it, and fail past `busy_timeout`, so
    there `start` declines and the build is waited for as before (`built_meanwhile`).

    At most one build is in flight (a run's sessions stay at three: its writes, its lock, a
    build), and the run waits for it before anything after its resources (a use as a context
    manager). A build that fails is logged, not raised: its resource has succeeded, and the
    next run on that table makes the missing indexes before it writes (`defer`).
    """

    def __init__(self) -> None:
        self._worker: threading.Thread | None = None

    def __enter__(self) -> CarriedBuilds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def start(self, engine: Engine, indexes: list[Index]) -> bool:
        """Build the indexes on a thread, once the build before is done; False: not here."""
        if not indexes or engine.dialect.name == "sqlite":
            return False
        self.finish()
        table = indexes[0].table
        assert isinstance(table, Table)

        def failed(_exc: BaseException) -> None:  # its text is not repeated: the database logs it
            log.warning("could not build the indexes of %s; the next run will", table.name)

        self._worker = _builder(engine, indexes, failed)
        return True

    def finish(self) -> None:
        """Wait for the build in flight, if any."""
        if self._worker is not None:
            self._worker.join()
            self._worker = None


def _builder(
    engine: Engine, indexes: list[Index], failed: Callable[[BaseException], object]
) -> threading.Thread:
    """A started thread that builds the indexes, and hands `failed` what it raised."""

    def work() -> None:
        shield_thread()
        try:
            build(engine, indexes)
        except BaseException as exc:
            failed(exc)

    worker = threading.Thread(target=work, name="odmirror-indexes", daemon=True)
    worker.start()
    return worker


def _create(conn: Connection, indexes: list[Index]) -> None:
    for index in indexes:
        index.create(conn)


def _present(conn: Connection, table: Table) -> set[str]:
    found = conn.execute(text(_LISTED[conn.dialect.name]), {"name": table.name})
    return {str(name) for (name,) in found}
