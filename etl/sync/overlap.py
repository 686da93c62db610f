"""The next resources start while one is read (fast path `overlap`).

Between two resources the API would sit idle: the last pages are still being written, the
indexes a first load deferred are built, and two dozen bookkeeping statements record the run
and start the next (measured: 1.8 s of a 15 s PostgreSQL first load of a practice, with nothing
asked of the API). So while a resource is read, the next ones (at most AHEAD) are started: their
decisions and their run's row on the main thread, between two pages; their fetch threads in a
chain, each starting the moment the one before has fetched its last page, so the API is asked
one list after another as in a bare fetch. The threads take turns on the API session (one
request at a time, etl.api.client), and each run counts its own requests (etl.api.tally).
A fetch thread holds at most two pages ahead of the writer (etl.sync.fast_prefetch).

A resource starts early only where what it asks cannot depend on the ones before: not a fan-out
(its parents are read from the mirror, maybe from the table being written), not a date window
(the office's date comes from the cursors, theirs among them), and not against a throttled API
(the interval hides the gap, and a request made for a resource whose turn never comes is a
second of the bill). Its cadence is looked at when it starts, a few seconds before its turn.
Should the run end before its turn, it is abandoned: its fetch stops, its indexes are made
again and its run's row removed, as if it had never begun. Plain twin: each resource starts
when the one before has ended.
"""

from __future__ import annotations

from collections.abc import Sequence

from etl import fast_paths
from etl.catalog.resources import Resource
from etl.sync import state
from etl.sync.fast_prefetch import Prefetch
from etl.sync.list_pull import NumberedPage
from etl.sync.resource import ResourceSync

#: Resources started ahead of the one being read: enough that a few small ones (a page or
#: two each, fetched in less time than the bookkeeping between them) keep the API busy.
AHEAD = 2


def may_start_early(resource: Resource, min_request_interval: float) -> bool:
    """Whether `resource` may start while the ones before are read."""
    return (
        fast_paths.enabled("overlap")
        and fast_paths.enabled("prefetch")  # its pages come on a fetch thread
        and min_request_interval <= 0
        and resource.fan_out is None
        and resource.window is None
    )


class _Ahead:
    """The resources started before their turn, their fetches in one chain."""

    def __init__(self, syncs: Sequence[ResourceSync]) -> None:
        self.syncs = syncs
        self.started = 0  # syncs[:started] have begun
        self.last_fetch: Prefetch[NumberedPage] | None = None  # the chain's end

    def turn(self, index: int) -> None:
        """The resource at `index` has its turn: it starts now if it has not."""
        one = self.syncs[index]
        if not one.started:
            one.start()
            self.last_fetch = one.pages if isinstance(one.pages, Prefetch) else self.last_fetch
        self.started = max(self.started, index + 1)
        one.start_next = lambda: self.fill(index)

    def fill(self, index: int) -> None:
        """Start the resources after `index`, up to AHEAD of it, that may start early."""
        while self.started < min(len(self.syncs), index + 1 + AHEAD):
            following = self.syncs[self.started]
            interval = following.client.settings.min_request_interval
            if not may_start_early(following.resource, interval):
                return
            self.started += 1
            fetch = following.start_early()
            if fetch is None:
                continue  # nothing to fetch, or its failure waits for its turn
            if self.last_fetch is None:
                fetch.start()
            else:
                self.last_fetch.then(fetch.start)  # at once if that one is done
            self.last_fetch = fetch

    def abandon(self, index: int, failure: BaseException) -> None:
        """The run ends at `index`: the resources begun after it are undone."""
        for following in self.syncs[index + 1 : self.started]:
            following.abandon(failure)


def run_in_turn(syncs: Sequence[ResourceSync], results: list[state.RunResult]) -> None:
    """Run each resource's sync in turn, the next ones starting early where they may.

    Args:
        syncs: the run's resources, in order.
        results: where each one's result is added as it ends.

    Raises:
        Whatever ends a resource's run; those begun after it are abandoned first.
    """
    ahead = _Ahead(syncs)
    for index, one in enumerate(syncs):
        try:
            ahead.turn(index)
            results.append(one.run())
        except BaseException as exc:
            ahead.abandon(index, exc)
            raise
