"""Ways of reading a list endpoint beyond "rows changed since": declarations the sync reads.

Open Dental's list endpoints are not all alike. Some take a change filter (a Resource's
`cursor_param`); some only list everything (a whole pull); some demand a parent's key
(`/adjustments?PatNum=`) and are read once per parent (`FanOut`); some list a date range
(`/schedules?dateStart=&dateEnd=`) or rows entered since a date (`/payments?DateEntry=`) and are
read over a window of dates around the office's today (`DateWindow`). Each is declared on the
Resource; etl.sync.requests turns the declaration into the requests of one run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class FanOut:
    """One list request per parent key, the keys read from the mirror's parent table.

    Attributes:
        param: the query parameter that takes the parent's key (e.g. "PatNum").
        parent_table: the mirror table of the parents (synced earlier in the same run).
        parent_key: its column holding the key the parameter takes.
        parent_change: its change-time column: an incremental run asks only for parents
            changed since the last complete run (less the overlap). None: every parent, every run.
        all_parents_every: a child can change while its parent's row does not (an adjustment
            on a patient whose row stayed the same): every parent is read again at least this
            often, a slice of them each run, in step with odmirror's clock (etl.sync.sweep).
            None: only changed parents until `--full`.
        activity: (mirror table, its column holding the parent key) pairs: parents that rows
            odmirror wrote there since the fan-out's last complete run name are read as well
            (a patient's new procedure or payment: an adjustment often comes with it). A hint
            that makes the usual case fresh; the sweep is what bounds the rest.

    A parent's list is complete for that parent: its children the list no longer returns are
    marked gone (`odmirror_gone_at`) once the run's every list was read to its end.
    """

    param: str
    parent_table: str
    parent_key: str
    parent_change: str | None = None
    all_parents_every: dt.timedelta | None = None
    activity: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DateWindow:
    """Requests over a range of dates around the office's today.

    With `end_param`, the range is cut into windows of `step` days, one request each
    (`dateStart`, `dateEnd`, inclusive); with `step` None (adaptive) one request asks for the
    whole range, and an answer that fills a page is asked again in two halves, recursively,
    down to a single day (etl.sync.series: the list's order is not unique, so Offset paging
    over several days is unsafe; a single day that still fills a page is paged with Offset).
    Without `end_param`, one request asks for rows on or after the start (`DateEntry=`,
    inclusive). The first run (or a full one) starts `first_back` days before today, later
    runs `back` days before it.

    Attributes:
        start_param: the query parameter of the first date.
        end_param: the query parameter of the last date, or None for "on or after".
        back: how far back an incremental run reads again.
        first_back: how far back a first or full run reads; None: no date at all (everything).
        ahead: how far after today the range ends (with end_param).
        step: the days one request covers (with end_param); None: adaptive, the whole range
            first, halved where an answer fills a page.
        date_field: the JSON key of the row's date the window selects on (e.g. "SchedDate"):
            an answer is complete for its dates, so rows of the mirror dated inside a window
            that its answer did not list are marked gone. None: nothing is marked.
        every: the whole window is read at most this often (`sync.whole_tables_every`); the
            runs between read a day back and a week ahead (etl.sync.cadence). None: every run.
    """

    start_param: str
    end_param: str | None
    back: dt.timedelta
    first_back: dt.timedelta | None = None
    ahead: dt.timedelta = dt.timedelta(0)
    step: dt.timedelta | None = dt.timedelta(days=7)
    date_field: str | None = None
    every: dt.timedelta | None = None
