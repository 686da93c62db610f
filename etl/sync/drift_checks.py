"""Offset paging's change check of the run's lists, asked once by SQL for all of them.

A list read in more than one page asks once more, after its last page, for anything changed
since its first request: Offset paging over a changing list can skip a row, so if anything
changed the cursor stays where it was (etl.sync.cursor). That costs a request per such list.

When the run's probe answered (the office allows SQL), a list whose change filter is its
table's change column (etl.sync.pass_probe.listed_by_stamp) waits instead: its run is recorded
with the cursor kept. After the run's last list, one ShortQuery counts, for each waiting list,
its table's rows stamped at or after its first request less a second. That is any status:
every pass the list check would ask, and more. The cursor of each list with none moves then,
to where the list check would have moved it.

Why that is safe: asked later than the list check would have been, the count can only be
larger (its filter has no upper end), so a cursor this moves, the list check would have moved
too. A run stopped before the question, a question the office refuses or fails, or an answer
without the list's row leaves the cursor where it was: the next run reads the same window
again, as after a change.

Rows changed while a list was read need not keep its cursor. In a busy office they nearly
always do: each run then reads a longer window than the last, and a first load never ends
(its cursor stays empty, so the next run is a first load again). So when a list's count is
not 0, the question also has the office's rows of the list's window stamped before T (T: its
first request less a second): their count and `SUM(CRC32(CONCAT_WS('|', key, stamp)))`, as
etl.sync.rows_probe asks. A second ShortQuery (one for all such lists, only when they changed
by at most 90 rows in all) names the keys stamped at or after T. The cursor moves to T when
the mirror's live rows of the window stamped before T, those keys left out, give the same count
and sum.

Why that is enough. A row of the office stamped in [window, T) now was last written before
the list's first request, so the list showed it at that very version unless paging skipped
it; the mirror holds it at that stamp. A mirror row in that range whose key is not among the
changed keys is such a row, or a row the office has since deleted, or an older version of a
row the office rewrote before T (a skipped version): the last two make the sums differ. So
equal figures (but for a CRC32 collision) say every office row of [window, T) is in the
mirror as it is now: nothing was skipped. Rows stamped at or after T are in the next run's
window, which starts at the cursor (T) less the overlap. This holds whatever the clocks: a
row written while the list was read but stamped before T (the database's clock behind the
API's) is in the range too, and is checked as the others are. Lists that hide some rows (the
mirror never holds them) keep their figures unequal: their cursors move only when nothing
changed, as before.
"""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select

from etl.api import short_query
from etl.api.client import ApiClient
from etl.catalog.query_tables import change_column
from etl.catalog.resources import Resource
from etl.errors import ApiError
from etl.sync import change_probe, pass_probe, rows_probe, state

if TYPE_CHECKING:
    from etl.sync.whole_probe import WholeProbe

log = logging.getLogger("etl.sync.run")
_LABEL, _WINDOW, _KEYS = "drift:", "drift-window:", "drift-key:"
KEPT = "rows changed while pages were read: cursor kept, next run reads again"
#: Lists one question asks about at most (two rows each, and the clock's: ShortQuery's 100).
_MOST = 45
#: Changed keys the second question asks for at most, for all lists (within the 100 rows).
_FEW_KEYS = 90
_CAP = 100  # rows a ShortQuery answers at most (Remote): an answer this long may be cut


@dataclass(frozen=True)
class _Waiting:
    resource: Resource
    run_id: int
    window: dt.datetime | None  # where the list's read began (None: from the first row)
    since: dt.datetime  # T: the list's first request, less a second
    cursor: dt.datetime  # where its cursor moves if nothing it read could have been skipped


@dataclass
class _Answers:
    counts: dict[str, int] = field(default_factory=dict)  # rows stamped since T, by list
    windows: dict[str, tuple[int, int]] = field(default_factory=dict)  # [window, T): count, sum
    changed: dict[str, set[int]] = field(default_factory=dict)  # keys stamped since T


class DriftChecks:
    """The run's lists whose change check waits for the one SQL question (see the module).

    Args:
        probe: the run's probe; without its clock (no SQL) each list checks itself.
    """

    def __init__(self, probe: WholeProbe | None) -> None:
        self.asking = probe is not None and probe.clock is not None
        self.waiting: list[_Waiting] = []
        self.places = _MOST  # lists the question can still take

    def takes(self, resource: Resource) -> bool:
        """Whether the resource's change check may wait for the run's question (a place in it
        is kept for the resource if so)."""
        if not (self.asking and self.places and pass_probe.listed_by_stamp(resource)):
            return False
        self.places -= 1
        return True

    def wait(
        self,
        resource: Resource,
        run_id: int,
        window: dt.datetime | None,
        since: dt.datetime,
        cursor: dt.datetime,
    ) -> None:
        """Check later whether the list may have skipped a row; if not, move the cursor.

        Args:
            resource: the list.
            run_id: its run, recorded with the cursor kept.
            window: where its read began (its cursor less the overlap; None: a first load).
            since: its first request, less a second.
            cursor: where its cursor moves.
        """
        self.waiting.append(_Waiting(resource, run_id, window, since, cursor))

    def settle(self, engine: Engine, client: ApiClient, results: Sequence[state.RunResult]) -> None:
        """Ask the questions and move the cursors of the lists that skipped no row.

        The requests are counted on the first waiting list's result; each result says what
        became of its cursor. An office that fails a question leaves those cursors as they were.
        """
        waiting, self.waiting = self.waiting, []
        if not waiting:
            return
        before, answers = client.requests_made, _Answers()
        try:
            _ask_figures(client, waiting, answers)
            _ask_changed_keys(client, waiting, answers)
        except ApiError as exc:
            log.warning("the change check of the lists read in pages failed: %s", exc)
        by_name = {r.resource: r for r in results}
        spent = client.requests_made - before
        first = by_name.get(waiting[0].resource.name)
        if first is not None:
            first.stats.requests += spent
        state.count_requests(engine, waiting[0].run_id, spent)
        for one in waiting:
            result, moved = by_name.get(one.resource.name), _moved(engine, one, answers)
            if moved is not None:
                state.move_cursor(engine, one.resource.name, one.run_id, moved)
                if result is not None:
                    result.cursor, result.advanced = moved, True
            elif result is not None:
                result.notes.append(KEPT)


