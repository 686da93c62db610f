"""`sync.whole_tables_every` paces the endpoints' whole pulls too (etl.sync.cadence).

Without SQL, claimprocs, paysplits and recalls are listed page by page on every run: on the
Remote API a user may read them hourly instead, and `status` then allows them that much older.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import Engine, text

from etl import status
from etl.api.client import ApiClient
from etl.config.settings import StatusSettings
from etl.sync import state
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.practice import office_clock, url_of

NAMES = ("patients", "claimprocs", "fees")


def _settings(sim: Any, engine: Engine, every: str | None) -> Any:
    settings = settings_for(sim, url_of(engine), queries="off")  # no SQL: nothing vouches
    sync = dataclasses.replace(settings.sync, resources=NAMES, whole_tables_every=every)
    return dataclasses.replace(settings, sync=sync, status=StatusSettings(max_age="30m"))


def _run(settings: Any, full: bool = False) -> dict[str, state.RunResult]:
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        return {r.resource: r for r in run_sync(settings, full=full, client=client)}


def _claimproc_pages(sim: Any) -> int:
    return sum(1 for r in sim.requests if r.path.strip("/").lower() == "api/v1/claimprocs")


def _synced_ago(engine: Engine, name: str, ago: dt.timedelta) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE odmirror_sync_state SET last_success_at = :t WHERE resource = :r"),
            {"t": state.utcnow() - ago, "r": name},
        )


def test_whole_pulls_wait_for_their_cadence_and_status_allows_it(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(40, clock=office_clock()).fill_practice()
    hourly = _settings(sim, engine, "1h")
    assert _run(hourly)["claimprocs"].mode == "full" and _claimproc_pages(sim) > 0
    sim.requests.clear()
    second = _run(hourly)
    assert (
        second["claimprocs"].mode == "skipped" and "read every 1h" in second["claimprocs"].summary()
    )
    assert second["patients"].mode != "skipped" and _claimproc_pages(sim) == 0
    assert second["fees"].mode == "skipped"  # its own cadence (24h) is kept, not the setting's
    # Without the setting, the same run lists every page again; --full always does.
    assert _run(_settings(sim, engine, None))["claimprocs"].mode == "full"
    sim.requests.clear()
    assert _run(hourly, full=True)["claimprocs"].mode == "full" and _claimproc_pages(sim) > 0
    # status: 50 minutes old is within the hour plus max_age; patients is held to max_age.
    for name in NAMES:
        _synced_ago(engine, name, dt.timedelta(minutes=50))
    problems = status.collect(engine, hourly).problems()
    assert problems == ["patients last synced 50 min ago (limit 30 min)"]
    _synced_ago(engine, "claimprocs", dt.timedelta(minutes=95))
    assert "claimprocs last synced" in " ".join(status.collect(engine, hourly).problems())
    # A resource on its own cadence (fees: a day) is allowed that much older too.
    _synced_ago(engine, "fees", dt.timedelta(hours=20))
    assert not any(p.startswith("fees") for p in status.collect(engine, hourly).problems())


def test_a_fan_out_over_every_parent_waits_for_the_cadence(engine: Engine, make_sim: Any) -> None:
    # payplancharges: one request per payment plan on every run (plans have no change time).
    sim = make_sim(40, clock=office_clock()).fill_practice()
    names = ("patients", "payplans", "payplancharges")
    settings = _settings(sim, engine, "1h")
    hourly = dataclasses.replace(settings, sync=dataclasses.replace(settings.sync, resources=names))

    def charge_requests() -> int:
        return sum(1 for r in sim.requests if r.path.strip("/").lower() == "api/v1/payplancharges")

    first = _run(hourly)
    assert first["payplancharges"].mode == "full" and charge_requests() > 1
    sim.requests.clear()
    sim.clock.advance(900)
    second = _run(hourly)
    assert second["payplancharges"].mode == "skipped" and charge_requests() == 0
    assert "read every 1h" in second["payplancharges"].summary()
    assert second["payplans"].mode != "skipped"  # by patient: its parents have a change time


def test_the_deleted_appointments_feed_waits_for_the_cadence(engine: Engine, make_sim: Any) -> None:
    sim = make_sim(40, clock=office_clock()).fill_practice()
    settings = _settings(sim, engine, "1h")
    hourly = dataclasses.replace(
        settings, sync=dataclasses.replace(settings.sync, resources=("patients", "appointments"))
    )

    def feed_requests() -> int:
        return sum(1 for r in sim.requests if "histappointments" in r.path.lower())

    _run(hourly)
    assert feed_requests() == 1
    aptnum = sim.tables.all("appointments")[0]["AptNum"]
    sim.tables.delete_appointment(aptnum)
    sim.requests.clear()
    sim.clock.advance(900)
    second = _run(hourly)
    assert feed_requests() == 0 and "histappointments not due: read every 1h" in " ".join(
        second["appointments"].notes
    )
    with engine.connect() as conn:  # not read yet: the row stays until the feed is due
        held = conn.execute(
            text("SELECT COUNT(*) FROM appointment WHERE aptnum = :k"), {"k": aptnum}
        )
        assert held.scalar() == 1
    with engine.begin() as conn:  # its last read two hours ago: due
        conn.execute(
            text("UPDATE odmirror_settings SET value = :v WHERE name = :n"),
            {
                "v": (state.utcnow() - dt.timedelta(hours=2)).isoformat(),
                "n": "deletions_read:appointments",
            },
        )
    sim.requests.clear()
    third = _run(hourly)
    assert feed_requests() == 1
    assert "1 deleted in Open Dental, removed from the mirror" in third["appointments"].notes


def test_a_paced_window_reads_a_day_back_and_a_week_ahead_between_whole_reads(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(40, clock=office_clock()).fill_practice()
    settings = _settings(sim, engine, "1h")
    names = ("patients", "payments", "schedules")
    hourly = dataclasses.replace(settings, sync=dataclasses.replace(settings.sync, resources=names))

    def asked(path: str) -> list[dict[str, str]]:
        return [r.query for r in sim.requests if r.path.strip("/").lower() == f"api/v1/{path}"]

    def days(query: dict[str, str], key: str) -> int:
        return (dt.date.fromisoformat(query[key]) - sim.clock.now().date()).days

    _run(hourly)  # the first run: every payment, schedules two years back
    sim.clock.advance(900)
    sim.requests.clear()
    second = _run(hourly)
    # A day back (and a day's margin for the zones), a week ahead (and a day).
    assert [days(q, "DateEntry") for q in asked("payments")] == [-2]
    first, last = asked("schedules")[0], asked("schedules")[-1]
    assert (days(first, "dateStart"), days(last, "dateEnd")) == (-2, 8)
    assert "window narrowed to a day back and a week ahead" in second["payments"].summary()
    with engine.begin() as conn:  # the whole windows were last read two hours ago: due
        conn.execute(
            text("UPDATE odmirror_settings SET value = :v WHERE name LIKE 'window_read:%'"),
            {"v": (state.utcnow() - dt.timedelta(hours=2)).isoformat()},
        )
    sim.requests.clear()
    third = _run(hourly)
    assert [days(q, "DateEntry") for q in asked("payments")] == [-31]
    first, last = asked("schedules")[0], asked("schedules")[-1]
    assert (days(first, "dateStart"), days(last, "dateEnd")) == (-8, 121)
    assert not any("narrowed" in note for note in third["schedules"].notes)
