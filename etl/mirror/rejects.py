"""The rejects table: every record the mirror could not take whole, so nothing is lost silently.

One row per distinct problem (a fingerprint of resource, key, reason and payload): a record seen
again by a later run updates `seen_at` and `run_id` instead of adding a row. A problem goes when a
successful run saves its record again without it (`clear_resolved`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    Text,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from etl.catalog.resources import Resource
from etl.mapping.pii import PiiPolicy
from etl.mapping.record import MappedRecord, sanitize_json
from etl.mirror.bookkeeping import Rejected
from etl.mirror.lookup import chunked, param_limit
from etl.mirror.upsert import upsert_statement

#: Longer strings in a reject's payload are cut (a 10 MB note need not be stored twice).
MAX_TEXT = 2000
TABLE = cast(Table, Rejected.__table__)
# A resource's problems with a key that another run than the current one saw last.
_EARLIER = and_(
    Rejected.resource == bindparam("resource"),
    Rejected.key.is_not(None),
    or_(Rejected.run_id.is_(None), Rejected.run_id != bindparam("run_id")),
)
# Every successful run asks this: SQL of our own, as the driver takes it (compiling SQLAlchemy's
# SELECT cost each new process, so each incremental run, 3 ms).
_EARLIER_KEYS = (
    "SELECT {3} FROM odmirror_rejected WHERE resource = {0} AND {3} IS NOT NULL"
    " AND (run_id IS NULL OR run_id <> {1}) LIMIT {2}"
)
_NAMED = ("%(resource)s", "%(run_id)s", "%(most)s")
# The marks of the parameters, and the column `key` (a reserved word on MySQL).
_MARKS = {
    "sqlite": ("?", "?", "?", "key"),
    "postgresql": (*_NAMED, "key"),
    "mysql": (*_NAMED, "`key`"),
    "mariadb": (*_NAMED, "`key`"),
}
_IN_LIST = Rejected.key.in_(bindparam("keys", expanding=True))
_MATCHED = {
    "sqlite": _IN_LIST,
    "mysql": _IN_LIST,
    "mariadb": _IN_LIST,
    # One array parameter, not one per key (a thousand bound one by one cost 5 ms more), made
    # a set: `= ANY(array)` compares each row with every key once the statement is prepared.
    "postgresql": Rejected.key.in_(select(func.unnest(bindparam("keys", type_=ARRAY(Text))))),
}
_DELETES = {name: delete(Rejected).where(_EARLIER, match) for name, match in _MATCHED.items()}


@dataclass(frozen=True)
class Reject:
    """One problem with one record."""

    resource: str
    key: str | None
    reason: str
    loaded: bool
    payload: Any = None

    @property
    def fingerprint(self) -> str:
        """The identity of the problem: the same record with the same fault gives the same one."""
        text = json.dumps(
            [self.resource, self.key, self.reason, self.loaded, self.payload],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class RejectCounts:
    """How many distinct problems a resource has on record."""

    rejected: int = 0
    set_aside: int = 0


def rejected(resource: Resource, record: Any, reason: str, policy: PiiPolicy) -> Reject:
    """A record that was not mirrored; its payload is what the PHI policy lets us keep.

    Only an object is kept: a record that is not one (a bare string, a list) could be anything,
    an SSN too, and no field name says what; its reason says what it was.
    """
    payload = _cap(sanitize_json(policy.scrub(record))) if isinstance(record, dict) else None
    key = record.get(resource.key) if isinstance(record, dict) else None
    usable = isinstance(key, int) and not isinstance(key, bool) and key > 0
    return Reject(resource.name, str(key) if usable else None, reason, False, payload)


def flawed(resource: Resource, mapped: MappedRecord) -> Reject | None:
    """A record mirrored with some values set aside, or None if it had no flaw."""
    reason = mapped.flaws
    if reason is None:
        return None
    key = str(mapped.row[resource.key_column])
    return Reject(resource.name, key, reason, True)


def record(engine: Engine, rejects: list[Reject], run_id: int | None, seen_at: Any) -> None:
    """Save rejects (one transaction); a problem already on record gets the new run and time."""
    unique = {r.fingerprint: r for r in rejects}
    if not unique:
        return
    rows = [
        {
            "fingerprint": fp,
            "resource": r.resource,
            "key": r.key,
            "reason": r.reason,
            "loaded": r.loaded,
            "payload": r.payload,
            "seen_at": seen_at,
            "run_id": run_id,
        }
        for fp, r in unique.items()
    ]
    with engine.begin() as conn:
        conn.execute(upsert_statement(TABLE, engine.dialect.name), rows)


def clear_resolved(conn: Connection, resource: str, run_id: int, saved: Collection[Any]) -> int:
    """Remove the problems of records that this run saved again without them.

    For a run whose pull completed. A problem the run met again carries its id (`record`) and
    stays, as do the problems of records the run did not save and those without a key.

    Args:
        conn: the connection, in the transaction that records the run's success.
        resource: the resource's name.
        run_id: the run.
        saved: the keys the run saved, as the table holds them (integers).

    Returns:
        How many problems were removed.
    """
    if not saved:
        return 0
    params: dict[str, Any] = {"resource": resource, "run_id": run_id}
    # Python walks whichever is fewer: the problems on record (matched here against the run's
    # keys), or the keys the run saved (sent for the database to match). Most runs find no
    # problem on record at all: one short query.
    earlier = _earlier_keys(conn, resource, run_id, len(saved) + 1)
    if len(earlier) <= len(saved):
        keys = [key for key in earlier if _table_key(key) in saved]
    else:
        keys = [str(key) for key in saved]
    removed = 0
    for chunk in chunked(keys, param_limit(conn.dialect.name) - len(params)):
        removed += conn.execute(_DELETES[conn.dialect.name], {**params, "keys": chunk}).rowcount
    return removed


def count_by_resource(engine: Engine) -> dict[str, RejectCounts]:
    """Distinct problems on record per resource: records not mirrored, rows with values set aside.

    For `odmirror status`.
    """
    not_loaded = func.sum(case((Rejected.loaded.is_(False), 1), else_=0))
    query = select(Rejected.resource, not_loaded, func.count()).group_by(Rejected.resource)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return {
        name: RejectCounts(int(bad or 0), int(total) - int(bad or 0)) for name, bad, total in rows
    }


def _earlier_keys(conn: Connection, resource: str, run_id: int, most: int) -> list[str]:
    dialect = conn.dialect.name
    sql = _EARLIER_KEYS.format(*_MARKS[dialect])
    params = {"resource": resource, "run_id": run_id, "most": most}
    found = conn.exec_driver_sql(sql, (resource, run_id, most) if dialect == "sqlite" else params)
    return [str(key) for (key,) in found]


def _table_key(key: str) -> Any:
    # A reject's key is text; the tables' keys (and a run's) are integers.
    return int(key) if key.isdecimal() else key


def _cap(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return f"{value[:MAX_TEXT]}... [{len(value)} characters, cut]"
    if isinstance(value, dict):
        return {k: _cap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cap(v) for v in value]
    return value
