"""The PHI policy: per API field, keep the value, replace it with a keyed hash, or drop it.

A field is named by its API JSON key (`SSN`, `Birthdate`), whatever resource sends it. The policy
applies everywhere a value could be stored: the mirror's columns, `odmirror_extra`, and the
payloads of `odmirror_rejected`.

- keep: stored as sent (the default for every field but SSN).
- drop: never stored. A column of a dropped field is written NULL (so changing a field to drop
  also erases what an earlier run stored); a dropped field is never in the extras or a reject.
- hmac: HMAC-SHA256 with a secret from the environment, as 64 hex digits: the same value always
  gives the same digest, so two rows can be joined on it, but it cannot be reversed without the
  secret. A text column holds the digest; a column of another type (a date, a number) cannot,
  so it is NULL and the digest goes into `odmirror_extra` under the field's key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from etl.errors import ConfigError

KEEP, HMAC, DROP = "keep", "hmac", "drop"
ACTIONS = (KEEP, HMAC, DROP)
#: Dropped unless the config says otherwise: a US SSN is never needed for reporting.
DEFAULT_FIELDS: Mapping[str, str] = MappingProxyType({"SSN": DROP})
DEFAULT_SECRET_ENV = "ODMIRROR_PII_SECRET"
#: Fields the mirror cannot work without: keys and change times.
PROTECTED = frozenset({"PatNum", "DateTStamp"})


@dataclass(frozen=True)
class PiiPolicy:
    """What to do with each API field before anything is stored.

    Attributes:
        fields: API field name -> keep, hmac or drop; fields not named are kept.
        secret_env: the environment variable that holds the hmac secret.
        secret: the hmac secret (needed only when a field asks for hmac).
    """

    fields: Mapping[str, str] = field(default_factory=lambda: DEFAULT_FIELDS)
    secret_env: str = DEFAULT_SECRET_ENV
    secret: bytes | None = field(default=None, repr=False)

    def action(self, key: str) -> str:
        """keep, hmac or drop for one API field."""
        return self.fields.get(key, KEEP)

    def digest(self, value: Any) -> str | None:
        """The keyed hash of a value (None stays None); text is hashed as sent, else its JSON."""
        if value is None:
            return None
        if self.secret is None:
            raise ConfigError(f"pii: hmac needs a secret in ${self.secret_env}")
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        data = text.encode("utf-8", "surrogatepass")
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()

    def scrub(self, record: Any) -> Any:
        """A record as the policy allows it to be stored (for rejects): dropped keys removed."""
        if not isinstance(record, dict):
            return record
        out: dict[str, Any] = {}
        for key, value in record.items():
            action = self.action(str(key))
            if action == KEEP:
                out[key] = value
            elif action == HMAC:
                out[key] = self.digest(value)
        return out


DEFAULT_POLICY = PiiPolicy()


def policy_from_config(raw: Any, source: str, env: Mapping[str, str]) -> PiiPolicy:
    """Build the policy from the config's `pii:` section.

    Example: ``pii: {secret_env: ODMIRROR_PII_SECRET, fields: {SSN: drop, Birthdate: hmac}}``.
    The named fields are merged over the default (SSN: drop).

    Raises:
        ConfigError: an unknown key or action, a protected field, or hmac without a secret.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: 'pii' must be a mapping of keys")
    unknown = set(raw) - {"secret_env", "fields"}
    if unknown:
        raise ConfigError(
            f"{source}: unknown key 'pii.{sorted(unknown)[0]}' (known: secret_env, fields)"
        )
    secret_env = str(raw.get("secret_env") or DEFAULT_SECRET_ENV)
    fields = {**DEFAULT_FIELDS, **_fields(raw.get("fields"), source)}
    secret = env.get(secret_env) or None
    if HMAC in fields.values() and secret is None:
        named = next(k for k, v in fields.items() if v == HMAC)
        raise ConfigError(
            f"{source}: 'pii.fields.{named}' is hmac, but the secret variable ${secret_env} "
            "is not set (export a long random string; keep it, or joins on old digests break)"
        )
    return PiiPolicy(MappingProxyType(fields), secret_env, secret.encode() if secret else None)


def _fields(raw: Any, source: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: 'pii.fields' must map API field names to keep|hmac|drop")
    fields: dict[str, str] = {}
    for key, action in raw.items():
        action = str(action).strip().lower()
        if action not in ACTIONS:
            raise ConfigError(f"{source}: 'pii.fields.{key}' must be keep, hmac or drop")
        if key in PROTECTED and action != KEEP:
            raise ConfigError(f"{source}: 'pii.fields.{key}' must be kept: the mirror needs it")
        fields[str(key)] = action
    return fields
