"""Typed settings from a YAML file, with ${VAR} expansion and ODMIRROR_* environment overrides.

The settings themselves are etl.config.settings; each value is checked by etl.config.values.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from etl.config.bulk_sftp import env_names
from etl.config.environment import known_names, override_name, warn_unknown
from etl.config.operations import check_operations
from etl.config.practices import check_placeholder, parse_practices, split_practices
from etl.config.settings import (
    ApiSettings,
    DatabaseSettings,
    LogSettings,
    MetricsSettings,
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
    "metrics": MetricsSettings,
}
#: Each flat section of the config, by name, with its settings class.
SECTIONS = _SECTIONS
#: What stands for an API key that a command does not need (init and status touch only the
#: database): it is never sent, since those commands make no request.
NOT_NEEDED = "(not needed)"
_KEYS = ("api.developer_key", "api.customer_key")
#: Sections that are not flat key: value mappings, each with its own parser.
_NESTED = ("pii",)


def config_path(explicit: str | None = None) -> Path:
    """The config file to read: `--config`, else $ODMIRROR_CONFIG, else ./config.yaml."""
    return Path(explicit or os.environ.get("ODMIRROR_CONFIG") or DEFAULT_PATH)


def load_settings(
    path: str | Path | None = None, need_keys: bool = True, warn_env: bool = True
) -> Settings:
    """Read, expand, override and validate the YAML config; warn of unknown ODMIRROR_ variables.

    Args:
        path: the file; None means `config_path()`.
        need_keys: False for a command that only touches the database: API keys that are
            missing, unset or placeholders are then stood in for by NOT_NEEDED.
        warn_env: log a warning for each ODMIRROR_ variable that is none odmirror reads.

    Returns:
        The validated settings.

    Raises:
        ConfigError: with a message naming the file (or the variable) and the offending key.
    """
    file = config_path(str(path) if path else None)
    raw = _read_yaml(file)
    settings = settings_from_dict(raw, str(file), os.environ, need_keys)
    if warn_env:
        warn_unknown(os.environ, known_names(_SECTIONS, [settings.pii.secret_env, *env_names()]))
    return settings


def settings_from_dict(
    raw: Any,
    source: str = "config",
    environ: os._Environ[str] | dict[str, str] | None = None,
    need_keys: bool = True,
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
        sections[name] = _build_section(cls, name, raw.get(name), source, env, need_keys)
    sections["pii"] = policy_from_config(raw.get("pii"), source, env)
    if listed is None:
        check_placeholder(sections["database"].url, False, source)
        settings = Settings(**sections)
    else:

        def check(dotted: str, value: Any) -> str:
            try:
                return str(check_value(dotted, "str", value, source, env))
            except ConfigError:
                if need_keys or not dotted.endswith(".customer_key"):
                    raise
                return f"{NOT_NEEDED} {dotted}"  # each its own: practices' keys are unique

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
    cls: type[Any],
    name: str,
    raw: dict[str, Any] | None,
    source: str,
    env: dict[str, str],
    need_keys: bool = True,
) -> Any:
    values = dict(raw or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise ConfigError(f"{source}: unknown key '{name}.{key}' (known: {', '.join(fields)})")
    # A value from the environment is blamed on its variable, not on the file.
    sources = dict.fromkeys(fields, source)
    for key in fields:
        variable = override_name(name, key)
        if env.get(variable) is not None:
            values[key], sources[key] = env[variable], f"environment variable {variable}"
    kwargs: dict[str, Any] = {}
    for key, fld in fields.items():
        dotted = f"{name}.{key}"
        try:
            if key not in values or values[key] is None:
                if fld.default is dataclasses.MISSING:
                    raise ConfigError(f"{sources[key]}: missing key '{dotted}'")
                continue
            kwargs[key] = check_value(dotted, fld.type, values[key], sources[key], env)
        except ConfigError:
            if need_keys or dotted not in _KEYS:
                raise
            kwargs[key] = NOT_NEEDED
    return cls(**kwargs)
