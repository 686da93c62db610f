"""Sync runs against the simulator over real HTTP, into SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, select

from etl.api.client import ApiClient
from etl.catalog.resources import PATIENTS
from etl.errors import ApiError, AuthError
from etl.mapping.record import map_record
from etl.mirror.bookkeeping import SyncRun
from etl.simulator import OfficeClock
from etl.simulator.store import ORDERS
from etl.sync import state
from etl.sync.run import run_sync, window_start
from etl.sync.state import RunResult
from tests.conftest import settings_for


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """These tests run on MariaDB too (tests/conftest.py)."""
    return db_url_all


# An office clock far from this machine's: another zone, another year.
OFFICE_START = dt.datetime(2025, 3, 14, 9, 26, 53)
TABLE = PATIENTS.table


def office_clock() -> OfficeClock:
    return OfficeClock("Pacific/Kiritimati", start=OFFICE_START)


def mirror(engine: Engine) -> dict[int, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(TABLE)).mappings().all()
    return {r["patnum"]: {k: v for k, v in r.items() if k != "odmirror_synced_at"} for r in rows}


def expected_rows(sim: Any) -> dict[int, dict[str, Any]]:
    """Every patient of the simulator as the mirror must hold it, by PatNum."""
    # A column the record does not carry is one the mirror does not know: NULL.
    unknown = {c.name: None for c in TABLE.columns if c.name != "odmirror_synced_at"}
    return {r["PatNum"]: {**unknown, **map_record(PATIENTS, r).row} for r in sim.store.all()}


def assert_mirror_matches(engine: Engine, sim: Any) -> None:
    """Every patient of the simulator is in the mirror, every field as the mapping says."""
    expected = expected_rows(sim)
    got = mirror(engine)
    assert sorted(got) == sorted(expected)
    mismatched = [n for n in expected if got[n] != expected[n]]
    assert not mismatched, f"{len(mismatched)} rows differ, e.g. {mismatched[:3]}"


def sync(sim: Any, engine: Engine, full: bool = False, **api: Any) -> RunResult:
    settings = settings_for(sim, str(engine.url.render_as_string(hide_password=False)), **api)
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        return run_sync(settings, full=full, client=client)[0]


def runs(engine: Engine) -> list[SyncRun]:
    return list(reversed(state.latest_runs(engine, limit=50)))


def test_first_sync_mirrors_every_patient_exactly(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(3000, clock=office_clock())
    result = sync(sim, engine)
    assert_mirror_matches(engine, sim)
    assert result.mode == "full"
    assert result.stats.inserted == len(sim.store) == result.stats.unique
    deleted = [r for r in sim.store.all() if r["PatStatus"] == "Deleted"]
    assert deleted, "the data set should hold Deleted patients"
    assert state.get_cursor(engine, "patients") == OFFICE_START


def test_second_sync_fetches_only_what_changed(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(500, clock=office_clock())
    sync(sim, engine)
    sim.clock.advance(3600)
    for patnum in (3, 30, 300):
        sim.store.update(patnum, LName="Changed", HmPhone="(555)000-1111")
    new = sim.store.add(LName="Brandnew", FName="Patient")
    sim.store.update(40, PatStatus="Deleted")
    sim.store.update(41, PatStatus="Archived")
    result = sync(sim, engine)
    assert result.mode == "incremental"
    assert result.stats.unique == 6
    assert (result.stats.inserted, result.stats.updated) == (1, 5)
    assert_mirror_matches(engine, sim)
    assert mirror(engine)[40]["patstatus"] == 4 and mirror(engine)[41]["patstatus"] == 3
    assert mirror(engine)[new]["lname"] == "Brandnew"


def test_cursor_is_the_servers_clock_and_next_run_asks_from_it(
    engine: Engine, make_sim: Any
) -> None:
    """The office clock is in another zone and year than this machine's: only its time counts."""
    sim = make_sim(50, clock=office_clock())
    sync(sim, engine)
    sim.clock.advance(7200)
    sim.store.update(7, LName="Later")
    sync(sim, engine)
    asked = {r.query.get("DateTStamp") for r in sim.requests if r.path.endswith("Simple")}
    assert "2025-03-14 09:25:53" in asked  # cursor minus the 60 s overlap
    assert state.get_cursor(engine, "patients") == OFFICE_START + dt.timedelta(seconds=7200)


