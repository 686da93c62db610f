"""deploy/: the crontab line runs as cron would run it, and the systemd unit verifies."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger

from etl.mirror.lock import LOCKED_EXIT_CODE, mirror_lock
from tests.test_cli import _keys, count, write_config  # noqa: F401 - _keys: autouse

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ODMIRROR = Path(sys.executable).with_name("odmirror")


def cron_entry() -> tuple[str, str, str]:
    """(schedule, user, command) of the one job in deploy/odmirror.cron."""
    (line,) = [
        row
        for row in (DEPLOY / "odmirror.cron").read_text(encoding="utf-8").splitlines()
        if row.strip() and not row.startswith("#") and "=" not in row.split()[0]
    ]
    fields = line.split(maxsplit=6)
    return " ".join(fields[:5]), fields[5], fields[6]


def installed(tmp_path: Path, text: str) -> str:
    """The deploy text with its absolute paths moved under tmp_path and our odmirror."""
    return (
        text.replace("/opt/odmirror/bin/odmirror", str(ODMIRROR))
        .replace("/etc/odmirror", str(tmp_path / "etc"))
        .replace("/var/lib/odmirror", str(tmp_path / "var"))
    )


def test_the_crontab_line_syncs_as_cron_runs_it(tmp_path: Path, make_sim: Any) -> None:
    schedule, user, command = cron_entry()
    assert CronTrigger.from_crontab(schedule) and user == "odmirror" and "%" not in command
    (tmp_path / "etc").mkdir()
    (tmp_path / "var").mkdir()
    env = (DEPLOY / "odmirror.env.example").read_text(encoding="utf-8")
    env = env.replace("replace-with-your-developer-key", "NFF6i0KrXrxDkZHt")
    (tmp_path / "etc" / "odmirror.env").write_text(
        env.replace("replace-with-the-office-customer-key", "VzkmZEaUWOjnQX2z"), "utf-8"
    )
    db_url = f"sqlite:///{tmp_path / 'var' / 'mirror.db'}"
    config = write_config(tmp_path, make_sim(25), db_url)
    config.rename(tmp_path / "etc" / "config.yaml")
    assert (
        subprocess.run([ODMIRROR, "init", "--config", tmp_path / "etc" / "config.yaml"]).returncode
        == 0
    )

    def run_as_cron() -> int:
        # cron gives a job little more than this environment
        minimal = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh"}
        shell = installed(tmp_path, command)
        job = subprocess.run(["/bin/sh", "-c", shell], env=minimal, timeout=120, check=False)
        return job.returncode

    assert run_as_cron() == 0
    assert count(db_url) == 25
    log = (tmp_path / "var" / "sync.log").read_text(encoding="utf-8")
    assert "patients (full): fetched" in log
    with mirror_lock(db_url):
        assert run_as_cron() == LOCKED_EXIT_CODE
    log = (tmp_path / "var" / "sync.log").read_text(encoding="utf-8")
    assert log.splitlines()[-1].startswith("odmirror: error: another odmirror is syncing")


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (DEPLOY / "odmirror.service").read_text(encoding="utf-8")
    assert "ExecStart=/opt/odmirror/bin/odmirror run" in unit and "KillSignal=SIGTERM" in unit
    assert "EnvironmentFile=/etc/odmirror/odmirror.env" in unit
    assert "/etc/odmirror/odmirror.env" in cron_entry()[2]  # the same keys for both
    path = tmp_path / "odmirror.service"
    path.write_text(installed(tmp_path, unit), encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "odmirror.service" not in result.stderr, result.stderr
