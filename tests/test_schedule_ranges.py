"""Schedules without SQL: one request for the whole window, halved only where a page fills.

The schedules list is "whole range loaded then paged" in StartTime order, not unique: Offset
paging over a range is unsafe, so a full answer is asked again in halves, down to a day
(etl.sync.series). Removed rows are marked within the ranges read to their end only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine

from etl.catalog.resources import RESOURCES
from tests.conftest import DATABASES
from tests.practice import assert_mirrors, office_clock, sync
from tests.test_fanout_gone import assert_gone_exactly, remove

SCHEDULES = RESOURCES["schedules"]
NAMES = ("patients", "schedules")


@pytest.fixture
def practice(make_sim: Any) -> Any:
    # No SQL: the endpoints alone (etl.sync.whole_probe's probe would vouch otherwise).
    return make_sim(20, clock=office_clock(), queries_allowed=False).fill_practice()


def asked(sim: Any) -> list[dict[str, str]]:
    """The query parameters of each schedules request, in order."""
    return [r.query for r in sim.requests if r.path.strip("/").lower() == "api/v1/schedules"]


def days(query: dict[str, str]) -> int:
    first, last = (dt.date.fromisoformat(query[k]) for k in ("dateStart", "dateEnd"))
    return (last - first).days + 1


def test_a_small_practice_with_no_change_costs_one_request(engine: Engine, practice: Any) -> None:
    sync(practice, engine, NAMES, page_size=1000)
    practice.clock.advance(900)
    practice.requests.clear()
    results = {r.resource: r for r in sync(practice, engine, NAMES, page_size=1000)}
    today = practice.clock.now().date()
    assert asked(practice) == [
        {
            "dateStart": str(today - dt.timedelta(days=8)),
            "dateEnd": str(today + dt.timedelta(days=121)),
            "Limit": "1000",
            "Offset": "0",
        }
    ]
    assert results["schedules"].stats.requests == 1
    assert_mirrors(engine, practice, SCHEDULES)


def test_a_full_answer_is_asked_again_in_halves_down_to_a_day(
    engine: Engine, practice: Any
) -> None:
    # Five rows a page: ranges halve down to single days, and a day of more is paged by Offset.
    sync(practice, engine, NAMES, page_size=5)
    queries = asked(practice)
    assert days(queries[0]) == 731 + 121 + 1  # the whole first window, at once
    for query in queries:
        if query["Offset"] != "0":
            assert days(query) == 1, query  # only a single day is paged
    # The ranges set aside and their halves: each range's halves follow it, first half first.
    pairs = [(q["dateStart"], q["dateEnd"]) for q in queries if q["Offset"] == "0"]
    assert len(pairs) == len(set(pairs)) and len(pairs) <= 2 * days(queries[0]) - 1
    assert_mirrors(engine, practice, SCHEDULES)


def test_halving_costs_fewer_requests_than_weeks(engine: Engine, practice: Any) -> None:
    sync(practice, engine, NAMES)
    practice.clock.advance(900)
    practice.requests.clear()
    sync(practice, engine, NAMES)
    # 130 days, about 200 rows (the simulator's schedules end 30 days ahead): a handful of
    # ranges, where a week a request took 19.
    assert 1 < len(asked(practice)) <= 8
    assert_mirrors(engine, practice, SCHEDULES)


@pytest.mark.parametrize("db_url", DATABASES, indirect=True)
def test_rows_removed_inside_a_halved_window_are_marked(engine: Engine, practice: Any) -> None:
    sync(practice, engine, NAMES, page_size=20)
    today = practice.clock.now().date()
    rows = practice.tables.all("schedules")
    recent = [r for r in rows if r["SchedDate"] >= str(today - dt.timedelta(days=8))]
    older = next(r for r in rows if r["SchedDate"] < str(today - dt.timedelta(days=8)))
    gone = [remove(practice, SCHEDULES, r["ScheduleNum"]) for r in (recent[0], recent[-1])]
    kept = remove(practice, SCHEDULES, older["ScheduleNum"])  # outside the window: not known
    practice.clock.advance(3600)
    practice.requests.clear()
    sync(practice, engine, NAMES, page_size=20)
    assert len(asked(practice)) > 1  # halved
    practice.tables.load("schedules", [kept])
    assert_gone_exactly(engine, practice, SCHEDULES, gone)
