"""A whole table read through POST /queries and SFTP, else by pages (query mode's first load).

When `api.bulk_sftp` is configured, a table's first load (no cursor, or an empty mirror table
for one without a change column; or `--full`) reads it whole, and COUNT(*) finds at least
`min_rows` rows (0: no count asked), the office writes `SELECT * FROM t` as one CSV file to
the SFTP server; odmirror reads it back as it streams, saves it in pages through the same
saver as ShortQuery's pages, and deletes the file (it holds patient data), also when the read
fails. The office clock was taken before (etl.sync.query_mode), so the cursor is the one the
keyset load would set. Any failure of the bulk path is one warning line, and the table is read
by ShortQuery pages instead; a stop request is not a failure: it ends the run.

A file from a run that died before deleting its own is deleted by the next bulk read of the
same table for the same office (files are named odmirror-<table>-<office>-<random>.csv, the
office a hash of its customer key, so offices that share the server never touch each
other's files).
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import time
import uuid
from collections.abc import Iterator

from etl.api import short_query
from etl.api.bulk_csv import MalformedCsv, read_rows
from etl.api.bulk_query import BulkFailed, SftpReader, post_query
from etl.api.client import ApiClient, Page
from etl.api.paginator import KeysetPaginator
from etl.catalog.query_tables import QueryResource
from etl.config.bulk_sftp import BulkSftpSettings
from etl.control import RunControl, StopRequested

log = logging.getLogger("etl.sync.run")
#: Rows saved a transaction from the file (ShortQuery's pages hold 100).
BATCH = 2000
#: How long the size of a file written in the background must hold still before it is read.
SETTLE_SECONDS = 3.0
_POLL_FIRST, _POLL_MOST = 0.2, 5.0


def pages(
    client: ApiClient,
    resource: QueryResource,
    paging: KeysetPaginator,
    control: RunControl,
    notes: list[str],
    first_load: bool,
) -> Iterator[Page]:
    """The table's pages: through the bulk path if it applies and works, else by ShortQuery.

    Args:
        client: the API session (`client.settings.bulk_sftp` says whether the path is on).
        resource: the table.
        paging: the keyset paging to fall back on.
        control: the run's stop request.
        notes: the run's notes; a fallback adds why.
        first_load: the run is the table's first load (or a `--full` one): it reads it whole.
    """
    bulk = client.settings.bulk_sftp
    if first_load and bulk is not None:
        try:
            if _worth_it(client, resource, bulk):
                yield from BulkRead(client, resource, bulk, control).pages()
                notes.append("read whole through POST /queries and SFTP")
                return
        except BulkFailed as exc:
            log.warning("%s: bulk read through SFTP failed, paging instead: %s", resource.name, exc)
            notes.append(f"bulk read failed ({exc}); read by pages")
    yield from short_query.pages(client, paging)


def _worth_it(client: ApiClient, resource: QueryResource, bulk: BulkSftpSettings) -> bool:
    if bulk.min_rows == 0:
        return True
    rows = short_query.short_query(client, f"SELECT COUNT(*) AS n FROM {resource.table_name}")
    count = rows[0].get("n") if len(rows) == 1 else None
    if not isinstance(count, int):
        raise BulkFailed("COUNT(*) did not answer a number")
    if count < bulk.min_rows:
        log.info("%s: %d rows, under bulk_sftp.min_rows: read by pages", resource.name, count)
        return False
    return True


class BulkRead:
    """One table's bulk read: ask for the file, wait for it, read it, delete it."""

    def __init__(
        self,
        client: ApiClient,
        resource: QueryResource,
        bulk: BulkSftpSettings,
        control: RunControl,
    ) -> None:
        self.client, self.resource, self.bulk, self.control = client, resource, bulk, control
        office = hashlib.sha256(client.settings.customer_key.encode()).hexdigest()[:8]
        self.prefix = f"odmirror-{resource.table_name}-{office}-"
        self.name = f"{self.prefix}{uuid.uuid4().hex[:16]}.csv"
        self.written = posixpath.join(bulk.directory, self.name)
        self.path = posixpath.join(bulk.read_directory or bulk.directory, self.name)

    def pages(self) -> Iterator[Page]:
        """The file's rows as pages; the file is deleted after, whatever happens.

        Raises:
            BulkFailed: the path failed (the caller pages instead).
            StopRequested: a stop was asked for.
        """
        # Reach the server first: a wrong password fails before the office runs the query.
        with SftpReader(self.bulk, self.client.settings.timeout) as sftp:
            self._sweep(sftp)
            try:
                sql = f"SELECT * FROM {self.resource.table_name}"
                post_query(self.client, sql, f"{self.bulk.host}{self.written}", self.bulk)
                size = self._wait(sftp)
                yield from self._read(sftp, size)
            finally:
                self._delete(sftp)

    def _sweep(self, sftp: SftpReader) -> None:
        folder = self.bulk.read_directory or self.bulk.directory
        for name in sftp.names(folder):
            if name.startswith(self.prefix) and name.endswith(".csv"):
                sftp.remove(posixpath.join(folder, name))
                log.info("%s: deleted %s, left by an earlier run", self.resource.name, name)

    def _wait(self, sftp: SftpReader) -> int:
        """The file's size once it is whole: at once after a synchronous answer, else once
        its size holds still SETTLE_SECONDS. Bounded by wait_seconds; a stop ends it."""
        deadline = time.monotonic() + self.bulk.wait_seconds
        poll, last, still_since = _POLL_FIRST, -1, 0.0
        while True:
            size = sftp.size(self.path)
            now = time.monotonic()
            if size is not None:
                self._check_size(size)
                if not self.bulk.is_async:
                    return size
                if size != last:
                    last, still_since = size, now
                elif size > 0 and now - still_since >= SETTLE_SECONDS:
                    return size
            if now >= deadline:
                why = "no file" if size is None else "a file still growing"
                raise BulkFailed(f"{why} after {self.bulk.wait_seconds} s: {self.written}")
            if self.client.stop.wait(min(poll, max(0.0, deadline - now))):
                raise StopRequested("stopped on request")
            self.control.check()
            poll = min(poll * 2, _POLL_MOST)

    def _check_size(self, size: int) -> None:
        if size > self.bulk.max_file_mb * 1024 * 1024:
            mib = size / (1024 * 1024)
            cap = self.bulk.max_file_mb
            raise BulkFailed(f"the file is {mib:.3g} MiB, above bulk_sftp.max_file_mb ({cap:g})")

    def _read(self, sftp: SftpReader, size: int) -> Iterator[Page]:
        sent_at = time.monotonic()
        with sftp.open(self.path, int(self.bulk.max_file_mb * 1024 * 1024)) as stream:
            try:
                table, order = self.resource.table_name, self.bulk.date_order
                for rows in read_rows(stream, table, BATCH, order):
                    self.control.check()
                    yield Page(rows, 0, sent_at, time.monotonic())
                    sent_at = time.monotonic()
            except MalformedCsv as exc:
                raise BulkFailed(f"the file is not the table's CSV: {exc}") from None
        if self.bulk.is_async and sftp.size(self.path) != size:
            # Written in the background and still growing: what was read may lack rows.
            raise BulkFailed("the file grew while it was read (the office was still writing)")

    def _delete(self, sftp: SftpReader) -> None:
        try:
            if sftp.size(self.path) is not None:
                sftp.remove(self.path)
        except BulkFailed as exc:
            log.warning("%s: could not delete %s: %s", self.resource.name, self.written, exc)
