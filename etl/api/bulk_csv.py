"""The CSV that POST /queries writes, read back as the rows ShortQuery would have sent.

The vendor documents no CSV dialect, so this reader assumes the unhelpful answer and accepts
only what can be read one way:
- a header row of column names (matched to Open Dental's without regard to case), then one
  record a row, comma-separated, double quotes around a value that needs them (RFC 4180),
  UTF-8 with or without a byte-order mark; a file holding only "OK" is an empty result;
- integers as digits; booleans as 0/1 or True/False; decimals with a dot ("12.5", "1E-05");
  a comma decimal ("12,5") is refused: it may be a thousands separator;
- dates as yyyy-MM-dd, with or without a zero time (" 00:00:00" or "T00:00:00"); date-times
  as yyyy-MM-dd HH:mm:ss or with a T, fractions of a second dropped; a date with slashes or dots
  ("5/1/2021 9:05:00 AM", as .NET writes a date in the server's culture) is refused, since it
  reads as the 5th of January or the 1st of May, unless `date_order` says which (mdy: en-US,
  dmy: most others), and then taken with an optional h:mm[:ss] and AM/PM;
- times as HH:mm:ss, spans also as .NET writes them ("-1.02:03:04");
- NULL (or \\N) as no value; an empty field is no value too, except in a text column, where it
  is the empty text Open Dental stores.
A value of any other spelling ends the read with a reason (the table is then paged instead):
never a silently wrong value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import IO, Any

from etl.catalog.opendental import OD_TABLES

_INT = re.compile(r"-?[0-9]{1,20}")
_FLOAT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[ T]00:00:00(?:\.0+)?)?")
_MOMENT = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]+)?")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?")
_SPAN = re.compile(r"(-?)(?:([0-9]+)\.)?([0-9]{1,3}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?")
_LOCAL = re.compile(
    r"([0-9]{1,2})[/.]([0-9]{1,2})[/.]([0-9]{4})"
    r"(?:[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?(?: ?([AaPp][Mm]))?)?"
)
_NULLS = ("NULL", "\\N")
_BOOLS = {"0": 0, "1": 1, "false": 0, "true": 1}
#: The longest field read (csv's own limit is 128 KiB; Open Dental's notes can be longer).
FIELD_LIMIT = 16 * 1024 * 1024


class MalformedCsv(ValueError):
    """The file cannot be read as the table's rows; the message says where and why."""


