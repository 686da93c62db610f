"""Progress of `odmirror sync` on a terminal: one line per resource (and practice), with its
rows, pages, rate and, where the mirror can tell, the time left.

The API gives no totals. What a run will read is known when it reads a resource whole (a
full sync, or a resource with no change filter): about as many rows as the mirror holds. For
those the line shows the time left; for the others, what was read so far and how fast.
Nothing is shown in the first seconds (a short sync stays quiet), nor when stderr is not a
terminal, the logs are JSON lines, or `--quiet` was given.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import func, select

from etl import logs
from etl.catalog.resources import select_resources
from etl.config.settings import Settings
from etl.config.targets import targets
from etl.control import RunControl
from etl.mirror.engine import make_engine
from etl.sync import state
from etl.sync.group import current_practice

#: A line appears once a sync has run this long.
QUIET_SECONDS = 2.0
Key = tuple[str | None, str]


def estimates(settings: Settings, full: bool, only: str | None = None) -> dict[Key, int]:
    """Rows each (practice, resource) will likely read: what its mirror holds, for those read
    whole this time; none for a first load or a run of changes only."""
    found: dict[Key, int] = {}
    for target in targets(settings, only):
        engine = make_engine(target.settings.database.url)
        try:
            with engine.connect() as conn:
                for resource in select_resources(settings.sync.resources, allow_empty=True):
                    whole = full or resource.cursor_param is None
                    if whole or state.get_cursor(engine, resource.name) is None:
                        rows = conn.scalar(select(func.count()).select_from(resource.table))
                        if rows:
                            found[(target.name, resource.name)] = int(rows)
        except Exception:
            continue
        finally:
            engine.dispose()
    return found


def shown(quiet: bool = False) -> bool:
    """Whether progress lines would show: on a terminal, in text logs, unless quiet."""
    return not quiet and sys.stderr.isatty() and not logs.json_logging()


@contextlib.contextmanager
def sync_progress(
    settings: Settings, control: RunControl, full: bool, only: str | None, quiet: bool
) -> Iterator[None]:
    """`progress_lines` for `odmirror sync`, with the estimates (read only if shown)."""
    if not shown(quiet):
        yield
        return
    with progress_lines(control, estimates(settings, full, only)):
        yield


@contextlib.contextmanager
def progress_lines(
    control: RunControl, expected: Mapping[Key, int] | None = None, quiet: bool = False
) -> Iterator[None]:
    """Show a line per resource on the terminal while the body of the `with` syncs."""
    if not shown(quiet):
        yield
        return
    lines = _Lines(dict(expected or {}))
    control.progress = lines.show
    try:
        yield
    finally:
        control.progress = None
        lines.close()


class _Lines:
    def __init__(self, expected: dict[Key, int]) -> None:
        self.expected, self.began = expected, time.monotonic()
        self.lock = threading.Lock()  # the practices of a group report from their own threads
        self.bar: Any = None
        self.tasks: dict[Key, Any] = {}
        self.first_request: dict[Key, int] = {}

    def show(self, resource: str, rows: int, requests: int) -> None:
        key = (current_practice(), resource)
        with self.lock:
            # Requests count over the run's session: a resource's pages are those since its first.
            pages = requests - self.first_request.setdefault(key, requests - 1)
            if self.bar is None and time.monotonic() - self.began < QUIET_SECONDS:
                return
            if self.bar is None:
                self.bar = _bar()
                self.bar.start()
            if key not in self.tasks:
                name = resource if key[0] is None else f"{key[0]}: {resource}"
                self.tasks[key] = self.bar.add_task(name, total=self.expected.get(key), pages=0)
            self.bar.update(self.tasks[key], completed=rows, pages=pages)

    def close(self) -> None:
        with self.lock:
            if self.bar is not None:
                self.bar.stop()


def _bar() -> Any:
    from rich.console import Console
    from rich.progress import (
        Progress,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):  # rows a second, once rich has measured it
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed:,.0f} rows/s" if task.speed else "")

    class Left(ProgressColumn):  # the time left, only where the rows to read are known
        def render(self, task: Task) -> Text:
            left = task.time_remaining
            return Text("" if left is None else f"about {_duration(left)} left")

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}: {task.completed:,.0f} rows, {task.fields[pages]} pages"),
        Rate(),
        TimeElapsedColumn(),
        Left(),
        console=Console(stderr=True),
    )


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"
