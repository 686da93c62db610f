"""MySQL's SHOW TABLES, SHOW COLUMNS FROM t and DESCRIBE t, as reads of SQLite's or PostgreSQL's
catalog (MySQL and MariaDB run them as written)."""

from __future__ import annotations

import re

from sqlglot import exp

from etl.query.errors import QueryError

_PLAIN = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def _table_name(tree: exp.Expr) -> str:
    target = tree.this if isinstance(tree, exp.Describe) else tree.args.get("target")
    name = target.name if isinstance(target, (exp.Table, exp.Identifier)) else ""
    if not _PLAIN.match(name):
        raise QueryError("SHOW COLUMNS / DESCRIBE needs a plain table name")
    return name.lower()


def listing(tree: exp.Expr, target: str) -> str:
    """The SELECT that answers a SHOW or DESCRIBE on the target database."""
    if isinstance(tree, exp.Show) and str(tree.this).upper() == "TABLES":
        if target == "sqlite":
            return "SELECT name AS tables FROM sqlite_master WHERE type = 'table' ORDER BY name"
        return (
            "SELECT table_name AS tables FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        )
    table = _table_name(tree)
    if target == "sqlite":
        return f"SELECT name AS field, type FROM pragma_table_info('{table}') ORDER BY cid"
    return (
        "SELECT column_name AS field, data_type AS type FROM information_schema.columns"
        f" WHERE table_schema = current_schema() AND table_name = '{table}'"
        " ORDER BY ordinal_position"
    )
