"""odmirror's own tables in the mirror: cursors, runs and the records it could not take whole."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from etl.catalog.base import Base, Extra, KeyText, Timestamp


class SyncState(Base):
    """The cursor of each resource: the server's clock at the start of the last complete run."""

    __tablename__ = "odmirror_sync_state"

    resource: Mapped[str] = mapped_column(KeyText, primary_key=True)
    cursor: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_run_id: Mapped[int | None] = mapped_column(Integer)


class SyncRun(Base):
    """One row per run of one resource: when, how it ended, what it did."""

    __tablename__ = "odmirror_sync_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource: Mapped[str] = mapped_column(KeyText, index=True)
    mode: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    cursor_before: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    cursor_after: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    rows_fetched: Mapped[int] = mapped_column(Integer, default=0)
    rows_inserted: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    #: The office clock the run's first response reported (serverDateTime), as sent.
    office_clock: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    note: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class Rejected(Base):
    """A record the mirror could not take whole, once per distinct problem (table
    `odmirror_rejected`).

    `loaded` false: the record was not mirrored (no usable key, not an object); `payload` holds it
    as the PHI policy allows. `loaded` true: the row is in the mirror but some values were not
    (set NULL and kept in `odmirror_extra`, or characters removed); `payload` is NULL, the values
    are in the row's extras. `seen_at` and `run_id` are the last run that saw the problem.
    """

    __tablename__ = "odmirror_rejected"

    fingerprint: Mapped[str] = mapped_column(KeyText, primary_key=True)
    resource: Mapped[str] = mapped_column(KeyText, index=True)
    key: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    loaded: Mapped[bool] = mapped_column(Boolean)
    payload: Mapped[Any | None] = mapped_column(Extra)
    seen_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    run_id: Mapped[int | None] = mapped_column(Integer)


class Setting(Base):
    """What the mirror remembers of the config that wrote it (table `odmirror_settings`).

    `pii_policy`: the PHI policy last applied to every stored row, as JSON (etl.mirror.pii_scrub).
    """

    __tablename__ = "odmirror_settings"

    name: Mapped[str] = mapped_column(KeyText, primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
