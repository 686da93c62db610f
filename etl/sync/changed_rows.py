"""Read a whole pull's changed rows through ShortQuery, then vouch for the mirror's key set.

The plan and why it is enough are etl.sync.whole_changes's. Here: the keyset read of the rows
stamped in the plan's window, each cut to what the endpoint sends and given the captions the
list derives as the mirror's rows show them, saved as a page of the list; then the mirror's
live key figures compared with the probe's, and the keys reconciled by ranges where they differ.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import Engine, select

from etl.api import short_query
from etl.api.client import ApiClient, Page
from etl.api.paginator import KeysetPaginator
from etl.catalog.query_tables import change_column
from etl.catalog.resources import Resource
from etl.control import RunControl
from etl.errors import ApiError
from etl.mapping.pii import PiiPolicy
from etl.sync import state, whole_changes, whole_skip
from etl.sync.reconcile import Reconciler, Target
from etl.sync.saver import PageSaver
from etl.sync.whole_changes import Plan
from etl.sync.whole_sql import mapped

log = logging.getLogger("etl.sync.run")


class ChangedRows:
    """One whole pull's changed rows, read by SQL and saved as the list's (see the module).

    Args:
        engine: the mirror.
        client: the office's API session.
        resource: the whole pull.
        plan: what to read (etl.sync.whole_changes.plan).
        pii: the PHI policy.
        stats: the run's counts (shared with the resource's run).
        control: stop request and progress hook.
    """

    def __init__(
        self,
        engine: Engine,
        client: ApiClient,
        resource: Resource,
        plan: Plan,
        pii: PiiPolicy,
        stats: state.RunStats,
        control: RunControl,
    ) -> None:
        self.engine, self.client, self.resource, self.plan = engine, client, resource, plan
        self.control, self.notes = control, list[str]()
        self.saver = PageSaver(engine, whole_changes.sql_view(resource), pii, stats)
        self.columns = {name.lower(): name for name in mapped(resource)}
        self.captions = _captions(engine, resource)
        self.vouched = False  # the mirror's keys found the probe's after the read

    def run(self, run_id: int | None, notes: list[str]) -> bool:
        """Read (saving under the resource's run), then check the keys; False: read whole.

        The keys are checked before the run is recorded: a reconciliation's requests and notes
        are the run's. The notes go to `notes`.
        """
        self.saver.run_id = run_id
        read = self.read()
        if read:
            self.vouched = self.vouch()
        notes += self.notes
        return read

    def read(self) -> bool:
        """Read and save the window's rows; False: a caption the mirror cannot tell (read whole).

        Raises:
            ApiError: the office refused or failed the SQL (the run fails, as a list's would).
            StopRequested: a stop was asked for (the pages saved so far stay).
        """
        resource, plan = self.resource, self.plan
        stamp = change_column(resource.table_name)
        ceiling = self.client.settings.max_pages
        paging = KeysetPaginator(
            resource.table_name, resource.key, stamp, plan.since, plan.until, max_pages=ceiling
        )
        read = 0
        # Rows the probe did not count (committed after it) are stamped no earlier than its
        # clock less the overlap: the next run's window. So none counted, none read; all
        # counted read, no empty page to learn the end.
        for page in short_query.pages(self.client, paging) if plan.changed else ():
            rows = [self._as_listed(row) for row in page.rows]
            if any(row is None for row in rows):
                self.notes.append("a caption the mirror has not shown yet: read whole")
                return False
            self.saver.save(Page(rows, 0, page.sent_at, page.received_at))
            read += len(rows)
            self.control.report(resource.name, self.saver.stats.fetched, self.client.requests_made)
            self.control.check()  # between pages: the page just saved is committed
            if read >= plan.changed:
                break
        shown = plan.since.strftime(state.TIME_FORMAT)
        self.notes.append(f"{self.saver.stats.fetched} rows stamped since {shown} read by SQL")
        return True

    def _as_listed(self, row: Any) -> Any:
        # The endpoint's columns only (others stay NULL, as the list leaves them), and each
        # caption the list derives, as the mirror's rows with the same code show it.
        if not isinstance(row, dict):
            return row  # the saver sets it aside as the list's own odd rows are
        listed = {self.columns[k.lower()]: v for k, v in row.items() if k.lower() in self.columns}
        for key, (source, shown) in self.captions.items():
            code = _code(listed.get(source))
            if code not in shown:
                return None
            listed[key] = shown[code]
        return listed

    def vouch(self) -> bool:
        """Whether the mirror's live keys are the probe's, after reconciling them if not.

        A reconciliation the office fails leaves the read unvouched (its rows stay saved).
        """
        office, resource = self.plan.office, self.resource
        if whole_changes.mirror_figures(self.engine, resource).same(office):
            return True
        target = Target(resource.table_name, resource.key, resource.table, resource.key_column)
        reconciler = Reconciler(self.engine, self.client, target, state.utcnow(), self.control)
        try:
            found = reconciler.run()
        except ApiError as exc:
            self.notes.append(f"keys not reconciled: {exc}")
            return False
        self.notes.append(found.note(reconciler.calls))
        if whole_changes.mirror_figures(self.engine, resource).same(office):
            return True
        self.notes.append("keys still unlike the probe's: the next run reads from the same time")
        return False

    def keep(self, probe: Any) -> None:
        """What the next run reads from: the probe of T1 if vouched for, else T0 again."""
        if self.vouched:
            whole_skip.after_pull(self.engine, self.resource, probe, self.plan.office.count)
        else:
            whole_skip.keep_start(self.engine, self.resource, probe, self.plan.before)


def planned(
    engine: Engine,
    client: ApiClient,
    resource: Resource,
    probe: Any,
    overlap: dt.timedelta,
    pii: PiiPolicy,
    stats: state.RunStats,
    control: RunControl,
) -> ChangedRows | None:
    """The read of a whole pull's changed rows this run, if the probe allows one (else None)."""
    plan = whole_changes.plan(engine, resource, probe, overlap)
    if plan is None:
        return None
    return ChangedRows(engine, client, resource, plan, pii, stats, control)


def _captions(engine: Engine, resource: Resource) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per caption key the list derives: its code's column and each code's caption in the mirror.

    A code the mirror's live rows show with two captions is left out (not known).
    """
    table = resource.table
    names = {str(c.info["od_name"]).lower(): c for c in table.columns if "od_name" in c.info}
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for column in (c for c in table.columns if "derived_from" in c.info):
        key = str(column.info["derived_from"])
        source = names[key.lower()]
        with engine.connect() as conn:
            pairs = conn.execute(
                select(source, column).where(table.c.odmirror_gone_at.is_(None)).distinct()
            ).all()
        shown: dict[str, Any] = {}
        twice = set()
        for code, caption in pairs:
            if _code(code) in shown:
                twice.add(_code(code))
            shown[_code(code)] = caption
        known = {code: caption for code, caption in shown.items() if code not in twice}
        found[key] = (str(source.info["od_name"]), known)
    return found


def _code(value: Any) -> str:
    # A code comes as a number, or a number's text: one spelling for both sides.
    text = str(value).strip()
    try:
        return str(int(text))
    except ValueError:
        return text
