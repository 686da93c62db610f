"""Typed settings from a YAML file, with ${VAR} expansion and ODMIRROR_* environment overrides."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from etl.errors import ConfigError
from etl.operations import check_operations
from etl.pii import DEFAULT_POLICY, PiiPolicy, policy_from_config
from etl.practice_config import (
    PracticeSettings,
    check_placeholder,
    parse_practices,
    split_practices,
)
from etl.resources import DEFAULT_RESOURCES, select_resources

DEFAULT_PATH = "config.yaml"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class ApiSettings:
    """Where the Open Dental API is and how hard we may use it."""

    base_url: str
    developer_key: str = field(repr=False)
    customer_key: str = field(repr=False)
    page_size: int = 100
    min_request_interval: float = 5.0
    timeout: float = 60.0
    max_retries: int = 5


@dataclass(frozen=True)
class DatabaseSettings:
    """The mirror database."""

    url: str
    #: PostgreSQL schema of the views that union all practices (only with `practices:`).
    group_schema: str = "odmirror_group"


@dataclass(frozen=True)
class SyncSettings:
    """How incremental runs overlap and how often `odmirror run` syncs."""

    overlap_seconds: int = 60
    interval_minutes: float = 15.0
    resources: tuple[str, ...] = DEFAULT_RESOURCES


@dataclass(frozen=True)
class ScheduleSettings:
    """When `odmirror run` syncs: `every` (15m, 2h) or a crontab line; neither means
    every `sync.interval_minutes`. Repeated failures wait longer, up to `backoff_max`."""

    every: str | None = None
    cron: str | None = None
    timezone: str = "UTC"
    backoff_max: str = "4h"


@dataclass(frozen=True)
class StatusSettings:
    """When `odmirror status` calls the mirror stale (default: two schedule periods)."""

    max_age: str | None = None


@dataclass(frozen=True)
class LogSettings:
    """How odmirror logs: `text` for people, `json` (one object a line) for collectors."""

    format: str = "text"


@dataclass(frozen=True)
class Settings:
    """Everything odmirror needs to run."""

    api: ApiSettings
    database: DatabaseSettings
    sync: SyncSettings = field(default_factory=SyncSettings)
    pii: PiiPolicy = DEFAULT_POLICY
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    status: StatusSettings = field(default_factory=StatusSettings)
    log: LogSettings = field(default_factory=LogSettings)
    #: A dental group's practices (etl/practice_config.py); empty for a single practice.
    practices: tuple[PracticeSettings, ...] = ()


_SECTIONS: dict[str, type[Any]] = {
    "api": ApiSettings,
    "database": DatabaseSettings,
    "sync": SyncSettings,
    "schedule": ScheduleSettings,
    "status": StatusSettings,
    "log": LogSettings,
}
#: Sections that are not flat key: value mappings, each with its own parser.
_NESTED = ("pii",)
#: Keys copied from a template or left blank: refused, so a run never starts with them.
_PLACEHOLDER = re.compile(r"(?i)your[\w -]*|<[^>]*>|x{4,}|changeme|placeholder|\.{3}|\*+")
_LIMITS: dict[str, tuple[float, float]] = {
    "api.page_size": (1, 10_000),
    "api.min_request_interval": (0, 3600),
    "api.timeout": (0.001, 3600),
    "api.max_retries": (0, 20),
    "sync.overlap_seconds": (0, 86_400),
    "sync.interval_minutes": (0.01, 10_080),
}


def config_path(explicit: str | None = None) -> Path:
    """The config file to read: `--config`, else $ODMIRROR_CONFIG, else ./config.yaml."""
    return Path(explicit or os.environ.get("ODMIRROR_CONFIG") or DEFAULT_PATH)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read, expand, override and validate the YAML config.

    Args:
        path: the file; None means `config_path()`.

    Returns:
        The validated settings.

    Raises:
        ConfigError: with a message naming the file and the offending key.
    """
    file = config_path(str(path) if path else None)
    raw = _read_yaml(file)
    return settings_from_dict(raw, source=str(file), environ=os.environ)