def test_many_rows_on_one_timestamp_across_pages_with_an_exclusive_filter(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(400, clock=office_clock(), inclusive_datetstamp=False)
    sync(sim, engine)
    sim.clock.advance(600)
    stamp = sim.clock.now()
    for patnum in range(1, 251):
        sim.store.update(patnum, Email=f"p{patnum}@example.test")
    sim.store.touch(range(1, 251), stamp)
    result = sync(sim, engine)
    assert result.stats.unique == 250
    assert_mirror_matches(engine, sim)


@pytest.mark.parametrize("order", ["datetstamp", "patnum", "reverse"])
def test_rows_edited_while_paging_are_right_after_the_next_run(
    engine: Engine, make_sim: Any, order: str
) -> None:
    sim = make_sim(450, clock=office_clock(), order=order)

    def edit_between_pages(index: int, _log: Any) -> None:
        if index == 2:  # two pages were sent (pages are fetched ahead of the mirror's writes):
            sim.clock.advance(5)  # edit one of their rows, and a later one
            listed = sorted(sim.store.all(), key=ORDERS[order])
            sim.store.update(listed[0]["PatNum"], LName="EditedWhilePaging")
            sim.store.update(listed[-1]["PatNum"], LName="AlsoEdited")

    sim.on_request(edit_between_pages)
    first = sync(sim, engine)
    sim.on_request(None)
    if order == "datetstamp":
        # the edited row moved to the end, so every later row moved up one: one was skipped
        assert len(mirror(engine)) == 449
    assert "changed while pages were read" in first.summary()
    assert not first.advanced
    sim.clock.advance(60)
    second = sync(sim, engine)
    assert_mirror_matches(engine, sim)
    assert second.advanced


def test_a_failed_run_keeps_committed_pages_and_the_cursor(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(450, clock=office_clock())
    sync(sim, engine)
    cursor = state.get_cursor(engine, "patients")
    sim.clock.advance(600)
    for patnum in range(1, 451):
        sim.store.update(patnum, City="Movedtown")

    def office_goes_down(index: int, _log: Any) -> None:
        if index == 2:  # counted from when the hook is set; this request is still served
            sim.office_online = False

    sim.on_request(office_goes_down)
    with pytest.raises(ApiError, match="office is unreachable"):
        sync(sim, engine)
    assert state.get_cursor(engine, "patients") == cursor
    cities = [row["city"] for row in mirror(engine).values()]
    assert cities.count("Movedtown") == 300  # three pages committed, nothing half-written
    assert runs(engine)[-1].status == "failed"
    assert "office is unreachable" in (runs(engine)[-1].error or "")
    sim.on_request(None)
    sim.office_online = True
    sync(sim, engine)
    assert_mirror_matches(engine, sim)


def test_wrong_keys_end_the_run_and_leave_the_mirror(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(120, clock=office_clock())
    sync(sim, engine)
    before, cursor = mirror(engine), state.get_cursor(engine, "patients")
    with pytest.raises(AuthError, match="refused the keys"):
        sync(sim, engine, customer_key="WrongCustomerKey1")
    assert mirror(engine) == before
    assert state.get_cursor(engine, "patients") == cursor
    # 401 is not retried: the run's SQL probe (its status passes, etl.sync.pass_probe) is
    # refused once, then the list once, which ends the run.
    refused = [r.path.rsplit("/", 1)[-1] for r in sim.requests if r.status == 401]
    assert refused == ["ShortQuery", "Simple"]


def test_full_resync_after_a_run_repairs_and_keeps_counts(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(150, clock=office_clock())
    sync(sim, engine)
    result = sync(sim, engine, full=True)
    assert result.mode == "full"
    assert (result.stats.inserted, result.stats.updated, result.stats.unchanged) == (0, 0, 150)
    assert_mirror_matches(engine, sim)


def test_unknown_fields_are_kept_logged_once_and_do_not_fail(
    engine: Engine, make_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_sim(20, clock=office_clock())
    field = f"FutureField{engine.dialect.name}"  # warnings are once per process and per key
    for patnum in (5, 6):
        sim.store.replace({**sim.store.get(patnum), field: "v27", "AnotherOne": 3})
    result = sync(sim, engine)
    assert result.stats.unique == 20
    assert mirror(engine)[5]["odmirror_extra"] == {field: "v27", "AnotherOne": 3}
    sync(sim, engine, full=True)
    assert caplog.text.count(f"unknown field {field!r} kept in odmirror_extra") == 1


def test_a_field_missing_from_a_newer_response_keeps_its_value(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(20, clock=office_clock())
    sync(sim, engine)
    email = mirror(engine)[8]["email"]
    sim.clock.advance(600)
    older_version = {k: v for k, v in sim.store.get(8).items() if k not in ("Email", "Premed")}
    sim.store.replace({**older_version, "LName": "Renamed", "DateTStamp": "2025-03-14 09:36:53"})
    sync(sim, engine)
    row = mirror(engine)[8]
    assert (row["lname"], row["email"]) == ("Renamed", email)


def test_remote_cap_is_followed_when_page_size_is_larger(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(250, clock=office_clock(), mode="remote", throttle_interval=0.0)
    result = sync(sim, engine, page_size=1000)
    assert result.stats.unique == 250
    assert_mirror_matches(engine, sim)


def test_rows_changed_in_the_repeated_hour_when_clocks_go_back(
    engine: Engine, make_sim: Any
) -> None:
    # US fall-back: 01:59:59 daylight time is followed by 01:00:00 standard time.
    sim = make_sim(200, clock=OfficeClock("America/Chicago", start=dt.datetime(2025, 11, 2, 1, 40)))
    sync(sim, engine)
    assert state.get_cursor(engine, "patients") == dt.datetime(2025, 11, 2, 1, 40)
    sim.clock.set(dt.datetime(2025, 11, 2, 1, 5))  # an hour back, five minutes on
    sim.store.update(17, LName="ChangedInTheRepeatedHour")
    sim.clock.advance(300)
    result = sync(sim, engine)
    assert result.stats.unique == 1
    assert mirror(engine)[17]["lname"] == "ChangedInTheRepeatedHour"


@pytest.mark.parametrize(
    ("cursor", "start"),
    [
        (dt.datetime(2025, 5, 5, 14, 0), dt.datetime(2025, 5, 5, 13, 59)),
        (dt.datetime(2025, 5, 5, 1, 30), dt.datetime(2025, 5, 5, 0, 29)),
        (dt.datetime(2025, 5, 5, 23, 15), dt.datetime(2025, 5, 5, 22, 14)),
        (dt.datetime(2025, 5, 5, 3, 0), dt.datetime(2025, 5, 5, 2, 59)),
    ],
)
def test_window_start_reads_an_hour_further_back_at_night(
    cursor: dt.datetime, start: dt.datetime
) -> None:
    assert window_start(cursor, dt.timedelta(seconds=60)) == start
