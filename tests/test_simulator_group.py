"""The simulator as a dental group: several offices on one port, each with its own key, and a
churn that keeps editing, adding and deleting patients while odmirror mirrors them."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from etl.cli import main
from etl.mirror.engine import make_engine
from etl.simulator import Simulator, SimulatorConfig
from etl.simulator.churn import KINDS, Churn
from etl.simulator.group import OfficeGroup
from tests.test_sync import assert_mirror_matches

DEVELOPER_KEY = "NFF6i0KrXrxDkZHt"  # Open Dental's published test key
ROOT = Path(__file__).resolve().parent.parent


def group_config(tmp_path: Path, base_url: str, keys: dict[str, str]) -> str:
    config = {
        "api": {"base_url": base_url, "developer_key": DEVELOPER_KEY, "min_request_interval": 0},
        "database": {"url": f"sqlite:///{tmp_path / 'mirror_{practice}.db'}"},
        "practices": [{"name": name, "customer_key": key} for name, key in keys.items()],
    }
    path = tmp_path / "group.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def test_each_change_of_the_churn_is_in_the_mirror_after_the_next_sync(tmp_path: Path) -> None:
    keys = {"north": "SimOffice001Key0", "south": "SimOffice002Key0"}
    sims = {
        name: Simulator(25, SimulatorConfig(customer_key=key), seed=seed)
        for seed, (name, key) in enumerate(keys.items(), 1)
    }
    with OfficeGroup(sims.values()) as front:
        config = group_config(tmp_path, front.base_url, keys)
        assert main(["init", "--config", config]) == 0
        assert main(["sync", "--config", config]) == 0
        churn = Churn(list(sims.values()), per_minute=60, seed=7)
        for _ in range(40):
            churn.step()
        assert set(churn.counts) == set(KINDS) and sum(churn.counts.values()) == 40
        assert main(["sync", "--config", config]) == 0
    for name, sim in sims.items():
        engine = make_engine(f"sqlite:///{tmp_path / f'mirror_{name}.db'}")
        assert_mirror_matches(engine, sim)
        engine.dispose()


def test_python_m_simulator_serves_a_group_on_one_port(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "etl.simulator", "--offices", "2", "--patients", "15"]
    command += ["--port", "0", "--changes-per-minute", "30"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as served:
        assert served.stdout is not None
        lines = []
        while not lines or lines[-1] != "Ctrl-C to stop.":
            lines.append(served.stdout.readline().rstrip("\n"))
        assert lines[0] == (
            "Open Dental API simulator: 2 offices behind one address, service mode "
            "(1000 rows a page)"
        )
        base_url = lines[1].split()[-1]
        assert lines[3:6] == [
            "  office 1:     customer key SimOffice001Key0, 15 patients",
            "  office 2:     customer key SimOffice002Key0, 15 patients",
            "  changes:       30 a minute (edits, new patients, deletions)",
        ]
        keys = {"north": "SimOffice001Key0", "south": "SimOffice002Key0"}
        config = group_config(tmp_path, base_url, keys)
        assert main(["init", "--config", config]) == 0
        assert main(["sync", "--config", config]) == 0
        served.send_signal(signal.SIGTERM)
        rest = served.stdout.read()
        assert served.wait(timeout=30) == 0 and rest.endswith("simulator stopped\n")
    for name in keys:  # 15 each, and any the churn added before the sync read them
        with sqlite3.connect(tmp_path / f"mirror_{name}.db") as conn:
            (patients,) = conn.execute("SELECT count(*) FROM patient").fetchone()
        assert patients >= 15
