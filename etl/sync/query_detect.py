"""Whether an office's API tier may run SQL (ShortQuery), asked once and remembered.

`api.queries: auto` asks the office once with a harmless `SELECT 1`: an answer means yes, a 401
(no Queries permission) or a 400 (SQL screened out) means no. The answer is kept in the
mirror's `odmirror_settings` (name `api_queries`), so later runs do not ask again; `on` and
`off` decide without asking. A failure that says nothing about the tier (the office offline, a
timeout) is not remembered: it propagates, and the next run asks again.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, delete, insert, select

from etl.api.client import ApiClient
from etl.api.short_query import PROBE_SQL, QueryNotAllowed, QueryRefused, short_query
from etl.mirror.bookkeeping import Setting

log = logging.getLogger("etl.sync.run")
SETTING = "api_queries"


def queries_allowed(engine: Engine, client: ApiClient, mode: str, asked: bool = True) -> bool:
    """Whether query mode may be used for this office.

    Args:
        engine: the mirror (where the answer is remembered).
        client: the office's API session.
        mode: `api.queries`: auto, on or off.
        asked: the config asks for SQL (`sync.tables`); if not, a tier without it is no
            warning, only an info line (SQL would only have saved requests).

    Raises:
        ApiError: the probe failed for a reason other than the tier's permission.
    """
    if mode in ("on", "off"):
        return mode == "on"
    known = remembered(engine)
    if known is not None:
        return known
    try:
        short_query(client, PROBE_SQL)
        allowed, why = True, ""
    except (QueryNotAllowed, QueryRefused) as exc:
        allowed, why = False, str(exc)
    remember(engine, allowed)
    if not allowed:
        (log.warning if asked else log.info)(
            "query mode off for this office (after a tier upgrade: api.queries: on): %s", why
        )
    return allowed


def remembered(engine: Engine) -> bool | None:
    """The answer a probe left in the mirror, or None if none did."""
    with engine.connect() as conn:
        value = conn.execute(select(Setting.value).where(Setting.name == SETTING)).scalar()
    return None if value not in ("on", "off") else value == "on"


def remember(engine: Engine, allowed: bool | None) -> None:
    """Keep (or, with None, forget) whether the office may run SQL."""
    with engine.begin() as conn:
        conn.execute(delete(Setting).where(Setting.name == SETTING))
        if allowed is not None:
            conn.execute(insert(Setting).values(name=SETTING, value="on" if allowed else "off"))
