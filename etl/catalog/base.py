"""The declarative base and column types shared by every mirrored table.

On a mirrored model, each attribute is named after the API's JSON key and maps to a column named
as in Open Dental's database; a column's `info["enum"]` lists the names the API sends for an
integer code (code = position in the list).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import DeclarativeBase, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Balances are doubles in Open Dental; NUMERIC keeps them exact once parsed from the JSON text.
Money = Numeric(18, 4, asdecimal=True)
# SQLite keeps timestamps as text: write them as Open Dental shows them, without microseconds.
Timestamp = DateTime().with_variant(
    sqlite.DATETIME(  # type: ignore[no-untyped-call]
        storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
    ),
    "sqlite",
)
# SQL NULL, not the JSON text 'null', when a row has nothing extra.
Extra = JSON(none_as_null=True)
# Text in a key or an index: MySQL indexes no TEXT column, so there it is a VARCHAR (255
# characters of utf8mb4 fit InnoDB's 3072-byte index entries); TEXT elsewhere.
KeyText = Text().with_variant(String(255), "mysql", "mariadb")


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints the same way."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def text(name: str) -> Any:
    """A nullable text column (Open Dental's varchar limits are not enforced by the API)."""
    return mapped_column(name, Text)


def code(name: str, values: tuple[str, ...], index: bool = False) -> Any:
    """A nullable integer-code column for an enum the API sends by name."""
    return mapped_column(name, SmallInteger, index=index, info={"enum": values})
