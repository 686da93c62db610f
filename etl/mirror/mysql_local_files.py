"""LOAD DATA LOCAL on a mirror connection: only odmirror's own file, only while it loads.

With LOCAL loading, the server names the file and the client sends it: PyMySQL opens whatever
name the server's answer carries, to any statement. A server that is not what it seems (or a
man in the middle of an unencrypted connection) could then read any file the sync can read: its
config with the API key, say. PyMySQL has no public way to limit that, so:
- a mirror connection keeps PyMySQL's per-connection flag off except around odmirror's own load
  (etl.mirror.fast_mysql_load), so any other statement's file request is refused;
- during a load, PyMySQL's file sender is wrapped to send only the file that load wrote, on the
  connection that runs it; another name is refused;
- both rest on PyMySQL internals (`_local_infile`, `_send_local_file`): the connection offers
  LOCAL loading at all only while PyMySQL's own code still sets and reads them (checked in its
  compiled names, nothing called). Otherwise the upsert writes every row.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: What a refused file request raises (as PyMySQL's OperationalError, CR_UNKNOWN_ERROR).
FOREIGN_FILE = "the database server asked for a file that is not odmirror's rows: refused"
CR_UNKNOWN_ERROR = 2000
_loading = threading.local()  # the file (bytes) and connection of this thread's load
_wrapped: list[Any] = []  # PyMySQL's own sender, once wrapped
_wrapping = threading.Lock()


def switchable() -> bool:
    """Whether PyMySQL still keeps LOCAL loading behind the flag and sender this module guards."""
    try:
        from pymysql import connections
    except ImportError:
        return False
    uses = {
        "Connection.__init__": ("_local_infile",),
        "MySQLResult._read_load_local_packet": ("_local_infile", "_send_local_file"),
    }
    for path, names in uses.items():
        owner, method = path.split(".")
        code = getattr(getattr(getattr(connections, owner, None), method, None), "__code__", None)
        if code is None or not set(names) <= set(code.co_names):
            return False
    return callable(getattr(connections, "_send_local_file", None))


def refuse(dbapi_conn: Any) -> None:
    """Refuse every file request on a new connection (its statements are not loads)."""
    dbapi_conn._local_infile = False


@contextmanager
def sending_only(dbapi_conn: Any, path: str) -> Iterator[None]:
    """Within the block, the server may read `path` through this connection, and nothing else.

    Raises:
        pymysql.err.OperationalError: (from the statement) the server asked for another file
            (FOREIGN_FILE); nothing was sent.
    """
    _wrap_sender()
    _loading.file, _loading.conn = os.fsencode(path), dbapi_conn
    dbapi_conn._local_infile = True
    try:
        yield
    finally:
        dbapi_conn._local_infile = False
        _loading.file = _loading.conn = None


def _wrap_sender() -> None:
    from pymysql import connections, err

    with _wrapping:
        if _wrapped:
            return
        original = connections._send_local_file

        def send_only_the_load(filename: Any, conn: Any) -> None:
            wanted = getattr(_loading, "file", None)
            asked = os.fsencode(filename) if isinstance(filename, str) else bytes(filename)
            if wanted is None or asked != wanted or getattr(_loading, "conn", None) is not conn:
                raise err.OperationalError(CR_UNKNOWN_ERROR, FOREIGN_FILE)
            original(filename, conn)

        _wrapped.append(original)
        connections._send_local_file = send_only_the_load
