"""A PHI policy made stricter is applied to every stored row, not only to the rows synced again.

A sync applies the policy to what it reads. Rows it does not write again (unchanged rows, rows
of an old mirror it cannot rewrite, problems on record in odmirror_rejected) would keep what an
earlier, looser policy let in: switching SSN from keep to drop must not leave thousands of them.
The mirror remembers the policy it last applied (`odmirror_settings`); when the config's
differs, every field now dropped or hashed that was not before is scrubbed from the columns,
`odmirror_extra` and the rejects' payloads, in one transaction, before the sync writes anything.
A mirror that remembers no policy (made before this) is scrubbed of every dropped field; its
hashed fields are hashed where they do not already hold a digest.

On SQLite, freed pages are overwritten (`secure_delete`), so the old values do not linger in
the file.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, select, update

from etl.catalog.resources import RESOURCES, FieldSpec, Resource
from etl.mapping.pii import DROP, HMAC, KEEP, PiiPolicy
from etl.mirror.bookkeeping import Rejected, Setting
from etl.mirror.upsert import upsert_statement

log = logging.getLogger(__name__)

SETTING = "pii_policy"
_DIGEST = re.compile(r"[0-9a-f]{64}")
_SETTINGS = cast(Table, Setting.__table__)
_REJECTED = cast(Table, Rejected.__table__)


def apply_policy(engine: Engine, policy: PiiPolicy) -> int:
    """Scrub what a stricter policy no longer allows from every stored row; remember it.

    Returns:
        How many rows were changed.
    """
    wanted = dict(policy.fields)
    with engine.begin() as conn:
        applied = _remembered(conn)
        if applied == wanted:
            return 0
        stricter = {
            name: action
            for name, action in wanted.items()
            if action != KEEP and (applied or {}).get(name, KEEP) != action
        }
        if applied is None:  # unknown: digests may be there already, and must not be hashed again
            stricter = {name: action for name, action in stricter.items() if action == DROP} | {
                name: HMAC for name, action in wanted.items() if action == HMAC
            }
        changed = _scrub(conn, policy, stricter, known=applied is not None) if stricter else 0
        _remember(conn, wanted)
    if changed:
        log.warning("the PHI policy changed: %d stored rows made to follow it", changed)
    return changed


def _scrub(conn: Connection, policy: PiiPolicy, stricter: Mapping[str, str], known: bool) -> int:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete = ON")
    # In the extras and payloads, only the fields made stricter: a digest is never hashed again.
    partial = PiiPolicy(stricter if known else _drops(stricter), policy.secret_env, policy.secret)
    changed = sum(_scrub_table(conn, r, policy, stricter, partial) for r in RESOURCES.values())
    return changed + _scrub_payloads(conn, partial)


def _drops(fields: Mapping[str, str]) -> dict[str, str]:
    return {name: action for name, action in fields.items() if action == DROP}


def _scrub_table(
    conn: Connection,
    resource: Resource,
    policy: PiiPolicy,
    stricter: Mapping[str, str],
    partial: PiiPolicy,
) -> int:
    table, key = resource.table, resource.table.c[resource.key_column]
    changed = 0
    for spec in resource.fields:
        action = stricter.get(spec.key.casefold())
        column = table.c[spec.column]
        if action == DROP:
            stmt = update(table).where(column.is_not(None)).values({spec.column: None})
            changed += conn.execute(stmt).rowcount
        elif action == HMAC:
            changed += _hash_column(conn, resource, spec, policy)
    extra = table.c.odmirror_extra
    for row_key, held in conn.execute(select(key, extra).where(extra.is_not(None))).all():
        scrubbed = partial.scrub(held)
        if scrubbed != held:
            conn.execute(update(table).where(key == row_key).values(odmirror_extra=scrubbed))
            changed += 1
    return changed


def _hash_column(conn: Connection, resource: Resource, spec: FieldSpec, policy: PiiPolicy) -> int:
    """Hash a column's stored values as a sync would have (a digest already there stays)."""
    table = resource.table
    key, column, extra = table.c[resource.key_column], table.c[spec.column], table.c.odmirror_extra
    changed = 0
    for row_key, value, held in conn.execute(
        select(key, column, extra).where(column.is_not(None))
    ).all():
        if isinstance(value, str) and _DIGEST.fullmatch(value):
            continue
        if spec.kind == "text":
            values: dict[str, Any] = {spec.column: policy.digest(value)}
        else:  # a digest is text: it goes into the extras, as a sync puts it
            text = value.isoformat(" ") if hasattr(value, "isoformat") else value
            digest = policy.digest(text)
            values = {spec.column: None, "odmirror_extra": {**(held or {}), spec.key: digest}}
        conn.execute(update(table).where(key == row_key).values(values))
        changed += 1
    return changed


def _scrub_payloads(conn: Connection, partial: PiiPolicy) -> int:
    changed = 0
    found = conn.execute(select(_REJECTED.c.fingerprint, _REJECTED.c.payload)).all()
    for fingerprint, payload in found:
        # A payload that is not an object could be anything: the policy keeps none now.
        scrubbed = partial.scrub(payload) if isinstance(payload, dict) else None
        if scrubbed != payload:
            stmt = update(_REJECTED).where(_REJECTED.c.fingerprint == fingerprint)
            conn.execute(stmt.values(payload=scrubbed))
            changed += 1
    return changed


def _remembered(conn: Connection) -> dict[str, str] | None:
    text = conn.execute(select(_SETTINGS.c.value).where(_SETTINGS.c.name == SETTING)).scalar()
    return None if text is None else dict(json.loads(text))


def _remember(conn: Connection, fields: Mapping[str, str]) -> None:
    value = json.dumps(dict(fields), sort_keys=True)
    stmt = upsert_statement(_SETTINGS, conn.dialect.name)
    conn.execute(stmt, [{"name": SETTING, "value": value}])
