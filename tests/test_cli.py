"""The odmirror command: exit codes and one-line messages, with real files and servers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from etl.catalog.resources import PATIENTS
from etl.cli import main
from etl.mirror.engine import make_engine
from etl.sync import state

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, sim: Any, db_url: str, **api: Any) -> Path:
    config = {
        "api": {
            "base_url": sim.base_url,
            "developer_key": "${OD_DEVELOPER_KEY}",
            "customer_key": "${OD_CUSTOMER_KEY}",
            "page_size": 100,
            "min_request_interval": 0,
            "timeout": 5,
            "max_retries": 0,
            **api,
        },
        "database": {"url": db_url},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OD_DEVELOPER_KEY", "NFF6i0KrXrxDkZHt")
    monkeypatch.setenv("OD_CUSTOMER_KEY", "VzkmZEaUWOjnQX2z")
    monkeypatch.delenv("ODMIRROR_CONFIG", raising=False)


def initialised(tmp_path: Path, sim: Any, db_url: str) -> str:
    """A config for this simulator and database, with the schema created; returns its path."""
    config = str(write_config(tmp_path, sim, db_url))
    assert main(["init", "--config", config]) == 0
    return config


def count(db_url: str) -> int:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(PATIENTS.table)).scalar_one()
    engine.dispose()
    return int(n)


def test_init_sync_status(
    tmp_path: Path, db_url: str, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = make_sim(230)
    config = initialised(tmp_path, sim, db_url)
    assert main(["--config", config, "sync"]) == 0
    out = capsys.readouterr().out
    assert "patients (full): fetched" in out and "(230 distinct), 230 inserted" in out
    assert count(db_url) == 230
    assert main(["status", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "patients: 230 rows; last success" in out
    assert ": success;" in out


def test_sync_before_init_says_run_init(
    tmp_path: Path, db_url: str, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, make_sim(5), db_url))
    assert main(["sync", "--config", config]) == 1
    err = capsys.readouterr().err
    assert err.startswith("odmirror: error: ") and "run `odmirror init`" in err
    assert err.count("\n") == 1


def test_wrong_keys_office_offline_and_unreachable_api(
    tmp_path: Path, db_url: str, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = make_sim(120)
    config = str(write_config(tmp_path, sim, db_url))
    main(["init", "--config", config])
    main(["sync", "--config", config])
    capsys.readouterr()
    os.environ["OD_CUSTOMER_KEY"] = "NotTheRightKey99"
    assert main(["sync", "--config", config]) == 1
    err = capsys.readouterr().err
    assert "refused the keys (401)" in err and "NotTheRightKey99" not in err
    os.environ["OD_CUSTOMER_KEY"] = "VzkmZEaUWOjnQX2z"
    sim.office_online = False
    assert main(["sync", "--config", config]) == 1
    assert "the office is unreachable" in capsys.readouterr().err
    sim.stop()
    assert main(["sync", "--config", config]) == 1
    assert "cannot reach the API" in capsys.readouterr().err
    assert count(db_url) == 120


def test_unreachable_database(
    tmp_path: Path, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://odm:secretpw@127.0.0.1:{port}/nope"
    config = str(write_config(tmp_path, make_sim(1), url))
    assert main(["sync", "--config", config]) == 1
    err = capsys.readouterr().err
    assert "database postgresql+psycopg://odm:***@127.0.0.1" in err
    assert "secretpw" not in err and err.count("\n") == 1


def test_broken_config_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "api:\n  base_url: http://x\n  developer_key: a\n  customer_key: b\n  page_size: many\n"
        "database:\n  url: sqlite:///x.db\n",
        encoding="utf-8",
    )
    assert main(["sync", "--config", str(path)]) == 2
    assert "'api.page_size' must be an integer" in capsys.readouterr().err
    assert main(["sync", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_default_config_comes_from_the_environment(
    tmp_path: Path, db_url: str, make_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ODMIRROR_CONFIG", str(write_config(tmp_path, make_sim(3), db_url)))
    assert main(["init"]) == 0
    assert main(["sync"]) == 0
    assert count(db_url) == 3


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def spawn(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """`python -m etl ARGS` in the background, its output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "etl", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_python_dash_m_reports_without_traceback(tmp_path: Path) -> None:
    result = run_cli("status", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("odmirror: error: config file not found: config.yaml")
    assert "Traceback" not in result.stderr


def test_sigkill_half_way_then_the_next_run_completes(
    tmp_path: Path, db_url: str, make_sim: Any
) -> None:
    sim = make_sim(600)
    config = initialised(tmp_path, sim, db_url)
    proc = spawn("sync", "--config", config, cwd=tmp_path)

    def kill_on_fourth_page(index: int, _log: Any) -> None:
        if index == 3:
            os.kill(proc.pid, signal.SIGKILL)

    sim.on_request(kill_on_fourth_page)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    sim.on_request(None)
    # Whole pages only: three were sent, and writes trail the fetch thread by up to three.
    assert count(db_url) in (0, 100, 200, 300)
    engine = make_engine(db_url)
    assert state.get_cursor(engine, "patients") is None
    assert main(["sync", "--config", config]) == 0
    assert count(db_url) == 600
    statuses = [r.status for r in reversed(state.latest_runs(engine))]
    engine.dispose()
    assert statuses == ["interrupted", "success"]


def test_run_syncs_at_once_and_stops_cleanly_on_sigterm(
    tmp_path: Path, db_url: str, make_sim: Any
) -> None:
    sim = make_sim(150)
    config = initialised(tmp_path, sim, db_url)
    proc = spawn("run", "--config", config, cwd=tmp_path)
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # blocks until the first scheduled sync logs its summary
        lines.append(line)
        if "patients (full)" in line or "Traceback" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, "".join(lines) + rest
    assert "fetched" in lines[-1] and "(150 distinct)" in lines[-1]
    assert "Traceback" not in "".join(lines) + rest
    assert count(db_url) == 150


def test_run_refuses_to_start_without_a_schema(
    tmp_path: Path, db_url: str, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, make_sim(1), db_url))
    assert main(["run", "--config", config]) == 1
    assert "run `odmirror init`" in capsys.readouterr().err


def test_an_unreachable_api_says_each_retry_then_one_error_line(
    tmp_path: Path, make_sim: Any
) -> None:
    sim = make_sim(1)
    config = write_config(tmp_path, sim, f"sqlite:///{tmp_path / 'm.db'}", max_retries=2)
    assert run_cli("init", "--config", str(config), cwd=tmp_path).returncode == 0
    host = sim.base_url.split("/")[2]
    sim.stop()
    result = run_cli("sync", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    # A wrong port is not a silent wait: each retry is said as it comes.
    retry = "WARNING: GET /api/v1/patients/Simple: cannot connect; retrying (attempt {} of 3,"
    lines = result.stderr.splitlines()
    assert [line.rsplit(" ", 4)[0] for line in lines[:2]] == [retry.format(2), retry.format(3)]
    assert all(re.fullmatch(r".*, next in \d+\.\d s\)", line) for line in lines[:2])
    assert lines[2:] == [
        f"odmirror: error: cannot reach the API at {host}: connection refused (check api.base_url)"
    ]


def test_a_database_odmirror_does_not_mirror_into(
    tmp_path: Path, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, make_sim(1), "mssql+pymssql://user@127.0.0.1/od"))
    assert main(["init", "--config", config]) == 1
    assert (
        "odmirror mirrors into PostgreSQL, MySQL, MariaDB or SQLite, not mssql"
        in capsys.readouterr().err
    )