def settings_from_dict(
    raw: Any, source: str = "config", environ: os._Environ[str] | dict[str, str] | None = None
) -> Settings:
    """Validate an already-parsed config mapping (see `load_settings`)."""
    env = dict(environ or {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with sections api and database")
    raw, listed = split_practices(raw, source)
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _SECTIONS and name not in _NESTED:
            known = ", ".join([*_SECTIONS, *_NESTED])
            raise ConfigError(f"{source}: unknown key '{name}' (known: {known})")
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"{source}: '{name}' must be a mapping of keys")
    for name, cls in _SECTIONS.items():
        sections[name] = _build_section(cls, name, raw.get(name), source, env)
    sections["pii"] = policy_from_config(raw.get("pii"), source, env)
    if listed is None:
        check_placeholder(sections["database"].url, False, source)
        settings = Settings(**sections)
    else:

        def check(dotted: str, value: Any) -> str:
            return str(_check(dotted, "str", value, source, env))

        database = sections["database"]
        practices = parse_practices(listed, database.url, database.group_schema, source, check)
        settings = Settings(**sections, practices=practices)
    check_operations(settings, source)
    return settings


def _read_yaml(file: Path) -> Any:
    if not file.is_file():
        raise ConfigError(
            f"config file not found: {file} (copy config.example.yaml, or pass --config PATH)"
        )
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{file}: not valid YAML{where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot be read ({exc.__class__.__name__})") from None


def _build_section(
    cls: type[Any], name: str, raw: dict[str, Any] | None, source: str, env: dict[str, str]
) -> Any:
    values = dict(raw or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise ConfigError(f"{source}: unknown key '{name}.{key}' (known: {', '.join(fields)})")
    for key in fields:
        override = env.get(f"ODMIRROR_{name}_{key}".upper())
        if override is not None:
            values[key] = override
    kwargs: dict[str, Any] = {}
    for key, fld in fields.items():
        dotted = f"{name}.{key}"
        if key not in values or values[key] is None:
            if fld.default is dataclasses.MISSING:
                raise ConfigError(f"{source}: missing key '{dotted}'")
            continue
        kwargs[key] = _check(dotted, fld.type, values[key], source, env)
    return cls(**kwargs)


def _check(dotted: str, kind: Any, value: Any, source: str, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        value = _expand(dotted, value, source, env)
    if kind == "tuple[str, ...]":
        return _as_names(dotted, value, source)
    if kind == "str | None" and isinstance(value, str) and not value.strip():
        return None  # an optional key set to "" (say by an environment variable) is unset
    if kind == "str | None" and not isinstance(value, str):
        raise ConfigError(f"{source}: '{dotted}' must be text, like 15m or \"0 2 * * *\"")
    if kind in ("str", "str | None"):
        result: Any = _as_str(dotted, value, source)
        _refuse_placeholder(dotted, result, source)
    else:
        result = _as_number(dotted, kind, value, source)
        low, high = _LIMITS[dotted]
        if not low <= result <= high:
            raise ConfigError(f"{source}: '{dotted}' must be between {low:g} and {high:g}")
    _check_url(dotted, result, source)
    return result


def _expand(dotted: str, value: str, source: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env and env[name] != "":
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{source}: '{dotted}' uses ${{{name}}}, which is not set")

    return _VAR.sub(substitute, value)


def _as_names(dotted: str, value: Any, source: str) -> tuple[str, ...]:
    # A YAML list, or "a, b" (as an environment variable gives it).
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{source}: '{dotted}' must be a list of names")
    try:
        chosen = select_resources(items)
    except ConfigError as exc:
        raise ConfigError(f"{source}: '{dotted}': {exc}") from None
    return tuple(r.name for r in chosen)


def _as_str(dotted: str, value: Any, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{source}: '{dotted}' must be a non-empty string")
    return value.strip()


def _refuse_placeholder(dotted: str, value: str, source: str) -> None:
    if dotted.endswith("_key") and _PLACEHOLDER.fullmatch(value):
        raise ConfigError(
            f"{source}: '{dotted}' is a placeholder, not a key: put the real key in the "
            "environment (see config.example.yaml)"
        )


def _as_number(dotted: str, kind: Any, value: Any, source: str) -> float | int:
    wanted = "an integer" if kind == "int" else "a number"
    if isinstance(value, bool):
        raise ConfigError(f"{source}: '{dotted}' must be {wanted}, not {value!r}")
    try:
        number = float(value) if kind == "float" else int(str(value).strip())
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: '{dotted}' must be {wanted}, not {value!r}") from None
    if isinstance(value, float) and kind == "int" and value != int(value):
        raise ConfigError(f"{source}: '{dotted}' must be {wanted}, not {value!r}")
    return number


def _check_url(dotted: str, value: Any, source: str) -> None:
    if dotted == "api.base_url" and not re.match(r"https?://[^/\s]+", str(value)):
        raise ConfigError(f"{source}: '{dotted}' must start with http:// or https://")
    if dotted == "database.url":
        try:
            make_url(str(value)).port  # noqa: B018 - a port that is not a number raises here
        except (ArgumentError, ValueError):
            raise ConfigError(
                f"{source}: '{dotted}' is not a database URL "
                "(e.g. sqlite:///mirror.db or postgresql+psycopg://user@host/db)"
            ) from None
