"""Lists read in pages check for changes with the run's one SQL question (etl.sync.drift_checks).

Without SQL each such list asks itself again after its last page (tests/test_sync.py); with it,
one ShortQuery after the run's last list counts, per list, the rows stamped since it began.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import Engine

from etl.catalog.resources import RESOURCES
from etl.simulator import Simulator
from etl.sync import drift_checks, state
from etl.sync.state import RunResult
from etl.sync.whole_probe import WholeProbe
from tests.practice import assert_mirrors, mirror, office_clock, sync

SQL_PATH = "/api/v1/queries/ShortQuery"
NAMES = ("patients", "procedurelogs")
PAGE = 5  # rows a page: a handful of edits fill several


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """On MariaDB too: the mirror's window is read back as each database returns times."""
    return db_url_all


def _office(make_sim: Any) -> Simulator:
    sim: Simulator = make_sim(patients=40, clock=office_clock()).fill_practice()
    sim.clock.advance(300)
    return sim


def _edited(sim: Simulator, engine: Engine) -> None:
    """A first run, then 12 patients and 12 procedures edited 10 minutes later."""
    assert sim.tables is not None
    _sync(sim, engine)
    sim.clock.advance(600)
    for row in sim.store.all()[:12]:
        sim.store.update(row["PatNum"], Address="2 Paging St")
    for row in sim.tables.all("procedurelogs")[:12]:
        sim.tables.update("procedurelogs", row["ProcNum"], ToothNum="9")
    sim.clock.advance(60)


def _sync(sim: Simulator, engine: Engine, names: tuple[str, ...] = NAMES) -> dict[str, RunResult]:
    sim.requests.clear()
    return {r.resource: r for r in sync(sim, engine, names, page_size=PAGE)}


def _questions(sim: Simulator) -> list[str]:
    """The run's SQL change checks: the question, and the changed keys' if asked."""
    sent = [json.loads(r.body)["SqlCommand"] for r in sim.requests if r.path == SQL_PATH]
    return [sql for sql in sent if "'drift" in sql]


def _listed_again(sim: Simulator) -> list[str]:
    """The list checks: a list asked again from its first request less a second."""
    firsts: dict[str, str] = {}
    again = []
    for r in sim.requests:
        stamp = r.query.get("DateTStamp")
        if r.path == SQL_PATH or stamp is None:
            continue
        if firsts.setdefault(r.path, stamp) != stamp:
            again.append(r.path)
    return again


def test_lists_read_in_pages_check_with_one_question(engine: Engine, make_sim: Any) -> None:
    sim = _office(make_sim)
    _edited(sim, engine)
    before = {name: state.get_cursor(engine, name) for name in NAMES}
    results = _sync(sim, engine)
    assert _listed_again(sim) == []
    [question] = _questions(sim)
    assert "'drift:patients'" in question and "'drift:procedurelogs'" in question
    for name in NAMES:
        result = results[name]
        assert result.advanced and result.cursor is not None
        assert state.get_cursor(engine, name) == result.cursor != before[name]
        assert drift_checks.KEPT not in result.notes
        assert_mirrors(engine, sim, RESOURCES[name])
    # Every request of the run is counted on a resource: the question on the first list's.
    assert sum(r.stats.requests for r in results.values()) == len(sim.requests)


def test_a_row_edited_while_paging_skips_nothing_and_the_cursor_moves(
    engine: Engine, make_sim: Any
) -> None:
    """The edit is news (its count is not 0), but the window before the list began is the
    mirror's, the edited key left out: nothing was skipped."""
    sim = _office(make_sim)
    _edited(sim, engine)
    assert sim.tables is not None
    last = sim.tables.all("procedurelogs")[-1]["ProcNum"]

    def edit_between_pages(index: int, path: str) -> None:
        if path == "procedurelogs" and index == 1:
            sim.clock.advance(5)
            assert sim.tables is not None
            sim.tables.update("procedurelogs", last, ToothNum="30")

    sim.tables.on_serve(edit_between_pages)
    results = _sync(sim, engine)
    sim.tables.on_serve(None)
    assert [q.count("'drift-key:") for q in _questions(sim)] == [0, 1]  # the keys, asked once
    assert results["patients"].advanced and results["procedurelogs"].advanced
    # Nothing changed in patients: its cursor is its first request's time, as ever; the
    # procedures' is a second earlier (T), so that the next window holds the edit whatever the
    # overlap.
    patients, procedures = results["patients"], results["procedurelogs"]
    assert patients.cursor == patients.stats.office_clock
    assert procedures.stats.office_clock is not None
    assert procedures.cursor == procedures.stats.office_clock - dt.timedelta(seconds=1)
    sim.clock.advance(60)
    again = _sync(sim, engine)
    assert again["procedurelogs"].advanced
    assert_mirrors(engine, sim, RESOURCES["procedurelogs"])


