"""An index on claimproc.claimpaymentnum for kpi_insurance_collections

The insurance collections view dates each payment by its check (claimpayment.CheckDate): a
month's filter finds the checks by their date index and then their claimprocs by ClaimPaymentNum,
which had no index, so every claimproc was read. Open Dental indexes the column too.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 06:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_claimproc_claimpaymentnum", "claimproc", ["claimpaymentnum"])


def downgrade() -> None:
    # A first load killed before its end leaves the secondary indexes dropped (fast_indexes).
    present = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("claimproc")}
    if "ix_claimproc_claimpaymentnum" in present:
        op.drop_index("ix_claimproc_claimpaymentnum", table_name="claimproc")
