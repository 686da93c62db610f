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
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from etl.api import short_query
from etl.api.client import ApiClient
from etl.catalog.query_tables import change_column
from etl.catalog.resources import Resource
from etl.errors import ApiError
from etl.sync import change_probe, pass_probe, state

if TYPE_CHECKING:
    from etl.sync.whole_probe import WholeProbe

log = logging.getLogger("etl.sync.run")
_LABEL = "drift:"
KEPT = "rows changed while pages were read: cursor kept, next run reads again"


@dataclass(frozen=True)
class _Waiting:
    resource: Resource
    run_id: int
    since: dt.datetime  # the list's first request, less a second
    cursor: dt.datetime  # where its cursor moves if nothing was stamped since


class DriftChecks:
    """The run's lists whose change check waits for the one SQL question (see the module).

    Args:
        probe: the run's probe; without its clock (no SQL) each list checks itself.
    """

    def __init__(self, probe: WholeProbe | None) -> None:
        self.asking = probe is not None and probe.clock is not None
        self.waiting: list[_Waiting] = []

    def takes(self, resource: Resource) -> bool:
        """Whether the resource's change check may wait for the run's question."""
        return self.asking and pass_probe.listed_by_stamp(resource)

    def wait(
        self, resource: Resource, run_id: int, since: dt.datetime, cursor: dt.datetime
    ) -> None:
        """Check later whether rows were stamped since `since`; if none, move the cursor."""
        self.waiting.append(_Waiting(resource, run_id, since, cursor))

    def settle(self, engine: Engine, client: ApiClient, results: Sequence[state.RunResult]) -> None:
        """Ask the question and move the cursors of the lists nothing changed in.

        The request is counted on the first waiting list's result; each result says what became
        of its cursor. An office that fails the question leaves every cursor where it was.
        """
        waiting, self.waiting = self.waiting, []
        if not waiting:
            return
        by_name = {r.resource: r for r in results}
        first = by_name.get(waiting[0].resource.name)
        if first is not None:
            first.stats.requests += 1
        state.count_request(engine, waiting[0].run_id)
        try:
            counts = _counts(client, waiting)
        except ApiError as exc:
            log.warning("the change check of the lists read in pages failed: %s", exc)
            counts = {}
        for one in waiting:
            result = by_name.get(one.resource.name)
            if counts.get(_label(one.resource)) == 0:
                state.move_cursor(engine, one.resource.name, one.run_id, one.cursor)
                if result is not None:
                    result.cursor, result.advanced = one.cursor, True
            elif result is not None:
                result.notes.append(KEPT)


def _label(resource: Resource) -> str:
    return f"{_LABEL}{resource.name}"


def _counts(client: ApiClient, waiting: list[_Waiting]) -> dict[str, int]:
    # Each waiting list's count, by its label; a row missing or unreadable is left out.
    parts = [change_probe.clock_select()]
    for one in waiting:
        stamp = change_column(one.resource.table_name)
        assert stamp is not None  # listed_by_stamp
        table, label = one.resource.table_name, _label(one.resource)
        parts.append(pass_probe.count_sql(table, label, stamp, {}, one.since))
    found: dict[str, int] = {}
    for row in short_query.short_query(client, " UNION ALL ".join(parts)):
        count = row.get("Changed")
        if isinstance(count, int) and not isinstance(count, bool):
            found[str(row.get("TableName"))] = count
        elif isinstance(count, str) and count.isdigit():
            found[str(row.get("TableName"))] = int(count)
    return found