def test_a_row_skipped_while_paging_keeps_the_cursor(engine: Engine, make_sim: Any) -> None:
    """A patient deleted in front of the reading position leaves the plain list: the next
    patient moves up into the page already read and is skipped. The window differs from the
    mirror's, so the cursor stays and the next run reads that patient."""
    sim = _office(make_sim)
    _edited(sim, engine)
    before = state.get_cursor(engine, "patients")
    listed = [r["PatNum"] for r in sim.store.all()[:12] if r["PatStatus"] != "Deleted"]

    def delete_in_front(index: int, _log: Any) -> None:
        if index == 1:  # the plain list's second page: the first page held listed[:PAGE]
            sim.clock.advance(5)
            sim.store.update(listed[0], PatStatus="Deleted")

    sim.on_request(delete_in_front)
    results = _sync(sim, engine, ("patients",))
    sim.on_request(None)
    skipped = listed[PAGE]
    assert _mirrored_address(engine, skipped) != "2 Paging St"  # the skip happened
    assert not results["patients"].advanced and drift_checks.KEPT in results["patients"].notes
    assert state.get_cursor(engine, "patients") == before
    sim.clock.advance(60)
    again = _sync(sim, engine, ("patients",))
    assert again["patients"].advanced
    assert _mirrored_address(engine, skipped) == "2 Paging St"


def _mirrored_address(engine: Engine, patnum: int) -> Any:
    return mirror(engine, RESOURCES["patients"])[patnum]["address"]


def test_a_question_the_office_refuses_keeps_every_cursor(engine: Engine, make_sim: Any) -> None:
    sim = _office(make_sim)
    _edited(sim, engine)
    before = {name: state.get_cursor(engine, name) for name in NAMES}

    def refuse_sql_from_now(index: int, path: str) -> None:
        if index == 0:  # the run's probe has answered: the office stops allowing SQL
            sim.config = dataclasses.replace(sim.config, queries_allowed=False)

    assert sim.tables is not None
    sim.tables.on_serve(refuse_sql_from_now)
    results = _sync(sim, engine)
    assert sim.tables is not None
    sim.tables.on_serve(None)
    assert len(_questions(sim)) == 1
    for name in NAMES:
        assert not results[name].advanced and drift_checks.KEPT in results[name].notes
        assert state.get_cursor(engine, name) == before[name]


def test_a_later_failure_still_moves_the_cursors_read_before(engine: Engine, make_sim: Any) -> None:
    sim = _office(make_sim)
    _edited(sim, engine)
    _sync(sim, engine, ("appointments",))
    before = state.get_cursor(engine, "patients")
    assert sim.tables is not None
    sim.clock.advance(30)
    sim.tables.update("appointments", sim.tables.all("appointments")[0]["AptNum"])

    def appointments_fail(_index: int, path: str) -> None:
        if path == "appointments":
            raise RuntimeError("the office's appointments are unreadable today")

    assert sim.tables is not None
    sim.tables.on_serve(appointments_fail)
    sim.requests.clear()
    try:
        sync(sim, engine, ("patients", "appointments"), page_size=PAGE)  # in this order
    except Exception as exc:  # the run fails on appointments, as it should
        assert "appointments" in str(exc)
    else:
        raise AssertionError("appointments did not fail")
    finally:
        sim.tables.on_serve(None)
    assert len(_questions(sim)) == 1
    moved = state.get_cursor(engine, "patients")
    assert moved is not None and before is not None and moved > before


def test_a_first_load_edited_while_paging_keeps_its_cursor_if_nothing_was_skipped(
    engine: Engine, make_sim: Any
) -> None:
    """Before, any edit during a first load's pages left the cursor empty: the next run was a
    first load again, and in a busy office every run was."""
    sim = _office(make_sim)
    edited = sim.store.all()[0]["PatNum"]  # on the first page: nothing moves behind the reading

    def edit_while_paging(index: int, _log: Any) -> None:
        if index == 2:
            sim.clock.advance(5)
            sim.store.update(edited, Address="3 First Load St")

    sim.on_request(edit_while_paging)
    first = _sync(sim, engine, ("patients", "clinics"))["patients"]
    sim.on_request(None)
    assert first.mode == "full" and first.advanced
    assert _questions(sim)  # the run's probe answered: the check was SQL's
    sim.clock.advance(60)
    again = _sync(sim, engine, ("patients", "clinics"))["patients"]
    assert again.mode == "incremental"
    assert _mirrored_address(engine, edited) == "3 First Load St"


def test_the_question_takes_as_many_lists_as_its_answer_can_hold() -> None:
    """Two rows a list and the clock's within ShortQuery's 100: a list past that checks
    itself, as without SQL; without the probe's clock every list does."""
    asking = drift_checks.DriftChecks(WholeProbe(clock=dt.datetime(2025, 3, 14, 9, 30)))
    taken = [asking.takes(RESOURCES["patients"]) for _ in range(50)]
    assert taken == [True] * 45 + [False] * 5
    assert not asking.takes(RESOURCES["claims"])  # its cursor is its newest row: asks itself
    assert not drift_checks.DriftChecks(WholeProbe(clock=None)).takes(RESOURCES["patients"])
    assert not drift_checks.DriftChecks(None).takes(RESOURCES["patients"])
