"""The bulk first load: POST /queries writes a table's CSV to a real SFTP server, odmirror reads
it back, and any failure of that path falls back to ShortQuery pages with one line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select

from etl.api.bulk_csv import MalformedCsv, read_rows, value
from etl.api.client import ApiClient
from etl.catalog.query_tables import query_table
from etl.config.bulk_sftp import BulkSftpSettings
from etl.config.load import settings_from_dict
from etl.control import RunControl, StopRequested
from etl.errors import ConfigError
from etl.mirror.bookkeeping import SyncRun, SyncState
from etl.mirror.engine import make_engine, upgrade
from etl.simulator import OfficeClock, Simulator
from etl.simulator.office_db import OfficeDatabase
from etl.simulator.office_rows import office_rows
from etl.simulator.sftp_server import SftpServer
from etl.sync import state
from etl.sync.run import run_sync
from etl.sync.state import RunResult
from tests.conftest import settings_for

START = dt.datetime(2025, 3, 14, 9, 26, 53)
USER, PASSWORD = "odmirror", "s3cret-Sftp-Pass"
ROWS = 250


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[SftpServer]:
    """A real SFTP server on loopback, rooted at a temporary folder, password login."""
    root = tmp_path / "sftp"
    root.mkdir()
    with SftpServer(root, USER, PASSWORD) as server:
        yield server


@pytest.fixture
def office(make_sim: Any) -> Simulator:
    """A simulator with an office database holding ROWS claimprocs and a few recall types."""
    sim: Simulator = make_sim(clock=OfficeClock(start=START))
    sim.office_db = OfficeDatabase(sim.clock)
    sim.office_db.insert("claimproc", office_rows("claimproc", ROWS, START))
    sim.office_db.insert("recalltype", office_rows("recalltype", 7, START))
    return sim


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite mirror: the fallback and the waits do not depend on the database."""
    eng = make_engine(f"sqlite:///{tmp_path / 'mirror.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


def _bulk(sftp: SftpServer, **changes: Any) -> BulkSftpSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1", "port": sftp.port, "username": USER, "password": PASSWORD,
        "min_rows": 0, "wait_seconds": 10,
    }  # fmt: skip
    return BulkSftpSettings(**{**values, **changes})


def _sync(
    sim: Simulator,
    engine: Engine,
    bulk: BulkSftpSettings | None,
    tables: tuple[str, ...] = ("claimproc",),
    control: RunControl | None = None,
    full: bool = False,
) -> dict[str, RunResult]:
    settings = settings_for(sim, engine.url.render_as_string(hide_password=False), bulk_sftp=bulk)
    settings = dataclasses.replace(settings, sync=dataclasses.replace(settings.sync, tables=tables))
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        results = run_sync(settings, full=full, client=client, control=control)
    return {r.resource: r for r in results}


def _rows(engine: Engine, table: str) -> list[dict[str, Any]]:
    mirrored = query_table(table)
    with engine.connect() as conn:
        found = conn.execute(select(mirrored).order_by(*mirrored.primary_key)).mappings().all()
    return [{k: v for k, v in row.items() if k != "odmirror_synced_at"} for row in found]


def _forget(engine: Engine, table: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(query_table(table)))
        conn.execute(delete(SyncState).where(SyncState.resource == table))


def _files(sftp: SftpServer) -> list[str]:
    return sorted(p.name for p in sftp.root.iterdir())


def test_a_bulk_load_equals_the_keyset_load_in_a_handful_of_requests(
    office: Simulator, engine: Engine, sftp: SftpServer
) -> None:
    office.bulk_queries.written = []
    tables = ("claimproc", "recalltype")
    bulk = _sync(office, engine, _bulk(sftp), tables)
    by_bulk = {t: _rows(engine, t) for t in tables}
    for table in tables:
        _forget(engine, table)
    paged = _sync(office, engine, None, tables)
    assert {t: _rows(engine, t) for t in tables} == by_bulk
    assert len(by_bulk["claimproc"]) == ROWS and len(by_bulk["recalltype"]) == 7
    # The office clock, then the POST: two requests against one per 100 rows (and the clock);
    # the run's first table also counts the Queries permission's check (etl.sync.query_mode).
    assert bulk["claimproc"].stats.requests == 1 + 2 and bulk["recalltype"].stats.requests == 1
    assert paged["claimproc"].stats.requests == 1 + ROWS // 100 + 1
    assert bulk["claimproc"].cursor == paged["claimproc"].cursor == START
    assert state.get_cursor(engine, "claimproc") == START
    assert next(a for a, _ in office.bulk_queries.written).startswith(
        "127.0.0.1/odmirror-claimproc-"
    )
    assert _files(sftp) == []  # each file deleted once read
    assert [bulk[t].notes for t in tables] == [["read whole through POST /queries and SFTP"]] * 2


