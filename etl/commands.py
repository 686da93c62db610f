"""What `odmirror init`, `sync`, `run` and `status` do, for every mirror of the config.

One office is a group of one (etl.config.targets): the same code serves both. A group's lines
start with the practice's name and each practice fails on its own; the one office of a config
without `practices:` prints its lines as they are, and its error is the command's.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict

from sqlalchemy.engine import make_url

from etl import logs
from etl.config.settings import Settings
from etl.config.targets import Target, targets
from etl.control import RunControl, StopRequested
from etl.mirror.engine import (
    check_schema,
    create_schema,
    current_revision,
    make_engine,
    safe_url,
    upgrade,
)
from etl.sync.group import api_client, raise_failures, run_each
from etl.sync.state import RunResult

log = logging.getLogger("odmirror")
Print = Callable[[str], None]


def _stderr(line: str) -> None:
    print(f"odmirror: error: {line}", file=sys.stderr)


def _named(name: str | None, line: str) -> str:
    return line if name is None else f"{name}: {line}"


def init_mirrors(
    settings: Settings, only: str | None = None, out: Print = print, err: Print = _stderr
) -> None:
    """Create or upgrade each mirror; for a group, then recreate the group views.

    Mirrors are initialised one after another (Alembic's context is process-wide), each
    failure on its own; the group views cover every practice whose mirror is ready.

    Raises:
        PracticesFailedError: after the views, if any practice failed (each reported by `err`).
    """
    outcomes = run_each(targets(settings, only), _init_one, parallel=False)
    for outcome in outcomes:
        if outcome.value is not None:
            out(_named(outcome.name, outcome.value))
    if settings.practices:
        from etl.mirror.group_views import refresh

        out(refresh(settings, targets(settings)))
    raise_failures(outcomes, err)


def _init_one(target: Target) -> str:
    create_schema(target.settings.database.url, target.schema)
    url = target.settings.database.url
    engine = make_engine(url)
    try:
        upgrade(engine)
        revision = current_revision(engine)
    finally:
        engine.dispose()
    if target.schema is None:
        return f"mirror schema ready at revision {revision} in {safe_url(url)}"
    shown = safe_url(str(make_url(url).difference_update_query(["options"])))
    return f"mirror schema ready at revision {revision} in schema {target.schema} of {shown}"


def sync_mirrors(
    settings: Settings,
    full: bool = False,
    only: str | None = None,
    out: Print = print,
    err: Print = _stderr,
    control: RunControl | None = None,
    resources: Sequence[str] | None = None,
    json_lines: bool = True,
) -> list[RunResult]:
    """Sync every mirror (or the practice `only`) at once; print each result's summary.

    With `json_lines` a summary is a JSON object when logs are JSON lines (for stdout; a
    logger given as `out` formats its own records).

    Returns:
        Every mirror's results.

    Raises:
        StopRequested: a stop was asked for; each mirror saved the page it had in flight.
        PracticesFailedError: if any practice failed (each reported by `err` on its own line).
        OdMirrorError: the one office of a config without `practices:` failed.
    """
    from etl.sync.run import run_sync

    control = control or RunControl()

    def sync_one(target: Target) -> list[RunResult]:
        client = api_client(target.settings.api)
        try:
            return run_sync(target.settings, full, client, control, resources)
        except StopRequested:
            return []

    outcomes = run_each(targets(settings, only), sync_one)
    for outcome in outcomes:
        for result in outcome.value or []:
            fields = {"resource": result.resource, "mode": result.mode, **asdict(result.stats)}
            if outcome.name is not None:
                fields["practice"] = outcome.name
            line = _named(outcome.name, result.summary())
            out(logs.summary_line(line, fields) if json_lines else line)
    raise_failures(outcomes, err)
    control.check()
    return [result for outcome in outcomes for result in outcome.value or []]


def status_group(
    settings: Settings, only: str | None = None, out: Print = print, err: Print = _stderr
) -> int:
    """`odmirror status` of every practice (or `only`): each line starts with the practice.

    Returns:
        The worst exit code of the practices (see etl/status.py).

    Raises:
        PracticesFailedError: if a practice's mirror cannot be read (or was never initialised).
    """
    from etl import status

    def lines(target: Target) -> tuple[int, list[str]]:
        engine = make_engine(target.settings.database.url)
        try:
            check_schema(engine)
            found = status.collect(engine, target.settings)
            head = f"schema {current_revision(engine)}"
            return found.exit_code(), [head, *status.text_lines(found)]
        finally:
            engine.dispose()

    outcomes = run_each(targets(settings, only), lines)
    for outcome in outcomes:
        for line in outcome.value[1] if outcome.value else []:
            out(f"{outcome.name}: {line}")
    raise_failures(outcomes, err)
    return max(outcome.value[0] for outcome in outcomes if outcome.value)


def check_mirrors(settings: Settings) -> None:
    """Refuse to start `odmirror run` unless every mirror is at the current schema.

    Raises:
        PracticesFailedError: naming each practice to initialise (each reported on stderr).
        SchemaError: the one office's mirror is not at the current schema.
    """

    def check(target: Target) -> None:
        engine = make_engine(target.settings.database.url)
        try:
            check_schema(engine)
        finally:
            engine.dispose()

    raise_failures(run_each(targets(settings), check), _stderr)


def scheduled_sync(settings: Settings, control: RunControl) -> list[RunResult]:
    """The scheduled job's sync: every mirror, each result logged once.

    Raises:
        PracticesFailedError: some practices failed (each logged on its own line).
        OdMirrorError: the one office of a config without `practices:` failed.
    """
    return sync_mirrors(settings, out=log.info, err=log.error, control=control, json_lines=False)
