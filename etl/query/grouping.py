"""GROUP BY, HAVING and ORDER BY as MySQL reads them, written so the other engines agree.

- A name in GROUP BY or HAVING that is not exactly one table's column (absent, or in two joined
  tables) is MySQL's select-list name: it becomes that select expression (PostgreSQL calls the
  name ambiguous, or does not see aliases in HAVING at all).
- An alias inside an ORDER BY expression becomes its expression (PostgreSQL only knows a bare
  output name there).
- Loose GROUP BY (columns selected but not grouped, as Open Dental's published queries do):
  PostgreSQL refuses it, so each such column is wrapped in MIN(). Where the column is determined
  by the groups (the usual case: GROUP BY PatNum, select LName) that is MySQL's answer exactly;
  where it is not, MySQL's pick is undefined anyway.
"""

from __future__ import annotations

from sqlglot import exp

from etl.query.names import owners, select_tables


def _projections(select: exp.Select) -> dict[str, exp.Expr]:
    found: dict[str, exp.Expr] = {}
    for projection in select.expressions:
        name = projection.alias_or_name.lower()
        if name and name not in found:
            found[name] = projection.this if isinstance(projection, exp.Alias) else projection
    return found


def _own_columns(node: exp.Expr, select: exp.Select) -> list[exp.Column]:
    return [col for col in node.find_all(exp.Column) if col.parent_select is select]


def resolve_output_names(select: exp.Select) -> None:
    """Put select-list names of GROUP BY, HAVING and ORDER BY expressions as MySQL reads them."""
    projections = _projections(select)
    tables = select_tables(select)
    for key in ("group", "having"):
        clause = select.args.get(key)
        if clause is None:
            continue
        for column in _own_columns(clause, select):
            target = projections.get(column.name.lower())
            if (
                column.table
                or target is None
                or target is column
                or owners(column.name, tables) == 1
            ):
                continue
            if (
                isinstance(target, exp.Column)
                and target.name.lower() == column.name.lower()
                and not target.table
            ):
                continue
            column.replace(target.copy())
    order = select.args.get("order")
    if order is not None:
        for ordered in order.expressions:
            if isinstance(ordered.this, exp.Column):
                continue
            for column in _own_columns(ordered.this, select):
                target = projections.get(column.name.lower())
                if not column.table and target is not None and owners(column.name, tables) != 1:
                    column.replace(target.copy())


def _group_keys(select: exp.Select) -> set[str]:
    keys: set[str] = set()
    group = select.args.get("group")
    for key in group.expressions if group else []:
        if isinstance(key, exp.Literal) and not key.is_string:
            position = int(key.name) - 1
            if 0 <= position < len(select.expressions):
                projection = select.expressions[position]
                key = projection.this if isinstance(projection, exp.Alias) else projection
        keys.add(key.sql())
    return keys


def _grouped(column: exp.Column, top: exp.Expr, keys: set[str]) -> bool:
    node: exp.Expr | None = column
    while node is not None:
        if isinstance(node, exp.AggFunc) or node.sql() in keys:
            return True
        if node is top:
            return False
        node = node.parent
    return False


def loosen_group_by(select: exp.Select) -> None:
    """Wrap each selected-but-not-grouped column of a grouped SELECT in MIN()."""
    keys = _group_keys(select)
    if not keys:
        return
    aliases = {p.alias.lower() for p in select.expressions if isinstance(p, exp.Alias)}
    tops: list[exp.Expr] = list(select.expressions)
    for key in ("having", "order"):
        clause = select.args.get(key)
        if clause is not None:
            tops.append(clause)
    for top in tops:
        for column in _own_columns(top, select):
            in_select_list = any(top is projection for projection in select.expressions)
            is_alias = not column.table and column.name.lower() in aliases and not in_select_list
            if is_alias or _grouped(column, top, keys):
                continue
            wrapped: exp.Expr = exp.Min(this=column.copy())
            if column.parent is select:
                # A bare selected column keeps its name, for an outer query that reads it.
                wrapped = exp.alias_(wrapped, column.name, quoted=True)
            column.replace(wrapped)
