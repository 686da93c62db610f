"""`odmirror demo`: no keys, no config, a SQLite file with the simulated office in it."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from etl.cli import main
from etl.demo import OFFICE_TZ, last_full_month


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
    _assert_kpi_line(out, db)
    # run again: the file an earlier demo made is replaced
    assert main(["demo", "--db", str(db), "--patients", "50"]) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM patient").fetchone() == (53,)


def _assert_kpi_line(out: str, db: Path) -> None:
    """The demo's KPI line says the last full month's sums of the views, in dollars."""
    line = next(x for x in out.splitlines() if "from the KPI views" in x)
    shown = re.fullmatch(
        r"(\w+ \d{4}) from the KPI views: production \$([\d,.]+), collections \$([\d,.]+)"
        r" \(patients \$([\d,.]+), insurance \$([\d,.]+)\), (\d+)% of production",
        line,
    )
    assert shown is not None, line
    office_today = dt.datetime.now(ZoneInfo(OFFICE_TZ)).date()
    month = dt.datetime.strptime(shown[1], "%B %Y").date()
    assert month == last_full_month(office_today)[0]
    with sqlite3.connect(db) as conn:
        sums = [
            conn.execute(
                f"SELECT ROUND(SUM(amount), 2) FROM {view} WHERE month = ?",
                (f"{month:%Y-%m}",),
            ).fetchone()[0]
            for view in ("kpi_production", "kpi_patient_collections", "kpi_insurance_collections")
        ]
    production, patients, insurance = (float(shown[i].replace(",", "")) for i in (2, 4, 5))
    assert [production, patients, insurance] == sums
    assert production > 1000 and patients > 0 and insurance > 0  # a month of a real office
    assert float(shown[3].replace(",", "")) == round(patients + insurance, 2)
    assert int(shown[6]) == round(100 * (patients + insurance) / production)


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
