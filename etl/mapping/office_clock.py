"""How far the office's clock may be trusted: a time later than any office's clock now is wrong.

Open Dental stamps rows and `serverDateTime` with the office server's local time, in a zone we
do not know. A server whose clock was once set to 2099 (or which sends 9999-12-31) must not
carry the mirror with it: a cursor there reads no later edit, and a row stamped there would
refuse every real later version of itself. No zone is more than 14 hours ahead of UTC, so
whatever this machine's clock says plus 14 hours (and a little skew between the two machines)
is later than any honest office time. Below that bound, the office clock the same response
reports is the tighter one: nothing is changed later than the moment it is read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from itertools import repeat
from typing import Any

from etl.mapping.values import parse_server_time

#: The most a zone is ahead of UTC (Line Islands, UTC+14).
WIDEST_ZONE = dt.timedelta(hours=14)
#: How far the office's clock may run ahead of this machine's, or a row of the response's time.
SKEW = dt.timedelta(minutes=10)


def utcnow() -> dt.datetime:
    """This machine's clock in UTC, naive, to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def latest_possible(now: dt.datetime | None = None) -> dt.datetime:
    """The latest office time that can be true now, in any zone (`now`: naive UTC)."""
    return (now or utcnow()) + WIDEST_ZONE + SKEW


def plausible(moment: dt.datetime, now: dt.datetime | None = None) -> bool:
    """Whether an office time is not later than any office's clock can be now."""
    return moment <= latest_possible(now)


def reported(records: Iterable[Any]) -> dt.datetime | None:
    """The latest `serverDateTime` a page's records carry, as sent (None if none is usable)."""
    # Each distinct text once: a page's rows mostly carry the same time. A page of plain dicts
    # (most are) is read by one C-level map, not a Python step a record.
    found: set[Any] | None = None
    if type(records) is list and set(map(type, records)) == {dict}:
        try:
            found = set(map(dict.get, records, repeat("serverDateTime")))
        except TypeError:  # an unhashable value (a list, an object): the step a record below
            found = None
    if found is None:
        values = (r.get("serverDateTime") for r in records if type(r) is dict)
        found = {v for v in values if type(v) is str}
    texts = [v for v in found if type(v) is str]
    times = [t for t in map(parse_server_time, texts) if t is not None]
    return max(times, default=None)


def trust_until(office_now: dt.datetime | None, now: dt.datetime | None = None) -> dt.datetime:
    """The latest change time a stored row may carry and still be trusted.

    Args:
        office_now: the office clock the response reported (None if it reported none, or an
            implausible one: then only the widest zone bounds it).
        now: this machine's clock, naive UTC (default: read it).
    """
    bound = latest_possible(now)
    if office_now is not None and office_now <= bound:
        return office_now + SKEW
    return bound
