"""Fan-outs whose children have no change column, read only for the parents whose rows differ.

payplans (by patient) and treatplanattaches (by treatment plan) carry no change column: without
SQL an incremental run reads the parents that changed, those with account activity and the
sweep's slice (etl.sync.requests). Where SQL is allowed, those candidates are first compared,
one ShortQuery per 100 of them, with the mirror: `SELECT parent, COUNT(*), SUM(CRC32(row text))
... WHERE parent IN (...) GROUP BY parent`, the row text being etl.sync.whole_sql's (every mapped
column joined by CONCAT_WS, then which were NULL). The mirror's live rows (not marked gone) of
those parents give the same two numbers, the text rendered here as MySQL renders each value.
A parent is read where they differ, or where either side has rows the other lacks; a parent
they prove equal is not (a read would save the rows the mirror holds: but for a CRC32
collision, the office's rows are the mirror's, value for value).

Rendering errs one way only: a value the mirror cannot say as MySQL would (a double outside
the range tested against MariaDB, an unknown type) makes its parent read. A value the mapping
made NULL (unknown) renders as NULL, which the office's value is not: read (Open Dental's
"no date" is kept as 0001-01-01, as the office has it). What none of this sees: a
CRC32 sum that collides; fields the mirror keeps unmapped (odmirror_extra). A refused query,
an answer out of shape, or a parent key that is not an integer: every candidate is read.
"""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, ColumnElement, Engine, select

from etl.api import short_query
from etl.api.client import ApiClient
from etl.api.short_query import QueryNotAllowed, QueryRefused, QueryTimedOut
from etl.catalog.query_tables import change_column
from etl.catalog.resources import Resource
from etl.errors import ApiError
from etl.outside_text import shown
from etl.sync.rows_probe import sum_number
from etl.sync.whole_sql import captions, mapped, row_text

log = logging.getLogger("etl.sync.run")

_BATCH = 100  # parents a query: at most one row each, ShortQuery's rows a call
#: Doubles MariaDB writes as plain decimals, shortest round trip (tests/test_fan_prints.py).
_PLAIN = (Decimal("1e-5"), Decimal("1e15"))
_STORAGES = {"Long", "Int", "Bool", "Date", "DateT", "Double", "String"}  # tested on MariaDB


class Unsure(ValueError):
    """A value the mirror cannot render as MySQL would: its parent is read."""


def fingerprinted(resource: Resource) -> bool:
    """Whether a fan-out's children have no change column and every mapped column renders."""
    if resource.fan_out is None or change_column(resource.table_name) is not None:
        return False
    storages = [_storage(resource, name) for name in mapped(resource)]
    return captions(resource) == [] and bool(storages) and set(storages) <= _STORAGES


def groups_sql(resource: Resource, keys: Sequence[int]) -> str:
    """The office's count and fingerprint of the children of each of `keys` (integers only)."""
    assert resource.fan_out is not None
    column = resource.fan_out.param
    wanted = ", ".join(str(int(key)) for key in keys)
    return (
        f"SELECT {column} AS parent, COUNT(*) AS n, SUM(CRC32({row_text(mapped(resource))})) "
        f"AS f FROM {resource.table_name} WHERE {column} IN ({wanted}) GROUP BY {column} "
        f"LIMIT {_BATCH}"
    )


def mysql_text(value: object, storage: str) -> str | None:
    """A mirror value as MySQL's CONCAT writes Open Dental's column (None: NULL).

    Raises:
        Unsure: a value not rendered exactly (its parent is read).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _double(value)
    if isinstance(value, dt.datetime):
        if value.microsecond:
            raise Unsure("a fraction of a second")  # a DATETIME holds none
        # Not strftime: its %Y writes the year 1 (Open Dental's "no date") as "1", not "0001".
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise Unsure(f"{type(value).__name__} value")


def row_print(texts: Iterable[str | None]) -> int:
    """CRC32 of a row's text, as `CRC32(CONCAT_WS('|', c1, ..., CONCAT(ISNULL(c1), ...)))`."""
    values = list(texts)
    flags = "".join("1" if text is None else "0" for text in values)
    return zlib.crc32("|".join([*(t for t in values if t is not None), flags]).encode())


