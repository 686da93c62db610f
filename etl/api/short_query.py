"""Open Dental's ShortQuery: a read-only SELECT run on the office's database, 100 rows a call.

`PUT /queries/ShortQuery` with `{"SqlCommand": "..."}` answers a bare JSON array of rows, with
the database's raw values (integer enums and flags, "yyyy-MM-ddTHH:mm:ss" dates). It needs the
"Queries" API permission (a paid tier); a tier without it, or SQL that writes, gets 401; a
syntax error 400; a query past the server's 60 s 504. Each call runs on the office's live
database and lands in its audit trail: callers page by keyset (etl.api.paginator) and keep
pages small. A 504 is not tried again as is: `pages()` halves the page and goes on.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import requests

from etl.api.client import ApiClient, Page
from etl.api.errors import explanation, status_error
from etl.api.paginator import KeysetPaginator, parse_query_time
from etl.errors import ApiError, AuthError

PATH = "queries/ShortQuery"
#: Asked of a tier once to learn whether it may run queries at all.
PROBE_SQL = "SELECT 1 AS Probe"
#: The office's clock, which bounds a keyset run (changes stamped from then on wait).
CLOCK_SQL = "SELECT NOW() AS ServerNow"


class QueryNotAllowed(AuthError):
    """401: the office's API tier lacks the Queries permission (or the SQL writes)."""


class QueryRefused(ApiError):
    """400: the server refused the SQL (a syntax error, or SQL its screening rejects)."""


class QueryTimedOut(ApiError):
    """504: the query ran past the server's limit (60 s on Remote)."""


def query_error(path: str, response: requests.Response, secrets: tuple[str, ...]) -> ApiError:
    """The one-line error for a failed ShortQuery call (the SQL is not repeated: it is ours)."""
    status, said = response.status_code, explanation(response, secrets)
    if status == 401:
        return QueryNotAllowed(
            "the office's API tier does not allow SQL queries (Queries permission), "
            f"or the server took the SQL for a write (401){said}"
        )
    if status == 400:
        return QueryRefused(f"the server refused the SQL of a ShortQuery (400){said}")
    if status == 504:
        return QueryTimedOut(f"a ShortQuery ran past the server's time limit (504){said}")
    return status_error(path, response, secrets)


def short_query(client: ApiClient, sql: str) -> list[dict[str, Any]]:
    """Run one SELECT through ShortQuery and return its rows as sent.

    Raises:
        QueryNotAllowed, QueryRefused, QueryTimedOut: as the server answered.
        ApiError: any other failure, or an answer that is not an array of objects.
    """
    rows = client.put(PATH, {"SqlCommand": sql}, errors=query_error)
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ApiError(f"unexpected answer from {PATH}: not a JSON array of rows")
    return rows


def office_now(client: ApiClient) -> dt.datetime:
    """The office database's clock (`SELECT NOW()`), to the second, without a zone.

    Raises:
        ApiError: the query failed or did not answer one date-time.
    """
    rows = short_query(client, CLOCK_SQL)
    moment = parse_query_time(rows[0].get("ServerNow")) if len(rows) == 1 else None
    if moment is None or moment.year < 2000:
        raise ApiError(f"{PATH} did not answer the office's clock to SELECT NOW()")
    return moment


def pages(client: ApiClient, paginator: KeysetPaginator) -> Iterator[Page]:
    """Yield a table's pages as the keyset paginator asks for them.

    A 504 halves the page and asks again from the same row; a page of one row that still
    times out ends with the paginator's one line (never an endless loop).
    """
    while paginator.has_next_page:
        sent_at = time.monotonic()
        sql = paginator.update_request({})["SqlCommand"]
        try:
            rows = short_query(client, sql)
        except QueryTimedOut:
            paginator.shrink()
            continue
        yield Page(rows, 0, sent_at, time.monotonic())
        paginator.update_state(rows)