def test_later_runs_page_and_a_file_left_by_a_killed_run_is_deleted(
    office: Simulator, mirror: Engine, sftp: SftpServer
) -> None:
    office.bulk_queries.written = []
    office_hash = hashlib.sha256(office.config.customer_key.encode()).hexdigest()[:8]
    left = sftp.root / f"odmirror-claimproc-{office_hash}-0123456789abcdef.csv"
    theirs = sftp.root / "odmirror-claimproc-0badcafe-0123456789abcdef.csv"
    left.write_text("left by a killed run")
    theirs.write_text("another office's file in flight")
    tables = ("claimproc", "recalltype")
    _sync(office, mirror, _bulk(sftp), tables)
    assert _files(sftp) == [theirs.name]  # ours swept, another office's left alone
    assert len(office.bulk_queries.written) == 2
    again = _sync(office, mirror, _bulk(sftp), tables)
    assert len(office.bulk_queries.written) == 2  # no first load: no file asked for
    assert again["claimproc"].stats.requests == 1  # the change probe: unchanged, not read
    assert again["recalltype"].stats.requests == 1  # read whole, by pages
    assert len(_rows(mirror, "recalltype")) == 7
    full = _sync(office, mirror, _bulk(sftp), tables, full=True)
    assert len(office.bulk_queries.written) == 4  # --full goes through SFTP again
    assert full["claimproc"].stats.fetched == ROWS


def _as_dotnet_us(text: str) -> str:
    """Every date-time as .NET writes it in en-US: 3/14/2025 9:26:53 AM."""

    def us(match: re.Match[str]) -> str:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        half = "PM" if hour >= 12 else "AM"
        return f"{month}/{day}/{year:04d} {hour % 12 or 12}:{minute:02d}:{second:02d} {half}"

    return re.sub(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})", us, text)


def test_dates_in_the_offices_culture_are_read_when_date_order_says_how(
    office: Simulator, mirror: Engine, sftp: SftpServer
) -> None:
    office.bulk_queries.mangle = _as_dotnet_us
    bulk = _sync(office, mirror, _bulk(sftp, date_order="mdy"))["claimproc"]
    assert bulk.notes == ["read whole through POST /queries and SFTP"]
    by_bulk = _rows(mirror, "claimproc")
    _forget(mirror, "claimproc")
    _sync(office, mirror, None)
    assert _rows(mirror, "claimproc") == by_bulk


def test_a_table_under_min_rows_is_paged_after_one_count(
    office: Simulator, mirror: Engine, sftp: SftpServer
) -> None:
    office.bulk_queries.written = []
    result = _sync(office, mirror, _bulk(sftp, min_rows=ROWS + 1))["claimproc"]
    assert office.bulk_queries.written == []
    # The Queries permission's check, the clock, COUNT(*), pages.
    assert result.stats.requests == 1 + 1 + 1 + ROWS // 100 + 1
    assert len(_rows(mirror, "claimproc")) == ROWS
    assert result.notes == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _slashed(text: str) -> str:
    return text.replace("2025-03-14 ", "3/14/2025 ", 1)


