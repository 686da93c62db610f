"""MySQL's functions as calls to the `functions_postgres` schema where PostgreSQL's own differ."""

from __future__ import annotations

from sqlglot import exp

from etl.query.functions_map import (
    DATE_ONLY,
    as_text,
    bottom_up,
    call,
    interval,
    is_date_format,
    mysql_format,
    whole_number_cast,
)

_PG_DATE_PARTS: dict[type[exp.Expr], str] = {
    exp.Quarter: "quarter",
    exp.DayOfWeek: "dayofweek",
    exp.LastDay: "last_day",
}


def _date_argument(node: exp.Expr, unit: str) -> exp.Expr:
    """A literal date as DATE or TIMESTAMP, so PostgreSQL picks the right DATE_ADD."""
    if isinstance(node, exp.Literal) and node.is_string:
        kind = (
            "DATE"
            if DATE_ONLY.match(node.name.strip()) and unit not in ("HOUR", "MINUTE", "SECOND")
            else "TIMESTAMP"
        )
        return exp.Cast(this=node, to=exp.DataType.build(kind))
    return node


def to_postgres(tree: exp.Expr, schema: str) -> exp.Expr:
    """Calls to `functions_postgres`'s schema where PostgreSQL's builtins answer otherwise."""

    def step(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.TimeToStr):
            return call(
                f"{schema}.date_format", _date_argument(node.this, "SECOND"), mysql_format(node)
            )
        if is_date_format(node):
            moment, pattern = node.expressions
            return call(f"{schema}.date_format", _date_argument(moment, "SECOND"), pattern)
        if isinstance(node, (exp.DateAdd, exp.DateSub)):
            amount, unit = interval(node)
            step_interval = exp.Interval(this=exp.Literal.string("1"), unit=exp.Var(this=unit))
            shift = exp.Mul(this=exp.paren(amount), expression=step_interval)
            return call(f"{schema}.date_add", _date_argument(node.this, unit), shift)
        if isinstance(node, (exp.Left, exp.Right)):
            node.set("this", as_text(node.this))
        elif isinstance(node, exp.SubstringIndex):
            return call(
                f"{schema}.substring_index",
                as_text(node.this),
                as_text(node.args["delimiter"]),
                node.args["count"],
            )
        elif type(node) is exp.Concat:
            return call(f"{schema}.concat", *[as_text(arg) for arg in node.expressions])
        elif isinstance(node, exp.GroupConcat):
            _cast_group_value(node)
        elif isinstance(node, exp.TimestampDiff):
            part = exp.Literal.string(node.text("unit").upper() or "DAY")
            start = _date_argument(node.expression, "SECOND")
            return call(f"{schema}.timestampdiff", part, start, _date_argument(node.this, "SECOND"))
        elif isinstance(node, exp.NumberToStr):
            return call(f"{schema}.format", node.this, node.args["format"])
        elif isinstance(node, exp.Cast) and whole_number_cast(node):
            node.set(
                "this", exp.Round(this=exp.Cast(this=node.this, to=exp.DataType.build("NUMERIC")))
            )
        elif isinstance(node, exp.Round) and node.args.get("decimals") is not None:
            node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("NUMERIC")))
        elif type(node) in _PG_DATE_PARTS:
            name = _PG_DATE_PARTS[type(node)]
            return call(f"{schema}.{name}", _date_argument(node.this, "SECOND"))
        elif isinstance(node, exp.CurrentTimestamp) or (
            isinstance(node, exp.Anonymous) and node.name.upper() in ("NOW", "SYSDATE")
        ):
            return call(f"{schema}.now")
        elif isinstance(node, exp.CurrentTime):
            return call(f"{schema}.curtime")
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
                ordered.set("this", as_text(ordered.this.copy()))
    if isinstance(holder, exp.Distinct):
        holder.set("expressions", [as_text(value.copy())])
    else:
        holder.set("this", as_text(value.copy()))
