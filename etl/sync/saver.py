"""Saving one run's pages: map each page, count what the run had not saved, upsert it.

A record the short path (etl.columnar) cannot map goes through etl.transform; what that refuses
or sets aside is kept in odmirror_rejected, and each kind of flaw is logged once per process.
"""

from __future__ import annotations

import logging
from itertools import chain
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from etl import fast_paths
from etl.api.client import Page
from etl.catalog.resources import Resource
from etl.errors import DatabaseError
from etl.mapping import office_clock
from etl.mapping.block import Block, blocks_of, newest_per_key
from etl.mapping.fast_page import map_page
from etl.mapping.pii import PiiPolicy
from etl.mapping.record import RejectedRecord, map_record
from etl.mirror import rejects
from etl.mirror.engine import describe
from etl.mirror.upsert import save_blocks
from etl.sync import state
from etl.sync.row_stamps import RowStamps
from etl.sync.seen import SeenKeys

# The run's warnings keep the logger name they always had (JSON logs show it).
log = logging.getLogger("etl.sync.run")
_warned: set[tuple[str, str]] = set()


class PageSaver:
    """Save the pages of one resource's run into the mirror.

    Args:
        engine: the mirror.
        resource: what the pages hold.
        pii: the PHI policy applied to every record before it is stored.
        stats: the run's counts, added to as pages are saved.
    """

    def __init__(
        self, engine: Engine, resource: Resource, pii: PiiPolicy, stats: state.RunStats
    ) -> None:
        self.engine, self.resource, self.pii, self.stats = engine, resource, pii, stats
        self.seen = SeenKeys()
        # A cursor taken from the rows needs the newest change times: only such resources keep
        # them (etl.sync.row_stamps). Marking rows a whole pull no longer lists needs only the
        # keys: `seen`, about a bit a key (a dict of a million claimprocs' keys and stamps was
        # 140 MB).
        self.stamps = RowStamps()
        self.keep_stamps = resource.cursor_from_rows
        self.run_id: int | None = None
        self.pending_rejects: list[rejects.Reject] = []
        self.fresh = False  # the table held no row when the run began

    def save(self, page: Page) -> int:
        """Save a page's records in one transaction.

        Returns:
            How many of its keys this run had not saved before.

        Raises:
            DatabaseError: the mirror refused the page.
        """
        blocks = self._map(page.rows)
        # The office clock this response reports bounds the change times it may trust.
        office_now = office_clock.reported(page.rows)
        if self.stats.office_clock is None:
            self.stats.office_clock = office_now
        # A row this run already saved may come again (the overlap, a shifted page, another
        # pass): it is saved again (the upsert keeps the newest) but counted only if newer.
        keys = list(chain.from_iterable(block.column(self.resource.key_column) for block in blocks))
        again = self.seen.add_all(keys)  # no key comes twice in a page's blocks
        if self.keep_stamps:
            self._remember(blocks)
        self.stats.fetched += len(page.rows)
        self.stats.unique = len(self.seen)
        try:
            trust_until = office_clock.trust_until(office_now)
            counts = save_blocks(
                self.engine, self.resource, blocks, state.utcnow(), again, self.fresh, trust_until
            )
            rejects.record(self.engine, self.pending_rejects, self.run_id, state.utcnow())
            self.pending_rejects.clear()
        except SQLAlchemyError as exc:
            raise DatabaseError(describe(exc, str(self.engine.url))) from None
        self.stats += counts
        return len(keys) - len(again)

    def _remember(self, blocks: list[Block]) -> None:
        column = self.resource.cursor_column or ""
        for block in blocks:
            self.stamps.note(block.column(self.resource.key_column), block.column(column))

    def _map(self, records: list[Any]) -> list[Block]:
        key, guard = self.resource.key_column, self.resource.cursor_column
        if not fast_paths.enabled("columnar"):
            # The plain twin: each record through etl.mapping.record.
            rows = [row for record in records if (row := self._map_one(record)) is not None]
            return blocks_of(newest_per_key(rows, key, guard))
        page = map_page(self.resource, records, self.pii)
        others = {}
        if None in page.at:  # most pages: the short path took every record
            for index, at in enumerate(page.at):
                if at is None and (row := self._map_one(records[index])) is not None:
                    others[index] = row
        return page.blocks(others, key, guard)

    def _map_one(self, record: Any) -> dict[str, Any] | None:
        """A record off the short path: its row, what it set aside noted; None if refused."""
        try:
            result = map_record(self.resource, record, self.pii)
        except RejectedRecord as exc:
            self.stats.rejected += 1
            self.pending_rejects.append(rejects.rejected(self.resource, record, str(exc), self.pii))
            self._warn_once("rejected", f"{exc}; record kept in odmirror_rejected")
            return None
        flawed = rejects.flawed(self.resource, result)
        if flawed is not None:
            self.stats.set_aside += 1
            self.pending_rejects.append(flawed)
        for key in result.unknown:
            self._warn_once(key, f"unknown field {key!r} kept in odmirror_extra")
        for key in result.invalid:
            self._warn_once(key, f"undecodable {key!r} stored as NULL, kept in odmirror_extra")
        return result.row

    def _warn_once(self, key: str, message: str) -> None:
        if (self.resource.name, key) not in _warned:
            _warned.add((self.resource.name, key))
            log.warning("%s: %s", self.resource.name, message)
