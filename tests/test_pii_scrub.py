"""A stricter PHI policy reaches every stored row: an old mirror's, unchanged rows, rejects.

Real SQLite and PostgreSQL; the API is tests/hostile_api.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from etl.catalog.resources import PATIENTS
from etl.cli import main
from etl.mapping.pii import PiiPolicy
from etl.mirror.bookkeeping import Rejected
from etl.mirror.engine import current_revision, head_revision, make_engine, upgrade
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.hostile_api import HostileApi, write_config
from tests.test_hostile_records import every_table, table_rows, whole_row

pytestmark = pytest.mark.reliability

SSNS = ("123-45-6789", "987-65-4321", "555-44-3333")
STAMP = {"DateTStamp": "2025-05-01 08:00:00", "serverDateTime": "2025-05-05 10:00:00"}
SECRET = "test-only-pii-secret-0123456789"


@pytest.fixture
def api() -> Iterator[HostileApi]:
    server = HostileApi()
    server.lists[PATIENTS.path] = [
        {"PatNum": 1, "LName": "Keptname", "SSN": SSNS[0], **STAMP},
        {"PatNum": 2, "LName": "Other", "SSN": SSNS[1], "Family": {"SSN": SSNS[2]}, **STAMP},
        {"LName": "Nokey", "SSN": SSNS[2], **STAMP},  # rejected: its payload holds the SSN
    ]
    yield server
    server.stop()


def sync(api: HostileApi, engine: Engine, fields: dict[str, str], full: bool = False) -> Any:
    settings = settings_for(api, engine.url.render_as_string(hide_password=False))
    policy = PiiPolicy(fields, secret=SECRET.encode())
    return run_sync(dataclasses.replace(settings, pii=policy), full=full)[0]


def leaks(engine: Engine) -> list[str]:
    dumped = every_table(engine)
    assert "Keptname" in dumped  # the check can see what is there
    return [ssn for ssn in SSNS if ssn in dumped]


def test_switching_ssn_from_keep_to_drop_scrubs_every_stored_row(
    engine: Engine, api: HostileApi
) -> None:
    sync(api, engine, {"SSN": "keep"})
    assert leaks(engine) == list(SSNS)
    api.lists[PATIENTS.path] = []  # nothing is read again: the scrub alone must reach them
    sync(api, engine, {"SSN": "drop"})
    assert leaks(engine) == []
    assert {
        k: (v["ssn"], v["odmirror_extra"]) for k, v in table_rows(engine, PATIENTS).items()
    } == {
        1: (None, None),
        2: (None, {"Family": {}}),
    }
    with engine.connect() as conn:
        (payload,) = conn.execute(select(Rejected.payload)).scalars()
    assert payload == {"LName": "Nokey", **STAMP}


def test_switching_to_hmac_hashes_stored_values_once(engine: Engine, api: HostileApi) -> None:
    sync(api, engine, {"SSN": "keep"})
    sync(api, engine, {"SSN": "hmac"})
    digest = hmac.new(SECRET.encode(), SSNS[0].encode(), hashlib.sha256).hexdigest()
    assert table_rows(engine, PATIENTS)[1]["ssn"] == digest
    sync(api, engine, {"SSN": "hmac"})  # the same policy again: no digest of a digest
    assert table_rows(engine, PATIENTS)[1]["ssn"] == digest
    assert leaks(engine) == []


def old_mirror(path: Path) -> str:
    """A SQLite mirror as the first release wrote it: timestamps with ".000000", SSNs kept."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine, "0003")
    old = "2025-05-01 08:00:00.000000"
    extra = json.dumps({"Family": {"SSN": SSNS[2]}})
    with engine.begin() as conn:
        for number, ssn in ((1, SSNS[0]), (2, SSNS[1])):
            conn.execute(
                text(
                    "INSERT INTO patient (patnum, lname, ssn, datetstamp, odmirror_synced_at,"
                    " odmirror_extra) VALUES (:n, :name, :ssn, :old, :old, :extra)"
                ),
                {"n": number, "name": f"Keptname{number}", "ssn": ssn, "old": old, "extra": extra},
            )
        conn.execute(
            text("INSERT INTO odmirror_sync_state (resource, cursor) VALUES ('patients', :c)"),
            {"c": "2025-05-05 10:00:00.000000"},
        )
    engine.dispose()
    return url


def test_an_old_mirror_keeps_no_ssn_after_init_and_a_full_sync(
    tmp_path: Path, api: HostileApi
) -> None:
    db = tmp_path / "mirror.db"
    url = old_mirror(db)
    # The endpoint sends its dates, "0001-01-01" for none: what the old mirror's NULL dates stood
    # for (revision 0006 makes them so).
    no_dates = dict.fromkeys(
        ("Birthdate", "DateFirstVisit", "AdmitDate", "SecDateEntry"), "0001-01-01"
    )
    api.lists[PATIENTS.path] = [
        {"PatNum": n, "LName": f"Keptname{n}", "SSN": ssn, **no_dates, **STAMP}
        for n, ssn in ((1, SSNS[0]), (2, SSNS[1]))
    ]
    path = write_config(tmp_path, api, url)
    assert main(["init", "--config", path]) == 0
    assert main(["sync", "--config", path, "--full"]) == 0
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        rows = table_rows(engine, PATIENTS)
        assert rows == {r["PatNum"]: whole_row(PATIENTS, r) for r in api.lists[PATIENTS.path]}
        with engine.connect() as conn:  # one timestamp format: the guard compares like with like
            stamps = conn.execute(text("SELECT datetstamp FROM patient")).scalars().all()
        assert stamps == ["2025-05-01 08:00:00"] * 2
    finally:
        engine.dispose()
    data = b"".join(p.read_bytes() for p in tmp_path.glob("mirror.db*"))
    assert b"Keptname1" in data  # the check below can see text in the file
    assert [ssn for ssn in SSNS if ssn.encode() in data] == []
