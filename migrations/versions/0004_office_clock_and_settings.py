"""odmirror_sync_run.office_clock (the office clock each run read, for `status` to watch);
odmirror_settings (what the mirror remembers of its config: the PII policy it last applied)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 03:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# A key MySQL can index (it cannot index TEXT); TEXT elsewhere, as the other bookkeeping keys.
KEY_TEXT = sa.Text().with_variant(sa.String(255), "mysql", "mariadb")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("odmirror_sync_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("office_clock", sa.DateTime(), nullable=True))
    op.create_table(
        "odmirror_settings",
        sa.Column("name", KEY_TEXT, nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_odmirror_settings")),
    )


def downgrade() -> None:
    op.drop_table("odmirror_settings")
    with op.batch_alter_table("odmirror_sync_run", schema=None) as batch_op:
        batch_op.drop_column("office_clock")