def read_rows(
    stream: IO[bytes], table: str, batch: int, date_order: str = "ymd"
) -> Iterator[list[dict[str, Any]]]:
    """The file's rows, `batch` at a time, each as ShortQuery would send it.

    Args:
        stream: the file, binary.
        table: the Open Dental table it holds.
        batch: rows a list.
        date_order: ymd (ISO dates only), mdy or dmy (also dates written with slashes).

    Raises:
        MalformedCsv: a header, a record or a value this reader does not accept.
    """
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
        if header is None or header == ["OK"]:
            if next(reader, None) is not None:
                raise MalformedCsv("a file that says OK (no rows) has more lines")
            return
        columns = _columns(table, header)
        rows: list[dict[str, Any]] = []
        for record in reader:
            if len(record) != len(columns):
                where = f"line {reader.line_num}"
                raise MalformedCsv(f"{where} has {len(record)} fields, the header {len(columns)}")
            rows.append(_row(columns, record, reader.line_num, date_order))
            if len(rows) >= batch:
                yield rows
                rows = []
        if rows:
            yield rows
    except csv.Error as exc:
        raise MalformedCsv(f"not CSV at line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError:
        raise MalformedCsv(f"not UTF-8 near line {reader.line_num}") from None
    finally:
        text.detach()


def _columns(table: str, header: list[str]) -> list[tuple[str, str | None]]:
    storages = {c.name.lower(): (c.name, c.storage) for c in OD_TABLES[table]}
    names = [name.strip() for name in header]
    if len({n.lower() for n in names}) != len(names):
        raise MalformedCsv("the header names a column twice")
    key = OD_TABLES[table][0].name
    if key.lower() not in {n.lower() for n in names}:
        raise MalformedCsv(f"the header lacks the key column {key}")
    # A column Open Dental's schema file lacks is passed as text (kept in odmirror_extra).
    return [storages.get(n.lower(), (n, None)) for n in names]


def _row(
    columns: list[tuple[str, str | None]], record: list[str], line: int, order: str
) -> dict[str, Any]:
    row = {}
    for (name, storage), text in zip(columns, record, strict=True):
        try:
            row[name] = value(storage, text, order)
        except ValueError as exc:
            raise MalformedCsv(f"line {line}, column {name}: {exc}") from None
    return row


def value(storage: str | None, text: str, date_order: str = "ymd") -> Any:
    """One CSV field as ShortQuery sends its column (storage: Open Dental's type, or None;
    date_order: ymd, mdy or dmy, as for `read_rows`).

    Raises:
        ValueError: a spelling this reader does not accept, and why.
    """
    if storage in (None, "String", "EnumAsString"):
        return None if text in _NULLS else text
    bare = text.strip()
    if bare in _NULLS or bare == "":
        return None
    if storage in ("Date", "DateT") and date_order != "ymd":
        local = _local(bare, date_order)
        if local is not None:
            if storage == "Date" and not local.endswith("T00:00:00"):
                raise ValueError(f"{_quoted(text)} is a date with a time of day")
            return local
    reader = _READERS.get(storage)
    if reader is None:
        raise ValueError(f"unknown storage type {storage}")
    return reader(bare)


def _integer(text: str) -> int:
    if not _INT.fullmatch(text):
        raise ValueError(f"{_quoted(text)} is not an integer")
    return int(text)


def _flag(text: str) -> int:
    flag = _BOOLS.get(text.lower())
    if flag is None:
        raise ValueError(f"{_quoted(text)} is not 0, 1, True or False")
    return flag


def _number(text: str) -> float:
    if "," in text:
        raise ValueError(f"{_quoted(text)}: a comma may be a decimal or a thousands separator")
    if not _FLOAT.fullmatch(text):
        raise ValueError(f"{_quoted(text)} is not a number")
    return float(text)


def _date(text: str) -> str:
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError(_date_reason(text, "a date (yyyy-MM-dd)"))
    return f"{match.group(1)}T00:00:00"


def _moment(text: str) -> str:
    match = _MOMENT.fullmatch(text)
    if match is None:
        day = _DATE.fullmatch(text)
        if day is not None:  # a date-time written without its (midnight) time
            return f"{day.group(1)}T00:00:00"
        raise ValueError(_date_reason(text, "a date-time (yyyy-MM-dd HH:mm:ss)"))
    return f"{match.group(1)}T{match.group(2)}"


def _local(text: str, order: str) -> str | None:
    """A date written with slashes or dots in the order given, as yyyy-MM-ddTHH:mm:ss; None
    if it is not so written."""
    match = _LOCAL.fullmatch(text)
    if match is None:
        return None
    first, second, year, hour, minute, second_of, half = match.groups()
    month, day = (first, second) if order == "mdy" else (second, first)
    hours = int(hour or 0)
    if half is not None:
        if not 1 <= hours <= 12:
            raise ValueError(f"{_quoted(text)} has an hour that is not 1 to 12 with AM/PM")
        hours = hours % 12 + (12 if half.upper() == "PM" else 0)
    try:
        moment = dt.datetime(
            int(year), int(month), int(day), hours, int(minute or 0), int(second_of or 0)
        )
    except ValueError:
        raise ValueError(f"{_quoted(text)} is not a date in {order} order") from None
    return moment.isoformat(timespec="seconds")


def _date_reason(text: str, wanted: str) -> str:
    if "/" in text or "." in text.split(" ")[0]:
        return (
            f"{_quoted(text)} is ambiguous (day and month order unknown; "
            f"set bulk_sftp.date_order); expected {wanted}"
        )
    return f"{_quoted(text)} is not {wanted}"


def _time(text: str) -> str:
    match = _TIME.fullmatch(text)
    if match is None or int(match.group(1)) > 23:
        raise ValueError(f"{_quoted(text)} is not a time of day (HH:mm:ss)")
    hours, minutes, seconds = (int(g) for g in match.groups())
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _span(text: str) -> str:
    match = _SPAN.fullmatch(text)
    if match is None:
        raise ValueError(f"{_quoted(text)} is not a time span (HH:mm:ss)")
    sign, days, hours, minutes, seconds = match.groups()
    total = int(days or 0) * 24 + int(hours)
    return f"{sign}{total:02d}:{int(minutes):02d}:{int(seconds):02d}"


def _quoted(text: str) -> str:
    return repr(text[:40])


_READERS = {
    "Long": _integer,
    "Int": _integer,
    "Interval": _integer,
    "Byte": lambda text: _flag(text) if text.isalpha() else _integer(text),
    "Bool": _flag,
    "Double": _number,
    "Float": _number,
    "Date": _date,
    "DateT": _moment,
    "Time": _time,
    "TSpan": _span,
}
