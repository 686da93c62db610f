"""The simulated office's own database, as ShortQuery reads it: any Open Dental table, raw values.

Tables are Open Dental 24.3's (from the catalog's schema file), with Open Dental's column names,
held in an in-memory SQLite that runs the (MySQL-flavoured) SELECT after sqlglot translated it.
Values are kept as Open Dental's MySQL holds them (integer enums and flags, "0001-01-01", '')
and sent as ShortQuery sends them: dates and date-times as "yyyy-MM-ddTHH:mm:ss". As the real
server does, it refuses anything but one SELECT with 401, answers at most 100 rows, and times
out (504) a query of a table that asks for more rows a call than `timeout_rows`. (A key without
the Queries permission is refused before, by the simulator's `config.queries_allowed`.)
"""

from __future__ import annotations

import json
import sqlite3
import threading
import zlib
from typing import Any

import sqlglot
from sqlglot import exp

from etl.catalog.opendental import OD_TABLES
from etl.catalog.query_tables import change_column
from etl.simulator.clock import OfficeClock, format_datetime
from etl.sync import fan_prints

#: Rows ShortQuery answers at most (Remote).
ROW_CAP = 100
_NO_VALUE = {"Date": "0001-01-01", "DateT": "0001-01-01 00:00:00", "Time": "00:00:00",
             "TSpan": "00:00:00", "String": "", "EnumAsString": "", "Double": 0.0,
             "Float": 0.0}  # fmt: skip
WRITES = "Command not allowed: only SELECT statements may be run."


