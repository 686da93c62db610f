"""MySQL's DATE_FORMAT codes, done by hand: Python's strftime gives "1" for the year 0001."""

from __future__ import annotations

import datetime as dt

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _hour12(moment: dt.datetime) -> int:
    return moment.hour % 12 or 12


def _suffix(day: int) -> str:
    if day in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _code(moment: dt.datetime, code: str) -> str | None:
    """One % code of MySQL's DATE_FORMAT; None when MySQL has no such code (kept as text)."""
    m = moment
    table = {
        "Y": f"{m.year:04d}",
        "y": f"{m.year % 100:02d}",
        "m": f"{m.month:02d}",
        "c": str(m.month),
        "d": f"{m.day:02d}",
        "e": str(m.day),
        "D": f"{m.day}{_suffix(m.day)}",
        "H": f"{m.hour:02d}",
        "k": str(m.hour),
        "h": f"{_hour12(m):02d}",
        "I": f"{_hour12(m):02d}",
        "l": str(_hour12(m)),
        "i": f"{m.minute:02d}",
        "s": f"{m.second:02d}",
        "S": f"{m.second:02d}",
        "f": f"{m.microsecond:06d}",
        "p": "AM" if m.hour < 12 else "PM",
        "M": MONTHS[m.month - 1],
        "b": MONTHS[m.month - 1][:3],
        "W": WEEKDAYS[m.weekday()],
        "a": WEEKDAYS[m.weekday()][:3],
        "w": str(m.isoweekday() % 7),
        "j": f"{m.timetuple().tm_yday:03d}",
        "T": f"{m.hour:02d}:{m.minute:02d}:{m.second:02d}",
        "r": f"{_hour12(m):02d}:{m.minute:02d}:{m.second:02d} {'AM' if m.hour < 12 else 'PM'}",
        "%": "%",
    }
    return table.get(code)


def format_mysql(moment: dt.datetime, pattern: str) -> str:
    """`moment` formatted as MySQL's DATE_FORMAT(moment, pattern) shows it."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "%" and index + 1 < len(pattern):
            code = pattern[index + 1]
            done = _code(moment, code)
            out.append(done if done is not None else code)
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)
