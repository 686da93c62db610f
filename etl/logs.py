"""Logging: plain text or JSON lines on stderr, a progress bar on a terminal, and a filter that
keeps keys and patient data out of every line.

The code logs counts, resource names and PatNums only; the filter is the second line of defence
for text that comes from outside (server error bodies, database error messages, tracebacks).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from etl.control import RunControl

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\u2028\u2029]")
_PATTERNS = (
    (re.compile(r"ODFHIR\s+\S+", re.I), "ODFHIR ***"),
    # PostgreSQL quotes the offending value: `invalid input syntax for type bigint: "Smith"`.
    (re.compile(r"(for type [^:\n]+: ).*"), r"\1***"),
    (re.compile(r"(Key \([^)]*\)=)\(.*?\)(?= |$)"), r"\1(***)"),
    # SQLAlchemy appends the statement's parameters, which are rows.
    (re.compile(r"\[parameters: .*?\](?=\s*(\(|$))", re.S), "[parameters: ***]"),
)
TEXT_FORMATS = {
    "run": "%(asctime)s %(levelname)s %(message)s",
    "other": "%(levelname)s: %(message)s",
}


class Redactor(logging.Filter):
    """Hides the API keys and quoted data in each record, and keeps each record on one line."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add_secrets(self, *values: str) -> None:
        """Hide these values wherever they appear (shorter than 4 characters: too common)."""
        self.secrets.update(v for v in values if v and len(v) >= 4)

    def scrub(self, text: str) -> str:
        """The text with every secret and every quoted database value replaced by ***."""
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops one."""
        message = self.scrub(record.getMessage())
        record.msg, record.args = _CONTROL.sub(" ", message), None
        if record.exc_info and not record.exc_text:
            trace = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_text = _CONTROL_BUT_NEWLINE.sub(" ", trace)  # no ESC nor BEL from outside
        return True


REDACTOR = Redactor()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and exc if any."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (non-ASCII escaped, so no reader splits it)."""
        stamp = dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
        entry: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (a progress bar redirects it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def setup(command: str, verbose: bool = False, fmt: str = "text") -> None:
    """Log to stderr: INFO and up for `run`, WARNING and up otherwise, DEBUG with -v."""
    handler = StderrHandler()
    handler.addFilter(REDACTOR)
    key = "run" if command == "run" else "other"
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMATS[key]))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(old)  # ours only: a host application's handlers stay
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO if key == "run" else logging.WARNING)
    # urllib3 logs each retry as a warning with its repr; our own messages say what matters.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbose else logging.ERROR)
    for chatty in ("apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(logging.INFO if verbose else logging.WARNING)


def summary_line(summary: str, fields: dict[str, Any]) -> str:
    """A run's one-line summary for stdout: as it is, or as a JSON object in JSON mode."""
    if not json_logging():
        return summary
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
    entry = {"time": now.replace("+00:00", "Z"), "level": "info", "logger": "odmirror.sync"}
    return json.dumps({**entry, "message": REDACTOR.scrub(summary), **fields}, default=str)


def json_logging() -> bool:
    """Whether the root logger writes JSON lines."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)


@contextlib.contextmanager
def progress_bar(control: RunControl) -> Iterator[None]:
    """Show rows and requests as pages arrive, on a terminal only (never in JSON mode)."""
    if not sys.stderr.isatty() or json_logging():
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn(
            "{task.description}: {task.fields[rows]} rows, {task.fields[requests]} requests"
        ),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting", total=None, rows=0, requests=0)

        def show(resource: str, rows: int, requests: int) -> None:
            bar.update(task, description=resource, rows=rows, requests=requests)

        control.progress = show
        try:
            yield
        finally:
            control.progress = None
