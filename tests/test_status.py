"""`odmirror status`: text and JSON, and the exit codes a monitor relies on."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import update

from etl import status
from etl.catalog.resources import PATIENTS
from etl.cli import main
from etl.config.load import load_settings
from etl.mirror.bookkeeping import SyncState
from etl.mirror.engine import make_engine
from tests.test_cli import _keys, initialised  # noqa: F401 - _keys: the test keys, autouse


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """These tests run on MariaDB too (tests/conftest.py)."""
    return db_url_all


def add_sections(config: str, **sections: Any) -> str:
    path = Path(config)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({**document, **sections}), encoding="utf-8")
    return config


def status_json(config: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["status", "--json", "--config", config])
    return code, json.loads(capsys.readouterr().out)


def age_the_mirror(db_url: str, hours: float) -> None:
    """As if the last success was `hours` ago (the clock is ours to set, not to wait for)."""
    engine = make_engine(db_url)
    then = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(hours=hours)
    with engine.begin() as conn:
        conn.execute(update(SyncState).values(last_success_at=then.replace(microsecond=0)))
    engine.dispose()


def test_never_synced_is_stale(
    tmp_path: Path, db_url: str, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = initialised(tmp_path, make_sim(3), db_url)
    capsys.readouterr()
    assert main(["status", "--config", config]) == status.STALE == 4
    out = capsys.readouterr().out
    assert "patients: 0 rows; never synced" in out
    assert out.splitlines()[-1] == "status: STALE: patients never synced"
    code, doc = status_json(config, capsys)
    assert code == 4 and doc["status"] == "stale" and doc["exit_code"] == 4
    assert doc["resources"] == [
        {
            "resource": "patients",
            "rows": 0,
            "cursor": None,
            "last_success_at": None,
            "age_seconds": None,
            "rejected": 0,
            "set_aside": 0,
            "columns_not_sent": list(PATIENTS.columns_not_sent),
            "last_run": None,
        }
    ]


def test_a_fresh_mirror_is_ok_in_text_and_json(
    tmp_path: Path, db_url: str, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = initialised(tmp_path, make_sim(230), db_url)
    assert main(["sync", "--config", config]) == 0
    capsys.readouterr()
    assert main(["status", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "patients: 230 rows; last success" in out and "full started" in out
    counts = r": success; fetched 23\d, inserted 230, updated 0, rejected 0; \d+ requests"
    assert re.search(counts, out)
    assert out.splitlines()[-1] == "status: ok: every resource synced within 30 min"
    code, doc = status_json(config, capsys)
    assert code == 0 and doc["status"] == "ok" and doc["problems"] == []
    assert doc["max_age_seconds"] == 2 * 15 * 60  # two periods of the default schedule
    (patients,) = doc["resources"]
    assert patients["rows"] == 230 and 0 <= patients["age_seconds"] < 60
    assert len(patients["cursor"]) == 19 and patients["last_success_at"].endswith("Z")
    run = patients["last_run"]
    assert {k: run[k] for k in ("id", "mode", "status", "rows_inserted", "error")} == {
        "id": 1,
        "mode": "full",
        "status": "success",
        "rows_inserted": 230,
        "error": None,
    }
    assert run["requests"] >= 3 and run["finished_at"] >= run["started_at"]
    # The patient columns Patients Simple does not send are named: NULL, not known.
    not_sent = set(patients["columns_not_sent"])
    assert {"billingtype", "bal_0_30", "bal_31_60", "bal_61_90", "balover90", "insest"} <= not_sent
    assert not not_sent & {"lname", "birthdate", "premed", "datetstamp", "baltotal"}
    assert f"{len(not_sent)} of 84 Open Dental columns not sent by the endpoint" in out


def test_last_run_failed_exit_3_then_stale_exit_4(
    tmp_path: Path, db_url: str, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = make_sim(10)
    config = add_sections(initialised(tmp_path, sim, db_url), status={"max_age": "2h"})
    assert main(["sync", "--config", config]) == 0
    sim.office_online = False
    assert main(["sync", "--config", config]) == 1
    capsys.readouterr()
    assert main(["status", "--config", config]) == status.FAILED == 3
    out = capsys.readouterr().out
    assert "incremental started" in out and "failed: the office is unreachable (400)" in out
    assert out.splitlines()[-1] == "status: FAILED: the last run of patients failed"
    age_the_mirror(db_url, hours=3)
    code, doc = status_json(config, capsys)
    assert code == 4 and doc["max_age_seconds"] == 7200
    assert doc["problems"] == [
        "patients last synced 3 h ago (limit 2 h)",
        "the last run of patients failed",
    ]
    assert doc["resources"][0]["last_run"]["error"].startswith("the office is unreachable")
    sim.office_online = True
    assert main(["sync", "--config", config]) == 0
    assert main(["status", "--config", config]) == 0


def test_staleness_follows_the_schedule_on_a_given_clock(
    tmp_path: Path, db_url: str, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = add_sections(
        initialised(tmp_path, make_sim(4), db_url), schedule={"cron": "30 1 * * *"}
    )
    assert main(["sync", "--config", config]) == 0
    settings = load_settings(config)
    engine = make_engine(db_url)
    try:
        now = status.collect(engine, settings).now
        assert status.collect(engine, settings, now + dt.timedelta(hours=47)).exit_code() == 0
        late = status.collect(engine, settings, now + dt.timedelta(hours=48, seconds=1))
    finally:
        engine.dispose()
    assert late.exit_code() == 4 and late.max_age == dt.timedelta(days=2)
    assert late.problems() == ["patients last synced 2 days ago (limit 2 days)"]
