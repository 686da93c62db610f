"""`odmirror demo`: no keys, no config, a SQLite file with the simulated office in it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from etl.cli import main


def test_demo_mirrors_the_simulated_office(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db), "--patients", "400"]) == 0
    out = capsys.readouterr().out
    assert "first sync:  patients (full): fetched" in out
    assert "second sync: patients (incremental)" in out
    assert str(db) in out and "SELECT PatStatus, COUNT(*) FROM patient" in out
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM patient").fetchone() == (403,)
        assert conn.execute("SELECT PatNum, LName FROM patient WHERE PatStatus = 0").fetchall()
    # run again: the file an earlier demo made is replaced
    assert main(["demo", "--db", str(db), "--patients", "50"]) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM patient").fetchone() == (53,)


def test_demo_never_overwrites_another_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "precious.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE patient (patnum INTEGER)")
    assert main(["demo", "--db", str(db), "--patients", "10"]) == 1
    assert "is not a demo mirror" in capsys.readouterr().err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("patient",)]


def test_without_the_demo_extra_the_demo_says_what_to_install(tmp_path: Path) -> None:
    # Faker is the demo's only extra package: block it, as on an install without [demo].
    code = (
        "import sys; sys.modules['faker'] = None\n"
        "from etl.cli import main\n"
        f"sys.exit(main(['demo', '--db', {str(tmp_path / 'demo.db')!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "odmirror: error: the demo needs faker: pip install 'odmirror[demo]' (make demo does)"
    ]
    assert not (tmp_path / "demo.db").exists()
