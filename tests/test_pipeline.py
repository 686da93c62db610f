"""The fetch thread: order, errors, the bound on pages held, stopping; and a sync that uses it."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.engine import Engine as EngineClass

from etl.sync.fast_prefetch import SWITCH_SECONDS, Prefetch
from tests.test_sync import assert_mirror_matches, office_clock, sync

# Tests of a fast path itself: it is on whatever ODMIRROR_PLAIN says.
pytestmark = pytest.mark.usefixtures("fast_paths_on")


def test_items_arrive_in_order_and_all_of_them() -> None:
    with Prefetch(iter(range(1000)), depth=3) as items:
        assert list(items) == list(range(1000))


def test_an_error_of_the_source_reaches_the_reader_after_what_came_before() -> None:
    def failing() -> Iterator[int]:
        yield from (1, 2, 3)
        raise ConnectionError("office went offline")

    got: list[int] = []
    with Prefetch(failing()) as items, pytest.raises(ConnectionError, match="office went"):
        got.extend(items)
    assert got == [1, 2, 3]


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_the_fetch_thread_runs_ahead_by_depth_plus_one_and_no_further(depth: int) -> None:
    produced, taken = [0], [0]
    changed = threading.Condition()

    def source() -> Iterator[int]:
        for n in range(50):
            with changed:
                produced[0] = n + 1
                changed.notify_all()
            yield n

    with Prefetch(source(), depth=depth) as items:
        for n in items:
            taken[0] += 1
            bound = min(50, taken[0] + depth + 1)  # depth queued, one in the thread's hand
            with changed:
                changed.wait_for(lambda b=bound: produced[0] >= b, timeout=10)  # type: ignore[misc]
                assert produced[0] == bound, f"after item {n}"


def test_leaving_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    prefetch = Prefetch(endless())
    with prefetch as items:
        for n in items:
            if n == 5:
                break
    assert not prefetch._thread.is_alive()
    assert closed.is_set()


def test_thread_switches_are_quick_while_any_fetch_thread_runs_then_as_before() -> None:
    """Two pulls at once (a group's offices): the interval comes back after the last ends,
    also when one leaves on an error."""
    before = sys.getswitchinterval()
    first = Prefetch(iter(range(3)))
    with first:
        assert sys.getswitchinterval() == SWITCH_SECONDS
        with pytest.raises(KeyError), Prefetch(iter(range(3))):
            raise KeyError("left on an error")
        assert sys.getswitchinterval() == SWITCH_SECONDS
    assert sys.getswitchinterval() == before
    first.close()  # closing again changes nothing
    assert sys.getswitchinterval() == before


def test_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Prefetch(iter(()), depth=0)


def test_a_page_is_written_while_the_next_is_fetched(engine: Engine, make_sim: Any) -> None:
    """The first write waits for the second request to reach the API: without the fetch
    thread that request would only be sent after the write, and the wait would run out."""
    sim = make_sim(450, clock=office_clock())
    second_request = threading.Event()
    waited: list[bool] = []

    def on_request(index: int, _log: Any) -> None:
        if index == 1:
            second_request.set()

    def before_write(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # PostgreSQL COPYs a page of new rows inside a savepoint: psycopg's COPY is no statement
        # of SQLAlchemy's, the savepoint before it is.
        starts = ("INSERT INTO PATIENT", "SAVEPOINT")
        if not waited and statement.lstrip().upper().startswith(starts):
            waited.append(second_request.wait(timeout=20))

    sim.on_request(on_request)
    event.listen(EngineClass, "before_cursor_execute", before_write)
    try:
        sync(sim, engine)
    finally:
        event.remove(EngineClass, "before_cursor_execute", before_write)
    assert waited == [True]
    assert_mirror_matches(engine, sim)
