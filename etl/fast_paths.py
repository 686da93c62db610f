"""The speed paths, each with a plain twin, and the one switch that turns them off.

Every fast path gives the same mirror as its plain twin, only sooner (README: Performance). The
plain twins are what a reader should read first, and what the test suite runs a second time
(`ODMIRROR_PLAIN=all`, see .ci/run), so that neither path can drift from the other unnoticed:

- copy: PostgreSQL's binary COPY (straight into the table, or a staging table and one INSERT
  ... SELECT), SQL compiled once, and UPDATE instead of the upsert for rows held in an older
  version (etl.mirror.fast_copy, etl.mirror.updates), a page's new rows formatted into one
  buffer by psycopg's own formatter (etl.mirror.fast_new_rows; its twin: write_row a row); on
  MySQL/MariaDB the upsert's rows written as SQL column by column (etl.mirror.fast_mysql),
  and rows new to the mirror by LOAD DATA LOCAL INFILE (etl.mirror.fast_mysql_load, its text
  built column by column: etl.mirror.fast_mysql_text). Plain: SQLAlchemy's upsert,
  executemany.
- columnar: a page mapped column by column, whole columns checked in a few C calls where they
  can be (etl.mapping.fast_page, fast_columns, fast_plain). Plain: record by record
  (etl.mapping.record).
- deferred_indexes: a first load drops a table's secondary indexes and builds them at its end
  (etl.mirror.fast_indexes). Plain: the indexes are kept up to date row by row.
- prefetch: the next pages are fetched on a thread while a page is written
  (etl.sync.fast_prefetch). Plain: fetch, then write, in turn.
- checkpoints: SQLite's write-ahead log is checkpointed on a thread of its own
  (etl.mirror.fast_checkpoints). Plain: SQLite checkpoints inside its commits.
- async_commit: PostgreSQL sessions commit without waiting for the write-ahead log to reach
  the disk (`synchronous_commit = off`; etl.mirror.engine). Plain: each commit waits for it.
- lock_watch: before a transaction, the sync lock's session (PostgreSQL, MySQL) is asked
  whether it is there only when its socket has word from the server, or when it was last asked
  over half a second before (etl.mirror.lock). Plain: it is asked before every transaction.
- overlap: a resource starts, and fetches its first pages, while the one before writes its
  last (etl.sync.overlap). Plain: each starts when the one before has ended.

`ODMIRROR_PLAIN` lists the fast paths to turn off ("copy,prefetch"), or says "all". It is read
when a path is chosen, so a test can set it for one run.
"""

from __future__ import annotations

import os

#: The environment variable that turns fast paths off.
PLAIN_ENV = "ODMIRROR_PLAIN"
#: Every fast path, by the name the switch uses.
FAST_PATHS = (
    "copy",
    "columnar",
    "deferred_indexes",
    "prefetch",
    "checkpoints",
    "async_commit",
    "lock_watch",
    "overlap",
)


def enabled(name: str) -> bool:
    """Whether the named fast path is on (it is unless `ODMIRROR_PLAIN` turns it off).

    Raises:
        ValueError: `name` is not a fast path (a typo in the code, not in the config).
    """
    if name not in FAST_PATHS:
        raise ValueError(f"no fast path named {name!r}")
    off = {part.strip().lower() for part in os.environ.get(PLAIN_ENV, "").split(",")}
    return not ({"all", name} & off)
