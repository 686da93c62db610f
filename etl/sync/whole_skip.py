"""Whole pulls the run's probe proves unchanged are recorded as read, not read; pulls remember it.

The proof is etl.sync.whole_probe's: the probe answer taken just before a complete pull is kept
(`odmirror_settings`, `whole_probe:<resource>`), and only if the pull listed as many rows as the
probe counted; a later run whose probe answers the same (count, newest stamp older than that
probe's clock less the overlap, fingerprints) records the resource as read without a request.
A pull forgets what the last one kept before it starts: a failed pull vouches for nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, insert, select

from etl.catalog.resources import Resource
from etl.mirror.bookkeeping import Setting
from etl.sync import state
from etl.sync.cursor import window_start
from etl.sync.whole_sql import probed
from etl.wording import plural

if TYPE_CHECKING:  # whole_probe asks; this module decides and remembers
    from etl.sync.whole_probe import WholeProbe

log = logging.getLogger("etl.sync.run")

#: Where a complete pull's probe is kept in odmirror_settings (the resource's name follows).
PREFIX = "whole_probe:"
UNCHANGED = "unchanged since its last pull: not read (change probe)"
#: Set when the office refused the rows' fingerprints (a column its database lacks).
PRINTS_REFUSED = PREFIX + "fingerprints refused"
#: How long a refusal of the fingerprints stands before they are asked again.
PRINTS_RETRY = dt.timedelta(days=7)


def skip_if_unchanged(
    engine: Engine, resource: Resource, probe: WholeProbe | None, overlap: dt.timedelta
) -> state.RunResult | None:
    """Record the resource as read without reading it, if the probe proves it unchanged.

    Returns:
        The run's result, or None: the resource is to be pulled.
    """
    now = None if probe is None else probe.of(resource)
    if probe is None or now is None:  # before any query: most resources, every run
        return None
    last = remembered(engine, resource.name)
    if last is None:
        return None
    before = dt.datetime.fromisoformat(str(last.pop("before")))
    newest = probe.found[resource.name][1]
    quiet = newest is None or newest < window_start(before, overlap)
    if now != last or not quiet:
        return None
    asked = plural(len(probe.found), "whole pull")
    return record_unread(engine, resource, probe, UNCHANGED, f"counts the run's probe of {asked}")


def record_unread(
    engine: Engine,
    resource: Resource,
    probe: WholeProbe,
    note: str,
    charged: str = "counts the run's probe",
) -> state.RunResult:
    """Record a run of a resource the probe proved unchanged: nothing read, its cursor kept.

    Args:
        engine: the mirror.
        resource: the resource not read.
        probe: the run's probe (its requests are charged here if no resource took them yet).
        note: why it was not read.
        charged: what the run's note says of the probe's requests, when charged here.

    Returns:
        The run's result (the run's row is recorded, a success).
    """
    stats = state.RunStats(requests=probe.take_charge(resource), office_clock=probe.clock)
    notes = [note]
    if stats.requests:
        notes.append(f"{charged} ({plural(stats.requests, 'request')})")
    cursor = state.get_cursor(engine, resource.name)
    mode = "full" if cursor is None else "incremental"
    run_id = state.start_run(engine, resource.name, mode, cursor)
    with engine.begin() as conn:
        state.close_run(conn, run_id, stats, new_cursor=cursor, note="; ".join(notes))
    return state.RunResult(resource.name, mode, stats, 0.0, cursor, False, notes)


def before_pull(engine: Engine, resource: Resource, probe: WholeProbe | None) -> int:
    """Forget what the last pull remembered (this pull replaces it); the probe's charge."""
    if probed(resource):
        with engine.begin() as conn:
            conn.execute(delete(Setting).where(Setting.name == PREFIX + resource.name))
    return 0 if probe is None else probe.take_charge(resource)


def after_pull(engine: Engine, resource: Resource, probe: WholeProbe | None, listed: int) -> None:
    """Remember the probe made before a complete pull, if the pull listed as many rows."""
    now = None if probe is None else probe.of(resource)
    if probe is None or now is None:
        return
    count = now["count"]
    if listed != count:  # the list and the table differ (or changed meanwhile): not vouched
        log.info("%s: listed %d rows, its table %s: not remembered", resource.name, listed, count)
        return
    value = {**now, "before": _text(probe.clock)}
    with engine.begin() as conn:
        conn.execute(insert(Setting).values(name=PREFIX + resource.name, value=json.dumps(value)))


def keep_start(engine: Engine, resource: Resource, probe: WholeProbe, before: dt.datetime) -> None:
    """Keep only where the next read starts (a read of changed rows not vouched for).

    Its count is unknown, so no probe matches it: the next run reads, from `before` again.
    """
    now = probe.of(resource)
    if now is None:
        return
    value = {**now, "count": None, "before": _text(before)}
    with engine.begin() as conn:
        conn.execute(delete(Setting).where(Setting.name == PREFIX + resource.name))
        conn.execute(insert(Setting).values(name=PREFIX + resource.name, value=json.dumps(value)))


def remembered(engine: Engine, name: str) -> dict[str, object] | None:
    """What the last complete read of a resource kept of its probe (None: nothing usable)."""
    with engine.connect() as conn:
        text = conn.execute(select(Setting.value).where(Setting.name == PREFIX + name)).scalar()
    try:
        saved = json.loads(text or "")
        dt.datetime.fromisoformat(saved["before"])
    except (ValueError, KeyError, TypeError):
        return None  # nothing remembered (or unreadable): pulled
    return saved if isinstance(saved, dict) else None


def _text(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def prints_refused(engine: Engine, now: dt.datetime | None = None) -> bool:
    """Whether the office refused the fingerprints of tables without a change column lately.

    A refusal is kept for PRINTS_RETRY: an office upgraded since (or a 400 that was not about
    the fingerprints) gets them asked again after that, once.
    """
    with engine.connect() as conn:
        found = conn.execute(select(Setting.value).where(Setting.name == PRINTS_REFUSED)).scalar()
    try:
        since = dt.datetime.fromisoformat(str(found))
    except ValueError:
        return False  # none kept (or unreadable): asked
    return (now or state.utcnow()) - since < PRINTS_RETRY


def refuse_prints(engine: Engine) -> None:
    """Remember when the office refused them: not asked again for PRINTS_RETRY (read every run)."""
    with engine.begin() as conn:
        conn.execute(delete(Setting).where(Setting.name == PRINTS_REFUSED))
        conn.execute(insert(Setting).values(name=PRINTS_REFUSED, value=state.utcnow().isoformat()))