FAILURES: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "wrong password": ({"password": "not-the-password"}, {}, "refused the username or password"),
    "unreachable": ({"port": -1}, {}, "cannot use the SFTP server 127.0.0.1:"),
    "never written": ({"wait_seconds": 1}, {"write": False}, "no file after 1 s"),
    "too big": ({"max_file_mb": 0.001}, {}, "above bulk_sftp.max_file_mb (0.001)"),
    "malformed": ({}, {"mangle": _slashed}, "is ambiguous (day and month order unknown"),
    "short record": ({}, {"mangle": lambda t: t[: t.rfind(",")]}, "fields, the header"),
    "refused": (
        {},
        {"refuse": f"cannot log in to 127.0.0.1 as {USER}:{PASSWORD}"},
        f"POST /queries was refused (400): cannot log in to 127.0.0.1 as {USER}:***",
    ),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failed_bulk_read_says_why_in_one_line_and_pages_instead(
    office: Simulator,
    mirror: Engine,
    sftp: SftpServer,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    changes, faults, why = FAILURES[case]
    if changes.get("port") == -1:
        changes = {"port": _closed_port()}
    for name, fault in faults.items():
        setattr(office.bulk_queries, name, fault)
    with caplog.at_level(logging.INFO):
        result = _sync(office, mirror, _bulk(sftp, **changes))["claimproc"]
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1, warned
    assert warned[0].startswith("claimproc: bulk read through SFTP failed, paging instead: ")
    assert why in warned[0]
    assert "\n" not in warned[0]
    assert result.notes == [f"bulk read failed ({warned[0].split('instead: ')[1]}); read by pages"]
    assert len(_rows(mirror, "claimproc")) == ROWS  # paged instead, whole
    assert result.cursor == START
    assert _files(sftp) == []  # a file written is deleted all the same
    assert PASSWORD not in caplog.text
    with mirror.connect() as conn:
        assert PASSWORD not in str(conn.execute(select(SyncRun)).all())


def test_a_stop_request_ends_the_wait_for_the_file(
    office: Simulator, mirror: Engine, sftp: SftpServer
) -> None:
    control = RunControl()

    def stop_then_write_nothing(text: str) -> str:
        control.stop.set()  # asked while the office runs the query
        return text

    office.bulk_queries.write, office.bulk_queries.mangle = False, stop_then_write_nothing
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            _sync(office, mirror, _bulk(sftp, wait_seconds=3600), control=control)
        except BaseException as exc:  # kept for the assertion
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)  # a bound, not a measure: the wait is an hour
    assert not worker.is_alive()
    assert [type(e) for e in outcome] == [StopRequested]


def test_the_password_is_hidden_and_may_come_from_the_environment() -> None:
    raw = {
        "api": {
            "base_url": "http://127.0.0.1:30223/api/v1",
            "developer_key": "dev123",
            "customer_key": "cus456",
            "bulk_sftp": {"host": "sftp.example.org", "username": USER,
                          "password": "${SFTP_PASSWORD}", "directory": "/upload"},
        },
        "database": {"url": "sqlite:///m.db"},
    }  # fmt: skip
    settings = settings_from_dict(raw, "c.yaml", {"SFTP_PASSWORD": PASSWORD})
    bulk = settings.api.bulk_sftp
    assert bulk is not None and bulk.password == PASSWORD
    assert PASSWORD not in repr(settings)
    env = {"SFTP_PASSWORD": "x", "ODMIRROR_API_BULK_SFTP_PASSWORD": "from-env"}
    again = settings_from_dict(raw, "c.yaml", env).api.bulk_sftp
    assert again is not None and again.password == "from-env"
    raw["api"]["bulk_sftp"]["directory"] = "upload"  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"'api\.bulk_sftp\.directory' must be an absolute path"):
        settings_from_dict(raw, "c.yaml", {"SFTP_PASSWORD": PASSWORD})
    assert (
        settings_from_dict({**raw, "api": {**raw["api"], "bulk_sftp": None}}).api.bulk_sftp is None
    )