def mirror_prints(
    engine: Engine, resource: Resource, keys: Sequence[int]
) -> dict[int, tuple[int, int | None]]:
    """The mirror's live children of each parent of `keys`: count and fingerprint (None: unsure)."""
    return mirror_groups(engine, resource, int, lambda parent: [parent.in_(keys)])


def mirror_groups(
    engine: Engine,
    resource: Resource,
    group: Callable[[int], int],
    within: Callable[[Column[Any]], list[ColumnElement[bool]]],
) -> dict[int, tuple[int, int | None]]:
    """The mirror's live children by `group(parent key)`: count and fingerprint (None: unsure).

    Args:
        engine: the mirror.
        resource: a fan-out whose rows are `fingerprinted`.
        group: the group of a parent key (the key itself, a bucket of keys, ...).
        within: the conditions on the parent column that select the rows.
    """
    assert resource.fan_out is not None
    table, names = resource.table, mapped(resource)
    by_od = {str(c.info.get("od_name")): c for c in table.columns}
    columns = [by_od[name] for name in names]
    storages = [str(c.info["od_storage"]) for c in columns]
    parent = by_od[resource.fan_out.param]
    query = select(parent, *columns).where(table.c.odmirror_gone_at.is_(None), *within(parent))
    found: dict[int, tuple[int, int | None]] = {}
    with engine.connect() as conn:
        for key, *values in conn.execute(query):
            count, total = found.get(group(int(key)), (0, 0))
            try:
                texts = [mysql_text(v, s) for v, s in zip(values, storages, strict=True)]
                print_ = None if total is None else total + row_print(texts)
            except Unsure:
                print_ = None
            found[group(int(key))] = (count + 1, print_)
    return found


def differing(
    engine: Engine, client: ApiClient, resource: Resource, candidates: Sequence[int]
) -> list[int]:
    """The candidates whose children the office holds otherwise than the mirror, in order.

    Args:
        engine: the mirror.
        client: the office's API session (one ShortQuery per 100 candidates).
        resource: a fan-out whose rows are `fingerprinted`.
        candidates: the parents a run would read without SQL.
    """
    found: list[int] = []
    for at in range(0, len(candidates), _BATCH):
        keys = list(candidates[at : at + _BATCH])
        try:
            office = _office(client, resource, keys)
        except (QueryNotAllowed, QueryRefused, QueryTimedOut, ApiError) as exc:
            log.warning("%s: rows not compared, read as without SQL: %s", resource.name, exc)
            return list(candidates)
        mirror = mirror_prints(engine, resource, keys)
        found += [k for k in keys if office.get(k, (0, 0)) != mirror.get(k, (0, 0))]
    return found


def _office(client: ApiClient, resource: Resource, keys: list[int]) -> dict[int, tuple[int, int]]:
    rows = short_query.short_query(client, groups_sql(resource, keys))
    found: dict[int, tuple[int, int]] = {}
    asked = {str(key) for key in keys}
    for row in rows:
        key, count, total = row.get("parent"), sum_number(row.get("n")), sum_number(row.get("f"))
        if str(key) not in asked or count is None or total is None:
            raise ApiError(f"an answer not about the parents asked: {shown(str(row), 80)}")
        found[int(str(key))] = (count, total)
    return found


def _storage(resource: Resource, od_name: str) -> str:
    for column in resource.table.columns:
        if column.info.get("od_name") == od_name:
            return str(column.info.get("od_storage"))
    return ""


def _double(value: float) -> str:
    if value == 0:
        return "0"  # MySQL writes -0 as 0
    digits = Decimal(repr(value))
    if not _PLAIN[0] <= abs(digits) < _PLAIN[1]:
        raise Unsure(f"double {value!r}")
    text = format(digits, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
