"""Only reads run: every statement of a query is checked before anything reaches the database.

A query may hold SELECT / WITH / UNION reads, SHOW TABLES, SHOW COLUMNS, DESCRIBE of a table, and
`SET @name = value` (a MySQL user variable, which `query` substitutes). Everything else is
refused with one line, and so is a read that writes or reaches outside the database: a CTE that
deletes, `SELECT ... INTO` (a table, a variable, OUTFILE, DUMPFILE), `FOR UPDATE` locks, and
functions that read files, sleep, lock or change settings. The connection is also opened
read-only where the database allows it (see `etl.query.execute`): this guard is the first wall.
"""

from __future__ import annotations

import itertools

from sqlglot import TokenType, exp

from etl.query.errors import QueryError
from etl.query.parse import tokens

_WRITES: tuple[type[exp.Expr], ...] = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Command,
    exp.Into,
    exp.Lock,
    exp.Copy,
)
# Functions that touch files, the server, locks, sleep or settings on one of the three engines.
_FORBIDDEN_FUNCTIONS = frozenset(
    {
        "load_file",
        "sleep",
        "benchmark",
        "get_lock",
        "release_lock",
        "release_all_locks",
        "is_free_lock",
        "master_pos_wait",
        "load_extension",
        "writefile",
        "readfile",
        "pg_sleep",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "lo_import",
        "lo_export",
        "set_config",
        "nextval",
        "setval",
        "pg_advisory_lock",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "dblink",
        "dblink_exec",
        "query_to_xml",
    }
)
_READS = (exp.Select, exp.SetOperation, exp.Subquery)


def check_reads(sql: str, statements: list[exp.Expr]) -> None:
    """Refuse the query unless every statement only reads.

    Args:
        sql: the query's text (to find MySQL's `INTO OUTFILE`, which sqlglot cannot parse).
        statements: the query's statements as parsed by `etl.query.parse.statements`.

    Raises:
        QueryError: one line naming what is refused.
    """
    refuse_file_writes(sql)
    for number, tree in enumerate(statements, start=1):
        where = f"statement {number}" if len(statements) > 1 else "the query"
        _check_statement(tree, where)
    if not any(not isinstance(tree, exp.Set) for tree in statements):
        raise QueryError("the query only sets variables: nothing to read")


def refuse_file_writes(sql: str) -> None:
    """Refuse MySQL's `INTO OUTFILE` and `INTO DUMPFILE`, found in the tokens (unparseable).

    Called before parsing, so that such a query gets this reason rather than a syntax error.

    Raises:
        QueryError: the query writes a file on the database server.
    """
    found = tokens(sql)
    for token, after in itertools.pairwise(found):
        if token.token_type == TokenType.INTO and after.text.upper() in ("OUTFILE", "DUMPFILE"):
            raise QueryError(f"refused: SELECT ... INTO {after.text.upper()} writes a file")


def _check_statement(tree: exp.Expr, where: str) -> None:
    if isinstance(tree, exp.Set):
        _check_set(tree, where)
        return
    if isinstance(tree, exp.Show):
        if str(tree.this).upper() not in ("TABLES", "COLUMNS", "FIELDS"):
            raise QueryError(
                f"refused: {where} is SHOW {tree.this}; only SHOW TABLES and SHOW COLUMNS run"
            )
        return
    if isinstance(tree, exp.Describe):
        if not isinstance(tree.this, exp.Table):
            raise QueryError(f"refused: {where} is EXPLAIN; only DESCRIBE of a table runs")
        return
    if not isinstance(tree, _READS):
        raise QueryError(f"refused: {where} is {_kind(tree)}; only reads (SELECT, WITH, SHOW) run")
    for node in tree.walk():
        _check_node(node, where)


def _check_node(node: exp.Expr, where: str) -> None:
    if isinstance(node, _WRITES):
        raise QueryError(f"refused: {where} contains {_kind(node)}; this command only reads")
    if isinstance(node, exp.PropertyEQ):
        raise QueryError(
            f"refused: {where} assigns a variable inside a query (:=); use SET @name first"
        )
    if isinstance(node, exp.Func):
        name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
        if name in _FORBIDDEN_FUNCTIONS:
            raise QueryError(
                f"refused: {where} calls {name.upper()}(), which reaches outside the data"
            )


def _check_set(tree: exp.Set, where: str) -> None:
    for item in tree.expressions:
        target = item.this.this if isinstance(item.this, exp.EQ) else None
        if not isinstance(target, exp.Parameter):
            raise QueryError(f"refused: {where} changes a setting; only SET @name = value is read")
        _check_node(item, where)
        for node in item.walk():
            _check_node(node, where)


def _kind(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    if isinstance(node, exp.Into):
        return "SELECT ... INTO"
    if isinstance(node, exp.Lock):
        return "a row lock (FOR UPDATE / LOCK IN SHARE MODE)"
    return type(node).__name__.upper().replace("TRUNCATETABLE", "TRUNCATE")
