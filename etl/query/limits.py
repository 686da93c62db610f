"""The bounds of `odmirror query` (kept apart so the CLI can read them without loading sqlglot)."""

from __future__ import annotations

DEFAULT_MAX_ROWS = 10_000  # rows shown unless --max-rows says otherwise
MAX_QUERY_CHARS = 200_000  # characters of a query read at most
DEFAULT_TIMEOUT_SECONDS = 300  # how long the database may work on one statement
CONNECT_TIMEOUT_SECONDS = 10
