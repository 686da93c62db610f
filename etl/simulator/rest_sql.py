"""ShortQuery over the REST endpoints' own tables: one office, one database, as in Open Dental.

The simulator keeps the REST lists (etl.simulator.tables) apart from the office database that
ShortQuery reads (etl.simulator.office_db). With `sql_reads_rest`, a SELECT that names a table a
REST list serves (claimproc, recall, ...) reads that list's rows as they are now, copied into
the office database with the database's raw values: enum names back to their codes, flags to
0 and 1. A column the list does not send gets Open Dental's "no value". A change column the list
does not send (operatory's DateTStamp) is kept as MySQL keeps it: a row already there at the
first copy is old (a year before it), a row new or changed since the last copy takes the office
clock, an unchanged row keeps its stamp. A table a test put into the office database itself is
left as it is.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import Any

import sqlglot
from sqlglot import exp

from etl.catalog.opendental import OD_TABLES
from etl.catalog.query_tables import change_column
from etl.catalog.resources import RESOURCES
from etl.simulator.clock import format_datetime
from etl.simulator.office_db import OfficeDatabase
from etl.simulator.tables import Tables
from etl.sync.pass_probe import codes, feed_table

#: Open Dental table: the REST list that serves it (deletion feeds' history tables included;
#: a fan-out's list holds every parent's children, as the office's table does).
_PATHS = {r.table_name: r.path for r in RESOURCES.values()}
for _resource in RESOURCES.values():
    if _resource.deletions is not None and feed_table(_resource) is not None:
        _PATHS.setdefault(str(feed_table(_resource)), _resource.deletions.path)
#: The Open Dental tables a REST list serves (patient apart: the patient store serves it).
REST_TABLES = frozenset(_PATHS) - {"patient"}


def copy_named_tables(
    office_db: OfficeDatabase,
    tables: Tables | None,
    body: bytes,
    patients: Callable[[], list[dict[str, Any]]] | None = None,
    keep: bool = False,
    patients_version: int | None = None,
) -> bool:
    """Copy into the office database the REST tables a ShortQuery body names (as they are now).

    A body that is not a SELECT the parser reads is left for the office database to refuse.

    Args:
        office_db: the office database ShortQuery reads.
        tables: the REST lists (None: the simulator serves the patients alone).
        body: the ShortQuery request's body.
        patients: the patient store's rows (`patient`, kept apart from the other lists).
        keep: a list whose rows did not change since its last copy is not copied again.
        patients_version: the patient store's version, read before its rows (with `keep`, the
            patients are not copied again while it is the same).

    Returns:
        Whether a table was copied.
    """
    try:
        sql = json.loads(body or b"{}").get("SqlCommand")
        parsed = sqlglot.parse_one(sql, read="mysql") if isinstance(sql, str) else None
    except (ValueError, AttributeError, sqlglot.errors.ParseError):
        return False
    named = {t.name.lower() for t in parsed.find_all(exp.Table)} if parsed is not None else set()
    copied = False
    for table in sorted(named):
        path = _PATHS.get(table)
        version = _version(tables, path) if table != "patient" else patients_version
        version = version if keep else None
        if version is not None and office_db.copy_versions.get(table) == version:
            continue  # its rows are as they were when last copied
        try:
            rows = tables.all(path) if path is not None and tables is not None else None
        except KeyError:  # the simulator does not serve that list
            rows = None
        if table == "patient" and patients is not None:
            rows = patients()
        if rows is not None and (table in office_db.copied or not office_db.holds(table)):
            office_db.replace(table, _stamped(office_db, table, [raw_row(table, r) for r in rows]))
            office_db.copied.add(table)
            if version is not None:
                office_db.copy_versions[table] = version
            copied = True
    return copied


def _version(tables: Tables | None, path: str | None) -> int | None:
    # The version of a list's rows (etl.simulator.table_rows.Rows), None if it has none.
    if tables is None or path is None:
        return None
    try:
        return getattr(tables[path].rows, "version", None)
    except KeyError:
        return None


def _stamped(
    office_db: OfficeDatabase, table: str, raws: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    # Without this, every copy stamped every row with the office clock: a whole pull whose
    # list sends no stamp (operatories) looked changed on each run, as no office's table does.
    stamp = change_column(table)
    if stamp is None or not raws or stamp in raws[0]:
        return raws
    key = OD_TABLES[table][0].name
    before = office_db.copy_stamps.get(table)
    now = office_db.clock.now()
    new = format_datetime(now if before is not None else now - dt.timedelta(days=365))
    kept: dict[Any, tuple[int, str]] = {}
    for raw in raws:
        content = hash(tuple(raw.items()))
        known = (before or {}).get(raw.get(key))
        raw[stamp] = known[1] if known is not None and known[0] == content else new
        kept[raw.get(key)] = (content, raw[stamp])
    office_db.copy_stamps[table] = kept
    return raws


def raw_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A REST row as Open Dental's database holds it (only the columns the row carries)."""
    columns, coded = _raw_columns(table)
    raw = {name: value for name, value in row.items() if name in columns}
    for name, index, boolean in coded:
        value = raw.get(name)
        if index and isinstance(value, str) and value in index:
            raw[name] = index[value]
        elif boolean and value in ("true", "false"):
            raw[name] = int(value == "true")
    return raw


@functools.cache
def _raw_columns(table: str) -> tuple[frozenset[str], list[tuple[str, dict[str, int], bool]]]:
    # The table's columns, and those sent as enum names or flags with their codes by name (a
    # name's first code): worked out once a table, not once a value (a probe copies every row
    # of twenty tables).
    coded = []
    for column in OD_TABLES[table]:
        index: dict[str, int] = {}
        for code, name in enumerate(codes(column.enum)):
            index.setdefault(name, code)
        if index or column.storage == "Bool":
            coded.append((column.name, index, column.storage == "Bool"))
    return frozenset(c.name for c in OD_TABLES[table]), coded
