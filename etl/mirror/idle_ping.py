"""A pooled connection is tested before use only after it sat idle: not before every page.

`pool_pre_ping` sends a `SELECT 1` at every checkout. A sync checks a connection out for each
page it saves, a few times a second, so on PostgreSQL and MySQL every page paid one more round
trip to a server that answered a moment before (measured: 5% of a first load's samples on
PostgreSQL). A connection can only have gone stale while nobody used it (the server
restarted, a firewall dropped it, `wait_timeout` passed); so it is tested when it has been
idle longer than IDLE_SECONDS, as pre-ping would: a dead one is replaced (the pool tries up to
three times) and the run goes on.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event, exc

#: How long a connection may sit in the pool and still be used untested.
IDLE_SECONDS = 5.0
_RETURNED = "odmirror_returned_at"


def attach(engine: Engine) -> None:
    """Test the engine's pooled connections at checkout when they were idle (see the module)."""
    event.listen(engine, "checkin", _returned)
    event.listen(engine, "checkout", lambda conn, record, _proxy: _test(engine, conn, record))


def _returned(_conn: Any, record: Any) -> None:
    if record is not None:
        record.info[_RETURNED] = time.monotonic()


def _test(engine: Engine, conn: Any, record: Any) -> None:
    returned = record.info.pop(_RETURNED, None)
    if returned is None or time.monotonic() - returned <= IDLE_SECONDS:
        return  # just made, or used a moment ago
    try:
        alive = engine.dialect.do_ping(conn)
    except engine.dialect.loaded_dbapi.Error as error:
        raise exc.DisconnectionError(
            f"a pooled connection was dead: {type(error).__name__}"
        ) from None
    if not alive:
        raise exc.DisconnectionError("a pooled connection was dead")
