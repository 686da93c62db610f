"""Hostile and broken records: bad rows go to odmirror_rejected, good rows load, nothing is lost.

Served by a scripted HTTP server (tests/test_faults.py), saved into SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, select

from etl import status
from etl.catalog.resources import PATIENTS
from etl.errors import ApiError
from etl.mapping.record import map_record
from etl.mirror import rejects
from etl.mirror.bookkeeping import Rejected
from etl.sync import state
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.test_faults import (
    Reply,
    client,
    one_page,
    patients,
)
from tests.test_sync import mirror

pytestmark = pytest.mark.reliability


NOTE_10MB = "n" * 10_000_000
GOOD = [
    {"PatNum": 1, "LName": "Robert'); DROP TABLE patient;--", "FName": "Bobby"},
    {"PatNum": 2, "LName": 12345, "Zip": 97301.0, "Birthdate": "2023-13-45"},
    {"PatNum": 3, "FamFinUrgNote": NOTE_10MB},
    {"PatNum": 4, "LName": "Nu\x00ll", "DateTStamp": "2024-02-30 25:61:00"},
    {"PatNum": 5, "FName": "\ud800x", "Birthdate": "0001-01-01"},
    {"PatNum": 6, "LName": "Ok", "Birthdate": "99999-01-01", "EstBalance": "NaN"},
]
BAD = [
    {"LName": "NoKey"},
    {"PatNum": "abc", "LName": "TextKey"},
    {"PatNum": -5},
    {"PatNum": True},
    "not an object",
    None,
    [1, 2],
]
STAMP = {"serverDateTime": "2025-05-05 10:00:00"}


def hostile_page() -> list[Any]:
    good = [{"DateTStamp": "2025-05-01 08:00:00", **r, **STAMP} for r in GOOD]
    return [*good, *BAD]


def rejected_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Rejected).order_by(Rejected.key, Rejected.reason)).mappings()
        return [{k: r[k] for k in ("resource", "key", "reason", "loaded", "payload")} for r in rows]


def test_hostile_records_load_or_go_to_rejects_and_are_counted(
    scripted: Any, engine: Engine
) -> None:
    server = scripted(one_page(hostile_page()))
    settings = settings_for(server, engine.url.render_as_string(hide_password=False))
    result = run_sync(settings, client=client(server))[0]
    columns = [c.name for c in PATIENTS.table.columns if c.name != "odmirror_synced_at"]
    expected = {
        r["PatNum"]: dict.fromkeys(columns) | map_record(PATIENTS, r).row
        for r in hostile_page()[: len(GOOD)]
    }
    assert mirror(engine) == expected
    assert mirror(engine)[3]["famfinurgnote"] == NOTE_10MB
    assert (result.stats.fetched, result.stats.inserted) == (len(GOOD) + len(BAD), len(GOOD))
    assert (result.stats.rejected, result.stats.set_aside) == (len(BAD), 4)
    assert "7 rejected, 4 with values set aside (see odmirror_rejected)" in result.summary()
    assert state.latest_runs(engine)[0].rows_rejected == len(BAD)
    assert rejects.count_by_resource(engine) == {"patients": rejects.RejectCounts(7, 4)}
    (shown,) = status.collect(engine, settings).resources
    assert (shown.name, shown.problems) == ("patients", rejects.RejectCounts(7, 4))
    assert (
        "odmirror_rejected: 7 rejected, 4 set aside"
        in status.text_lines(status.collect(engine, settings))[0]
    )
    stored = rejected_rows(engine)
    assert [r for r in stored if r["key"] is not None] == [
        row("2", "undecodable Birthdate (NULL, kept in extra)"),
        row(
            "4",
            "undecodable DateTStamp (NULL, kept in extra); unstorable characters removed "
            "from LName",
        ),
        row("5", "unstorable characters removed from FName"),
        row("6", "undecodable Birthdate, EstBalance (NULL, kept in extra)"),
    ]
    unkeyed = sorted((r["reason"], repr(r["payload"])) for r in stored if r["key"] is None)
    not_object, no_key = (
        "a patients record is not a JSON object",
        "a patients record has no usable PatNum",
    )
    # What is not an object is described, never kept: its text could be anything, an SSN too.
    shapes = ["a string of 13 characters", "null", "an array of 2 items"]
    assert unkeyed == sorted(
        [(f"{not_object} ({shape})", "None") for shape in shapes]
        + [(no_key, repr(b)) for b in BAD if isinstance(b, dict)]
    )
    assert all(not r["loaded"] for r in stored if r["key"] is None)


def row(key: str | None, reason: str, payload: Any = None) -> dict[str, Any]:
    loaded = key is not None
    return {
        "resource": "patients",
        "key": key,
        "reason": reason,
        "loaded": loaded,
        "payload": payload,
    }


def test_the_same_rejects_seen_again_are_not_doubled(scripted: Any, engine: Engine) -> None:
    server = scripted(one_page(hostile_page()))
    settings = settings_for(server, engine.url.render_as_string(hide_password=False))
    run_sync(settings, client=client(server))
    first = rejected_rows(engine)
    second = run_sync(settings, client=client(server))[0]
    assert second.stats.rejected == len(BAD)
    assert rejected_rows(engine) == first
    with engine.connect() as conn:
        runs = {r for (r,) in conn.execute(select(Rejected.run_id))}
    assert runs == {state.latest_runs(engine)[0].id}


BROKEN = {
    "html": (200, "<html><body>Service Unavailable</body></html>", False),
    "truncated JSON": (200, json.dumps(patients(101, 100, None))[:500], False),
    "cut connection": (200, patients(101, 100), True),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_answer_after_retries_fails_the_run_and_keeps_the_cursor(
    scripted: Any, engine: Engine, kind: str
) -> None:
    healthy = {"now": False}

    def script(query: dict[str, str]) -> Reply:
        if "PatStatus" in query:
            return 200, [], False
        offset, size = int(query.get("Offset", "0")), int(query.get("Limit", "100"))
        total = 50 if "DateTStamp" not in query else 250
        if offset == 100 and total == 250 and not healthy["now"]:
            return BROKEN[kind]
        return 200, patients(1 + offset, max(0, min(size, total - offset))), False

    server = scripted(script)
    settings = settings_for(server, engine.url.render_as_string(hide_password=False))
    run_sync(settings, client=client(server))
    cursor = state.get_cursor(engine, "patients")
    with pytest.raises(ApiError) as info:
        run_sync(settings, client=client(server, max_retries=2))
    message = "the API broke off its answers (3 tries)" if kind == "cut connection" else None
    assert str(info.value) == (message or "unexpected answer from patients/Simple: not JSON")
    assert state.get_cursor(engine, "patients") == cursor
    failed = state.latest_runs(engine)[0]
    assert (failed.status, failed.error) == ("failed", str(info.value))
    assert sorted(mirror(engine)) == list(range(1, 101))  # the first page is kept
    healthy["now"] = True
    run_sync(settings, client=client(server))
    assert sorted(mirror(engine)) == list(range(1, 251))
