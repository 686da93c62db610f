"""SQLite: the write-ahead log is copied back into the database on a thread of its own.

In WAL mode a commit appends the changed pages to the log; a checkpoint later copies them into
the database file and syncs both to disk. SQLite does that inside the commit that makes the log
pass 1000 pages, so the run waits for it (measured: 15-25 ms of an incremental run of 1% of
100,000 patients, most of it waiting for the disk). Here a checkpoint starts on a thread after
each page is saved, while the run reads the next page; the automatic one is kept only as a
safety net for a far longer log. SQLite lets a checkpoint and a writer work at once, and
releases Python's lock while it works. Closing the last connection still checks the rest in.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
import weakref
from typing import Any

from sqlalchemy import Engine, event

from etl.control import shield_thread

log = logging.getLogger(__name__)
#: The automatic checkpoint's threshold (pages of the log), far above what a page of rows writes.
AUTOCHECKPOINT_PAGES = 10_000
#: Seconds between the starts of two checkpoints. Each syncs two files to disk: after every page
#: of a first load (a few dozen pages of the log each) that made a full sync 7% slower.
MIN_GAP = 0.25
_checkpointers: weakref.WeakKeyDictionary[Engine, Checkpointer] = weakref.WeakKeyDictionary()


class Checkpointer:
    """Runs PASSIVE checkpoints of one SQLite database on a thread, one at a time.

    Args:
        path: the database file (the thread opens a connection of its own).
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started = -math.inf

    def kick(self) -> None:
        """Start a checkpoint, unless one runs or began less than `MIN_GAP` seconds ago."""
        with self._lock:
            now = time.monotonic()
            if self._thread is not None or now - self._started < MIN_GAP:
                return
            self._started = now
            self._thread = threading.Thread(target=self._work, name="odmirror-wal", daemon=True)
            self._thread.start()

    def join(self) -> None:
        """Wait until no checkpoint is running."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()

    def _work(self) -> None:
        shield_thread()
        try:
            conn = sqlite3.connect(self._path)
            try:
                # PASSIVE: copy what no reader still needs, never wait for a lock.
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                conn.close()
        except sqlite3.Error as exc:  # the log only grows until the next checkpoint
            log.debug("background checkpoint failed: %s", exc)
        finally:
            with self._lock:
                self._thread = None


def attach(engine: Engine) -> None:
    """Give a SQLite engine of a file a background checkpointer, joined when it is disposed."""
    _checkpointers[engine] = Checkpointer(str(engine.url.database))
    event.listen(engine, "engine_disposed", join)


def join(engine: Engine) -> None:
    """Wait for the engine's running checkpoint, if any."""
    checkpointer = _checkpointers.get(engine)
    if checkpointer is not None:
        checkpointer.join()


def after_commit(engine: Engine) -> None:
    """Start a checkpoint of the engine's database if it has a checkpointer (SQLite files)."""
    checkpointer = _checkpointers.get(engine)
    if checkpointer is not None:
        checkpointer.kick()


def pragma(cursor: Any) -> None:
    """Set a connection's automatic checkpoint to the safety net (in its connect hook)."""
    cursor.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
