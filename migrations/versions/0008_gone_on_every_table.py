"""odmirror_gone_at on every mirrored table

Until now only the tables pulled whole had `odmirror_gone_at`. Open Dental hard-deletes rows of
the others too (claimproc estimates, paysplits, recalls, schedules) and no feed lists them:
odmirror now finds them by comparing key ranges with the office (etl.sync.reconcile) or a
parent's complete list of children, and marks them the same way. The column is added, empty, to
the 18 tables that lacked it; nothing is read again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 06:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The mirrored tables that had no odmirror_gone_at at revision 0007 (written out, so later
#: catalog changes do not change what this revision does).
TABLES = (
    "patient", "appointment", "procedurelog", "provider", "procedurecode", "claim",
    "claimpayment", "inssub", "treatplan", "payment", "adjustment", "schedule", "refattach",
    "commlog", "payplan", "payplancharge", "proctp", "treatplanattach",
)  # fmt: skip
_SECONDS = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
_TIMESTAMP = sa.DateTime().with_variant(
    sa.dialects.sqlite.DATETIME(storage_format=_SECONDS),  # type: ignore[no-untyped-call]
    "sqlite",
)


def upgrade() -> None:
    for name in TABLES:
        op.add_column(name, sa.Column("odmirror_gone_at", _TIMESTAMP))


def downgrade() -> None:
    for name in reversed(TABLES):
        with op.batch_alter_table(name) as batch:
            batch.drop_column("odmirror_gone_at")
