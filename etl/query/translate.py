"""A query written for Open Dental (MySQL), made ready to run on one of the mirror's databases.

On MySQL/MariaDB the text runs as written, names lower-cased (see `parse.lower_names`) and the
`SET @name` statements run as they are. On SQLite and PostgreSQL, sqlglot translates it and the
rewrites of this package fix what sqlglot leaves: user variables, GROUP BY as MySQL reads it,
MySQL's functions and truth values, and (PostgreSQL) case-insensitive text. Only the last read of
a script is run and shown, as Open Dental's query window shows the last result.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from etl.query import (
    calls_postgres,
    calls_sqlite,
    functions_map,
    grouping,
    postgres_rules,
    show,
    sqlite_rules,
)
from etl.query.errors import QueryError
from etl.query.functions_postgres import DEFAULT_SCHEMA
from etl.query.guard import check_reads, refuse_file_writes
from etl.query.names import lower_identifiers, output_names
from etl.query.parse import lower_names, split_text, statements
from etl.query.variables import substitute

TARGETS = ("sqlite", "postgresql", "mysql")


@dataclass(frozen=True)
class Translation:
    """What to run: the statements in order (the rows of the last are shown), and the headers.

    `headers` are the names MySQL shows for the last statement's columns (as the query wrote
    them), or None when the database's names are to be used (a `*`, SHOW).
    """

    statements: tuple[str, ...]
    headers: tuple[str, ...] | None


def translate(sql: str, target: str, compat_schema: str = DEFAULT_SCHEMA) -> Translation:
    """Check that a MySQL query only reads, and write it for the target database.

    Args:
        sql: the query, one or more statements, as written for Open Dental.
        target: "sqlite", "postgresql" or "mysql" (MySQL and MariaDB).
        compat_schema: the PostgreSQL schema of MySQL's functions (`functions_postgres`).

    Returns:
        The statements to run and the headers to show.

    Raises:
        QueryError: one line: the query is refused, unreadable or cannot be translated.
    """
    if target not in TARGETS:
        raise QueryError(f"no translation for a {target} database")
    refuse_file_writes(sql)
    trees = statements(sql)
    check_reads(sql, trees)
    if target == "mysql":
        return _for_mysql(sql, trees)
    last = substitute(trees)[-1]
    headers = output_names(last)
    if isinstance(last, (exp.Show, exp.Describe)):
        return Translation((show.listing(last, target),), None)
    try:
        text = _rewrite(last, target, compat_schema).sql(
            dialect="sqlite" if target == "sqlite" else "postgres",
            identify=True,
            unsupported_level=ErrorLevel.RAISE,
        )
    except SqlglotError as exc:
        raise QueryError(
            f"cannot translate this query for {target}: {str(exc).splitlines()[0]}"
        ) from None
    return Translation((text,), tuple(headers) if headers else None)


def _for_mysql(sql: str, trees: list[exp.Expr]) -> Translation:
    substitute(trees)  # MySQL reads an unset @name as NULL: refused on every database alike
    texts = split_text(lower_names(sql))
    if len(texts) != len(trees):
        raise QueryError("cannot tell this query's statements apart (a stray semicolon?)")
    reads = [i for i, tree in enumerate(trees) if not isinstance(tree, exp.Set)]
    kept = [text for i, text in enumerate(texts) if isinstance(trees[i], exp.Set) or i == reads[-1]]
    headers = output_names(trees[reads[-1]])
    return Translation(tuple(kept), tuple(headers) if headers else None)


def _rewrite(tree: exp.Expr, target: str, compat_schema: str) -> exp.Expr:
    for select in list(tree.find_all(exp.Select)):
        grouping.resolve_output_names(select)
    tree = functions_map.normalise(tree)
    if target == "postgresql":
        tree = postgres_rules.fold_case(tree)
        for select in list(tree.find_all(exp.Select)):
            grouping.loosen_group_by(select)
        tree = postgres_rules.integer_truth(tree)
        tree = calls_postgres.to_postgres(tree, compat_schema)
    else:
        tree = sqlite_rules.midnight_dates(tree)
        tree = sqlite_rules.nocase_text(tree)
        tree = calls_sqlite.to_sqlite(tree)
    lower_identifiers(tree)
    return tree
