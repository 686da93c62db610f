"""The `odmirror` command: init, sync, run, status, query, demo."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import logging
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from sqlalchemy.exc import SQLAlchemyError

from etl import check, init_config, installed_version, logs
from etl.config.load import load_settings
from etl.config.settings import Settings
from etl.control import RunControl, StopRequested, stop_on_signals
from etl.errors import ConfigError, OdMirrorError
from etl.mirror.engine import (
    check_schema,
    current_revision,
    describe,
    make_engine,
    safe_url,
)
from etl.query import command as query_command

log = logging.getLogger("odmirror")
DESCRIPTION = "Keep a SQL mirror of an Open Dental practice."


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; errors become one line on stderr and a non-zero exit code."""
    args = _parser().parse_args(argv)
    logs.setup(args.command, getattr(args, "verbose", False))
    try:
        code: int | None = args.handler(args)
    except OdMirrorError as exc:
        return _fail(str(exc), exc.exit_code)
    except SQLAlchemyError as exc:
        return _fail(describe(exc, "(mirror)"), 1)
    except KeyboardInterrupt:
        return _fail("interrupted; the mirror keeps every page saved so far", 130)
    return code or 0


def entry() -> None:
    """The `odmirror` program: `main`, with the garbage collector told what will never be garbage.

    A sync makes many short-lived objects; each full collection would walk every object the
    imports made (SQLAlchemy, the models: hundreds of thousands), and so would the collection
    at exit (measured: 0.3 s of every run, a third of an incremental one). Frozen, they are
    skipped; they live until the process ends anyway. The collector's threshold stays at its
    default: raised to 50,000 it saved 10-15% of a full sync's CPU, but peak RSS then grew
    with the rows (134 MB at a million patients on PostgreSQL, against 101 MB).
    """
    gc.freeze()
    code = main()
    gc.freeze()
    finish(code)


def finish(code: int) -> NoReturn:
    """End the process without Python's teardown, once what must run at exit has run.

    Python's own exit frees every object and module one by one (9 ms of an incremental run of
    0.1 s); the operating system frees them at once. What must run at exit is an atexit
    callback (logging's flush, temporary directories), and runs first. While a thread that is
    not a daemon still runs, the process exits as Python would, after waiting for it.
    """
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe or stream: Python ignores it at exit too.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _fail(message: str, code: int) -> int:
    print(f"odmirror: error: {logs.REDACTOR.scrub(message)}", file=sys.stderr)
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
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check.add_parser(commands, common)
    init_config.add_parser(commands, common)
    for name, handler, text in (
        ("init", cmd_init, "create or upgrade the mirror schema"),
        ("sync", cmd_sync, "pull what changed since the last run (all of it the first time)"),
        ("run", cmd_run, "sync now and then on the schedule, until SIGTERM or Ctrl-C"),
        ("status", cmd_status, "show how fresh the mirror is (exit 3: last run failed, 4: stale)"),
        ("demo", cmd_demo, "mirror a built-in simulated office into SQLite (no keys needed)"),
    ):
        sub = commands.add_parser(name, help=text, description=text, parents=[common])
        sub.set_defaults(handler=handler)
        if name == "sync":
            sub.add_argument("--full", action="store_true", help="ignore the cursor, pull all")
            sub.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
            sub.add_argument(
                "--reconcile",
                action="store_true",
                help="look for rows the office deleted now (default: every sync.reconcile_every)",
            )
            sub.add_argument(
                "--resource",
                action="append",
                metavar="NAME",
                help="sync only this resource (repeatable, or a,b); default: sync.resources",
            )
        if name == "status":
            sub.add_argument("--json", action="store_true", help="one JSON document on stdout")
        if name in ("init", "sync"):
            sub.add_argument("--practice", metavar="NAME", help="only this practice of a group")
        if name == "demo":
            sub.add_argument("--db", type=Path, default=Path("odmirror-demo.db"))
            sub.add_argument("--patients", type=_count, default=3000)
    query = query_command.add_parser(commands, parents=[common])
    query.add_argument("--practice", metavar="NAME", help="the practice of a group to query")
    query.set_defaults(handler=cmd_query)
    return parser


