"""Problems the office fixed leave odmirror_rejected; the others stay.

Runs against the simulator over real HTTP, into SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
from sqlalchemy import Engine, select

from etl import status
from etl.control import RunControl, StopRequested
from etl.errors import OdMirrorError
from etl.mirror import rejects
from etl.mirror.bookkeeping import Rejected
from etl.sync import state
from etl.sync.run import run_sync
from etl.sync.seen import SeenKeys
from tests.conftest import settings_for
from tests.test_sync import mirror, office_clock, sync


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """These tests run on MariaDB too (tests/conftest.py)."""
    return db_url_all


pytestmark = pytest.mark.reliability

BAD_BIRTHDATE = "undecodable Birthdate (NULL, kept in extra)"
BAD_BALANCE = "undecodable EstBalance (NULL, kept in extra)"
FIXED = "1980-04-02"


def office(make_sim: Any, *flawed: int) -> Any:
    """A simulator whose patients `flawed` have an impossible birthdate, changed 10 min ago."""
    sim = make_sim(20, clock=office_clock())
    for patnum in flawed:
        sim.store.update(patnum, Birthdate="2023-13-45")
    sim.clock.advance(600)  # out of the next run's overlap, once the first run has read them
    return sim


def later(sim: Any, patnum: int, **fields: Any) -> None:
    """Ten minutes on, the office changes a patient."""
    sim.clock.advance(600)
    sim.store.update(patnum, **fields)


def problems(engine: Engine) -> dict[str | None, tuple[str, int | None]]:
    """The problems on record, by key: reason and the last run that saw it."""
    with engine.connect() as conn:
        rows = conn.execute(select(Rejected.key, Rejected.reason, Rejected.run_id)).all()
    return {key: (reason, run_id) for key, reason, run_id in rows}


def last_run_id(engine: Engine) -> int:
    return state.latest_runs(engine, limit=1)[0].id


def first_run_id(engine: Engine) -> int:
    return state.latest_runs(engine, limit=50)[-1].id


def test_a_problem_fixed_in_open_dental_is_removed_by_the_next_run(
    engine: Engine, make_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sim = office(make_sim, 5)
    first = sync(sim, engine)
    assert problems(engine) == {"5": (BAD_BIRTHDATE, last_run_id(engine))}
    assert first.stats.set_aside == 1
    settings = settings_for(sim, engine.url.render_as_string(hide_password=False))
    (shown,) = status.collect(engine, settings).resources
    assert shown.problems == rejects.RejectCounts(0, 1)
    later(sim, 5, Birthdate=FIXED)
    with caplog.at_level(logging.INFO, logger="etl.sync.run"):
        second = sync(sim, engine)
    assert (second.mode, second.stats.unique, second.stats.set_aside) == ("incremental", 1, 0)
    assert mirror(engine)[5]["birthdate"].isoformat() == FIXED
    assert problems(engine) == {}
    assert rejects.count_by_resource(engine) == {}
    (shown,) = status.collect(engine, settings).resources
    assert shown.problems == rejects.RejectCounts(0, 0)
    note = "1 earlier problem no longer seen, removed from odmirror_rejected"
    assert second.summary().endswith(note)
    # The run's note ends with it (before it, what the change probe let the run skip).
    assert state.latest_runs(engine, limit=1)[0].note.endswith(note)
    assert f"patients: {note}" in caplog.text


def test_a_problem_that_persists_stays_with_the_latest_run(engine: Engine, make_sim: Any) -> None:
    sim = office(make_sim, 5, 6)
    sync(sim, engine)
    with engine.connect() as conn:
        seen_before = conn.execute(select(Rejected.seen_at).where(Rejected.key == "5")).scalar()
    later(sim, 5, LName="Renamed")  # the birthdate is still wrong
    later(sim, 6, Birthdate=FIXED)
    second = sync(sim, engine)
    assert second.stats.unique == 2
    assert problems(engine) == {"5": (BAD_BIRTHDATE, last_run_id(engine))}
    assert mirror(engine)[5]["lname"] == "Renamed"
    with engine.connect() as conn:
        seen_after = conn.execute(select(Rejected.seen_at).where(Rejected.key == "5")).scalar()
    run = state.latest_runs(engine, limit=1)[0]
    assert seen_before is not None and seen_after is not None and seen_after >= seen_before
    assert run.started_at <= seen_after <= (run.finished_at or seen_after)
    assert "1 earlier problem no longer seen" in second.summary()
    third = sync(sim, engine, full=True)
    assert problems(engine) == {"5": (BAD_BIRTHDATE, last_run_id(engine))}
    assert "no longer seen" not in third.summary()


def test_a_record_with_another_problem_keeps_only_the_new_one(
    engine: Engine, make_sim: Any
) -> None:
    sim = office(make_sim, 5)
    sync(sim, engine)
    later(sim, 5, Birthdate=FIXED, EstBalance="NaN")
    second = sync(sim, engine)
    assert problems(engine) == {"5": (BAD_BALANCE, last_run_id(engine))}
    assert "1 earlier problem no longer seen" in second.summary()


def test_a_problem_without_a_key_stays(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(20, clock=office_clock())
    sim.store.update(5, Birthdate="2023-13-45")
    stamp = sim.store.get(5)["DateTStamp"]
    sim.store.replace({"PatNum": -5, "LName": "NoKey", "DateTStamp": stamp})
    sim.clock.advance(600)
    first = sync(sim, engine)
    assert (first.stats.rejected, first.stats.set_aside) == (1, 1)
    later(sim, 5, Birthdate=FIXED)
    second = sync(sim, engine)
    assert second.stats.unique == 1
    assert problems(engine) == {
        None: ("a patients record has no usable PatNum", first_run_id(engine))
    }
    assert rejects.count_by_resource(engine) == {"patients": rejects.RejectCounts(1, 0)}
    assert "1 earlier problem no longer seen" in second.summary()


@pytest.mark.parametrize("others", [0, 2], ids=["keys-sent", "problems-read"])
def test_a_problem_of_a_record_this_run_did_not_read_stays(
    engine: Engine, make_sim: Any, others: int
) -> None:
    # The run saves fewer keys than there are problems on record, or more.
    sim = office(make_sim, 5, 6)
    sync(sim, engine)
    later(sim, 6, Birthdate=FIXED)
    for patnum in range(11, 11 + others):
        sim.store.update(patnum, LName="Changed")
    second = sync(sim, engine)
    assert (second.mode, second.stats.unique) == ("incremental", 1 + others)
    assert problems(engine) == {"5": (BAD_BIRTHDATE, first_run_id(engine))}
    assert rejects.count_by_resource(engine) == {"patients": rejects.RejectCounts(0, 1)}
    assert "1 earlier problem no longer seen" in second.summary()


@pytest.mark.parametrize("ending", ["failed", "stopped"])
def test_a_run_that_fails_or_is_stopped_removes_nothing(
    engine: Engine, make_sim: Any, ending: str
) -> None:
    sim = office(make_sim, 5)
    sync(sim, engine)
    before = problems(engine)
    sim.clock.advance(600)
    for patnum in range(1, 13):  # three pages of 5: the fix is on the first
        sim.store.update(patnum, LName="Changed", **({"Birthdate": FIXED} if patnum == 5 else {}))
    control = RunControl()
    if ending == "failed":
        sim.on_request(lambda index, _log: sim.fail_next(401) if index == 0 else None)
    else:
        # While the second page is asked for: a stop cuts the request in flight, never a page
        # already answered (the first, with the fix, is saved before the stop is looked at).
        sim.on_request(lambda index, _log: control.stop.set() if index == 1 else None)
    settings = settings_for(sim, engine.url.render_as_string(hide_password=False), page_size=5)
    with pytest.raises(StopRequested if ending == "stopped" else OdMirrorError):
        run_sync(settings, control=control)
    sim.on_request(None)
    expected = {"failed": "failed", "stopped": "interrupted"}[ending]
    assert state.latest_runs(engine, limit=1)[0].status == expected
    assert mirror(engine)[5]["birthdate"].isoformat() == FIXED  # the fix was saved
    assert problems(engine) == before
    after = sync(sim, engine, page_size=5)
    assert problems(engine) == {}
    assert "1 earlier problem no longer seen" in after.summary()


@pytest.mark.parametrize("others", [0, 3], ids=["keys-sent", "problems-read"])
def test_many_fixed_problems_are_removed_in_chunks(
    engine: Engine, make_sim: Any, monkeypatch: pytest.MonkeyPatch, others: int
) -> None:
    # The run saves 7 keys, or 10: fewer than the 8 problems on record, or more.
    monkeypatch.setattr(rejects, "param_limit", lambda _dialect: 5)  # 3 keys a statement
    sim = office(make_sim, *range(1, 9))
    sync(sim, engine)
    assert len(problems(engine)) == 8
    sim.clock.advance(600)
    for patnum in range(1, 8):
        sim.store.update(patnum, Birthdate=FIXED)
    for patnum in range(11, 11 + others):
        sim.store.update(patnum, LName="Changed")
    second = sync(sim, engine)
    assert second.stats.unique == 7 + others
    assert problems(engine) == {"8": (BAD_BIRTHDATE, first_run_id(engine))}
    assert "7 earlier problems no longer seen, removed from odmirror_rejected" in second.summary()


def test_the_keys_a_run_saved_come_back_in_order() -> None:
    keys = {0, 7, 8, 65_535, 65_536, 1_000_003, *random.Random(3).sample(range(200_000), 500)}
    seen = SeenKeys()
    for key in [*keys, "T1", 8]:
        seen.add(key)
    assert list(seen) == [*sorted(keys), "T1"]
    assert len(seen) == len(keys) + 1


def test_keys_added_a_page_at_a_time_are_those_added_one_by_one() -> None:
    pages = [[0, 7, 65_536, "T1", True, -4], [7, 8, 65_536, "T1", 1, True, -4, 2**70]]
    one_by_one, by_page = SeenKeys(), SeenKeys()
    for page in pages:
        again = {key for key in page if key in one_by_one}
        for key in page:
            one_by_one.add(key)
        assert by_page.add_all(page) == again
    assert list(by_page) == list(one_by_one)
    assert len(by_page) == len(one_by_one) == 9
