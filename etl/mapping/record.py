"""Map one API record to one mirror row. Pure: a dict in, a row out, no I/O.

Each value is decoded for its column (etl.decode). A value that does not decode is stored as NULL
and kept, as sent, in `odmirror_extra`, so nothing the API said is lost; keys the model does not
know are kept there too. The PHI policy (etl.pii) is applied here, so it covers the columns and
the extras alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from etl.catalog.resources import FieldSpec, Resource
from etl.mapping.fast_decoders import decoder_for
from etl.mapping.pii import DEFAULT_POLICY, DROP, HMAC, KEEP, PiiPolicy
from etl.mapping.values import (
    Invalid,
    clean_text,
    decode,
    parse_server_time,
    sanitize_json,
)

__all__ = [
    "NOT_DATA",
    "Invalid",
    "MappedRecord",
    "RejectedRecord",
    "clean_text",
    "decode",
    "map_record",
    "parse_server_time",
    "sanitize_json",
]

#: Keys the API adds to rows that are not data of the row.
NOT_DATA = frozenset({"serverDateTime"})

_Step = tuple[str, Callable[[Any], Any], bool]
_plans: dict[tuple[int, int], tuple[Resource, PiiPolicy, dict[str, _Step]]] = {}


class RejectedRecord(ValueError):
    """A record that cannot be mirrored at all (not an object, or no usable key)."""


@dataclass
class MappedRecord:
    """The row for the mirror, and what the mapping had to set aside.

    Attributes:
        row: column name -> value, only for keys present in the record, plus `odmirror_extra`.
        unknown: keys the model does not know (kept in `odmirror_extra`).
        invalid: keys whose value did not decode (stored NULL, kept in `odmirror_extra`).
        cleaned: keys whose text had to be changed to be storable (NUL bytes removed, lone
            surrogates replaced).
    """

    row: dict[str, Any]
    unknown: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)

    @property
    def flaws(self) -> str | None:
        """What was wrong with the record's values, in words (field names only), or None."""
        parts = []
        if self.invalid:
            parts.append(f"undecodable {', '.join(sorted(self.invalid))} (NULL, kept in extra)")
        if self.cleaned:
            parts.append(f"unstorable characters removed from {', '.join(sorted(self.cleaned))}")
        return "; ".join(parts) or None


def map_record(resource: Resource, record: Any, policy: PiiPolicy = DEFAULT_POLICY) -> MappedRecord:
    """Map one API record to a mirror row, applying the PHI policy.

    Args:
        resource: what the record is.
        record: one element of the API's JSON array.
        policy: what to keep, hash or drop (default: SSN dropped, the rest kept).

    Returns:
        The row and the keys that were set aside.

    Raises:
        RejectedRecord: the record is not an object or lacks a usable primary key.
    """
    if not isinstance(record, dict):
        raise RejectedRecord(f"a {resource.name} record is not a JSON object ({_shape(record)})")
    mapped = MappedRecord(row={})
    extra: dict[str, Any] = {}
    plan, row = _plan(resource, policy), mapped.row
    for key, value in record.items():
        step = plan.get(key)
        if step is None:
            _map_odd(resource, mapped, extra, key, value, policy)
            continue
        column, decoder, text = step
        try:
            stored = row[column] = decoder(value)
        except Invalid:
            row[column] = None
            mapped.invalid.append(key)
            extra[key] = policy.scrub(value)  # an object may hold a field the policy names
            continue
        # clean_text returns the very same string when it had nothing to remove.
        if text and stored is not value and isinstance(value, str):
            mapped.cleaned.append(key)
    _require_key(resource, row)
    row["odmirror_extra"] = sanitize_json(extra) if extra else None
    return mapped


def _shape(value: Any) -> str:
    """What a JSON value is, without its content (which could be anything, an SSN too)."""
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if value is None or isinstance(value, bool):
        return "null" if value is None else "a boolean"
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _plan(resource: Resource, policy: PiiPolicy) -> dict[str, _Step]:
    """Per JSON key the policy keeps: its column, its decoder (built once), whether it is text.

    A key the policy names (in any case) has no step: `_map_odd` applies the policy to it.
    """
    cache_key = (id(resource), id(policy))
    known = _plans.get(cache_key)
    if known is None or known[0] is not resource or known[1] is not policy:
        if len(_plans) >= 64:
            _plans.clear()
        steps = {
            spec.key: (spec.column, decoder_for(spec), spec.kind == "text")
            for spec in resource.fields
            if spec.key not in NOT_DATA and policy.action(spec.key) == KEEP
        }
        known = _plans[cache_key] = (resource, policy, steps)
    return known[2]


def _map_odd(
    resource: Resource,
    mapped: MappedRecord,
    extra: dict[str, Any],
    key: str,
    value: Any,
    policy: PiiPolicy,
) -> None:
    """Map one field the fast path does not take: a key the policy names, or not a column."""
    spec, row = resource.by_key.get(key), mapped.row
    if key in NOT_DATA or policy.action(key) != KEEP:
        go_on, value = _police(row, extra, key, value, spec, policy)
        if not go_on:
            return
    if spec is None:
        mapped.unknown.append(key)
        extra[key] = policy.scrub(value)  # an object may hold a field the policy names
        return
    try:
        stored = row[spec.column] = decode(spec, value)
    except Invalid:
        row[spec.column] = None
        mapped.invalid.append(key)
        extra[key] = policy.scrub(value)
        return
    if stored is not value and spec.kind == "text" and isinstance(value, str):
        mapped.cleaned.append(key)


def _police(
    row: dict[str, Any],
    extra: dict[str, Any],
    key: str,
    value: Any,
    spec: FieldSpec | None,
    policy: PiiPolicy,
) -> tuple[bool, Any]:
    """Apply the PHI policy to one field: (whether to map it on, the value to map)."""
    action = policy.action(key)
    if key in NOT_DATA:
        return False, value
    if action == DROP:
        if spec is not None:
            row[spec.column] = None  # erases what an earlier policy let in
        return False, value
    if action == HMAC:
        value = policy.digest(value)
        if spec is not None and spec.kind != "text":
            # A digest is text: it cannot live in a date or number column.
            row[spec.column] = None
            extra[key] = value
            return False, value
    return True, value


def _require_key(resource: Resource, row: dict[str, Any]) -> None:
    value = row.get(resource.key_column)
    if not isinstance(value, int) or value <= 0:
        raise RejectedRecord(f"a {resource.name} record has no usable {resource.key}")
