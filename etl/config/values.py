"""One config value: ${VAR} expansion, then its type, range and form checked."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from etl.catalog.query_tables import check_tables
from etl.catalog.resources import select_resources
from etl.config.bulk_sftp import parse_bulk_sftp
from etl.config.endpoint import plain_http_to_vendor, refusal
from etl.config.operations import parse_duration
from etl.config.settings import SESSIONS_PER_PRACTICE
from etl.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
#: Keys copied from a template or left blank: refused, so a run never starts with them.
_PLACEHOLDER = re.compile(
    # deploy/odmirror.env.example's own: replace-with-your-developer-key. Real keys are letters
    # and digits only, so a word then a separator is never one.
    r"(?i)your[\w -]*|(?:replace|put|enter|insert)[-_ ][\w -]*|<[^>]*>|x{4,}|changeme"
    r"|placeholder|\.{3}|\*+"
)
_LIMITS: dict[str, tuple[float, float]] = {
    "api.page_size": (1, 10_000),
    "api.min_request_interval": (0, 3600),
    "api.timeout": (0.001, 3600),
    "api.max_retries": (0, 20),
    "api.response_deadline": (1, 3600),
    "api.max_response_mb": (1, 1024),
    "api.max_pages": (1, 100_000_000),
    "sync.overlap_seconds": (0, 86_400),
    "sync.interval_minutes": (0.01, 10_080),
    "metrics.port": (0, 65_535),
}


def check_value(dotted: str, kind: Any, value: Any, source: str, env: dict[str, str]) -> Any:
    """One config value, ${VAR} expanded, checked and converted to its field's type.

    Args:
        dotted: the key, like `api.page_size`.
        kind: the field's annotation, as text (`int`, `str | None`, `tuple[str, ...]`, ...).
        value: the value as YAML or the environment gave it.
        source: the config file's name, for the messages.
        env: the environment, for ${VAR}.

    Returns:
        The value to store in the settings.

    Raises:
        ConfigError: naming the file and the key.
    """
    if dotted == "api.bulk_sftp":
        return parse_bulk_sftp(value, source, env)
    if isinstance(value, str):
        value = _expand(dotted, value, source, env)
    if dotted in _OWN_CHECKS:
        return _OWN_CHECKS[dotted](dotted, value, source)
    if kind == "tuple[str, ...]":
        return _as_names(dotted, value, source)
    if kind == "bool":
        return _as_flag(dotted, value, source)
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
        chosen = select_resources(items, allow_empty=True)  # with sync.tables (check_operations)
    except ConfigError as exc:
        raise ConfigError(f"{source}: '{dotted}': {exc}") from None
    return tuple(r.name for r in chosen)


def _as_tables(dotted: str, value: Any, source: str) -> tuple[str, ...]:
    try:
        return check_tables(value)
    except ConfigError as exc:
        raise ConfigError(f"{source}: '{dotted}': {exc}") from None


def _as_mode(dotted: str, value: Any, source: str) -> str:
    # YAML reads a bare on/off as a boolean.
    word = {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value
    if not isinstance(word, str) or word.strip().lower() not in ("auto", "on", "off"):
        raise ConfigError(f"{source}: '{dotted}' must be auto, on or off, not {value!r}")
    return word.strip().lower()


def _as_sessions(dotted: str, value: Any, source: str) -> int:
    number = int(_as_number(dotted, "int", value, source))
    if number != 0 and not SESSIONS_PER_PRACTICE <= number <= 100_000:
        raise ConfigError(
            f"{source}: '{dotted}' must be 0 (no bound) or from {SESSIONS_PER_PRACTICE} (the "
            f"sessions one practice's sync may hold) to 100000, not {value!r}"
        )
    return number


def _as_every(dotted: str, value: Any, source: str) -> str:
    # 0, off (YAML's false) or a duration; the default 1d when unset.
    words = ("0", "off", "no", "false", "never")
    if value is False or value == 0 or (isinstance(value, str) and value.strip().lower() in words):
        return "off"
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{source}: '{dotted}' must be a duration like 12h or 1d, or off")
    try:
        parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{source}: '{dotted}': {exc}") from None
    return value.strip()


def _as_removed(dotted: str, value: Any, source: str) -> str:
    if not isinstance(value, str) or value.strip().lower() not in ("mark", "delete"):
        raise ConfigError(f"{source}: '{dotted}' must be mark or delete, not {value!r}")
    return value.strip().lower()


_OWN_CHECKS = {
    "sync.tables": _as_tables,
    "api.queries": _as_mode,
    "sync.max_db_sessions": _as_sessions,
    "sync.reconcile_every": _as_every,
    "sync.removed_rows": _as_removed,
}


def _as_flag(dotted: str, value: Any, source: str) -> bool:
    # YAML's true/false, or the text an environment variable gives.
    if isinstance(value, bool):
        return value
    words = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}  # fmt: skip
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    raise ConfigError(f"{source}: '{dotted}' must be true or false, not {value!r}")


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
    if dotted in ("api.base_url", "metrics.pushgateway") and not re.match(
        r"https?://[^/\s]+", str(value)
    ):
        raise ConfigError(f"{source}: '{dotted}' must start with http:// or https://")
    if dotted.endswith("base_url") and plain_http_to_vendor(str(value)):
        raise ConfigError(f"{source}: {refusal(dotted)}")
    if dotted == "database.url":
        try:
            make_url(str(value)).port  # noqa: B018 - a port that is not a number raises here
        except (ArgumentError, ValueError):
            raise ConfigError(
                f"{source}: '{dotted}' is not a database URL "
                "(e.g. sqlite:///mirror.db or postgresql+psycopg://user@host/db)"
            ) from None
