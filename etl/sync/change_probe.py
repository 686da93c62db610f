"""Which query-mode tables changed since their cursor: one ShortQuery for them all, and the clock.

On the Remote API every request costs a second or more, so a run that finds nothing new should
cost one request, not one per table. The probe is one SELECT, a UNION ALL of one row per table
with a cursor: how many of its rows an incremental read would return now, that is with the
change column from the cursor less the overlap (etl.sync.cursor.window_start) up to the
office's `NOW()`. Its first row is the clock itself, which the run's reads then take as their
upper bound (T1), exactly as a read that asked `SELECT NOW()` alone would. ShortQuery answers
100 rows a call: 99 tables and the clock in the first call, 100 tables in each further one.

Why a table with no row in that window may be skipped, with its cursor moved to T1: its
incremental read would have asked for the same rows (stamp >= cursor - overlap, stamp < T1)
and got none, and a completed read that got none moves the cursor to T1. `NOW()` is the
statement's start in MySQL, the same instant for the clock row and every count, so the counts
see no fewer rows than a read that started at T1 would. A row stamped before T1 but committed
after the probe (the late-commit rule of etl.sync.query_mode) is in the next run's window as
it would be after a read: the next window starts at T1 less the overlap. Nothing is skipped on
a guess: a probe that fails, or an answer without a table's row, reads the table.

MySQL 5.5 SQL only: no CTE, no window function, no comment, no word SCHEMA.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from etl.api import short_query
from etl.api.client import ApiClient
from etl.api.paginator import parse_query_time
from etl.api.short_query import QueryNotAllowed, QueryRefused, QueryTimedOut
from etl.catalog.query_tables import QueryResource
from etl.errors import ApiError
from etl.sync import state
from etl.sync.cursor import window_start
from etl.wording import plural

log = logging.getLogger("etl.sync.run")

#: Rows ShortQuery answers at most per call (Remote).
ROWS_PER_CALL = 100
#: The label of the clock's row (no table is named so: Open Dental's names are words).
CLOCK_LABEL = "NOW()"


@dataclass(frozen=True)
class Window:
    """One table to probe: the start of the window its incremental read would ask for."""

    resource: QueryResource
    since: dt.datetime


@dataclass
class ProbeAnswer:
    """What the probe learned.

    Attributes:
        clock: the office clock the probe was answered at (T1 of the run's reads).
        changed: per probed table, the rows its read would return (absent: not known).
        newest: per probed table with such rows, the newest change time among them.
        requests: the calls the probe made.
    """

    clock: dt.datetime
    changed: dict[str, int] = field(default_factory=dict)
    newest: dict[str, dt.datetime] = field(default_factory=dict)
    requests: int = 0

    def unchanged(self, name: str) -> bool:
        """Whether a probed table is provably unchanged (its read would return no row)."""
        return self.changed.get(name) == 0

    def stop_after(self, name: str, overlap: dt.timedelta) -> int | None:
        """The rows after which a table's read may stop without asking for an empty last page.

        None (read to the end) unless every row counted is older than the clock less the
        overlap: the read goes in (change time, key) order, and a row that commits after the
        probe carries a time no older than that (the late-commit rule), so it comes after every
        row counted and can only add to the end, which the next run's overlap reads. Were a
        counted row newer, a late row could come before it and push it past the stop.
        """
        newest, count = self.newest.get(name), self.changed.get(name)
        if newest is None or count is None or newest >= window_start(self.clock, overlap):
            return None
        return count


def probe_sql(windows: Sequence[Window], with_clock: bool) -> str:
    """The probe's SELECT for some tables (at most 100 rows, the clock's included).

    Args:
        windows: the tables and where each one's read would start.
        with_clock: whether the first row is the office's `NOW()`.
    """
    parts = []
    if with_clock:
        parts.append(clock_select())
    for window in windows:
        name, stamp = window.resource.table_name, window.resource.cursor_field
        since = f"'{window.since.replace(microsecond=0).isoformat(sep=' ')}'"
        first = not parts
        parts.append(
            f"SELECT '{name}'{' AS TableName' if first else ''}, "
            f"COUNT(*){' AS Changed' if first else ''}, NULL{' AS ServerNow' if first else ''}, "
            f"MAX({stamp}){' AS Newest' if first else ''} "
            f"FROM {name} WHERE {stamp} >= {since} AND {stamp} < NOW()"
        )
    if len(parts) > ROWS_PER_CALL:
        raise ValueError(f"a probe answers at most {ROWS_PER_CALL} rows")
    return " UNION ALL ".join(parts)


def clock_select() -> str:
    """The probe's first row, the office's clock, with the column names of the UNION ALL."""
    return f"SELECT '{CLOCK_LABEL}' AS TableName, 0 AS Changed, NOW() AS ServerNow, NULL AS Newest"


def clock_of(rows: list[dict[str, object]]) -> dt.datetime:
    """The office clock in a probe's answer (the row of `clock_select`).

    Raises:
        ApiError: the answer has no such row, or not a date-time in it.
    """
    return _clock(rows)


def batches(windows: Sequence[Window]) -> list[tuple[Sequence[Window], bool]]:
    """The probe's calls: 99 tables and the clock first, then 100 tables a call."""
    first = ROWS_PER_CALL - 1
    calls: list[tuple[Sequence[Window], bool]] = [(windows[:first], True)]
    for start in range(first, len(windows), ROWS_PER_CALL):
        calls.append((windows[start : start + ROWS_PER_CALL], False))
    return calls


