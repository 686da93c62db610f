"""What `odmirror status` says of the office clock: a jump, a time no zone has, a stuck cursor.

A cursor follows the office server's clock. Set wrong, that clock can freeze the mirror while
every run succeeds: a cursor in the future reads no later edit, a clock put back stamps edits
earlier than the cursor. Each run records the office clock it read (`office_clock`, next to
this machine's `started_at`); their difference is the office's zone offset, which only moves by
an hour when daylight saving time starts or ends.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

from etl.mapping import office_clock
from etl.mirror.bookkeeping import SyncRun

#: The most an office's offset from UTC moves between two runs without its clock being set:
#: the hour of daylight saving time, and a margin for the time between request and answer.
DST_STEP = dt.timedelta(hours=1, minutes=15)
_FORMAT = "%Y-%m-%d %H:%M:%S"


def clock_problems(
    name: str,
    cursor: dt.datetime | None,
    runs: Sequence[SyncRun],
    now: dt.datetime,
    max_age: dt.timedelta,
    moves: bool = True,
) -> list[str]:
    """One phrase per reason to doubt a resource's cursor.

    Args:
        name: the resource.
        cursor: its saved cursor (office time).
        runs: its latest runs, newest first.
        now: this machine's clock, naive UTC.
        max_age: how long the cursor may stand still while runs save changed rows.
        moves: whether the resource has a cursor to move (a list read whole has none).
    """
    found = []
    if cursor is not None and not office_clock.plausible(cursor, now):
        found.append(
            f"{name}: the cursor {cursor.strftime(_FORMAT)} is later than any office clock now "
            "(the next sync reads everything again)"
        )
    found += _jumps(name, [r for r in runs if r.office_clock is not None])
    stuck = _stuck_since(runs) if moves else None
    if stuck is not None and now - stuck > max_age:
        found.append(
            f"{name}: the cursor has not moved since {stuck.strftime(_FORMAT)} UTC while runs "
            "saved changed rows (check the office server's clock)"
        )
    return found


def _jumps(name: str, clocked: list[SyncRun]) -> list[str]:
    if not clocked:
        return []
    latest = clocked[0]
    assert latest.office_clock is not None
    if not office_clock.plausible(latest.office_clock, latest.started_at):
        shown = latest.office_clock.strftime(_FORMAT)
        return [f"{name}: the office clock read {shown} (run #{latest.id}), a time no zone has"]
    # The newest jump among the recent runs: the warning stays while they are recent.
    for after, before in itertools.pairwise(clocked):
        moved = _offset(after) - _offset(before)
        if abs(moved) > DST_STEP:
            hours = moved.total_seconds() / 3600
            return [
                f"{name}: the office clock jumped {hours:+.1f} h against this machine's "
                f"between runs #{before.id} and #{after.id}"
            ]
    return []


def _offset(run: SyncRun) -> dt.timedelta:
    assert run.office_clock is not None
    return run.office_clock - run.started_at


def _stuck_since(runs: Sequence[SyncRun]) -> dt.datetime | None:
    """When the successful runs since the cursor last moved began, if any saved changes."""
    streak = []
    for run in runs:
        if run.status != "success":
            continue
        moved = run.cursor_after is not None and (
            run.cursor_before is None or run.cursor_after > run.cursor_before
        )
        if moved:
            break
        streak.append(run)
    if not any((r.rows_inserted or 0) + (r.rows_updated or 0) for r in streak):
        return None
    return streak[-1].started_at
