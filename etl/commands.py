"""What `odmirror init`, `sync`, `run` and `status` do, for every mirror of the config.

One office is a group of one (etl.config.targets): the same code serves both. A group's lines
start with the practice's name and each practice fails on its own; the one office of a config
without `practices:` prints its lines as they are, and its error is the command's.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine
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
from etl.sync.group import Outcome, api_client, raise_failures, run_each
from etl.sync.state import RunResult
from etl.wording import plural

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
    from etl.mirror.group_views import refresh, release

    # The group views hold the practices' views, which an upgrade recreates: out of the way,
    # their grants kept to be given again.
    grants = release(settings) if settings.practices else []
    outcomes = run_each(targets(settings, only), _init_one, parallel=False)
    for outcome in outcomes:
        if outcome.value is not None:
            out(_named(outcome.name, outcome.value))
    if settings.practices:
        out(refresh(settings, targets(settings), grants))
    raise_failures(outcomes, err)


def _init_one(target: Target) -> str:
    create_schema(target.settings.database.url, target.schema)
    url = target.settings.database.url
    engine = make_engine(url)
    try:
        upgrade(engine)
        revision = current_revision(engine)
        notes = _extras(engine, target.settings)
    finally:
        engine.dispose()
    if target.schema is None:
        return f"mirror schema ready at revision {revision} in {safe_url(url)}{notes}"
    shown = safe_url(str(make_url(url).difference_update_query(["options"])))
    where = f"in schema {target.schema} of {shown}"
    return f"mirror schema ready at revision {revision} {where}{notes}"


def _extras(engine: Engine, settings: Settings) -> str:
    """Make what init adds beside the tables; the lines to show about it."""
    from etl.mirror.kpi_views import create_kpi_views
    from etl.query.functions_postgres import create_compat_functions

    lines = []
    with engine.begin() as conn:
        skipped = create_kpi_views(conn)
    if skipped:  # one line: most are missing until their tables are mirrored
        why = "; ".join(f"{name} ({reason})" for name, reason in skipped.items())
        lines.append(f"KPI views not made, their data is not in the mirror: {why}")
    if engine.dialect.name == "postgresql" and settings.database.mysql_functions:
        with engine.begin() as conn:
            create_compat_functions(conn)
        lines.append("MySQL-compatible functions ready in schema odmirror_mysql")
    return "".join(f"\n{line}" for line in lines)


def sync_mirrors(
    settings: Settings,
    full: bool = False,
    only: str | None = None,
    out: Print = print,
    err: Print = _stderr,
    control: RunControl | None = None,
    resources: Sequence[str] | None = None,
    json_lines: bool = True,
    reconcile: bool = False,
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
            return run_sync(target.settings, full, client, control, resources, reconcile)
        except StopRequested:
            return []

    began = time.monotonic()
    outcomes = run_each(
        targets(settings, only), sync_one, max_sessions=settings.sync.max_db_sessions
    )
    for outcome in outcomes:
        for result in outcome.value or []:
            fields = {"resource": result.resource, "mode": result.mode, **asdict(result.stats)}
            if outcome.name is not None:
                fields["practice"] = outcome.name
            line = _named(outcome.name, result.summary())
            out(logs.summary_line(line, fields) if json_lines else line)
        if outcome.value:  # the bill of a Remote run is its requests: per resource at a glance
            line = _named(outcome.name, requests_line(outcome.value))
            fields = {"requests": {r.resource: r.stats.requests for r in outcome.value}}
            out(logs.summary_line(line, fields) if json_lines else line)
    if settings.practices:
        out(total_line(outcomes, time.monotonic() - began))
    raise_failures(outcomes, err)
    control.check()
    return [result for outcome in outcomes for result in outcome.value or []]


def requests_line(results: Sequence[RunResult]) -> str:
    """One mirror's requests in all, then per resource, most first (those with none left out).

    Args:
        results: the mirror's results of one run.
    """
    spent = sorted(
        (r for r in results if r.stats.requests), key=lambda r: (-r.stats.requests, r.resource)
    )
    each = ", ".join(f"{_label(r)} {r.stats.requests}" for r in spent)
    total = sum(r.stats.requests for r in results)
    none = len(results) - len(spent)
    rest = f"; {none} with none" if none else ""
    return f"requests: {total} in all" + (f" ({each})" if each else "") + rest


def _label(result: RunResult) -> str:
    # A table read and reconciled in one run is two results of one name.
    return f"{result.resource} (reconcile)" if result.mode == "reconcile" else result.resource


def total_line(outcomes: Sequence[Outcome[list[RunResult]]], seconds: float) -> str:
    """A group run's last line: practices that succeeded and failed, rows and requests."""
    results = [result for outcome in outcomes for result in outcome.value or []]
    failed = sum(outcome.error is not None for outcome in outcomes)
    fetched = sum(r.stats.fetched for r in results)
    requests = sum(r.stats.requests for r in results)
    return (
        f"group: {plural(len(outcomes), 'practice')}, {len(outcomes) - failed} synced, "
        f"{failed} failed; fetched {plural(fetched, 'row')}, "
        f"{sum(r.stats.inserted for r in results)} inserted, "
        f"{sum(r.stats.updated for r in results)} updated; "
        f"{plural(requests, 'request')}; {seconds:.1f} s"
    )


def status_group(
    settings: Settings,
    only: str | None = None,
    out: Print = print,
    err: Print = _stderr,
    as_json: bool = False,
) -> int:
    """`odmirror status` of every practice (or `only`): each line starts with the practice, or
    with `as_json` one JSON document with a `practices` list.

    Returns:
        The worst exit code of the practices (see etl/status.py).

    Raises:
        PracticesFailedError: if a practice's mirror cannot be read (or was never initialised).
    """
    from etl import status

    def read(target: Target) -> tuple[int, list[str], dict[str, Any]]:
        engine = make_engine(target.settings.database.url)
        try:
            check_schema(engine)
            found = status.collect(engine, target.settings)
            revision = current_revision(engine)
            shown = safe_url(target.settings.database.url)
            document = status.as_document(found, shown, revision)
            return found.exit_code(), [f"schema {revision}", *status.text_lines(found)], document
        finally:
            engine.dispose()

    outcomes = run_each(targets(settings, only), read)
    if as_json:
        out(json.dumps(_group_document(outcomes), indent=2))
    for outcome in [] if as_json else outcomes:
        for line in outcome.value[1] if outcome.value else []:
            out(f"{outcome.name}: {line}")
    raise_failures(outcomes, err)
    return max(outcome.value[0] for outcome in outcomes if outcome.value)


def _group_document(outcomes: Sequence[Outcome[tuple[int, list[str], dict[str, Any]]]]) -> Any:
    from etl.status import VERDICTS

    practices: list[dict[str, Any]] = [
        {"practice": o.name, **o.value[2]} if o.value else {"practice": o.name, "error": o.error}
        for o in outcomes
    ]
    read = [o.value[0] for o in outcomes if o.value]
    unread = any(o.value is None for o in outcomes)
    worst = 1 if unread else max(read)
    verdict = "error" if unread else VERDICTS[worst]
    return {"status": verdict, "exit_code": worst, "practices": practices}


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
