"""Hostile records: a key sent as a list or an object, an SSN under another spelling or nested.

Served by tests/hostile_api.py (stdlib http.server), saved into real SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from etl.catalog.base import Base
from etl.catalog.resources import MONEY, PATIENTS, RESOURCES, Resource
from etl.cli import main
from etl.mapping.pii import DEFAULT_POLICY
from etl.mapping.record import map_record
from etl.mirror.bookkeeping import Rejected
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.hostile_api import HostileApi, write_config

pytestmark = pytest.mark.reliability

SERVER_TIME = {"serverDateTime": "2025-05-05 10:00:00"}
SSNS = ("123-45-6789", "987-65-4321", "555-44-3333", "111-22-3333", "222-33-4444")


@pytest.fixture
def api() -> Iterator[HostileApi]:
    server = HostileApi()
    yield server
    server.stop()


def stamp_of(resource: Resource) -> dict[str, str]:
    """A change time for the resource's change-time field, if it has one."""
    return {
        spec.key: "2025-05-01 08:00:00"
        for spec in resource.fields
        if spec.column == resource.cursor_column
    }


def good(resource: Resource, key: int) -> dict[str, Any]:
    return {resource.key: key, **stamp_of(resource), **SERVER_TIME}


def table_rows(engine: Engine, resource: Resource) -> dict[Any, dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(select(resource.table)).mappings().all()
    key = resource.key_column
    return {r[key]: {k: v for k, v in r.items() if k != "odmirror_synced_at"} for r in found}


def whole_row(resource: Resource, record: dict[str, Any]) -> dict[str, Any]:
    """The row the mirror holds for a record: every column, NULL where the record said nothing."""
    columns = [c.name for c in resource.table.columns if c.name != "odmirror_synced_at"]
    return dict.fromkeys(columns) | map_record(resource, record).row


def rejects_of(engine: Engine) -> list[tuple[str, str | None, str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(select(Rejected)).mappings().all()
    return sorted(((r["resource"], r["key"], r["reason"], r["payload"]) for r in found), key=repr)


@pytest.mark.parametrize("plain", ["", "all"], ids=["fast", "plain"])
@pytest.mark.parametrize("bad_key", [[7], {"PatNum": 7}], ids=["list", "object"])
def test_a_key_sent_as_a_list_or_object_is_rejected_and_the_rest_saved(
    engine: Engine,
    api: HostileApi,
    bad_key: Any,
    plain: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ODMIRROR_PLAIN", plain)
    # One list per resource: the money fan-outs and windows ask per parent or date, the same
    # mapping (tests/test_money_tables.py).
    plain_lists = {name: r for name, r in RESOURCES.items() if r not in MONEY}
    for resource in plain_lists.values():
        # The bad record between two good ones, and first (the short path plans on the first).
        bad = {**good(resource, 0), resource.key: bad_key}
        api.lists[resource.path] = [bad, good(resource, 5), {**bad}, good(resource, 6)]
    url = engine.url.render_as_string(hide_password=False)
    settings = settings_for(api, url)
    names = list(plain_lists)
    for _ in range(2):  # the next run is not stuck either
        results = run_sync(settings, resources=names)
        assert [(r.resource, r.stats.rejected) for r in results] == [(n, 2) for n in names]
    for resource in plain_lists.values():
        records = [good(resource, 5), good(resource, 6)]
        assert table_rows(engine, resource) == {
            r[resource.key]: whole_row(resource, r) for r in records
        }
    expected = [
        (r.name, None, f"a {r.name} record has no usable {r.key}", {**good(r, 0), r.key: bad_key})
        for r in plain_lists.values()
    ]
    assert rejects_of(engine) == sorted(expected, key=repr)


def hostile_patients() -> list[Any]:
    """SSNs under every spelling and depth a server could use, and outside any object."""
    stamp = {"DateTStamp": "2025-05-01 08:00:00", **SERVER_TIME}
    return [
        {**stamp, "PatNum": 1, "LName": "Keptname", "ssn": SSNS[0]},
        {**stamp, "PatNum": 2, "LName": "Other", "Ssn": SSNS[1], "Family": {"SSN": SSNS[2]}},
        {**stamp, "PatNum": 3, "Guarantors": [{"Name": "G", "sSN": SSNS[3]}]},
        {**stamp, "PatNum": [3], "FName": "Nokey", "SSN": SSNS[4], "Deep": {"x": {"ssN": "1"}}},
        SSNS[0],  # a bare string: not an object, its text is not kept
        [{"SSN": SSNS[1]}],
    ]


def every_table(engine: Engine) -> str:
    """Every row of every table odmirror made, as text."""
    texts = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            texts += [repr(tuple(row)) for row in conn.execute(select(table))]
    return "\n".join(texts)


def test_no_ssn_under_any_spelling_or_depth_is_stored(
    engine: Engine, api: HostileApi, caplog: pytest.LogCaptureFixture
) -> None:
    api.lists[PATIENTS.path] = hostile_patients()
    settings = settings_for(api, engine.url.render_as_string(hide_password=False))
    with caplog.at_level(logging.DEBUG):
        (result,) = run_sync(settings)
    assert (result.stats.inserted, result.stats.rejected) == (3, 3)
    stored = table_rows(engine, PATIENTS)
    assert {k: v["odmirror_extra"] for k, v in stored.items()} == {
        1: None,
        2: {"Family": {}},
        3: {"Guarantors": [{"Name": "G"}]},
    }
    assert stored[1] == whole_row(PATIENTS, {**hostile_patients()[0], "ssn": None})
    dumped = every_table(engine) + caplog.text + result.summary()
    assert "Keptname" in dumped and "Nokey" in dumped  # the check can see what is there
    assert not [ssn for ssn in SSNS if ssn in dumped or ssn.replace("-", "") in dumped]
    reasons = [reason for _resource, _key, reason, _payload in rejects_of(engine)]
    assert reasons == [
        "a patients record has no usable PatNum",
        "a patients record is not a JSON object (a string of 11 characters)",
        "a patients record is not a JSON object (an array of 1 items)",
    ]


def test_no_ssn_digits_in_the_sqlite_file_or_the_logs(
    tmp_path: Path, api: HostileApi, capfd: pytest.CaptureFixture[str]
) -> None:
    api.lists[PATIENTS.path] = hostile_patients()
    db = tmp_path / "mirror.db"
    path = write_config(tmp_path, api, f"sqlite:///{db}")
    assert main(["init", "--config", path]) == 0
    assert main(["sync", "--config", path, "-v"]) == 0
    assert main(["sync", "--config", path, "--full", "-v"]) == 0
    data = b"".join(p.read_bytes() for p in tmp_path.glob("mirror.db*"))
    logged = "".join(capfd.readouterr())
    assert b"Keptname" in data and "rejected" in logged  # the checks below can see text
    digits = [ssn.replace("-", "") for ssn in SSNS]
    assert not [s for s in (*SSNS, *digits) if s.encode() in data or s in logged]


def test_a_policy_names_fields_in_any_case() -> None:
    record = {"PatNum": 4, "ssn": "x", "SSN": "y", "Nested": [{"sSn": "z", "Keep": 1}]}
    assert DEFAULT_POLICY.scrub(record) == {"PatNum": 4, "Nested": [{"Keep": 1}]}
    row = map_record(PATIENTS, record).row
    assert (row["ssn"], row["odmirror_extra"]) == (None, {"Nested": [{"Keep": 1}]})


def test_a_nesting_deeper_than_the_limit_is_not_kept() -> None:
    deep: Any = {"SSN": "1"}
    for _ in range(100):
        deep = {"d": deep}
    scrubbed = DEFAULT_POLICY.scrub(deep)
    for _ in range(33):
        scrubbed = scrubbed["d"]
    assert scrubbed == "[nested deeper than 32 levels: not kept]"
