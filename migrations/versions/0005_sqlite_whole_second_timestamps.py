"""SQLite timestamps written by the first releases lose their ".000000": one format, comparable

The first releases stored SQLite timestamps as "2025-01-02 03:04:05.000000"; later ones write
"2025-01-02 03:04:05". SQLite compares them as text, and the shorter sorts first: a row stored
the old way could not be written again with the same change time (the newer-row guard saw the
incoming time as older), so a policy change or a `--full` run left such rows as they were.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 03:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "____-__-__ __:__:__.000000"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL keeps timestamps as timestamps
    inspector = sa.inspect(bind)
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            if not isinstance(column["type"], sa.DateTime):
                continue
            name = bind.dialect.identifier_preparer.quote(column["name"])
            quoted = bind.dialect.identifier_preparer.quote(table)
            bind.exec_driver_sql(
                f"UPDATE {quoted} SET {name} = substr({name}, 1, 19) WHERE {name} LIKE '{_OLD}'"
            )


def downgrade() -> None:
    pass  # the shorter form is what every later release reads and writes
