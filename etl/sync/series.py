"""The request series of one pass, each paged to its end; adaptive date windows halved.

A pass of a resource is one request series per parent key or date window
(etl.sync.requests.request_params), each paged with Limit/Offset. A date window declared
adaptive (etl.catalog.reading.DateWindow, `step` None) is one series for its whole range: a
run in which little is scheduled costs one request. Schedules are "whole range loaded then
paged" in StartTime order, which is not unique, so Offset paging over a range larger than a
page may skip or repeat rows: an answer that fills a page (the server may have more) is set
aside and its range asked again in two halves, each halved again while it fills a page, down
to a single day, which, if it still fills a page, is paged with Offset as before.

Only series read to their end are listed (`listed`): etl.sync.requests.listed_scopes marks
removed rows within those alone, so a range set aside proves nothing; its halves do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from etl.api.client import ApiClient, Page
from etl.api.paginator import OffsetPaginator, full_page
from etl.catalog.resources import Resource
from etl.sync import state

_DAY = dt.timedelta(days=1)


def pass_pages(
    client: ApiClient,
    resource: Resource,
    filters: dict[str, str],
    extras: Iterable[dict[str, str]],
    since: dt.datetime | None,
    listed: list[dict[str, str]] | None,
) -> Iterator[tuple[int, Page]]:
    """The pages of one pass, each with its number in its series.

    Args:
        client: the API session.
        resource: what is read.
        filters: the pass's filters.
        extras: the extra parameters of each series (etl.sync.requests.request_params).
        since: where an incremental read starts (the resource's change filter), or None.
        listed: where the extra parameters of each series read to its end go (None: kept
            nowhere, a filtered pass lists only part of its scope).
    """
    window = resource.window
    adaptive = window is not None and window.end_param is not None and window.step is None
    for extra in extras:
        if adaptive and extra:
            yield from _halving(client, resource, filters, extra, listed)
            continue
        yield from enumerate(_series(client, resource, {**filters, **extra}, since))
        if listed is not None:  # read to its end (a failed read has raised)
            listed.append(extra)


def _series(
    client: ApiClient, resource: Resource, params: dict[str, Any], since: dt.datetime | None
) -> Generator[Page, None, None]:
    if since is not None and resource.cursor_param:
        params = {**params, resource.cursor_param: since.strftime(state.TIME_FORMAT)}
    api = client.settings
    paging = OffsetPaginator(api.page_size, resource.name, resource.key, api.max_pages)
    yield from client.pages(resource.path, params, paging)


def _halving(
    client: ApiClient,
    resource: Resource,
    filters: dict[str, str],
    extra: dict[str, str],
    listed: list[dict[str, str]] | None,
) -> Iterator[tuple[int, Page]]:
    window = resource.window
    assert window is not None and window.end_param is not None
    first_param, last_param = window.start_param, window.end_param
    ranges = [(dt.date.fromisoformat(extra[first_param]), dt.date.fromisoformat(extra[last_param]))]
    # Bounded: a range is only ever replaced by two shorter ones, down to single days, so a
    # window of n days is asked at most 2n - 1 times before its days are paged.
    while ranges:
        first, last = ranges.pop()
        part = {**extra, first_param: first.isoformat(), last_param: last.isoformat()}
        pages = _series(client, resource, {**filters, **part}, None)
        head = next(pages)  # a list always answers a first page
        if first < last and full_page(head.rows, client.settings.page_size):
            pages.close()  # maybe more, in an order Offset cannot page safely: ask halves
            middle = first + (last - first) // 2
            ranges += [(middle + _DAY, last), (first, middle)]  # the first half is next
            continue
        yield 0, head
        yield from enumerate(pages, 1)
        if listed is not None:
            listed.append(part)
