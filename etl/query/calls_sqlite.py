"""MySQL's functions as calls to the Python functions `functions_sqlite.register` puts on SQLite."""

from __future__ import annotations

from sqlglot import exp

from etl.query.errors import QueryError
from etl.query.functions_map import (
    bottom_up,
    call,
    interval,
    is_date_format,
    mysql_format,
    whole_number_cast,
)

_CLOCK: dict[type[exp.Expr], str] = {
    exp.CurrentDate: "CURDATE",
    exp.CurrentTime: "CURTIME",
    exp.CurrentTimestamp: "NOW",
}


def _sqlite_group_concat(node: exp.GroupConcat) -> exp.Expr:
    value = node.this
    key: exp.Expr = exp.Null()
    descending = 0
    if isinstance(value, exp.Order):
        if len(value.expressions) != 1:
            raise QueryError(
                "GROUP_CONCAT(... ORDER BY) with more than one key is not supported on SQLite"
            )
        ordered = value.expressions[0]
        key, descending = ordered.this, 1 if ordered.args.get("desc") else 0
        value = value.this
    distinct = 0
    if isinstance(value, exp.Distinct):
        distinct, value = 1, value.expressions[0]
    separator = node.args.get("separator") or exp.Literal.string(",")
    return call(
        "MYSQL_GROUP_CONCAT",
        value,
        separator,
        exp.Literal.number(distinct),
        key,
        exp.Literal.number(descending),
    )


def to_sqlite(tree: exp.Expr) -> exp.Expr:
    """Calls to the MySQL functions `functions_sqlite.register` puts on the connection."""

    def step(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.TimeToStr):
            return call("DATE_FORMAT", node.this, mysql_format(node))
        if is_date_format(node):
            return node
        if isinstance(node, (exp.DateAdd, exp.DateSub)):
            amount, unit = interval(node)
            return call("DATE_ADD", node.this, amount, exp.Literal.string(unit))
        simple = {
            exp.DateDiff: "DATEDIFF",
            exp.Year: "YEAR",
            exp.Month: "MONTH",
            exp.Day: "DAY",
            exp.Quarter: "QUARTER",
            exp.DayOfWeek: "DAYOFWEEK",
            exp.Dayname: "DAYNAME",
            exp.LastDay: "LAST_DAY",
            exp.Left: "MYSQL_LEFT",
            exp.Right: "MYSQL_RIGHT",
            exp.SubstringIndex: "SUBSTRING_INDEX",
            exp.Concat: "CONCAT",
            exp.NumberToStr: "MYSQL_FORMAT",
        }
        if isinstance(node, exp.Cast) and whole_number_cast(node):
            node.set("this", exp.Round(this=node.this))
            return node
        for kind, name in simple.items():
            if type(node) is kind:
                return call(name, *[arg for arg in node.iter_expressions()])
        if isinstance(node, exp.ConcatWs):
            return call("CONCAT_WS", *node.expressions)
        if isinstance(node, exp.GroupConcat):
            return _sqlite_group_concat(node)
        if isinstance(node, exp.TimestampDiff):
            part = exp.Literal.string(node.text("unit").upper() or "DAY")
            return call("TIMESTAMPDIFF", part, node.expression, node.this)
        clock = _CLOCK.get(type(node))
        return call(clock) if clock else node

    return bottom_up(tree, step)
