"""The `odmirror` command: init, sync, run, status, demo."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from etl import __version__, state
from etl.config import Settings, load_settings
from etl.errors import OdMirrorError
from etl.resources import RESOURCES
from etl.schema import check_schema, current_revision, describe, make_engine, safe_url, upgrade

log = logging.getLogger("odmirror")
DESCRIPTION = "Keep a SQL mirror of an Open Dental practice."


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become one line on stderr and a non-zero exit code."""
    args = _parser().parse_args(argv)
    _logging(args.command, getattr(args, "verbose", False))
    try:
        args.handler(args)
    except OdMirrorError as exc:
        return _fail(str(exc), exc.exit_code)
    except SQLAlchemyError as exc:
        return _fail(describe(exc, "(mirror)"), 1)
    except KeyboardInterrupt:
        return _fail("interrupted; the mirror keeps every page saved so far", 130)
    return 0


def _logging(command: str, verbose: bool) -> None:
    daemon = command == "run"
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO if daemon else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s" if daemon else "%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    # urllib3 logs each retry as a warning with its repr; our own messages say what matters.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbose else logging.ERROR)


def _fail(message: str, code: int) -> int:
    print(f"odmirror: error: {message}", file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: $ODMIRROR_CONFIG or ./config.yaml)",
    )
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="odmirror", description=DESCRIPTION, parents=[common])
    parser.add_argument("--version", action="version", version=f"odmirror {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, handler, text in (
        ("init", cmd_init, "create or upgrade the mirror schema"),
        ("sync", cmd_sync, "pull what changed since the last run (all of it the first time)"),
        ("run", cmd_run, "sync now and then every sync.interval_minutes, until stopped"),
        ("status", cmd_status, "show how fresh the mirror is"),
        ("demo", cmd_demo, "mirror a built-in simulated office into SQLite (no keys needed)"),
    ):
        sub = commands.add_parser(name, help=text, description=text, parents=[common])
        sub.set_defaults(handler=handler)
        if name == "sync":
            sub.add_argument("--full", action="store_true", help="ignore the cursor, pull all")
        if name in ("init", "sync"):
            sub.add_argument("--practice", metavar="NAME", help="only this practice of a group")
        if name == "demo":
            sub.add_argument("--db", type=Path, default=Path("odmirror-demo.db"))
            sub.add_argument("--patients", type=_count, default=3000)
    return parser


def _count(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 200_000:
        raise argparse.ArgumentTypeError("must be between 1 and 200000")
    return number


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(getattr(args, "config", None))


def cmd_init(args: argparse.Namespace) -> None:
    """Create or upgrade the mirror schema."""
    settings = _settings(args)
    if settings.practices or args.practice:
        from etl.group_commands import init_group

        return init_group(settings, args.practice)
    engine = make_engine(settings.database.url)
    try:
        upgrade(engine)
        revision = current_revision(engine)
    finally:
        engine.dispose()
    print(f"mirror schema ready at revision {revision} in {safe_url(settings.database.url)}")


def cmd_sync(args: argparse.Namespace) -> None:
    """One sync run."""
    from etl.sync import run_sync

    settings = _settings(args)
    if settings.practices or args.practice:
        from etl.group_commands import sync_group

        return sync_group(settings, args.full, args.practice)
    for result in run_sync(settings, full=args.full):
        print(result.summary())


def cmd_run(args: argparse.Namespace) -> None:
    """Sync on a schedule."""
    from etl.scheduler import run_forever

    settings = _settings(args)
    if settings.practices:
        from etl.group_commands import check_group

        check_group(settings)
        return run_forever(settings)
    engine = make_engine(settings.database.url)
    try:
        check_schema(engine)  # fail now, not at the first tick
    finally:
        engine.dispose()
    run_forever(settings)


def cmd_demo(args: argparse.Namespace) -> None:
    """The demo: no keys, no config."""
    from etl.demo import run_demo

    run_demo(args.db, args.patients)


def cmd_status(args: argparse.Namespace) -> None:
    """How fresh the mirror is."""
    settings = _settings(args)
    if settings.practices:
        from etl.group_commands import status_group

        return status_group(settings)
    engine = make_engine(settings.database.url)
    try:
        check_schema(engine)
        print(f"mirror {safe_url(settings.database.url)}, schema {current_revision(engine)}")
        for line in status_lines(engine):
            print(line)
    finally:
        engine.dispose()


def status_lines(engine: Engine) -> list[str]:
    """One line per resource, then the latest runs."""
    now = state.utcnow()
    saved = {s.resource: s for s in state.states(engine)}
    lines = []
    with engine.connect() as conn:
        for resource in RESOURCES.values():
            rows = conn.execute(select(func.count()).select_from(resource.table)).scalar_one()
            entry = saved.get(resource.name)
            if entry is None or entry.last_success_at is None:
                lines.append(f"{resource.name}: {rows} rows; never synced")
                continue
            age = _age(now - entry.last_success_at)
            cursor = entry.cursor.strftime("%Y-%m-%d %H:%M:%S") if entry.cursor else "none"
            lines.append(
                f"{resource.name}: {rows} rows; last success {entry.last_success_at} UTC "
                f"({age} ago); cursor {cursor} office time"
            )
    for run in state.latest_runs(engine, limit=3):
        outcome = f"{run.status}: {run.error}" if run.error else run.status
        lines.append(
            f"run #{run.id} {run.resource} {run.mode} started {run.started_at} UTC: {outcome}; "
            f"fetched {run.rows_fetched}, inserted {run.rows_inserted}, updated {run.rows_updated}"
        )
    return lines


def _age(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
