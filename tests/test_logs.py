"""Logs: text or JSON lines, never a key or a patient field other than PatNum; a progress bar on
a terminal only."""

from __future__ import annotations

import json
import logging
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from etl.logs import JsonFormatter, Redactor, StderrHandler, setup
from tests.test_cli import _keys, initialised, run_cli  # noqa: F401 - _keys: autouse

KEYS = ("NFF6i0KrXrxDkZHt", "VzkmZEaUWOjnQX2z")
HOSTILE = (
    "O'Brien\n2026-01-01 00:00:00 ERROR forged log line",
    "Robert'); DROP TABLE patient;--",
    '{"level": "critical", "message": "forged"}',
    "%s%s%n%(message)s",
    "[bold red]Zoë[/] 🦷\u2028Łukasz",
    "\x1b[31mESCAPE\x1b[0m\ttab",
)
PHI_FIELDS = ("LName", "FName", "Preferred", "SSN", "Address", "City", "Email", "HmPhone")


def hostile_office(sim: Any, patients: int = 150) -> list[str]:
    """Patients with hostile, unique values; returns every value that must never be logged."""
    secrets = []
    for n in range(patients):
        values = {
            "LName": f"{HOSTILE[n % len(HOSTILE)]}Lname{n:04d}",
            "FName": f"Fname{n:04d}{HOSTILE[(n + 1) % len(HOSTILE)]}",
            "Preferred": f"Pref{n:04d}",
            "SSN": f"900-{n // 100:02d}-{n % 100:04d}",
            "Address": f"{n} Secret Street",
            "City": f"Cityname{n:04d}",
            "Email": f"patient{n:04d}@example.com",
            "HmPhone": f"(555)01{n:04d}",
        }
        sim.store.add(**values)
        secrets.extend(values.values())
    # An unknown field, an undecodable value and a record without a usable PatNum.
    sim.store.update(1, MysteryField="Mystery-PHI-4711", Birthdate="Not-a-date-PHI-0815")
    sim.store.replace({"PatNum": 0, "LName": "Rejected-PHI-Lname", "SSN": "900-99-9999"})
    return [*secrets, "Mystery-PHI-4711", "Not-a-date-PHI-0815", "Rejected-PHI-Lname"]


def assert_no_secret(text: str, secrets: list[str]) -> None:
    for value in [*secrets, *KEYS]:
        for piece in {value, *value.splitlines()}:
            if len(piece) >= 6:
                assert piece not in text, f"{piece!r} was logged"
    assert "PHI" not in text and "Secret Street" not in text


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_hostile_sync_logs_no_key_and_no_patient_field(
    tmp_path: Path, make_sim: Any, fmt: str
) -> None:
    sim = make_sim(0)
    secrets = hostile_office(sim)
    config = initialised(tmp_path, sim, f"sqlite:///{tmp_path / 'm.db'}")
    document = yaml.safe_load(Path(config).read_text(encoding="utf-8"))
    Path(config).write_text(yaml.safe_dump({**document, "log": {"format": fmt}}), "utf-8")
    # The server echoes the keys in an error body: the message must hide them.
    sim.fail_next(500, f"bad request from {KEYS[0]}/{KEYS[1]} for Fname0001", count=1)
    failed = run_cli("-v", "sync", "--config", config, cwd=tmp_path)
    assert failed.returncode == 1
    done = run_cli("-v", "sync", "--config", config, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "(150 distinct), 150 inserted" in done.stdout
    logged = failed.stderr + done.stderr + done.stdout
    assert "undecodable 'Birthdate' stored as NULL" in logged
    assert "unknown field 'MysteryField'" in logged and "record kept in odmirror_rejected" in logged
    assert_no_secret(logged, secrets)
    if fmt == "json":
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        entries = [json.loads(line) for line in lines]  # every line is one JSON object
        assert {e["level"] for e in entries} >= {"warning", "debug"}
        assert all(set(e) >= {"time", "level", "logger", "message"} for e in entries)
        summary, bill = [json.loads(line) for line in done.stdout.splitlines()]
        assert bill["requests"] == {"patients": summary["requests"]}  # per resource
        assert summary["message"].startswith("patients (full): fetched")
        assert (summary["resource"], summary["inserted"], summary["rejected"]) == (
            "patients",
            150,
            1,
        )
    else:
        assert done.stdout.startswith("patients (full): fetched")


def record(message: str, *args: Any, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError(f"boom for {KEYS[1]}")
        except ValueError:
            info = sys.exc_info()
    return logging.LogRecord("etl", logging.ERROR, __file__, 1, message, args, info)


def test_the_redactor_hides_keys_database_values_and_line_breaks() -> None:
    redactor = Redactor()
    redactor.add_secrets(*KEYS, "", "abc")
    cases = {
        f"header ODFHIR {KEYS[0]}/{KEYS[1]}": "header ODFHIR ***",
        f"key {KEYS[1]} in a URL": "key *** in a URL",
        'database x: invalid input syntax for type bigint: "Smith, John"': (
            "database x: invalid input syntax for type bigint: ***"
        ),
        "Key (patnum)=(O'Brien) already exists.": "Key (patnum)=(***) already exists.",
        "[SQL: INSERT ...] [parameters: ('Smith', '900-00-0001')]": (
            "[SQL: INSERT ...] [parameters: ***]"
        ),
        "two\nlines\u2028here": "two lines here",
        "abc is too short to hide": "abc is too short to hide",
    }
    for given, expected in cases.items():
        rec = record("%s", given)
        assert redactor.filter(rec) and rec.getMessage() == expected
    rec = record("failed", exc=True)
    redactor.filter(rec)
    assert rec.exc_text is not None and "boom for ***" in rec.exc_text
    line = JsonFormatter().format(rec)
    assert "\n" not in line and KEYS[1] not in line
    assert json.loads(line)["exc"].endswith("ValueError: boom for ***")


def on_a_terminal(*args: str, cwd: Path) -> bytes:
    """What `python -m etl ARGS` writes to stderr when stderr is a terminal."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "etl", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    return screen


def test_progress_lines_on_a_terminal_only(tmp_path: Path, make_sim: Any) -> None:
    sim = make_sim(300)
    config = initialised(tmp_path, sim, f"sqlite:///{tmp_path / 'm.db'}")
    quiet = run_cli("sync", "--config", config, cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""  # not a terminal: not a byte
    # The server takes its time over the pages (past the quiet first seconds), so the line
    # has pages to show; the mirror holds 300 rows, so a full sync's time left is known.
    sim.stall_next(0.7, count=4)
    screen = on_a_terminal("sync", "--full", "--config", config, cwd=tmp_path)
    assert b"patients: 300 rows, 4 pages" in screen and b"rows/s" in screen
    assert b"left" in screen
    sim.stall_next(0.7, count=4)
    silent = on_a_terminal("sync", "--full", "--quiet", "--config", config, cwd=tmp_path)
    assert b"rows," not in silent


def test_setup_replaces_only_its_own_handler(caplog: pytest.LogCaptureFixture) -> None:
    setup("sync")
    setup("run", fmt="json")
    root = logging.getLogger()
    assert [type(h) for h in root.handlers].count(StderrHandler) == 1
    assert root.level == logging.INFO
    logging.getLogger("etl.test").warning("still captured")
    assert "still captured" in caplog.text  # pytest's handler was left alone
    setup("sync")
