"""MySQL's functions in a query: what the SQLite and PostgreSQL rewrites share.

sqlglot reads MySQL's functions into neutral nodes and writes each engine's nearest builtin; where
that builtin answers differently (SQLite's date() overflows months and uses UTC, strftime and
to_char name months their own way, SQLite's `||` prints 12.0 for a double 12), the node becomes a
call to MySQL's own rules: the Python functions of `functions_sqlite` on SQLite, the schema of
`functions_postgres` on PostgreSQL. The rest is left to sqlglot. This module holds what both
share; `calls_sqlite` and `calls_postgres` do each engine's part.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.time import format_time

from etl.query.errors import QueryError

_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR", "HOUR", "MINUTE", "SECOND"}
DATE_ONLY = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")


def bottom_up(tree: exp.Expr, change: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
    """Apply `change` to every node, children before parents (so nested calls are all seen)."""
    for node in reversed(list(tree.walk())):
        new = change(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def as_text(node: exp.Expr) -> exp.Expr:
    return exp.Cast(this=node, to=exp.DataType.build("TEXT"))


def mysql_format(node: exp.TimeToStr) -> exp.Expr:
    """DATE_FORMAT's pattern back in MySQL's % codes (sqlglot keeps it in its own)."""
    pattern: exp.Expr = node.args["format"]
    if not isinstance(pattern, exp.Literal):
        return pattern
    codes = format_time(pattern.name, MySQL.INVERSE_TIME_MAPPING, MySQL.INVERSE_TIME_TRIE)
    return exp.Literal.string(codes or "")


def interval(node: exp.Expr) -> tuple[exp.Expr, str]:
    """The amount and unit of a DATE_ADD / DATE_SUB / `+ INTERVAL`."""
    unit = (node.text("unit") or "DAY").upper()
    amount = node.expression
    if isinstance(amount, exp.Interval):
        unit = (amount.text("unit") or unit).upper()
        amount = amount.this
    if unit not in _UNITS:
        raise QueryError(
            f"INTERVAL ... {unit} is not supported here; use DAY, MONTH, YEAR, HOUR ..."
        )
    if isinstance(amount, exp.Literal) and amount.is_string:
        try:
            amount = exp.Literal.number(int(amount.name.strip()))
        except ValueError:
            raise QueryError(
                f"INTERVAL '{amount.name[:40]}' {unit} is not a whole number"
            ) from None
    if isinstance(node, (exp.DateSub, exp.Sub)):
        amount = exp.Neg(this=exp.paren(amount.copy()))
    return amount, unit


def normalise(tree: exp.Expr) -> exp.Expr:
    """Engine-neutral steps: TRUE/FALSE as 1/0, `d + INTERVAL n UNIT` as DATE_ADD."""

    def step(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Boolean):
            return exp.Literal.number(1 if node.this else 0)
        if isinstance(node, (exp.Add, exp.Sub)):
            if isinstance(node.expression, exp.Interval):
                return (
                    exp.DateAdd(this=node.this, expression=node.expression)
                    if isinstance(node, exp.Add)
                    else exp.DateSub(this=node.this, expression=node.expression)
                )
            if isinstance(node, exp.Add) and isinstance(node.this, exp.Interval):
                return exp.DateAdd(this=node.expression, expression=node.this)
        return node

    return bottom_up(tree, step)


def whole_number_cast(node: exp.Cast) -> bool:
    """CAST(number AS SIGNED): MySQL rounds (577.5 -> 578) where the others cut or round to even."""
    inner = node.this.unnest()
    if isinstance(inner, (exp.Predicate, exp.Connector, exp.Not)):
        return False  # a truth value made 0/1 (postgres_rules.integer_truth)
    integer = node.to.is_type(*exp.DataType.INTEGER_TYPES)
    return integer and not (isinstance(inner, exp.Literal) and inner.is_string)


def is_date_format(node: exp.Expr) -> bool:
    return (
        isinstance(node, exp.Anonymous)
        and node.name.upper() == "DATE_FORMAT"
        and len(node.expressions) == 2
    )
