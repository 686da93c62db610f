"""The `practices:` section of the config: a dental group's practices, checked one by one.

Each practice's name becomes a PostgreSQL schema name or part of a SQLite file name, so it is
held to a safe identifier; names and customer keys must be unique (two practices on one key
would share the vendor's throttle).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from etl.errors import ConfigError

#: In a SQLite `database.url`, replaced by each practice's name.
PLACEHOLDER = "{practice}"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
# PostgreSQL's and SQLite's own schemas, and MySQL's own databases (a practice is one there).
_RESERVED = frozenset(
    {"public", "information_schema", "main", "temp", "mysql", "performance_schema", "sys"}
)
_KEYS = ("name", "customer_key", "base_url")
_UNUSED_KEY = "(per practice)"


@dataclass(frozen=True)
class PracticeSettings:
    """One practice of a dental group.

    Attributes:
        name: its schema (PostgreSQL) or the {practice} of its file name (SQLite).
        customer_key: the office's customer key.
        base_url: its API address; None means `api.base_url`.
    """

    name: str
    customer_key: str = field(repr=False)
    base_url: str | None = None


def split_practices(raw: dict[str, Any], source: str) -> tuple[dict[str, Any], Any]:
    """Take `practices:` out of a parsed config; returns the rest and the list (None if absent).

    With practices, `api.customer_key` is not used (each practice has its own), so the rest
    gets a stand-in that no request is ever sent with.
    """
    if "practices" not in raw:
        return raw, None
    rest = {key: value for key, value in raw.items() if key != "practices"}
    api = rest.get("api")
    if isinstance(api, dict):
        if "customer_key" in api:
            raise ConfigError(
                f"{source}: 'api.customer_key' is not used with practices "
                "(each practice has its own customer_key): remove it"
            )
        rest["api"] = {**api, "customer_key": _UNUSED_KEY}
    return rest, raw["practices"]


def parse_practices(
    listed: Any, url: str, group_schema: str, source: str, check: Callable[[str, Any], str]
) -> tuple[PracticeSettings, ...]:
    """Validate the `practices:` list.

    Args:
        listed: the list as parsed from YAML.
        url: `database.url`, which must suit one database per practice.
        group_schema: `database.group_schema`, which no practice may be named.
        source: the config file, for messages.
        check: validates (and ${VAR}-expands) one string value, given its dotted name.

    Raises:
        ConfigError: one line naming the file and the practice.
    """
    if not isinstance(listed, list) or not listed:
        raise ConfigError(f"{source}: 'practices' must be a list of {{name, customer_key}}")
    check_name(f"{source}: 'database.group_schema'", group_schema, _RESERVED)
    check_placeholder(url, True, source)
    practices = [
        _practice(entry, number, source, check, _RESERVED | {group_schema})
        for number, entry in enumerate(listed, 1)
    ]
    _check_unique(practices, source)
    return tuple(practices)


def _practice(
    entry: Any, number: int, source: str, check: Callable[[str, Any], str], reserved: frozenset[str]
) -> PracticeSettings:
    where = f"{source}: practice {number}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping with keys {', '.join(_KEYS)}")
    unknown = sorted(str(key) for key in set(entry) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(_KEYS)})")
    for key in ("name", "customer_key"):
        if entry.get(key) is None:
            raise ConfigError(f"{where} has no '{key}'")
    values = {
        key: check(f"practices[{number}].{key}", entry[key])
        for key in _KEYS
        if entry.get(key) is not None
    }
    check_name(f"{where}: name", values["name"], reserved)
    base_url = values.get("base_url")
    if base_url is not None and not re.match(r"https?://[^/\s]+", base_url):
        raise ConfigError(f"{where}: 'base_url' must start with http:// or https://")
    return PracticeSettings(**values)


def check_name(what: str, name: str, reserved: frozenset[str]) -> None:
    """Refuse a name that is not a plain lower-case identifier (it names a schema or file)."""
    if not _NAME.fullmatch(name) or name in reserved or name.startswith("pg_"):
        raise ConfigError(
            f"{what} {name!r} must be lower-case letters, digits and underscores, starting with "
            f"a letter, at most 63 long, and not one of {', '.join(sorted(reserved))} or pg_*"
        )


def _check_unique(practices: list[PracticeSettings], source: str) -> None:
    names: set[str] = set()
    keys: dict[str, str] = {}
    for practice in practices:
        if practice.name in names:
            raise ConfigError(f"{source}: two practices are named {practice.name!r}")
        if practice.customer_key in keys:
            raise ConfigError(
                f"{source}: practices {keys[practice.customer_key]!r} and {practice.name!r} "
                "have the same customer_key"
            )
        names.add(practice.name)
        keys[practice.customer_key] = practice.name


def check_placeholder(url: str, grouped: bool, source: str) -> None:
    """SQLite needs {practice} in its URL with practices (one file each), the others never."""
    sqlite = url.startswith("sqlite")
    if not grouped and PLACEHOLDER in url:
        raise ConfigError(f"{source}: 'database.url' has {PLACEHOLDER} but no practices are listed")
    if grouped and sqlite and PLACEHOLDER not in url:
        raise ConfigError(
            f"{source}: with practices, a SQLite 'database.url' needs {PLACEHOLDER} in its file "
            f"name, one file per practice (e.g. sqlite:///mirror_{PLACEHOLDER}.db)"
        )
    if grouped and not sqlite and PLACEHOLDER in url:
        raise ConfigError(
            f"{source}: PostgreSQL and MySQL keep each practice in a schema (on MySQL a "
            "database) named after it: "
            f"remove {PLACEHOLDER} from 'database.url'"
        )
