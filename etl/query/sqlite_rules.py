"""What SQLite answers differently from Open Dental's MySQL, rewritten in the query.

SQLite keeps date-times as text ("2024-01-31 00:00:00") and compares them as text, so a date-only
literal is shorter than a stored midnight: `AptDateTime = '2024-01-31'` finds nothing where MySQL
(which reads the literal as midnight) finds the midnight rows, and `> '0001-01-01'` counts Open
Dental's "no date" as a date. A date-only literal compared with a date-time column gets
" 00:00:00", and any other date (DATE(x), a DATE column) goes through SQLite's DATETIME(), which
gives the same text, as MySQL reads them.
"""

from __future__ import annotations

import re

from sqlglot import exp

from etl.query.names import is_text, select_tables, storage

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TEXT_COMPARED = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ)
_COMPARED = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.Between, exp.In)


def _is_datetime_column(node: exp.Expr) -> bool:
    if not isinstance(node, exp.Column):
        return False
    select = node.parent_select
    return isinstance(select, exp.Select) and storage(node, select_tables(select)) == "DateT"


def _widen(node: exp.Expr) -> None:
    """A date compared with a date-time, made a date-time as MySQL does (midnight)."""
    if _is_datetime_column(node):
        return
    if isinstance(node, exp.Literal):
        if node.is_string and _DATE_ONLY.match(node.name):
            node.replace(exp.Literal.string(f"{node.name} 00:00:00"))
        return
    if not isinstance(node, (exp.Null, exp.Subquery, exp.Tuple)):
        node.replace(exp.Anonymous(this="DATETIME", expressions=[node.copy()]))


def midnight_dates(tree: exp.Expr) -> exp.Expr:
    """Date-only literals compared with DATETIME columns, written as MySQL reads them."""
    for node in list(tree.find_all(*_COMPARED)):
        operands = [node.this, *([node.expression] if node.expression else [])]
        operands += list(node.expressions) + [
            node.args[k] for k in ("low", "high") if node.args.get(k)
        ]
        if any(_is_datetime_column(operand) for operand in operands):
            for operand in operands:
                _widen(operand)
    return tree


def _tables(node: exp.Expr) -> dict[str, str]:
    select = node.parent_select
    return select_tables(select) if isinstance(select, exp.Select) else {}


def nocase_text(tree: exp.Expr) -> exp.Expr:
    """Text compared without a column (CONCAT(...) = 'x', 'abc' = 'ABC') gets COLLATE NOCASE.

    The mirror's text columns are NOCASE already; an expression's result is not.
    """
    nocase = exp.Var(this="NOCASE")
    for node in list(tree.find_all(*_TEXT_COMPARED, exp.In)):
        tables = _tables(node)
        sides = [node.this] if isinstance(node, exp.In) else [node.this, node.expression]
        if any(isinstance(side, exp.Column) for side in sides):
            continue
        if all(is_text(side, tables) for side in sides) and not node.args.get("query"):
            node.this.replace(exp.Collate(this=node.this.copy(), expression=nocase.copy()))
    return tree
