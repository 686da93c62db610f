"""The one error `odmirror query` shows: a single line saying why the query did not run."""

from __future__ import annotations

_MAX = 300


class QueryError(Exception):
    """A query that is refused, cannot be read or translated, or fails on the database.

    The message is one line, cut to a bounded length, safe to print as it is.
    """

    def __init__(self, message: str) -> None:
        # Server messages may hold anything: control characters become "?", length is bounded.
        line = "".join(c if c.isprintable() else "?" for c in " ".join(str(message).split()))
        super().__init__(line if len(line) <= _MAX else line[: _MAX - 3] + "...")
