"""odmirror_rejected: records the mirror could not take whole

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 21:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# Text in a key or an index is a VARCHAR on MySQL, which indexes no TEXT (etl.catalog.base).
KEY_TEXT = sa.Text().with_variant(sa.String(255), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "odmirror_rejected",
        sa.Column("fingerprint", KEY_TEXT, nullable=False),
        sa.Column("resource", KEY_TEXT, nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("loaded", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_odmirror_rejected")),
    )
    with op.batch_alter_table("odmirror_rejected", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_odmirror_rejected_resource"), ["resource"], unique=False
        )


def downgrade() -> None:
    # if_exists: a first load killed before its end leaves a table's secondary indexes dropped
    # (etl/indexes.py) until its next sync; the downgrade must not fail on such a mirror.
    with op.batch_alter_table("odmirror_rejected", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_odmirror_rejected_resource"), if_exists=True)
    op.drop_table("odmirror_rejected")
