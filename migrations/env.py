"""Alembic environment for the odmirror mirror schema.

`odmirror init` passes its engine in `config.attributes["engine"]`. Run as `alembic upgrade head`
from the repository root, the database URL comes from odmirror's own config: `-x config=PATH`,
else $ODMIRROR_CONFIG, else ./config.yaml (or `-x url=...` to name a database directly). With
a config that lists practices, `-x practice=NAME` picks the practice's schema or file.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import etl.catalog.tables
import etl.mirror.bookkeeping  # noqa: F401  (and odmirror's own)
from etl.catalog.base import Base
from etl.config.load import load_settings
from etl.config.targets import migration_url
from etl.mirror import mysql
from etl.mirror.engine import VERSION_TABLE, make_engine
from etl.mirror.grants import grants_kept
from etl.mirror.kpi_views import create_kpi_views, drop_kpi_views, kpi_view_names
from etl.mirror.views import create_views, drop_views, view_names

config = context.config
target_metadata = Base.metadata


def _engine() -> Engine:
    given = config.attributes.get("engine")
    if given is not None:
        return given
    return make_engine(_url())


def _url() -> str:
    args = context.get_x_argument(as_dictionary=True)
    if args.get("url"):
        return args["url"]
    return migration_url(load_settings(args.get("config")), args.get("practice"))


def run_migrations_offline() -> None:
    """Emit SQL for `alembic upgrade head --sql`."""
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        version_table=VERSION_TABLE,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    engine = _engine()
    with engine.connect() as connection:
        if mysql.is_mysql(connection.dialect.name):
            mysql.use_utf8mb4(connection)
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=VERSION_TABLE,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        # Views stand in the way of SQLite's batch table rebuilds: drop them first, and make
        # them again over whatever tables the target revision has (with their grants: a BI
        # reader's SELECT on them outlives an upgrade).
        views = view_names() + kpi_view_names()
        with context.begin_transaction(), grants_kept(connection, views):
            drop_kpi_views(connection)  # before the tables' views: SQLite batch rebuilds
            drop_views(connection)
            context.run_migrations()
            create_views(connection)
            create_kpi_views(connection)  # those whose tables the mirror has at this revision
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
