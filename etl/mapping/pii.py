"""The PHI policy: per API field, keep the value, replace it with a keyed hash, or drop it.

A field is named by its API JSON key (`SSN`, `Birthdate`), whatever resource sends it, in any
spelling of its case ("ssn" and "Ssn" are SSN too: a server that changes the case must not slip
a value past the policy), and at any depth (an SSN inside a nested object). The policy applies
everywhere a value could be stored: the mirror's columns, `odmirror_extra`, and the payloads of
`odmirror_rejected`.

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
#: Deeper than this, a nested value is not kept at all (a hostile document can nest thousands).
MAX_DEPTH = 32
TOO_DEEP = f"[nested deeper than {MAX_DEPTH} levels: not kept]"


@dataclass(frozen=True)
class PiiPolicy:
    """What to do with each API field before anything is stored.

    Attributes:
        fields: API field name -> keep, hmac or drop; fields not named are kept. Names are
            held case-folded ("SSN" becomes "ssn"): a field matches in any case.
        secret_env: the environment variable that holds the hmac secret.
        secret: the hmac secret (needed only when a field asks for hmac).
    """

    fields: Mapping[str, str] = field(default_factory=lambda: DEFAULT_FIELDS)
    secret_env: str = DEFAULT_SECRET_ENV
    secret: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        folded = {str(name).casefold(): action for name, action in self.fields.items()}
        object.__setattr__(self, "fields", MappingProxyType(folded))

    def action(self, key: str) -> str:
        """keep, hmac or drop for one API field, whatever the case of its name."""
        return self.fields.get(key.casefold(), KEEP)

    def digest(self, value: Any) -> str | None:
        """The keyed hash of a value (None stays None); text is hashed as sent, else its JSON."""
        if value is None:
            return None
        if self.secret is None:
            raise ConfigError(f"pii: hmac needs a secret in ${self.secret_env}")
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        data = text.encode("utf-8", "surrogatepass")
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()

    def scrub(self, value: Any, depth: int = 0) -> Any:
        """A value as the policy allows it to be stored: in every object at any depth, dropped
        keys removed and hashed ones hashed; deeper than MAX_DEPTH, a marker instead."""
        if depth > MAX_DEPTH:
            return TOO_DEEP
        if isinstance(value, list):
            return [self.scrub(item, depth + 1) for item in value]
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            action = self.action(str(key))
            if action == KEEP:
                out[key] = self.scrub(item, depth + 1)
            elif action == HMAC:
                out[key] = self.digest(item)
        return out


DEFAULT_POLICY = PiiPolicy()
_PROTECTED_FOLDED = frozenset(name.casefold() for name in PROTECTED)


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
    named = _fields(raw.get("fields"), source)
    # Case-folded before merging, so that "ssn: keep" overrides the default "SSN: drop".
    fields = {k.casefold(): v for k, v in [*DEFAULT_FIELDS.items(), *named.items()]}
    secret = env.get(secret_env) or None
    if HMAC in fields.values() and secret is None:
        hashed = next(k for k, v in named.items() if v == HMAC)
        raise ConfigError(
            f"{source}: 'pii.fields.{hashed}' is hmac, but the secret variable ${secret_env} "
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
        if str(key).casefold() in _PROTECTED_FOLDED and action != KEEP:
            raise ConfigError(f"{source}: 'pii.fields.{key}' must be kept: the mirror needs it")
        fields[str(key)] = action
    return fields
