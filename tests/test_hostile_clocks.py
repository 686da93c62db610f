"""Hostile clocks: a serverDateTime of 9999, a row stamped 2099, an office clock that jumps.

Served by tests/hostile_api.py (stdlib http.server), saved into real SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, update

from etl import status
from etl.catalog.resources import PATIENTS, RESOURCES
from etl.mirror.bookkeeping import SyncRun, SyncState
from etl.sync import state
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.hostile_api import HostileApi
from tests.test_hostile_records import table_rows, whole_row

pytestmark = pytest.mark.reliability

CLAIMS = RESOURCES["claims"]
NOON = "2025-05-05 12:00:00"
FUTURE = "9999-12-31 23:59:59"


@pytest.fixture
def api() -> Iterator[HostileApi]:
    server = HostileApi()
    yield server
    server.stop()


def patient(number: int, stamp: str, server_time: str | None = NOON, **fields: Any) -> Any:
    record = {"PatNum": number, "LName": f"P{number}", "DateTStamp": stamp, **fields}
    return record | ({"serverDateTime": server_time} if server_time else {})


def claim(number: int, edited: str) -> dict[str, Any]:
    return {"ClaimNum": number, "PatNum": 1, "ClaimFee": 10.0, "SecDateTEdit": edited}


def sync(api: HostileApi, engine: Engine, name: str = "patients", full: bool = False) -> Any:
    settings = settings_for(api, engine.url.render_as_string(hide_password=False))
    return run_sync(settings, full=full, resources=[name])[0]


def cursor_of(engine: Engine, name: str = "patients") -> dt.datetime | None:
    with engine.connect() as conn:
        found = conn.execute(SyncState.__table__.select().where(SyncState.resource == name)).first()
    return None if found is None else found.cursor


def report(engine: Engine, api: HostileApi, name: str = "patients") -> status.MirrorStatus:
    settings = settings_for(api, engine.url.render_as_string(hide_password=False))
    chosen = dataclasses.replace(
        settings, sync=dataclasses.replace(settings.sync, resources=(name,))
    )
    return status.collect(engine, chosen)


def at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, state.TIME_FORMAT)


def test_a_server_clock_of_9999_never_becomes_the_cursor(engine: Engine, api: HostileApi) -> None:
    api.lists[PATIENTS.path] = [patient(1, "2025-05-05 11:00:00")]
    sync(api, engine)
    assert cursor_of(engine) == at(NOON)
    assert report(engine, api).exit_code() == status.OK
    api.lists[PATIENTS.path] = [patient(1, "2025-05-05 11:30:00", FUTURE, LName="Edited")]
    result = sync(api, engine)
    assert (result.stats.updated, result.advanced, cursor_of(engine)) == (1, False, at(NOON))
    assert "the office clock read 9999-12-31 23:59:59" in result.summary()
    shown = report(engine, api)
    assert shown.exit_code() == status.STALE
    assert shown.problems() == [
        f"patients: the office clock read {FUTURE} (run #2), a time no zone has"
    ]
    (shown_json,) = json.loads(status.as_json(shown, "mirror", None))["resources"]
    assert (shown_json["last_run"]["office_clock"], shown_json["cursor"]) == (FUTURE, NOON)
    # The clock put right: the cursor moves on from where it was.
    api.lists[PATIENTS.path] = [patient(1, "2025-05-05 11:30:00", "2025-05-05 13:00:00")]
    assert sync(api, engine).advanced
    assert cursor_of(engine) == at("2025-05-05 13:00:00")


def test_a_first_run_with_a_clock_of_9999_leaves_no_cursor(engine: Engine, api: HostileApi) -> None:
    api.lists[PATIENTS.path] = [patient(1, "2025-05-05 11:00:00", FUTURE)]
    assert sync(api, engine).stats.inserted == 1
    assert cursor_of(engine) is None
    assert sync(api, engine).mode == "full"  # the next run reads everything again


def test_a_saved_cursor_in_the_future_is_ignored_then_replaced(
    engine: Engine, api: HostileApi
) -> None:
    api.lists[PATIENTS.path] = [patient(1, "2025-05-05 11:00:00")]
    sync(api, engine)
    # As an earlier version saved it from a server clock gone wrong.
    with engine.begin() as conn:
        conn.execute(update(SyncState).values(cursor=dt.datetime(2099, 1, 1)))
    assert report(engine, api).problems() == [
        "patients: the cursor 2099-01-01 00:00:00 is later than any office clock now "
        "(the next sync reads everything again)"
    ]
    api.requests.clear()
    result = sync(api, engine)
    assert result.mode == "full"
    assert all("DateTStamp" not in query for _path, query in api.requests)
    assert cursor_of(engine) == at(NOON)
    assert report(engine, api).exit_code() == status.OK


def test_one_claim_edited_in_2099_does_not_freeze_the_claims_cursor(
    engine: Engine, api: HostileApi
) -> None:
    api.lists[CLAIMS.path] = [claim(1, "2099-01-01 00:00:00"), claim(2, "2025-05-01 08:00:00")]
    result = sync(api, engine, "claims")
    assert "1 rows carry a change time later than any office clock now" in result.summary()
    assert cursor_of(engine, "claims") == at("2025-05-01 08:00:00")
    stored = table_rows(engine, CLAIMS)
    assert stored == {r["ClaimNum"]: whole_row(CLAIMS, r) for r in api.lists[CLAIMS.path]}
    api.lists[CLAIMS.path].append(claim(3, "2025-05-02 09:00:00"))
    api.requests.clear()
    result = sync(api, engine, "claims")
    assert ("claims", {"SecDateTEdit": "2025-05-01 07:59:00", "Limit": "100", "Offset": "0"}) in (
        api.requests
    )
    assert (result.stats.inserted, cursor_of(engine, "claims")) == (1, at("2025-05-02 09:00:00"))


def test_sync_full_replaces_the_cursor_it_derives(engine: Engine, api: HostileApi) -> None:
    api.lists[PATIENTS.path] = [patient(1, "2025-05-05 11:00:00")]
    sync(api, engine)
    assert cursor_of(engine) == at(NOON)
    # A full run that cannot take a cursor (no serverDateTime) does not keep the old one.
    api.lists[PATIENTS.path] = [patient(1, "2025-05-05 11:00:00", None)]
    sync(api, engine, full=True)
    assert cursor_of(engine) is None


@pytest.mark.parametrize("plain", ["", "all"], ids=["fast", "plain"])
def test_a_row_stamped_in_the_future_does_not_refuse_later_edits(
    engine: Engine, api: HostileApi, plain: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODMIRROR_PLAIN", plain)
    others = [patient(n, "2025-05-05 11:00:00") for n in (2, 3)]
    api.lists[PATIENTS.path] = [patient(1, "2099-01-01 00:00:00"), *others]
    sync(api, engine)
    assert table_rows(engine, PATIENTS)[1]["datetstamp"] == dt.datetime(2099, 1, 1)
    edited = patient(1, "2025-05-05 11:40:00", LName="Edited")
    api.lists[PATIENTS.path] = [edited, *others]
    result = sync(api, engine)
    assert (result.stats.updated, result.stats.unchanged) == (1, 2)
    assert table_rows(engine, PATIENTS) == {
        r["PatNum"]: whole_row(PATIENTS, r) for r in [edited, *others]
    }
    again = sync(api, engine)
    assert (again.stats.updated, again.stats.unchanged) == (0, 3)
    # An older version than a trusted one is still refused.
    api.lists[PATIENTS.path] = [patient(1, "2025-05-05 11:39:00", LName="Older"), *others]
    assert sync(api, engine).stats.updated == 0
    assert table_rows(engine, PATIENTS)[1]["lname"] == "Edited"


def test_status_warns_when_the_office_clock_jumps(engine: Engine, api: HostileApi) -> None:
    api.lists[PATIENTS.path] = [patient(1, "2025-05-05 11:00:00")]
    sync(api, engine)
    api.lists[PATIENTS.path] = [patient(1, "2025-05-05 11:00:00", "2025-05-05 17:00:00")]
    sync(api, engine)
    jumped = (
        "patients: the office clock jumped +5.0 h against this machine's between runs #1 and #2"
    )
    shown = report(engine, api)
    assert (shown.problems(), shown.exit_code()) == ([jumped], status.STALE)
    sync(api, engine)  # the warning stays while the jump is among the recent runs
    assert report(engine, api).problems() == [jumped]


def test_status_warns_when_the_cursor_stands_still_while_rows_change(
    engine: Engine, api: HostileApi
) -> None:
    api.lists[PATIENTS.path] = [patient(1, "2025-05-05 11:00:00")]
    sync(api, engine)
    for minute in (10, 20):  # a server that stopped sending serverDateTime
        api.lists[PATIENTS.path] = [patient(1, f"2025-05-05 12:{minute}:00", None)]
        assert sync(api, engine).stats.updated == 1
    assert report(engine, api).exit_code() == status.OK  # not for long enough yet
    # As if those runs had begun two days ago (the clock is ours to set, not to wait for).
    two_days_ago = state.utcnow() - dt.timedelta(days=2)
    with engine.begin() as conn:
        conn.execute(update(SyncRun).where(SyncRun.id > 1).values(started_at=two_days_ago))
    shown = report(engine, api)
    assert len(shown.problems()) == 1
    assert "patients: the cursor has not moved since" in shown.problems()[0]
    assert shown.exit_code() == status.STALE