@pytest.mark.parametrize(
    ("storage", "text", "sent", "order"),
    [(*case, "ymd")[:4] for case in [
        ("Long", "42", 42), ("Long", "NULL", None), ("Long", "", None),
        ("Bool", "True", 1), ("Bool", "0", 0), ("Byte", "3", 3),
        ("Double", "12.5", 12.5), ("Double", "1E-05", 1e-05),
        ("Date", "2025-03-14", "2025-03-14T00:00:00"),
        ("Date", "2025-03-14 00:00:00", "2025-03-14T00:00:00"),
        ("Date", "0001-01-01", "0001-01-01T00:00:00"),
        ("DateT", "2025-03-14 09:26:53", "2025-03-14T09:26:53"),
        ("DateT", "2025-03-14T09:26:53.250", "2025-03-14T09:26:53"),
        ("Time", "9:05:00", "09:05:00"), ("TSpan", "-1.02:03:04", "-26:03:04"),
        ("DateT", "3/14/2025 9:26:53 PM", "2025-03-14T21:26:53", "mdy"),
        ("DateT", "3/14/2025 12:05:00 AM", "2025-03-14T00:05:00", "mdy"),
        ("DateT", "14.03.2025 21:26", "2025-03-14T21:26:00", "dmy"),
        ("Date", "14/3/2025", "2025-03-14T00:00:00", "dmy"),
        ("Date", "3/14/2025 12:00:00 AM", "2025-03-14T00:00:00", "mdy"),
        ("String", "", ""), ("String", " a, \"b\" ", " a, \"b\" "),
    ]],
)  # fmt: skip
def test_csv_values_are_read_as_short_query_sends_them(
    storage: str, text: str, sent: Any, order: str
) -> None:
    assert value(storage, text, order) == sent


@pytest.mark.parametrize(
    ("storage", "text", "why", "order"),
    [(*case, "ymd")[:4] for case in [
        ("Double", "12,5", "a comma may be a decimal or a thousands separator"),
        ("DateT", "3/14/2025 9:26:53 AM", "ambiguous (day and month order unknown"),
        ("Date", "14.03.2025", "ambiguous"),
        ("Date", "2025-03-14 09:00:00", "is not a date"),
        ("Long", "4.0", "is not an integer"),
        ("Bool", "yes", "is not 0, 1, True or False"),
        ("Time", "25:00:00", "is not a time of day"),
        ("DateT", "14/3/2025 9:00:00", "is not a date in mdy order", "mdy"),
        ("Date", "3/14/2025 9:00:00 AM", "is a date with a time of day", "mdy"),
        ("DateT", "3/14/2025 13:00:00 PM", "not 1 to 12 with AM/PM", "mdy"),
    ]],
)  # fmt: skip
def test_csv_values_of_an_unclear_spelling_are_refused_with_a_reason(
    storage: str, text: str, why: str, order: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        value(storage, text, order)


def test_the_csv_file_is_read_by_header_and_an_ok_file_is_empty(tmp_path: Path) -> None:
    file = tmp_path / "f.csv"
    file.write_bytes(
        b'\xef\xbb\xbfRecallTypeNum,description,TimePattern\r\n1,"Prophy, adult",//\r\n'
    )
    with file.open("rb") as stream:
        assert list(read_rows(stream, "recalltype", 10)) == [
            [{"RecallTypeNum": 1, "Description": "Prophy, adult", "TimePattern": "//"}]
        ]
    file.write_bytes(b"OK")
    with file.open("rb") as stream:
        assert list(read_rows(stream, "recalltype", 10)) == []
    file.write_bytes(b"Description\r\nx\r\n")
    with file.open("rb") as stream, pytest.raises(MalformedCsv, match="lacks the key column"):
        list(read_rows(stream, "recalltype", 10))


def test_the_cli_scrubs_the_sftp_passwords_from_its_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from etl import cli, logs

    config = tmp_path / "odmirror.yaml"
    config.write_text(
        "api:\n  base_url: http://127.0.0.1:30223/api/v1\n  developer_key: dev123\n"
        "  customer_key: cus456\n  bulk_sftp:\n    host: sftp.example.org\n"
        f"    username: {USER}\n    password: {PASSWORD}\n    directory: /upload\n"
        "    read_password: other-secret-77\n"
        f"database:\n  url: sqlite:///{tmp_path / 'm.db'}\n",
        encoding="utf-8",
    )
    try:
        cli._settings(argparse.Namespace(command="status", config=str(config)))
        logging.getLogger("etl.sync.run").warning("said %s and %s", PASSWORD, "other-secret-77")
        said = capsys.readouterr().err
    finally:
        logs.REDACTOR.secrets.clear()
    assert "said" in said and PASSWORD not in said and "other-secret-77" not in said
