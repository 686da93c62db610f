"""`odmirror query`: the command line around `etl.query.execute.run_query`.

Wiring in etl/cli.py: `query_command.add_parser(commands, parents=[common])` beside the other
commands, with a handler that calls `query_command.run(args, settings.database.url)`. Importing
this module is cheap: sqlglot and the database drivers load when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from etl.query.errors import QueryError
from etl.query.functions_postgres import DEFAULT_SCHEMA
from etl.query.limits import DEFAULT_MAX_ROWS, MAX_QUERY_CHARS

if TYPE_CHECKING:
    from etl.query.execute import QueryResult

HELP = "run a query written for Open Dental (MySQL) on the mirror, read-only"


def _max_rows(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a whole number") from None
    if not 1 <= number <= 1_000_000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000000")
    return number


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], **kwargs: object
) -> argparse.ArgumentParser:
    """Add `query` to the CLI's subcommands; extra keyword arguments go to `add_parser`."""
    sub = subparsers.add_parser("query", help=HELP, description=HELP, **kwargs)  # type: ignore[arg-type]
    sub.add_argument("sql", nargs="?", help="the query (or --file, or standard input)")
    sub.add_argument("--file", type=Path, metavar="PATH", help="read the query from a file")
    form = sub.add_mutually_exclusive_group()
    form.add_argument("--csv", action="store_true", help="CSV on stdout")
    form.add_argument("--json", action="store_true", help="a JSON array on stdout")
    sub.add_argument(
        "--show-sql", action="store_true", help="print the SQL that runs, then the rows"
    )
    sub.add_argument(
        "--max-rows",
        type=_max_rows,
        default=DEFAULT_MAX_ROWS,
        metavar="N",
        help=f"rows shown at most (default {DEFAULT_MAX_ROWS:,})",
    )
    return sub


def _read_query(args: argparse.Namespace, stdin: TextIO) -> str:
    sources = [s for s in (args.sql is not None, args.file is not None) if s]
    if len(sources) > 1:
        raise QueryError("give the query as an argument or with --file, not both")
    if args.file is not None:
        try:
            with args.file.open(encoding="utf-8") as handle:
                return str(handle.read(MAX_QUERY_CHARS + 1))
        except (OSError, UnicodeDecodeError) as exc:
            raise QueryError(f"cannot read {args.file}: {exc.__class__.__name__}: {exc}") from None
    if args.sql is not None:
        return str(args.sql)
    if stdin.isatty():
        raise QueryError("no query: give it as an argument, with --file, or on standard input")
    return str(stdin.read(MAX_QUERY_CHARS + 1))


def render(result: QueryResult, args: argparse.Namespace) -> str:
    """The result as the options ask: table, CSV or JSON, with the SQL first if --show-sql."""
    from etl.query.output import as_csv, as_json, as_table

    if args.csv:
        body = as_csv(result.headers, result.rows)
    elif args.json:
        body = as_json(result.headers, result.rows)
    else:
        body = as_table(result.headers, result.rows)
    if args.show_sql:
        body = "\n".join(s.rstrip(";") + ";" for s in result.translation.statements) + "\n\n" + body
    return body


def run(
    args: argparse.Namespace,
    database_url: str,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    compat_schema: str = DEFAULT_SCHEMA,
) -> int:
    """Run `odmirror query`; 0 when rows were shown, 2 with one line on stderr otherwise.

    Args:
        args: the parsed `query` arguments (see `add_parser`).
        database_url: the mirror's SQLAlchemy URL (`database.url`).
        stdout: where rows go (standard output by default).
        stderr: where the error line and the "rows were cut" line go.
        stdin: where a query is read when no argument or file gives one.
        compat_schema: PostgreSQL's schema of MySQL functions (`functions_postgres`).
    """
    # sqlglot and the drivers load here, not when the CLI builds its parser.
    from etl.query.execute import run_query

    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        sql = _read_query(args, stdin or sys.stdin)
        result = run_query(database_url, sql, max_rows=args.max_rows, compat_schema=compat_schema)
    except QueryError as exc:
        print(f"odmirror: error: {exc}", file=err)
        return 2
    print(render(result, args), file=out)
    if result.cut:
        # On stderr, so CSV and JSON on stdout stay clean.
        print(f"odmirror: only the first {args.max_rows:,} rows are shown (--max-rows)", file=err)
    return 0
