"""Names in a query: lower-case identifiers, which tables a select reads, what a column holds.

Open Dental's queries write `Patient.LName`, `` `ProcDate` `` or `"PatNum"`; the mirror's names
are lower case. Every identifier becomes lower case and quoted, so PostgreSQL finds the column
whatever case it was written in and a name that is a keyword there still works. The types come
from Open Dental's schema (`etl.catalog.opendental`), which lets the rewrites tell text columns
(compared case-insensitively by Open Dental) from numbers and dates.
"""

from __future__ import annotations

from sqlglot import exp

from etl.catalog.opendental import OD_TABLES

# Lower-case column name -> Open Dental's spelling (for headers of SELECT *).
OD_SPELLING: dict[str, str] = {
    column.name.lower(): column.name for columns in OD_TABLES.values() for column in columns
}
_STORAGE: dict[str, dict[str, str]] = {
    table: {column.name.lower(): column.storage for column in columns}
    for table, columns in OD_TABLES.items()
}
_TEXT_FUNCTIONS = (
    exp.Concat,
    exp.ConcatWs,
    exp.Lower,
    exp.Upper,
    exp.Left,
    exp.Right,
    exp.Substring,
    exp.SubstringIndex,
    exp.TimeToStr,
    exp.GroupConcat,
    exp.Trim,
    exp.Dayname,
)


def lower_identifiers(tree: exp.Expr) -> None:
    """Make every identifier lower case and quoted, in place."""
    for node in tree.find_all(exp.Identifier):
        node.set("this", node.name.lower())
        node.set("quoted", True)


def select_tables(select: exp.Select) -> dict[str, str]:
    """The Open Dental tables one SELECT reads directly: alias or name -> table (lower case)."""
    found: dict[str, str] = {}
    for table in select.find_all(exp.Table):
        if table.parent_select is not select:
            continue
        name = table.name.lower()
        if name in _STORAGE:
            found[(table.alias or name).lower()] = name
    return found


def storage(column: exp.Column, tables: dict[str, str]) -> str | None:
    """Open Dental's storage type of a column reference, if the catalog tells it for sure."""
    name = column.name.lower()
    if column.table:
        table = tables.get(column.table.lower())
        return _STORAGE[table].get(name) if table else None
    kinds = {_STORAGE[table][name] for table in set(tables.values()) if name in _STORAGE[table]}
    return kinds.pop() if len(kinds) == 1 else None


def owners(name: str, tables: dict[str, str]) -> int:
    """How many of the select's tables have a column of this name."""
    return sum(1 for table in set(tables.values()) if name.lower() in _STORAGE[table])


def is_text(node: exp.Expr, tables: dict[str, str]) -> bool:
    """Whether an expression is text (Open Dental's text compares case-insensitively)."""
    if isinstance(node, exp.Paren):
        return is_text(node.this, tables)
    if isinstance(node, exp.Column):
        return storage(node, tables) in ("String", "EnumAsString")
    if isinstance(node, exp.Literal):
        return node.is_string
    if isinstance(node, _TEXT_FUNCTIONS):
        return True
    if isinstance(node, exp.Anonymous) and node.name.upper() in ("DATE_FORMAT", "MONTHNAME"):
        return True
    if isinstance(node, exp.Coalesce):
        return any(is_text(arg, tables) for arg in [node.this, *node.expressions])
    if isinstance(node, exp.If):
        return any(is_text(node.args[k], tables) for k in ("true", "false") if node.args.get(k))
    if isinstance(node, exp.Case):
        branches = [branch.args["true"] for branch in node.args.get("ifs", [])]
        default = node.args.get("default")
        return any(is_text(arg, tables) for arg in [*branches, *([default] if default else [])])
    return False


def output_names(tree: exp.Expr) -> list[str] | None:
    """The column headers MySQL shows for a read, or None when a `*` leaves them to the database."""
    select = tree.this if isinstance(tree, exp.Subquery) else tree
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select):
        return None
    names: list[str] = []
    for projection in select.expressions:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            return None
        if isinstance(projection, (exp.Alias, exp.Column)):
            names.append(projection.alias_or_name)
        else:
            names.append(projection.sql(dialect="mysql"))
    return names


def database_header(name: str) -> str:
    """A header the database gave (lower case) in Open Dental's spelling when it is a column."""
    return OD_SPELLING.get(name, name)
