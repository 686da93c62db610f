"""MySQL's functions in a query, made calls that keep MySQL's meaning on SQLite or PostgreSQL.

sqlglot reads MySQL's functions into neutral nodes and writes each engine's nearest builtin; where
that builtin answers differently (SQLite's date() overflows months and uses UTC, strftime and
to_char name months their own way, SQLite's `||` prints 12.0 for a double 12), the node becomes a
call to MySQL's own rules: the Python functions of `functions_sqlite` on SQLite, the schema of
`functions_postgres` on PostgreSQL. The rest is left to sqlglot.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.time import format_time

from etl.query.errors import QueryError

_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR", "HOUR", "MINUTE", "SECOND"}
_DATE_ONLY = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}$")
_CLOCK: dict[type[exp.Expr], str] = {
    exp.CurrentDate: "CURDATE",
    exp.CurrentTime: "CURTIME",
    exp.CurrentTimestamp: "NOW",
}
_PG_DATE_PARTS: dict[type[exp.Expr], str] = {
    exp.Quarter: "quarter",
    exp.DayOfWeek: "dayofweek",
    exp.LastDay: "last_day",
}


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


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _text(node: exp.Expr) -> exp.Expr:
    return exp.Cast(this=node, to=exp.DataType.build("TEXT"))


def _mysql_format(node: exp.TimeToStr) -> exp.Expr:
    """DATE_FORMAT's pattern back in MySQL's % codes (sqlglot keeps it in its own)."""
    pattern: exp.Expr = node.args["format"]
    if not isinstance(pattern, exp.Literal):
        return pattern
    codes = format_time(pattern.name, MySQL.INVERSE_TIME_MAPPING, MySQL.INVERSE_TIME_TRIE)
    return exp.Literal.string(codes or "")


def _interval(node: exp.Expr) -> tuple[exp.Expr, str]:
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


def _whole_number_cast(node: exp.Cast) -> bool:
    """CAST(number AS SIGNED): MySQL rounds (577.5 -> 578) where the others cut or round to even."""
    inner = node.this.unnest()
    if isinstance(inner, (exp.Predicate, exp.Connector, exp.Not)):
        return False  # a truth value made 0/1 (postgres_rules.integer_truth)
    integer = node.to.is_type(*exp.DataType.INTEGER_TYPES)
    return integer and not (isinstance(inner, exp.Literal) and inner.is_string)


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
    return _call(
        "MYSQL_GROUP_CONCAT",
        value,
        separator,
        exp.Literal.number(distinct),
        key,
        exp.Literal.number(descending),
    )


def _is_date_format(node: exp.Expr) -> bool:
    return (
        isinstance(node, exp.Anonymous)
        and node.name.upper() == "DATE_FORMAT"
        and len(node.expressions) == 2
    )


def to_sqlite(tree: exp.Expr) -> exp.Expr:
    """Calls to the MySQL functions `functions_sqlite.register` puts on the connection."""

    def step(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.TimeToStr):
            return _call("DATE_FORMAT", node.this, _mysql_format(node))
        if _is_date_format(node):
            return node
        if isinstance(node, (exp.DateAdd, exp.DateSub)):
            amount, unit = _interval(node)
            return _call("DATE_ADD", node.this, amount, exp.Literal.string(unit))
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
        if isinstance(node, exp.Cast) and _whole_number_cast(node):
            node.set("this", exp.Round(this=node.this))
            return node
        for kind, name in simple.items():
            if type(node) is kind:
                return _call(name, *[arg for arg in node.iter_expressions()])
        if isinstance(node, exp.ConcatWs):
            return _call("CONCAT_WS", *node.expressions)
        if isinstance(node, exp.GroupConcat):
            return _sqlite_group_concat(node)
        if isinstance(node, exp.TimestampDiff):
            part = exp.Literal.string(node.text("unit").upper() or "DAY")
            return _call("TIMESTAMPDIFF", part, node.expression, node.this)
        clock = _CLOCK.get(type(node))
        return _call(clock) if clock else node

    return bottom_up(tree, step)


def _date_argument(node: exp.Expr, unit: str) -> exp.Expr:
    """A literal date as DATE or TIMESTAMP, so PostgreSQL picks the right DATE_ADD."""
    if isinstance(node, exp.Literal) and node.is_string:
        kind = (
            "DATE"
            if _DATE_ONLY.match(node.name.strip()) and unit not in ("HOUR", "MINUTE", "SECOND")
            else "TIMESTAMP"
        )
        return exp.Cast(this=node, to=exp.DataType.build(kind))
    return node


def to_postgres(tree: exp.Expr, schema: str) -> exp.Expr:
    """Calls to `functions_postgres`'s schema where PostgreSQL's builtins answer otherwise."""

    def step(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.TimeToStr):
            return _call(
                f"{schema}.date_format", _date_argument(node.this, "SECOND"), _mysql_format(node)
            )
        if _is_date_format(node):
            moment, pattern = node.expressions
            return _call(f"{schema}.date_format", _date_argument(moment, "SECOND"), pattern)
        if isinstance(node, (exp.DateAdd, exp.DateSub)):
            amount, unit = _interval(node)
            step_interval = exp.Interval(this=exp.Literal.string("1"), unit=exp.Var(this=unit))
            shift = exp.Mul(this=exp.paren(amount), expression=step_interval)
            return _call(f"{schema}.date_add", _date_argument(node.this, unit), shift)
        if isinstance(node, (exp.Left, exp.Right)):
            node.set("this", _text(node.this))
        elif isinstance(node, exp.SubstringIndex):
            return _call(
                f"{schema}.substring_index",
                _text(node.this),
                _text(node.args["delimiter"]),
                node.args["count"],
            )
        elif type(node) is exp.Concat:
            return _call(f"{schema}.concat", *[_text(arg) for arg in node.expressions])
        elif isinstance(node, exp.GroupConcat):
            _cast_group_value(node)
        elif isinstance(node, exp.NumberToStr):
            return _call(f"{schema}.format", node.this, node.args["format"])
        elif isinstance(node, exp.Cast) and _whole_number_cast(node):
            node.set(
                "this", exp.Round(this=exp.Cast(this=node.this, to=exp.DataType.build("NUMERIC")))
            )
        elif isinstance(node, exp.Round) and node.args.get("decimals") is not None:
            node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("NUMERIC")))
        elif type(node) in _PG_DATE_PARTS:
            name = _PG_DATE_PARTS[type(node)]
            return _call(f"{schema}.{name}", _date_argument(node.this, "SECOND"))
        elif isinstance(node, exp.CurrentTimestamp) or (
            isinstance(node, exp.Anonymous) and node.name.upper() in ("NOW", "SYSDATE")
        ):
            return _call(f"{schema}.now")
        elif isinstance(node, exp.CurrentTime):
            return _call(f"{schema}.curtime")
        return node

    return bottom_up(tree, step)


def _cast_group_value(node: exp.GroupConcat) -> None:
    holder: exp.Expr = node
    value = node.this
    while isinstance(value, (exp.Order, exp.Distinct)):
        holder = value
        value = value.this if isinstance(value, exp.Order) else value.expressions[0]
    order = node.this if isinstance(node.this, exp.Order) else None
    if order is not None and isinstance(order.this, exp.Distinct):
        # PostgreSQL wants a DISTINCT aggregate's ORDER BY keys among its arguments.
        for ordered in order.expressions:
            if ordered.this == value:
                ordered.set("this", _text(ordered.this.copy()))
    if isinstance(holder, exp.Distinct):
        holder.set("expressions", [_text(value.copy())])
    else:
        holder.set("this", _text(value.copy()))