class _Version(argparse.Action):
    # The installed package's version, read only when asked for (etl.installed_version).
    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        print(f"odmirror {installed_version()}")
        parser.exit()


def _count(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 200_000:
        raise argparse.ArgumentTypeError("must be between 1 and 200000")
    return number


def _settings(args: argparse.Namespace, need_keys: bool = True) -> Settings:
    settings = load_settings(getattr(args, "config", None), need_keys)
    logs.setup(args.command, getattr(args, "verbose", False), settings.log.format)
    logs.REDACTOR.add_secrets(settings.api.developer_key, settings.api.customer_key)
    logs.REDACTOR.add_secrets(*(practice.customer_key for practice in settings.practices))
    if (bulk := settings.api.bulk_sftp) is not None:  # SFTP passwords of the bulk path
        logs.REDACTOR.add_secrets(bulk.password, bulk.read_password or "")
    return settings


def cmd_init(args: argparse.Namespace) -> None:
    """Create or upgrade the mirror schema (each practice's, for a group); no API key needed."""
    from etl.commands import init_mirrors

    init_mirrors(_settings(args, need_keys=False), args.practice)


def cmd_sync(args: argparse.Namespace) -> None:
    """One sync run; SIGTERM or Ctrl-C stops it after the page in flight."""
    from etl.commands import sync_mirrors
    from etl.progress import sync_progress

    settings, control = _settings(args), RunControl()
    try:
        with (
            stop_on_signals(control.stop),
            sync_progress(settings, control, args.full, args.practice, args.quiet),
        ):
            sync_mirrors(
                settings,
                args.full,
                args.practice,
                control=control,
                resources=args.resource,
                reconcile=args.reconcile,
            )
    except StopRequested:
        print("odmirror: sync stopped on request; the pages read so far are saved", file=sys.stderr)
    finally:
        _export_metrics(settings)  # a failed run's figures too: the alerts are about those


def _export_metrics(settings: Settings) -> None:
    # The textfile and the Pushgateway of a one-shot sync (etl/metrics.py); off unless set.
    if settings.metrics.textfile or settings.metrics.pushgateway:
        from etl.metrics import export

        export(settings)


def cmd_run(args: argparse.Namespace) -> None:
    """Sync on a schedule, serving /metrics and /healthz if `metrics.port` is set."""
    from etl.commands import check_mirrors
    from etl.health import serving
    from etl.scheduler import run_forever

    settings = _settings(args)
    check_mirrors(settings)  # fail now, not at the first tick
    with serving(settings):
        run_forever(settings)


def cmd_query(args: argparse.Namespace) -> int:
    """A query written for Open Dental, run read-only on the mirror (etl/query/)."""
    from etl.config.targets import targets

    settings = _settings(args)
    if settings.practices and args.practice is None:
        names = ", ".join(p.name for p in settings.practices)
        raise ConfigError(f"this config lists practices ({names}): say which with --practice")
    target = targets(settings, args.practice)[0]
    return query_command.run(args, target.settings.database.url)


def cmd_demo(args: argparse.Namespace) -> None:
    """The demo: no keys, no config."""
    try:
        from etl.demo import run_demo
    except ModuleNotFoundError as exc:  # the simulator's fake data needs the demo extra
        raise ConfigError(
            f"the demo needs {exc.name}: pip install 'odmirror[demo]' (make demo does)"
        ) from None
    run_demo(args.db, args.patients)


def cmd_status(args: argparse.Namespace) -> int:
    """How fresh the mirror is; the exit code tells a monitor (see etl/status.py)."""
    from etl import status

    settings = _settings(args, need_keys=False)
    if settings.practices:
        from etl.commands import status_group

        return status_group(settings, as_json=args.json)
    engine = make_engine(settings.database.url)
    try:
        check_schema(engine)
        found = status.collect(engine, settings)
        mirror, revision = safe_url(settings.database.url), current_revision(engine)
    finally:
        engine.dispose()
    if args.json:
        print(status.as_json(found, mirror, revision))
    else:
        print(f"mirror {mirror}, schema {revision}")
        print("\n".join(status.text_lines(found)))
    return found.exit_code()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
