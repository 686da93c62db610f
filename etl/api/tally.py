"""Requests counted for whom they were made: a run's resources may share the API session.

A resource's next one may start fetching while its last pages are written (etl.sync.overlap):
two threads then send requests through one ApiClient, in turn. The client's total says how
many in all; a RequestTally says how many a thread made while it worked for one resource, so
each resource's run reports its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class RequestTally:
    """The requests made for one resource's run, on whichever threads worked for it."""

    count: int = 0


class Tallies:
    """Which tally each thread's requests go to."""

    def __init__(self) -> None:
        self._local = threading.local()

    def work_for(self, tally: RequestTally | None) -> RequestTally | None:
        """Count this thread's requests to `tally` from now on; returns the one before."""
        before: RequestTally | None = getattr(self._local, "tally", None)
        self._local.tally = tally
        return before

    def add(self, requests: int) -> None:
        """Count requests this thread made (the client's lock is held: one adds at a time)."""
        tally: RequestTally | None = getattr(self._local, "tally", None)
        if tally is not None:
            tally.count += requests
