"""The office server's clock, as Open Dental sees it: local wall time with no zone."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def format_date(value: date) -> str:
    """Format a date the way the API does ("yyyy-MM-dd").

    Args:
        value: the date (a datetime is cut to its date).

    Returns:
        The text, zero-padded even for year 1 ("0001-01-01"), unlike strftime on Linux.
    """
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat()


def format_datetime(value: datetime) -> str:
    """Format a date-time the way the API does ("yyyy-MM-dd HH:mm:ss", no zone).

    Args:
        value: a naive datetime; any fraction of a second is dropped.

    Returns:
        The text.
    """
    return value.replace(microsecond=0).isoformat(sep=" ", timespec="seconds")


def parse_datetime(text: str) -> datetime:
    """Parse "yyyy-MM-dd HH:mm:ss" into a naive datetime.

    Args:
        text: the text.

    Returns:
        The datetime.

    Raises:
        ValueError: the text is not in that format.
    """
    return datetime.strptime(text, DATETIME_FORMAT)


class OfficeClock:
    """The office server's clock: naive local datetimes (no zone), like Open Dental's.

    A real-time clock follows the wall clock in its zone, so it jumps back an hour when
    daylight saving time ends, exactly as the office server's timestamps do. A manual clock
    stands still until a test moves it.
    """

    def __init__(self, tz: str = "America/Chicago", start: datetime | None = None) -> None:
        """Create a clock.

        Args:
            tz: the office's IANA time zone, used by a real-time clock.
            start: None for a real-time clock; a naive datetime for a manual clock frozen there.

        Raises:
            ValueError: start carries a time zone.
        """
        if start is not None and start.tzinfo is not None:
            raise ValueError("start must be a naive local datetime: the office clock has no zone")
        self.zone = ZoneInfo(tz)
        self._manual = start
        self._lock = threading.Lock()

    @property
    def manual(self) -> bool:
        """True when only advance() and set() move this clock."""
        return self._manual is not None

    def now(self) -> datetime:
        """The office's local time now, naive, in whole seconds."""
        with self._lock:
            manual = self._manual
        if manual is None:
            return datetime.now(self.zone).replace(tzinfo=None, microsecond=0)
        return manual.replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        """Move a manual clock forward (or back, with a negative number).

        Args:
            seconds: how far to move it.

        Raises:
            RuntimeError: this clock follows real time.
        """
        with self._lock:
            if self._manual is None:
                raise RuntimeError("a real-time OfficeClock cannot be advanced")
            self._manual += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        """Put a manual clock at a given local time.

        Args:
            when: a naive local datetime.

        Raises:
            RuntimeError: this clock follows real time.
            ValueError: when carries a time zone.
        """
        if when.tzinfo is not None:
            raise ValueError("when must be a naive local datetime: the office clock has no zone")
        with self._lock:
            if self._manual is None:
                raise RuntimeError("a real-time OfficeClock cannot be set")
            self._manual = when
