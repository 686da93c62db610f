"""Keep what other roles may do with the views odmirror drops and makes again (PostgreSQL).

`odmirror init` recreates the readable `_v` views and the group views: a dropped view takes
its grants with it, and a BI reader's dashboards would break after each upgrade. The grants
of each view (but its owner's) are read before the drop and given again after the create, in
the same transaction. SQLite has no grants.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

# aclexplode: one row per (grantee, privilege); grantee 0 is PUBLIC. regrole quotes a name
# that needs it, as GRANT wants it.
_GRANTS = text(
    """
    SELECT c.relname AS view, a.privilege_type AS privilege, a.is_grantable AS grantable,
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL aclexplode(c.relacl) a
    WHERE n.nspname = COALESCE(:schema, current_schema())
      AND c.relname = ANY(:names) AND a.grantee <> c.relowner
    ORDER BY 1, 4, 2
    """
)


@dataclass(frozen=True)
class Grant:
    """One privilege one role has on one view."""

    view: str
    privilege: str
    grantee: str
    grantable: bool


def read_grants(conn: Connection, names: Sequence[str], schema: str | None = None) -> list[Grant]:
    """The grants on these views of `schema` (default: the connection's current schema)."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(_GRANTS, {"schema": schema, "names": list(names)})
    return [Grant(r.view, r.privilege, r.grantee, bool(r.grantable)) for r in rows]


def give_grants(conn: Connection, grants: Sequence[Grant], schema: str | None = None) -> None:
    """Grant each again, on the view of that name that exists now (a view gone stays gone)."""
    quote = conn.dialect.identifier_preparer.quote
    present = _existing(conn, sorted({g.view for g in grants}), schema)
    for grant in grants:
        if grant.view not in present:
            continue
        where = f"{quote(schema)}.{quote(grant.view)}" if schema else quote(grant.view)
        option = " WITH GRANT OPTION" if grant.grantable else ""
        conn.exec_driver_sql(f"GRANT {grant.privilege} ON {where} TO {grant.grantee}{option}")


@contextlib.contextmanager
def grants_kept(
    conn: Connection, names: Sequence[str], schema: str | None = None
) -> Iterator[None]:
    """Around dropping and recreating these views: their grants are given again after."""
    grants = read_grants(conn, names, schema)
    yield
    give_grants(conn, grants, schema)


def _existing(conn: Connection, names: Sequence[str], schema: str | None) -> set[str]:
    if not names:
        return set()
    found = conn.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = COALESCE(:schema, current_schema()) AND c.relname = ANY(:names)"
        ),
        {"schema": schema, "names": list(names)},
    )
    return {row[0] for row in found}