def ask(client: ApiClient, windows: Sequence[Window]) -> ProbeAnswer:
    """Ask the office's clock and, for each table, how many rows its read would return.

    A call the server refuses or times out leaves its tables unknown (they are read); only a
    failure of the clock's own call propagates, as `SELECT NOW()` alone would have.

    Raises:
        ApiError: the first call failed, or did not answer the clock.
    """
    before = client.requests_made
    answer: ProbeAnswer | None = None
    for tables, with_clock in batches(windows):
        try:
            rows = short_query.short_query(client, probe_sql(tables, with_clock))
        except (QueryRefused, QueryTimedOut, QueryNotAllowed) as exc:
            if answer is None and not tables:
                raise
            if answer is None:  # the clock is still needed: ask it alone
                answer = ProbeAnswer(short_query.office_now(client))
            log.warning("change probe of %d tables failed, they are read: %s", len(tables), exc)
            continue
        if answer is None:
            answer = ProbeAnswer(_clock(rows))
        _read_counts(answer, rows, {w.resource.table_name for w in tables})
    assert answer is not None  # the first call always has the clock
    answer.requests = client.requests_made - before
    return answer


def _clock(rows: list[dict[str, object]]) -> dt.datetime:
    found = [r for r in rows if r.get("TableName") == CLOCK_LABEL]
    moment = parse_query_time(found[0].get("ServerNow")) if len(found) == 1 else None
    if moment is None or moment.year < 2000:
        raise ApiError("the change probe did not answer the office's clock (NOW())")
    return moment


def _read_counts(answer: ProbeAnswer, rows: list[dict[str, object]], asked: set[str]) -> None:
    for row in rows:
        name = row.get("TableName")
        if name not in asked:
            continue
        try:  # a UNION's column may come as text
            answer.changed[str(name)] = int(str(row.get("Changed")))
        except ValueError:
            continue  # not known: the table is read
        newest = parse_query_time(row.get("Newest"))
        if newest is not None:
            answer.newest[str(name)] = newest


def probe_tables(
    engine: Engine,
    client: ApiClient,
    chosen: list[QueryResource],
    overlap: dt.timedelta,
    full: bool,
) -> ProbeAnswer | None:
    """The run's clock, and which of the tables with a cursor changed.

    Args:
        engine: the mirror (the cursors).
        client: the office's API session.
        chosen: the tables this run reads; those without a cursor or change column are read.
        overlap: how far before the cursor a read starts (`sync.overlap_seconds`).
        full: a full run: nothing is probed, only the clock is asked.

    Returns:
        The answer, or None if the office refused even the clock: each table then asks on its
        own, and fails or is skipped with its own line, as before the probe.
    """
    windows = []
    for resource in chosen:
        cursor = None if full else state.get_cursor(engine, resource.name)
        if cursor is not None and resource.cursor_field is not None:
            windows.append(Window(resource, window_start(cursor, overlap)))
    try:
        return ask(client, windows)
    except (QueryNotAllowed, QueryRefused) as exc:
        log.warning("the change probe failed, each table is read on its own: %s", exc)
        return None


def probe_note(answer: ProbeAnswer, checked: int = 0) -> str:
    """The note on the result that counts the probe's requests (and the permission's check)."""
    asked, calls = len(answer.changed), plural(answer.requests, "request")
    what = f"change probe of {plural(asked, 'table')}" if asked else "office clock"
    return f"counts the run's {what} ({calls})" + (" and the Queries check" if checked else "")


def record_unchanged(
    engine: Engine, resource: QueryResource, answer: ProbeAnswer, charge: int, checked: int = 0
) -> state.RunResult:
    """Record a table the probe found unchanged as read, with its cursor moved to the clock.

    Its read would have returned no row and moved the cursor to the same clock
    (etl.sync.change_probe says why this keeps the overlap's and late commits' guarantees).
    """
    cursor = state.get_cursor(engine, resource.name)
    stats = state.RunStats(requests=charge, office_clock=answer.clock)
    notes = ["unchanged since its cursor: not read (change probe)"]
    if charge:
        notes.append(probe_note(answer, checked))
    run_id = state.start_run(engine, resource.name, "incremental", cursor)
    with engine.begin() as conn:
        state.close_run(conn, run_id, stats, new_cursor=answer.clock, note="; ".join(notes))
    return state.RunResult(resource.name, "incremental", stats, 0.0, answer.clock, True, notes)
