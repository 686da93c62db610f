"""`odmirror init` and `odmirror sync` for a dental group: every practice, or one."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from sqlalchemy.engine import make_url

from etl.config import Settings
from etl.practices import (
    PracticesFailedError,
    Target,
    api_client,
    create_schema,
    raise_failures,
    run_each,
    targets,
)
from etl.schema import check_schema, current_revision, make_engine, safe_url, upgrade
from etl.state import RunResult

log = logging.getLogger("odmirror")
Print = Callable[[str], None]


def _stderr(line: str) -> None:
    print(f"odmirror: error: {line}", file=sys.stderr)


def init_group(
    settings: Settings, only: str | None = None, out: Print = print, err: Print = _stderr
) -> None:
    """Create or upgrade each practice's mirror, then recreate the group views.

    Practices are initialised one after another (Alembic's context is process-wide), each
    failure on its own; the group views cover every practice whose mirror is ready.

    Raises:
        PracticesFailedError: after the views, if any practice failed (each reported by `err`).
    """
    from etl.group_views import refresh

    outcomes = run_each(targets(settings, only), _init_one, parallel=False)
    for outcome in outcomes:
        if outcome.value is not None:
            out(f"{outcome.name}: {outcome.value}")
    out(refresh(settings, targets(settings)))
    raise_failures(outcomes, err)


def _init_one(target: Target) -> str:
    create_schema(target)
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


def sync_group(
    settings: Settings,
    full: bool = False,
    only: str | None = None,
    out: Print = print,
    err: Print = _stderr,
) -> None:
    """Sync every practice (or `only`) at once; print each one's results as `name: summary`.

    Raises:
        PracticesFailedError: if any practice failed (each reported by `err` on its own line).
    """
    from etl.sync import run_sync

    def sync_one(target: Target) -> list[RunResult]:
        return run_sync(target.settings, full=full, client=api_client(target.settings.api))

    outcomes = run_each(targets(settings, only), sync_one)
    for outcome in outcomes:
        for result in outcome.value or []:
            out(f"{outcome.name}: {result.summary()}")
    raise_failures(outcomes, err)


def status_group(
    settings: Settings, only: str | None = None, out: Print = print, err: Print = _stderr
) -> None:
    """`odmirror status` of every practice (or `only`): each line starts with the practice.

    Raises:
        PracticesFailedError: if a practice's mirror cannot be read (or was never initialised).
    """
    from etl.cli import status_lines

    def lines(target: Target) -> list[str]:
        engine = make_engine(target.settings.database.url)
        try:
            check_schema(engine)
            return [f"schema {current_revision(engine)}", *status_lines(engine)]
        finally:
            engine.dispose()

    outcomes = run_each(targets(settings, only), lines)
    for outcome in outcomes:
        for line in outcome.value or []:
            out(f"{outcome.name}: {line}")
    raise_failures(outcomes, err)


def check_group(settings: Settings) -> None:
    """Refuse to start `odmirror run` unless every practice's mirror is at the current schema.

    Raises:
        PracticesFailedError: naming each practice to initialise (each reported on stderr).
    """

    def check(target: Target) -> None:
        engine = make_engine(target.settings.database.url)
        try:
            check_schema(engine)
        finally:
            engine.dispose()

    raise_failures(run_each(targets(settings), check), _stderr)


def group_sync_job(settings: Settings) -> bool:
    """One scheduled run of every practice; failures are logged, one line each.

    Returns:
        True if every practice synced.
    """
    try:
        sync_group(settings, out=log.info, err=log.error)
    except PracticesFailedError as exc:
        log.error("%s", exc)
        return False
    return True
