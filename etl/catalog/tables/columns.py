"""Column helpers shared by the Open Dental table models (nullable, as the API may omit keys)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, Integer
from sqlalchemy.orm import mapped_column

from etl.catalog.base import Extra, Money, Timestamp


def key(name: str) -> Any:
    """The primary key: Open Dental's bigint, never generated here."""
    return mapped_column(name, BigInteger, primary_key=True, autoincrement=False)


def fk(name: str, index: bool = False) -> Any:
    """A bigint foreign key (0 = none in Open Dental)."""
    return mapped_column(name, BigInteger, index=index)


def number(name: str) -> Any:
    """A small whole number (counts, orders, units)."""
    return mapped_column(name, Integer)


def flag(name: str) -> Any:
    """A boolean the API sends as "true"/"false"."""
    return mapped_column(name, Boolean)


def day(name: str, index: bool = False) -> Any:
    """A date ("0001-01-01" = none, stored NULL)."""
    return mapped_column(name, Date, index=index)


def moment(name: str, index: bool = False) -> Any:
    """A date-time in office local time."""
    return mapped_column(name, Timestamp, index=index)


def money(name: str) -> Any:
    """An amount (a double in Open Dental; exact here)."""
    return mapped_column(name, Money)


def extra() -> Any:
    """odmirror's own: the fields the model does not know yet."""
    return mapped_column(Extra)


def synced_at() -> Any:
    """odmirror's own: when the row was last written."""
    return mapped_column(Timestamp)


def gone_at() -> Any:
    """odmirror's own, for tables pulled whole: when the row stopped coming (NULL = present)."""
    return mapped_column(Timestamp)
