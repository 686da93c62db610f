"""What PostgreSQL answers differently from Open Dental's MySQL, rewritten in the query.

- Text compares case-insensitively on Open Dental (`*_general_ci`): LIKE becomes ILIKE; `=`, `<>`,
  `<`..., IN between text become comparisons of UPPER() (general_ci sorts by upper case too);
  ORDER BY and GROUP BY of text use UPPER(); SELECT DISTINCT over text becomes a GROUP BY.
  COUNT(DISTINCT text) counts UPPER(). LIKE also reads numbers and dates as text, as MySQL does.
  Known gaps: accents (general_ci has 'é' = 'e') and trailing spaces (PAD SPACE) still count on
  PostgreSQL; UNION (which removes duplicates) stays case-sensitive.
- MySQL's truth values are integers: a number where a condition is expected (`WHERE IsHidden`,
  `IF(IsNew, ...)`) becomes `<> 0`; a condition used as a value (`SUM(IsNew=1)`) becomes 0/1.
"""

from __future__ import annotations

from sqlglot import exp

from etl.query.functions_map import as_text
from etl.query.names import is_text, select_tables

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ)
_CONDITIONS = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean)


def _upper(node: exp.Expr) -> exp.Expr:
    return exp.Upper(this=node.copy())


def _tables_of(node: exp.Expr) -> dict[str, str]:
    select = node if isinstance(node, exp.Select) else node.parent_select
    return select_tables(select) if isinstance(select, exp.Select) else {}


def fold_case(tree: exp.Expr) -> exp.Expr:
    """Compare, order and group text without regard to case, as Open Dental's collation does."""

    def fold(node: exp.Expr) -> exp.Expr:
        tables = _tables_of(node)
        if isinstance(node, exp.Like):
            # MySQL's LIKE also takes numbers and dates (ProcDate LIKE '2024%'), as text.
            subject = node.this if is_text(node.this, tables) else as_text(node.this)
            return exp.ILike(this=subject, expression=node.expression)
        if isinstance(node, exp.Count) and isinstance(node.this, exp.Distinct):
            distinct = node.this
            distinct.set(
                "expressions",
                [_upper(e) if is_text(e, tables) else e for e in distinct.expressions],
            )
        elif isinstance(node, _COMPARISONS):
            left, right = node.this, node.expression
            if is_text(left, tables) and is_text(right, tables):
                node.set("this", _upper(left))
                node.set("expression", _upper(right))
        elif isinstance(node, exp.In) and is_text(node.this, tables) and not node.args.get("query"):
            node.set("this", _upper(node.this))
            node.set("expressions", [_upper(item) for item in node.expressions])
        return node

    tree = tree.transform(fold, copy=False)
    for select in list(tree.find_all(exp.Select)):
        _distinct_as_group(select)
        _fold_order_and_group(select)
    return tree


def _distinct_as_group(select: exp.Select) -> None:
    """SELECT DISTINCT over text as a GROUP BY, so that 'Brown' and 'brown' are one row."""
    distinct = select.args.get("distinct")
    if distinct is None or distinct.args.get("on") or select.args.get("group"):
        return
    values = [p.this if isinstance(p, exp.Alias) else p for p in select.expressions]
    tables = select_tables(select)
    if any(isinstance(v, exp.Star) or v.find(exp.AggFunc, exp.Star) for v in values):
        return
    if any(is_text(value, tables) for value in values):
        select.set("distinct", None)
        select.set("group", exp.Group(expressions=[value.copy() for value in values]))


def _fold_order_and_group(select: exp.Select) -> None:
    tables = select_tables(select)
    group = select.args.get("group")
    for key in group.expressions if group else []:
        if isinstance(key, exp.Column) and is_text(key, tables):
            key.replace(_upper(key))
    order = select.args.get("order")
    if order is None or select.args.get("distinct") or isinstance(select.parent, exp.SetOperation):
        return
    aliases = {p.alias.lower(): p.this for p in select.expressions if isinstance(p, exp.Alias)}
    for ordered in order.expressions:
        item = ordered.this
        alias = (
            aliases.get(item.name.lower())
            if isinstance(item, exp.Column) and not item.table
            else None
        )
        target = alias if alias is not None else item
        if not isinstance(item, exp.Literal) and is_text(target, tables):
            # PostgreSQL knows an output name only bare in ORDER BY: use the expression.
            ordered.set("this", _upper(target))


def _wants_condition(node: exp.Expr) -> bool:
    """Whether the place a node stands in needs a truth value."""
    parent = node.parent
    while isinstance(parent, exp.Paren):
        node, parent = parent, parent.parent
    if isinstance(parent, (exp.Where, exp.Having, exp.Connector, exp.Not)):
        return True
    if isinstance(parent, exp.If):
        simple_case = isinstance(parent.parent, exp.Case) and parent.parent.this is not None
        return node.arg_key == "this" and not simple_case
    if isinstance(parent, exp.Join):
        return node.arg_key == "on"
    return False


def _inner(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def integer_truth(tree: exp.Expr) -> exp.Expr:
    """Numbers as conditions become `<> 0`; conditions as values become 0/1 integers."""
    for node in reversed(list(tree.walk())):
        if node.parent is None or isinstance(node.parent, exp.Paren):
            continue
        is_condition = isinstance(_inner(node), _CONDITIONS)
        if _wants_condition(node):
            if not is_condition and not isinstance(_inner(node), (exp.Subquery, exp.Select)):
                node.replace(exp.paren(exp.NEQ(this=node.copy(), expression=exp.Literal.number(0))))
        elif is_condition:
            node.replace(exp.Cast(this=exp.paren(node.copy()), to=exp.DataType.build("INT")))
    return tree
