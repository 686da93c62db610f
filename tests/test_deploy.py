"""deploy/: the crontab line runs as cron would run it, and the systemd unit verifies."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger

from etl.mirror.lock import LOCKED_EXIT_CODE, mirror_lock
from tests.test_cli import _keys, count, write_config  # noqa: F401 - _keys: autouse

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
#: The odmirror script runs this checkout's code (the venv's editable install may be another's).
CODE = {"PYTHONPATH": str(ROOT)}
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


JOURNAL = "systemd-cat --identifier=odmirror"


def installed(tmp_path: Path, text: str) -> str:
    """The deploy text with its absolute paths moved under tmp_path and our odmirror; the
    journal (no journald here) is a script that appends to var/journal.log."""
    journal = tmp_path / "journal"
    journal.write_text(
        '#!/bin/sh\nshift\nexec "$@" >>"$JOURNAL_LOG" 2>&1\n'.replace(
            "$JOURNAL_LOG", str(tmp_path / "var" / "journal.log")
        ),
        encoding="utf-8",
    )
    journal.chmod(0o755)
    return (
        text.replace("/opt/odmirror/bin/odmirror", str(ODMIRROR))
        .replace("/etc/odmirror", str(tmp_path / "etc"))
        .replace("/var/lib/odmirror", str(tmp_path / "var"))
        .replace(JOURNAL, f"{journal} --identifier=odmirror")
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
        minimal = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh", **CODE}
        shell = installed(tmp_path, command)
        job = subprocess.run(["/bin/sh", "-c", shell], env=minimal, timeout=120, check=False)
        return job.returncode

    assert JOURNAL in command  # timestamps and rotation: the journal's
    assert run_as_cron() == 0
    assert count(db_url) == 25
    log = (tmp_path / "var" / "journal.log").read_text(encoding="utf-8")
    assert "patients (full): fetched" in log
    with mirror_lock(db_url):
        assert run_as_cron() == LOCKED_EXIT_CODE
    log = (tmp_path / "var" / "journal.log").read_text(encoding="utf-8")
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


def unit_lines(name: str) -> list[tuple[str, str]]:
    """The `Key=value` lines of the unit, in order."""
    text = (DEPLOY / "odmirror.service").read_text(encoding="utf-8")
    pairs = [line.split("=", 1) for line in text.splitlines() if re.match(r"[A-Z]\w*=", line)]
    return [(key, value) for key, value in pairs if name in ("", key)]


def test_the_units_init_step_runs_with_its_environment_and_no_keys(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "var").mkdir()
    # The env file as installed from the example: placeholders, no real key yet.
    shutil.copy(DEPLOY / "odmirror.env.example", tmp_path / "etc" / "odmirror.env")
    config = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    mirror = "sqlite:////var/lib/odmirror/mirror.db"
    config = config.replace("url: sqlite:///opendental_mirror.db", f"url: {mirror}")
    (tmp_path / "etc" / "config.yaml").write_text(installed(tmp_path, config), "utf-8")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **CODE}
    for _key, value in unit_lines("Environment"):
        env.update([value.split("=", 1)])
    (env_file,) = [installed(tmp_path, value) for _key, value in unit_lines("EnvironmentFile")]
    for line in Path(env_file).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            env.update([line.split("=", 1)])
    env = {key: installed(tmp_path, value) for key, value in env.items()}
    ((_key, init),) = unit_lines("ExecStartPre")
    assert init == "/opt/odmirror/bin/odmirror init"
    (workdir,) = [installed(tmp_path, v) for _k, v in unit_lines("WorkingDirectory")]
    result = subprocess.run(
        installed(tmp_path, init).split(),
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mirror schema ready at revision ")
    assert (tmp_path / "var" / "mirror.db").is_file()


def test_tmpfiles_makes_the_state_directory(tmp_path: Path) -> None:
    tool = shutil.which("systemd-tmpfiles")
    if tool is None:
        pytest.skip("systemd-tmpfiles is not installed")
    text = (DEPLOY / "odmirror.tmpfiles").read_text(encoding="utf-8")
    (entry,) = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert entry.split() == ["d", "/var/lib/odmirror", "0750", "odmirror", "odmirror", "-"]
    me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    conf = tmp_path / "odmirror.conf"  # owned by this user: no odmirror user here
    conf.write_text(text.replace("odmirror odmirror", f"{me} {group}"), encoding="utf-8")
    root = tmp_path / "root"
    root.mkdir()
    result = subprocess.run(
        [tool, "--create", f"--root={root}", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    made = root / "var" / "lib" / "odmirror"
    assert made.is_dir() and stat.S_IMODE(made.stat().st_mode) == 0o750
