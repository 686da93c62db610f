"""What the `schedule`, `status` and `log` settings mean: durations, triggers, staleness."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from etl.errors import ConfigError

if TYPE_CHECKING:
    from etl.config.settings import Settings

LOG_FORMATS = ("text", "json")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_SHORTEST, _LONGEST = dt.timedelta(seconds=1), dt.timedelta(days=366)


def parse_duration(text: str) -> dt.timedelta:
    """A duration such as 90s, 15m, 2h, 1d or 1h30m.

    Raises:
        ValueError: not such a duration, or outside 1 s to 366 days.
    """
    compact = text.replace(" ", "").lower()
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 2h or 1d")
    total = dt.timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))
    if not _SHORTEST <= total <= _LONGEST:
        raise ValueError(f"{text!r} must be between 1s and 366d")
    return total


def check_operations(settings: Settings, source: str) -> None:
    """Validate the schedule, status and log sections.

    Raises:
        ConfigError: naming the key and what is wrong.
    """
    if not settings.sync.resources and not settings.sync.tables:
        raise ConfigError(
            f"{source}: 'sync.resources' and 'sync.tables' are both empty: nothing to sync"
        )
    schedule = settings.schedule
    if schedule.every and schedule.cron:
        raise ConfigError(f"{source}: set 'schedule.every' or 'schedule.cron', not both")
    for dotted, value in (
        ("schedule.every", schedule.every),
        ("schedule.backoff_max", schedule.backoff_max),
        ("status.max_age", settings.status.max_age),
        ("metrics.max_age", settings.metrics.max_age),
        ("sync.whole_tables_every", settings.sync.whole_tables_every),
    ):
        if value is not None:
            try:
                parse_duration(value)
            except ValueError as exc:
                raise ConfigError(f"{source}: '{dotted}': {exc}") from None
    try:
        schedule_trigger(settings)
    except ValueError as exc:
        raise ConfigError(f"{source}: 'schedule': {exc}") from None
    if settings.log.format not in LOG_FORMATS:
        raise ConfigError(f"{source}: 'log.format' must be one of {', '.join(LOG_FORMATS)}")


def timezone(settings: Settings) -> ZoneInfo:
    """The zone of the schedule (cron times are in it)."""
    try:
        return ZoneInfo(settings.schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {settings.schedule.timezone!r}") from None


def schedule_trigger(settings: Settings) -> BaseTrigger:
    """The APScheduler trigger: `schedule.cron`, else `schedule.every`, else the old
    `sync.interval_minutes`.

    Raises:
        ValueError: a bad crontab line or timezone.
    """
    zone = timezone(settings)
    if settings.schedule.cron:
        return CronTrigger.from_crontab(settings.schedule.cron, timezone=zone)
    if settings.schedule.every:
        seconds = parse_duration(settings.schedule.every).total_seconds()
        return IntervalTrigger(seconds=seconds, timezone=zone)
    return IntervalTrigger(minutes=settings.sync.interval_minutes, timezone=zone)


def schedule_period(trigger: BaseTrigger, now: dt.datetime) -> dt.timedelta:
    """The time between the next two runs after `now` (for a cron line it may vary)."""
    if isinstance(trigger, IntervalTrigger):
        return trigger.interval  # type: ignore[no-any-return]
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + dt.timedelta(seconds=1)) if first else None
    if first is None or second is None:
        return dt.timedelta(days=1)
    return second - first  # type: ignore[no-any-return]


def max_age(settings: Settings, now: dt.datetime) -> dt.timedelta:
    """How old the mirror may get before `odmirror status` fails: `status.max_age`, else
    two schedule periods."""
    if settings.status.max_age:
        return parse_duration(settings.status.max_age)
    return 2 * schedule_period(schedule_trigger(settings), now)