class OfficeDatabase:
    """Open Dental tables in an in-memory SQLite, answering ShortQuery's SELECTs.

    Args:
        clock: the office clock (NOW(), and change columns stamped on insert and update).
        timeout_rows: a SELECT whose LIMIT is missing or above this times out (504); None: never.
    """

    def __init__(self, clock: OfficeClock, timeout_rows: int | None = None) -> None:
        self.clock, self.timeout_rows = clock, timeout_rows
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.create_function("NOW", 0, lambda: format_datetime(self.clock.now()))
        self._db.create_function("CRC32", 1, _crc32)  # MySQL's, of the value's text
        self._db.create_function("CONCAT_WS", -1, _concat_ws)  # SQLite has it from 3.44 only
        self._lock = threading.RLock()
        #: Tables copied from the REST lists (etl.simulator.rest_sql), refreshed on each query.
        self.copied: set[str] = set()
        #: The version of each copied list's rows (SimulatorConfig.keep_office_copies).
        self.copy_versions: dict[str, int] = {}
        #: Per copied table whose list sends no change column: key -> (content, its stamp).
        self.copy_stamps: dict[str, dict[Any, tuple[int, str]]] = {}

    def create(self, table: str) -> None:
        """Create one Open Dental table (lower-case name), empty."""
        names = ", ".join(f'"{c.name}"' for c in OD_TABLES[table])
        with self._lock:
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {table} ({names})")

    def load_keys(self, table: str, keys: range | list[int]) -> None:
        """Add `keys` to a table of its primary key alone, made if missing (a benchmark's
        million rows for key-range reconciliation, in seconds); it has no other column."""
        key = OD_TABLES[table][0].name
        with self._lock:
            self._db.execute(f'CREATE TABLE IF NOT EXISTS {table} ("{key}" INTEGER PRIMARY KEY)')
            self._db.executemany(f"INSERT INTO {table} VALUES (?)", ((k,) for k in keys))

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert rows (Open Dental's names, raw values); absent columns get Open Dental's
        "no value", an absent change column the office clock."""
        self.create(table)
        columns, stamp = OD_TABLES[table], change_column(table)
        now = format_datetime(self.clock.now())
        names = ", ".join(f'"{c.name}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        absent = {c.name: now if c.name == stamp else _NO_VALUE.get(c.storage, 0) for c in columns}
        take = [c.name for c in columns]
        values = [[merged[n] for n in take] for merged in ({**absent, **row} for row in rows)]
        with self._lock:
            self._db.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)

    def holds(self, table: str) -> bool:
        """Whether the office database has this table."""
        with self._lock:
            found = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
            ).fetchone()
        return found is not None

    def replace(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Make a table hold exactly these rows (raw values; absent columns as `insert`)."""
        with self._lock:
            self._db.execute(f"DROP TABLE IF EXISTS {table}")
            self.insert(table, rows)

    def update(self, table: str, key: int, **fields: Any) -> None:
        """Change a row's columns; its change column takes the office clock, as MySQL's does."""
        stamp = change_column(table)
        if stamp is not None and stamp not in fields:
            fields[stamp] = format_datetime(self.clock.now())
        sets = ", ".join(f'"{name}" = ?' for name in fields)
        key_name = OD_TABLES[table][0].name
        with self._lock:
            self._db.execute(
                f'UPDATE {table} SET {sets} WHERE "{key_name}" = ?', [*fields.values(), key]
            )

    def delete(self, table: str, key: int) -> None:
        """Delete a row, as Open Dental does (no trace left)."""
        with self._lock:
            self._db.execute(f'DELETE FROM {table} WHERE "{OD_TABLES[table][0].name}" = ?', [key])

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a table in key order, as ShortQuery would send them."""
        key = OD_TABLES[table][0].name
        status, rows = self.run(f"SELECT * FROM {table} ORDER BY {key}", cap=None)
        assert status == 200 and isinstance(rows, list), rows
        return rows

    def answer(self, body: bytes) -> tuple[int, Any]:
        """Answer one ShortQuery request body: (status, rows or the error text)."""
        try:
            sql = json.loads(body or b"{}").get("SqlCommand")
        except (ValueError, AttributeError):
            return 400, "The request body must be JSON with SqlCommand."
        if not isinstance(sql, str) or not sql.strip():
            return 400, "SqlCommand is required."
        return self.run(sql)

    def run(self, sql: str, cap: int | None = ROW_CAP) -> tuple[int, Any]:
        """Run one MySQL SELECT: (200, rows), or (401|400|504, why)."""
        try:
            statements = [s for s in sqlglot.parse(sql, read="mysql") if s is not None]
        except sqlglot.errors.ParseError:
            return 400, "You have an error in your SQL syntax."
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            return 401, WRITES
        query = statements[0]
        if cap is not None and self._too_big(query):
            return 504, "The query took longer than the 60 second limit."
        try:
            with self._lock:
                cursor = self._db.execute(_integer_division(query).sql(dialect="sqlite"))
                found = cursor.fetchall() if cap is None else cursor.fetchmany(cap)
        except sqlite3.Error as exc:
            return 400, f"Error executing query: {exc}"
        names = [d[0] for d in cursor.description or ()]
        kinds = _storages(query)
        return 200, [_row(names, values, kinds) for values in found]

    def _too_big(self, query: exp.Query) -> bool:
        if self.timeout_rows is None or query.find(exp.Table) is None:
            return False  # SELECT NOW() reads no table: always quick
        if _one_summary(query):
            return False  # MIN, MAX, COUNT of a table: its primary key's index answers
        limit = query.args.get("limit")
        wanted = limit.expression if isinstance(limit, exp.Limit) else None
        if not isinstance(wanted, exp.Literal) or wanted.is_string:
            return True
        return int(wanted.this) > self.timeout_rows


def _crc32(value: Any) -> int | None:
    return None if value is None else zlib.crc32(str(value).encode())


def _concat_ws(separator: Any, *values: Any) -> str | None:
    # MySQL's: NULL with a NULL separator; a NULL value is skipped, not joined.
    if separator is None:
        return None
    return str(separator).join(_text(v) for v in values if v is not None)


def _text(value: Any) -> str:
    # A double as MySQL's CONCAT writes it (100, not 100.0), as the mirror's side renders it.
    if isinstance(value, float):
        try:
            return str(fan_prints.mysql_text(value, "Double"))
        except fan_prints.Unsure:
            return repr(value)
    return str(value)


def _one_summary(query: exp.Query) -> bool:
    # One row of aggregates (no GROUP BY): what an index answers without reading the table.
    if not isinstance(query, exp.Select) or query.args.get("group"):
        return False
    return all(isinstance(e.unalias(), exp.AggFunc) for e in query.expressions)


def _integer_division(query: exp.Query) -> exp.Query:
    # MySQL's DIV on integers is exact; sqlglot writes it for SQLite through REAL, which
    # rounds keys past 2**53 (Open Dental's random keys) into the next bucket. SQLite's own
    # `/` of two integers is integer division, truncated as DIV is (the cast truncates a
    # division of decimals the same way).
    def exact(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.IntDiv):
            quotient = exp.Div(this=node.this, expression=node.expression, typed=True)
            return exp.Cast(this=exp.paren(quotient), to=exp.DataType.build("INTEGER"))
        return node

    return query.transform(exact)  # type: ignore[return-value]


def _storages(query: exp.Query) -> dict[str, str]:
    """Open Dental's storage type of each column of the tables a query reads, by name."""
    kinds: dict[str, str] = {}
    for table in query.find_all(exp.Table):
        for column in OD_TABLES.get(table.name.lower(), ()):
            kinds.setdefault(column.name.lower(), column.storage)
    return kinds


def _row(names: list[str], values: tuple[Any, ...], kinds: dict[str, str]) -> dict[str, Any]:
    return {
        name: _sent(value, kinds.get(name.lower()))
        for name, value in zip(names, values, strict=True)
    }


def _sent(value: Any, storage: str | None) -> Any:
    # ShortQuery sends DATE and DATETIME alike: "yyyy-MM-ddTHH:mm:ss".
    if isinstance(value, str) and storage == "Date" and len(value) == 10:
        return f"{value}T00:00:00"
    if isinstance(value, str) and storage == "DateT":
        return value.replace(" ", "T", 1)
    return value
