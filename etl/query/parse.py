"""Reading a query as MySQL: statements as sqlglot trees, and MySQL's text with names in lower case.

Open Dental's servers run with `lower_case_table_names=1` (most are on Windows), so its queries
name `Patient` or `ProcedureLog`; the mirror's tables are lower case and a MySQL/MariaDB server
on Linux tells the cases apart. Every name outside string literals is therefore lower-cased
(MySQL treats column names, functions, keywords and user variables case-insensitively already).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import sqlglot
from sqlglot import Token, TokenType, exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.errors import SqlglotError

from etl.query.errors import QueryError
from etl.query.limits import MAX_QUERY_CHARS


class OdMySQL(MySQL):
    """MySQL as sqlglot reads it, but DATE_FORMAT keeps its pattern in MySQL's own % codes.

    sqlglot turns the pattern into its neutral codes and back, and loses some on the way
    ('%H:%i' came back as '%H:%M', which MySQL reads as a month name).
    """

    class Parser(MySQL.Parser):  # type: ignore[misc, valid-type]
        """MySQL's parser with DATE_FORMAT left as a plain call."""

        FUNCTIONS = {  # noqa: RUF012 (sqlglot's own class attribute)
            **MySQL.Parser.FUNCTIONS,
            "DATE_FORMAT": lambda args: exp.Anonymous(this="DATE_FORMAT", expressions=args),
        }


_TEXT_TOKENS = {
    TokenType.STRING,
    TokenType.NATIONAL_STRING,
    TokenType.HEX_STRING,
    TokenType.BIT_STRING,
    TokenType.BYTE_STRING,
    TokenType.RAW_STRING,
}


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs a warning when it falls back to a raw command; the guard says it instead."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _checked(sql: str) -> str:
    if len(sql) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is {len(sql):,} characters; at most {MAX_QUERY_CHARS:,} are read"
        )
    if not sql.strip():
        raise QueryError("the query is empty")
    return sql


def tokens(sql: str) -> list[Token]:
    """The query's MySQL tokens (strings kept apart from names).

    Raises:
        QueryError: the text cannot be split into MySQL tokens (an unclosed quote, say).
    """
    try:
        with _quiet_sqlglot():
            return OdMySQL().tokenize(_checked(sql))
    except SqlglotError as exc:
        raise QueryError(f"cannot read this query as MySQL: {str(exc).splitlines()[0]}") from None


def statements(sql: str) -> list[exp.Expr]:
    """Each statement of a MySQL script as a sqlglot tree.

    Raises:
        QueryError: the query is empty, too long, or not MySQL that sqlglot reads.
    """
    try:
        with _quiet_sqlglot():
            trees = sqlglot.parse(_checked(sql), read=OdMySQL)
    except SqlglotError as exc:
        raise QueryError(f"cannot read this query as MySQL: {str(exc).splitlines()[0]}") from None
    found = [tree for tree in trees if tree is not None]
    if not found:
        raise QueryError("the query is empty")
    return found


def lower_names(sql: str) -> str:
    """The same text with every name in lower case and string literals, comments untouched."""
    pieces: list[str] = []
    done = 0
    for token in tokens(sql):
        if token.token_type in _TEXT_TOKENS:
            continue
        pieces.append(sql[done : token.start])
        pieces.append(sql[token.start : token.end + 1].lower())
        done = token.end + 1
    pieces.append(sql[done:])
    return "".join(pieces)


def split_text(sql: str) -> list[str]:
    """The text of each statement, split at the semicolons outside strings and comments."""
    parts: list[str] = []
    start = 0
    for token in tokens(sql):
        if token.token_type == TokenType.SEMICOLON:
            parts.append(sql[start : token.start])
            start = token.end + 1
    parts.append(sql[start:])
    return [part.strip() for part in parts if part.strip()]