def _ask_figures(client: ApiClient, waiting: list[_Waiting], answers: _Answers) -> None:
    # Per list: its rows stamped since T, and its window's rows stamped before T.
    parts = [change_probe.clock_select()]
    for one in waiting:
        table, key, stamp = _names(one.resource)
        parts.append(pass_probe.count_sql(table, _label(one.resource), stamp, {}, one.since))
        tests = [f"{stamp} < '{_text(one.since)}'"]
        if one.window is not None:
            tests.insert(0, f"{stamp} >= '{_text(one.window)}'")
        parts.append(
            f"SELECT '{_WINDOW}{one.resource.name}', COUNT(*), "
            f"SUM(CRC32(CONCAT_WS('|', {key}, {stamp}))), NULL "
            f"FROM {table} WHERE {' AND '.join(tests)}"
        )
    for row in short_query.short_query(client, " UNION ALL ".join(parts)):
        name, count = str(row.get("TableName")), _whole(row.get("Changed"))
        if count is None:
            continue
        if name.startswith(_WINDOW):
            total = rows_probe.sum_number(row.get("ServerNow")) if count else 0
            if total is not None:
                answers.windows[name.removeprefix(_WINDOW)] = (count, total)
        elif name.startswith(_LABEL):
            answers.counts[name.removeprefix(_LABEL)] = count


def _ask_changed_keys(client: ApiClient, waiting: list[_Waiting], answers: _Answers) -> None:
    # The keys stamped since T of the lists that changed, if few: one question for all.
    busy = [w for w in waiting if answers.counts.get(w.resource.name, 0) > 0]
    if not busy or sum(answers.counts[w.resource.name] for w in busy) > _FEW_KEYS:
        return
    parts = [change_probe.clock_select()]
    for one in busy:
        table, key, stamp = _names(one.resource)
        parts.append(
            f"SELECT '{_KEYS}{one.resource.name}', {key}, NULL, NULL "
            f"FROM {table} WHERE {stamp} >= '{_text(one.since)}'"
        )
    rows = short_query.short_query(client, " UNION ALL ".join(parts))
    if len(rows) >= _CAP:
        return  # maybe cut at ShortQuery's cap: no list's keys are known for sure
    for one in busy:
        answers.changed[one.resource.name] = set()
    for row in rows:
        name, number = str(row.get("TableName")), _whole(row.get("Changed"))
        if name.startswith(_KEYS) and number is not None:
            answers.changed.setdefault(name.removeprefix(_KEYS), set()).add(number)


def _moved(engine: Engine, one: _Waiting, answers: _Answers) -> dt.datetime | None:
    # Where the list's cursor moves (None: it stays): as the list check would move it when
    # nothing changed; else, when nothing was skipped, to T, so that the next window (from the
    # cursor less the overlap, which may be 0) holds every row stamped since T.
    name = one.resource.name
    if answers.counts.get(name) == 0:
        return one.cursor
    office, changed = answers.windows.get(name), answers.changed.get(name)
    if office is None or changed is None or office != _mirror_window(engine, one, changed):
        return None
    return min(one.cursor, one.since)


def _mirror_window(engine: Engine, one: _Waiting, changed: set[int]) -> tuple[int, int]:
    """The mirror's live rows of the list's window stamped before T, the changed keys left out:
    their count and CRC32 sum of "key|stamp", as MySQL computes it."""
    resource = one.resource
    table, stamp_name = resource.table, _names(resource)[2].lower()
    stamp = next(c for c in table.c if str(c.info.get("od_name", "")).lower() == stamp_name)
    key = table.c[resource.key_column]
    tests = [stamp < one.since, table.c.odmirror_gone_at.is_(None)]
    if one.window is not None:
        tests.append(stamp >= one.window)
    count, total = 0, 0
    with engine.connect() as conn:
        for row_key, row_stamp in conn.execute(select(key, stamp).where(*tests)):
            if row_key in changed:
                continue
            count += 1
            total += zlib.crc32(f"{row_key}|{row_stamp.strftime(rows_probe.TIME_TEXT)}".encode())
    return count, total


def _names(resource: Resource) -> tuple[str, str, str]:
    stamp = change_column(resource.table_name)
    assert stamp is not None  # listed_by_stamp
    return resource.table_name, resource.key, stamp


def _label(resource: Resource) -> str:
    return f"{_LABEL}{resource.name}"


def _text(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).strftime(rows_probe.TIME_TEXT)


def _whole(value: object) -> int | None:
    # A count or key as ShortQuery sends it: a number, or a number's text.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
