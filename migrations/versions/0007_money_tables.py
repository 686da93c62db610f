"""money tables: claimprocs, payments, adjustments, insurance, recalls, schedules and the rest

Creates the 26 tables of issue 21 as Open Dental 24.3 has them (etl.catalog.opendental: every
column, Open Dental's order and values), each followed by the text its endpoint derives from
another table, odmirror's own columns, and `odmirror_gone_at` on the tables pulled whole; then
the indexes the KPI views and the sync read. The downgrade drops them.

The shapes are written out here (not read from etl.catalog.tables), so that later changes to the
catalog do not change what this revision does; Open Dental 24.3's schema file is fixed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from etl.catalog.od_types import text as od_text
from etl.catalog.opendental import OD_TABLES, od_table

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMING = {"ix": "ix_%(table_name)s_%(column_0_N_name)s", "pk": "pk_%(table_name)s"}
# table: (derived text columns, indexed columns, pulled whole)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "claimproc": ((), ("procnum", "datecp", "procdate", "patnum", "claimnum", "secdatetedit"),
                  True),
    "paysplit": (("unearnedtype_name",), ("datepay", "paynum", "patnum", "secdatetedit"), True),
    "payment": (("paytype_name",), ("paydate", "dateentry", "patnum", "secdatetedit"), False),
    "adjustment": (("adjtype_name",), ("adjdate", "patnum", "secdatetedit"), False),
    "insplan": ((), ("secdatetedit",), True),
    "carrier": ((), (), True),
    "patplan": ((), ("patnum", "secdatetedit"), True),
    "benefit": (("code_proccode",), ("plannum", "secdatetedit"), True),
    "recall": ((), ("datedue", "patnum", "datetstamp"), True),
    "recalltype": ((), (), True),
    "schedule": ((), ("scheddate", "datetstamp"), False),
    "scheduleop": ((), ("schedulenum",), True),
    "feesched": ((), ("secdatetedit",), True),
    "fee": ((), ("secdatetedit",), True),
    "userod": ((), (), True),
    "referral": ((), ("datetstamp",), True),
    "refattach": ((), ("patnum", "datetstamp"), False),
    "commlog": ((), ("patnum", "datetstamp"), False),
    "claimtracking": ((), ("claimnum",), True),
    "payplan": ((), ("patnum", "guarantor"), False),
    "payplancharge": ((), ("payplannum", "patnum", "secdatetedit"), False),
    "proctp": ((), ("treatplannum", "secdatetedit"), False),
    "treatplanattach": ((), ("treatplannum",), False),
    "payplanlink": ((), ("payplannum",), True),
    "preference": ((), (), True),
    "claimsnapshot": ((), ("claimprocnum",), True),
}  # fmt: skip
_SECONDS = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
_TIMESTAMP = sa.DateTime().with_variant(
    sa.dialects.sqlite.DATETIME(storage_format=_SECONDS),  # type: ignore[no-untyped-call]
    "sqlite",
)


def _table(name: str) -> sa.Table:
    derived, indexed, whole = TABLES[name]
    texts = {c.name.lower() for c in OD_TABLES[name] if c.storage == "String"}
    metadata = sa.MetaData(naming_convention=NAMING)
    table = od_table(name, metadata, indexed_text=set(indexed) & texts)
    for column in derived:
        table.append_column(sa.Column(column, od_text()))
    table.append_column(sa.Column("odmirror_extra", sa.JSON(none_as_null=True)))
    table.append_column(sa.Column("odmirror_synced_at", _TIMESTAMP))
    if whole:
        table.append_column(sa.Column("odmirror_gone_at", _TIMESTAMP))
    return table


def upgrade() -> None:
    conn = op.get_bind()
    for name, (_derived, indexed, _whole) in TABLES.items():
        _table(name).create(conn)
        for column in indexed:
            op.create_index(f"ix_{name}_{column}", name, [column])


def downgrade() -> None:
    for name in reversed(list(TABLES)):
        op.drop_table(name)
