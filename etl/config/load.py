"""Typed settings from a YAML file, with ${VAR} expansion and ODMIRROR_* environment overrides.

The settings themselves are etl.config.settings; each value is checked by etl.config.values.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from etl.config.operations import check_operations
from etl.config.practices import check_placeholder, parse_practices, split_practices
from etl.config.settings import (
    ApiSettings,
    DatabaseSettings,
    LogSettings,
    ScheduleSettings,
    Settings,
    StatusSettings,
    SyncSettings,
)
from etl.config.values import check_value
from etl.errors import ConfigError
from etl.mapping.pii import policy_from_config

DEFAULT_PATH = "config.yaml"

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
            return str(check_value(dotted, "str", value, source, env))

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
        kwargs[key] = check_value(dotted, fld.type, values[key], source, env)
    return cls(**kwargs)
