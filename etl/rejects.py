"""The rejects table: every record the mirror could not take whole, so nothing is lost silently.

One row per distinct problem (a fingerprint of resource, key, reason and payload): a record seen
again by a later run updates `seen_at` and `run_id` instead of adding a row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine, Table, case, func, select

from etl.load import upsert_statement
from etl.models import Rejected
from etl.pii import PiiPolicy
from etl.resources import Resource
from etl.transform import MappedRecord, sanitize_json

#: Longer strings in a reject's payload are cut (a 10 MB note need not be stored twice).
MAX_TEXT = 2000
TABLE = cast(Table, Rejected.__table__)


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
    """A record that was not mirrored; its payload is what the PHI policy lets us keep."""
    payload = _cap(sanitize_json(policy.scrub(record)))
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


def _cap(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return f"{value[:MAX_TEXT]}... [{len(value)} characters, cut]"
    if isinstance(value, dict):
        return {k: _cap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cap(v) for v in value]
    return value
