"""MySQL user variables: `SET @FromDate='2024-01-01';` then `@FromDate` in the query.

SQLite and PostgreSQL have no user variables, so each `@name` is replaced by the value it was
set to (MySQL: names are case-insensitive; a later SET wins). A variable used but never set is
NULL on MySQL, which would quietly empty a report: it is refused instead.
"""

from __future__ import annotations

from sqlglot import exp

from etl.query.errors import QueryError


def _name(parameter: exp.Parameter) -> str:
    return parameter.name.lower()


def substitute(statements: list[exp.Expr]) -> list[exp.Expr]:
    """The read statements, with every `@name` replaced by the value SET before it.

    Args:
        statements: the query's statements, already checked to be reads or `SET @name = ...`.

    Returns:
        The statements other than SET, with values in place of variables.

    Raises:
        QueryError: a variable is used before (or without) being set.
    """
    values: dict[str, exp.Expr] = {}
    reads: list[exp.Expr] = []
    for tree in statements:
        if isinstance(tree, exp.Set):
            for item in tree.expressions:
                assignment = item.this
                values[_name(assignment.this)] = _replace(assignment.expression.copy(), values)
        else:
            reads.append(_replace(tree.copy(), values))
    return reads


def _replace(tree: exp.Expr, values: dict[str, exp.Expr]) -> exp.Expr:
    def swap(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Parameter):
            value = values.get(_name(node))
            if value is None:
                raise QueryError(
                    f"@{node.name} is used but not SET before it (MySQL would read NULL)"
                )
            return exp.paren(value.copy()) if not isinstance(value, exp.Literal) else value.copy()
        return node

    return tree.transform(swap, copy=False)
