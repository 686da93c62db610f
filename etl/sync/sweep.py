"""A fan-out's slow sweep: every parent read again within `all_parents_every`, a slice a run.

No Open Dental endpoint says that an adjustment or a payment plan changed under a patient whose
own row did not: only reading that patient's list again shows it. Reading every patient every
run costs one request each (2.8 h at 1 call/s for 10,000 patients), so each run reads a slice.

The slices follow odmirror's own clock, not a stored position: the period is cut into `SLOTS`
slots, a parent's slot is its key modulo `SLOTS` (consecutive keys fall in consecutive slots,
so the slices are even), and a run reads the slots whose time came between the start of the
resource's last complete run and the start of this one (both as their run rows record them, so
a reader of odmirror_sync_run can tell which slots a run read). Runs that follow each other
cover every slot once a period, whatever their spacing; a failed run moves nothing, so the next
one covers its slots too; a gap longer than the period reads every parent.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, Engine, false, func, or_, select, true

from etl.mirror.bookkeeping import SyncRun, SyncState
from etl.sync import state

SLOTS = 1009  # a prime: keys that step by a common stride still spread over the slots
_EPOCH = dt.datetime(2000, 1, 1)


def slots_due(
    last_start: dt.datetime | None, now: dt.datetime, period: dt.timedelta
) -> tuple[int, int] | None:
    """The slots a run reads: (first, last) inclusive, modulo `SLOTS` (first > last wraps).

    Args:
        last_start: when the resource's last complete run began (odmirror's clock, UTC);
            None: it never completed, every slot is due.
        now: this run's time on the same clock.
        period: the declaration's `all_parents_every`.

    Returns:
        The slots due, or None for every slot. (0, -1) means none.
    """
    if last_start is None:
        return None
    if now < last_start:  # a clock set back: none now; the next run starts from this one
        return (0, -1)
    done, due = _slot_at(last_start, period), _slot_at(now, period)
    if due - done >= SLOTS:
        return None
    if due == done:
        return (0, -1)
    return ((done + 1) % SLOTS, due % SLOTS)


def in_slots(key: ColumnElement[int], slots: tuple[int, int] | None) -> ColumnElement[bool]:
    """A condition on a parent key column: its slot is among `slots` (etl.sync.sweep.slots_due)."""
    if slots is None:
        return true()
    first, last = slots
    if last < 0:
        return false()
    slot = key % SLOTS
    if first <= last:
        return slot.between(first, last)
    return or_(slot >= first, slot <= last)


def run_starts(engine: Engine, resource: str) -> tuple[dt.datetime | None, dt.datetime]:
    """(start of the resource's last complete run or None, start of the run under way).

    Both as the run rows record them, on odmirror's clock: the run under way is the newest row.
    """
    complete = (
        select(SyncRun.started_at)
        .join(SyncState, SyncState.last_run_id == SyncRun.id)
        .where(SyncState.resource == resource)
    )
    newest = select(func.max(SyncRun.started_at)).where(SyncRun.resource == resource)
    with engine.connect() as conn:
        last = conn.execute(complete).scalar_one_or_none()
        now = conn.execute(newest).scalar()
    return last, now or state.utcnow()


def _slot_at(moment: dt.datetime, period: dt.timedelta) -> int:
    # Slots counted from a fixed epoch, so that a slot's time is the same for every run.
    step = period / SLOTS
    return int((moment.replace(tzinfo=None) - _EPOCH) / step)
