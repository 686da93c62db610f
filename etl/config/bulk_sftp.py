"""`api.bulk_sftp`: the SFTP server a first load of a big table goes through (POST /queries).

Open Dental's `POST /queries` runs a SELECT and writes its result as a CSV file to an SFTP
server the client names; odmirror then reads the file back and deletes it. The office (its
eConnector, or Open Dental's Remote API servers) writes to `host:port` as `username`;
odmirror reads the same file through `read_host` (default: `host`), with the same account
unless `read_username` and `read_password` say otherwise. Off unless configured.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from etl.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_INTS: dict[str, tuple[int, int]] = {
    "port": (1, 65_535),
    "read_port": (1, 65_535),
    "min_rows": (0, 10**12),
    "wait_seconds": (1, 86_400),
}
_FLOATS: dict[str, tuple[float, float]] = {"max_file_mb": (0.001, 1_048_576)}
_SECRETS = ("password", "read_password")
#: The environment variables that override a key of `api.bulk_sftp` (a password, say).
ENV_PREFIX = "ODMIRROR_API_BULK_SFTP_"


@dataclass(frozen=True)
class BulkSftpSettings:
    """Where POST /queries writes a table's CSV, and how odmirror reads it back."""

    #: The SFTP server as the office reaches it (sent in SftpAddress).
    host: str
    username: str
    password: str = field(repr=False)
    #: The folder the file is written to, as the writing account sees it.
    directory: str = "/"
    port: int = 22
    #: How odmirror reaches the same server (default: host, port, username, password).
    read_host: str | None = None
    read_port: int | None = None
    read_username: str | None = None
    read_password: str | None = field(default=None, repr=False)
    #: The same folder as the reading account sees it (a chroot may differ); default directory.
    read_directory: str | None = None
    #: An OpenSSH known_hosts file that holds the reading server's key; None: not checked.
    known_hosts: str | None = None
    #: Used when COUNT(*) says the table has at least this many rows; 0: always.
    min_rows: int = 20_000
    #: Ask the office to write in the background (IsAsync, Open Dental 23.3.26 and later).
    is_async: bool = False
    #: How the office's CSV writes dates: ymd (ISO only), mdy (5/1/2021 is May 1) or dmy.
    date_order: str = "ymd"
    #: The longest wait for the office to write the file (and for its answer).
    wait_seconds: int = 1800
    #: The largest file read back, in MiB.
    max_file_mb: float = 4096.0

    @property
    def secrets(self) -> tuple[str, ...]:
        """The passwords, to hide from any message."""
        return tuple(s for s in (self.password, self.read_password) if s)


def env_names() -> list[str]:
    """The ODMIRROR_API_BULK_SFTP_* variables odmirror reads."""
    return [f"{ENV_PREFIX}{f.name.upper()}" for f in dataclasses.fields(BulkSftpSettings)]


def parse_bulk_sftp(value: Any, source: str, env: dict[str, str]) -> BulkSftpSettings:
    """`api.bulk_sftp` from the config: ${VAR} expanded, ODMIRROR_API_BULK_SFTP_<KEY> applied.

    Raises:
        ConfigError: naming the key (never a password's value).
    """
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: 'api.bulk_sftp' must be a mapping (host, username, ...)")
    fields = {f.name: f for f in dataclasses.fields(BulkSftpSettings)}
    values = dict(value)
    for key in values:
        if key not in fields:
            known = ", ".join(fields)
            raise ConfigError(f"{source}: unknown key 'api.bulk_sftp.{key}' (known: {known})")
    for key in fields:
        if env.get(f"{ENV_PREFIX}{key.upper()}"):
            values[key] = env[f"{ENV_PREFIX}{key.upper()}"]
    kwargs = {}
    for key, fld in fields.items():
        raw = values.get(key)
        if raw is None or raw == "":
            if fld.default is dataclasses.MISSING:
                raise ConfigError(f"{source}: missing key 'api.bulk_sftp.{key}'")
            continue
        kwargs[key] = _checked(key, raw, source, env)
    return BulkSftpSettings(**kwargs)


def _checked(key: str, raw: Any, source: str, env: dict[str, str]) -> Any:
    dotted = f"api.bulk_sftp.{key}"
    if isinstance(raw, str):
        raw = _expand(dotted, raw, source, env)
    if key in _INTS:
        low, high = _INTS[key]
        if isinstance(raw, bool) or not re.fullmatch(r"\s*[0-9]+\s*", str(raw)):
            raise ConfigError(f"{source}: '{dotted}' must be a whole number")
        if not low <= int(raw) <= high:
            raise ConfigError(f"{source}: '{dotted}' must be between {low} and {high}")
        return int(raw)
    if key in _FLOATS:
        low_f, high_f = _FLOATS[key]
        try:
            number = float(raw) if not isinstance(raw, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not low_f <= number <= high_f:
            raise ConfigError(f"{source}: '{dotted}' must be a number from {low_f:g} to {high_f:g}")
        return number
    if key == "is_async":
        words = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
        flag = raw if isinstance(raw, bool) else words.get(str(raw).strip().lower())
        if flag is None:
            raise ConfigError(f"{source}: '{dotted}' must be true or false")
        return flag
    if not isinstance(raw, str | int) or isinstance(raw, bool) or not str(raw).strip():
        raise ConfigError(f"{source}: '{dotted}' must be a non-empty string")
    text = str(raw) if key in _SECRETS else str(raw).strip()
    if key == "date_order" and text.lower() not in ("ymd", "mdy", "dmy"):
        raise ConfigError(f"{source}: '{dotted}' must be ymd, mdy or dmy")
    if key == "date_order":
        return text.lower()
    if key.endswith("directory") and not text.startswith("/"):
        raise ConfigError(f"{source}: '{dotted}' must be an absolute path, like /upload")
    if key.endswith("host") and not re.fullmatch(r"[A-Za-z0-9.:\[\]_-]+", text):
        raise ConfigError(f"{source}: '{dotted}' must be a host name or address, no scheme")
    return text


def _expand(dotted: str, value: str, source: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if env.get(name):
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{source}: '{dotted}' uses ${{{name}}}, which is not set")

    return _VAR.sub(substitute, value)
