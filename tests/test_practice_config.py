"""Dental groups: the `practices:` config, each practice's targets, and running them apart."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from etl.cli import main
from etl.config.load import load_settings
from etl.config.targets import practice_url, targets
from etl.errors import ApiError, ConfigError
from etl.mirror.engine import current_revision, head_revision, make_engine
from etl.sync.group import run_each
from tests.test_practices import KEYS, Group, write_config

ROOT = Path(__file__).resolve().parent.parent


def test_log_lines_name_their_practice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(
        write_config(
            tmp_path,
            Group(f"sqlite:///{tmp_path / '{practice}.db'}", "", "odmirror_group"),
            "http://127.0.0.1:9/api/v1",
            [{"name": n, "customer_key": KEYS[n]} for n in KEYS],
        )
    )

    assert [(p.name, p.base_url) for p in settings.practices] == [(n, None) for n in KEYS]
    assert [t.settings.api.customer_key for t in targets(settings)] == list(KEYS.values())
    assert not any(key in repr(settings) for key in KEYS.values())

    def work(target: Any) -> int:
        logging.getLogger("etl.sync.run").warning("a warning")
        if target.name == "south":
            raise ApiError("south is down")
        if target.name == "east":
            raise ValueError("a bug")
        return 1

    with caplog.at_level(logging.WARNING):
        outcomes = run_each(targets(settings), work)
    assert sorted(r.getMessage() for r in caplog.records) == [
        "east: a warning",
        "north: a warning",
        "south: a warning",
    ]
    assert [(o.name, o.value, o.error) for o in outcomes] == [
        ("north", 1, None),
        ("south", None, "south is down"),
        ("east", None, "unexpected ValueError: a bug"),
    ]


def test_practice_url_keeps_other_options_and_replaces_the_search_path() -> None:
    base = "postgresql+psycopg://u:pw@db/od?sslmode=require&options=-c%20statement_timeout%3D5"
    assert practice_url(base, "north") == (
        "postgresql+psycopg://u:pw@db/od?options=-c+statement_timeout%3D5+-csearch_path%3Dnorth"
        "&sslmode=require"
    )
    fixture = "postgresql+psycopg://u@db/od?options=-csearch_path%3Dodm_1"
    assert practice_url(fixture, "south") == (
        "postgresql+psycopg://u@db/od?options=-csearch_path%3Dsouth"
    )
    assert practice_url("sqlite:///data/m_{practice}.db", "east") == "sqlite:///data/m_east.db"


BASE = """
api:
  base_url: http://127.0.0.1:9/api/v1
  developer_key: NFF6i0KrXrxDkZHt
database:
  url: {url}
practices:
  - name: north
    customer_key: SynthNorthKey001
  - {second}
"""


@pytest.mark.parametrize(
    ("url", "second", "message"),
    [
        ("sqlite:///m_{practice}.db", "{name: North, customer_key: k}", "practice 2: name 'North'"),
        ("sqlite:///m_{practice}.db", "{name: a-b, customer_key: k}", "name 'a-b' must be lower"),
        ("sqlite:///m_{practice}.db", "{name: public, customer_key: k}", "name 'public' must"),
        ("sqlite:///m_{practice}.db", "{name: pg_x, customer_key: k}", "name 'pg_x' must"),
        ("sqlite:///m_{practice}.db", "{name: odmirror_group, customer_key: k}", "odmirror_group"),
        ("sqlite:///m_{practice}.db", "{name: north, customer_key: k}", "two practices are named"),
        (
            "sqlite:///m_{practice}.db",
            "{name: south, customer_key: SynthNorthKey001}",
            "practices 'north' and 'south' have the same customer_key",
        ),
        ("sqlite:///m_{practice}.db", "{name: south}", "practice 2 has no 'customer_key'"),
        ("sqlite:///m_{practice}.db", "{name: s, customer_key: k, x: 1}", "unknown key 'x'"),
        ("sqlite:///m_{practice}.db", "{name: s, customer_key: k, base_url: ftp://x}", "base_url"),
        ("sqlite:///m.db", "{name: s, customer_key: k}", "needs {practice} in its file name"),
        ("postgresql://u@h/d_{practice}", "{name: s, customer_key: k}", "remove {practice}"),
        ("sqlite:///m_{practice}.db", "just-a-string", "practice 2 must be a mapping"),
        ("sqlite:///m_{practice}.db", "{name: '', customer_key: k}", "'practices[2].name' must"),
        ("sqlite:///m_{practice}.db", "{name: s, customer_key: '${NOPE_UNSET}'}", "${NOPE_UNSET}"),
    ],
)
def test_bad_practices_are_one_line_config_errors_exit_2(
    tmp_path: Path, url: str, second: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(BASE.format(url=url, second=second), encoding="utf-8")
    assert main(["sync", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"odmirror: error: {path}: ") and message in err, err
    assert err.count("\n") == 1


def test_customer_key_in_api_with_practices_and_placeholder_without(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    text = BASE.format(url="sqlite:///m_{practice}.db", second="{name: s, customer_key: k}")
    path.write_text(text.replace("developer_key:", "customer_key: x\n  developer_key:"), "utf-8")
    assert main(["init", "--config", str(path)]) == 2
    assert "'api.customer_key' is not used with practices" in capsys.readouterr().err
    path.write_text(
        text.split("practices:")[0].replace("developer_key:", "customer_key: x\n  developer_key:"),
        "utf-8",
    )
    assert main(["init", "--config", str(path)]) == 2
    assert "has {practice} but no practices are listed" in capsys.readouterr().err


def test_practice_option_must_name_a_practice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        BASE.format(
            url=f"sqlite:///{tmp_path}/m_{{practice}}.db", second="{name: s, customer_key: k}"
        ),
        "utf-8",
    )
    assert main(["sync", "--config", str(path), "--practice", "nowhere"]) == 2
    assert (
        "no practice named 'nowhere' in the config (it lists north, s)" in capsys.readouterr().err
    )
    single = text_single(tmp_path)
    assert main(["sync", "--config", single, "--practice", "north"]) == 2
    assert "--practice needs a `practices:` list" in capsys.readouterr().err


def text_single(tmp_path: Path) -> str:
    path = tmp_path / "single.yaml"
    path.write_text(
        "api:\n  base_url: http://127.0.0.1:9/api/v1\n  developer_key: d\n  customer_key: c\n"
        f"database:\n  url: sqlite:///{tmp_path}/single.db\n",
        "utf-8",
    )
    return str(path)


def test_alembic_from_the_repo_upgrades_one_practice(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    text = BASE.format(
        url=f"sqlite:///{tmp_path}/m_{{practice}}.db", second="{name: s, customer_key: k}"
    )
    config.write_text(text, encoding="utf-8")

    def alembic(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "alembic", *extra, "upgrade", "head"],
            cwd=ROOT,
            env={**os.environ, "ODMIRROR_CONFIG": str(config)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    refused = alembic()
    assert refused.returncode != 0 and "pass -x practice=NAME" in refused.stderr
    assert not list(tmp_path.glob("*.db"))
    assert alembic("-x", "practice=s").returncode == 0
    assert [p.name for p in tmp_path.glob("*.db")] == ["m_s.db"]
    engine = make_engine(f"sqlite:///{tmp_path}/m_s.db")
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_an_empty_practices_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    text = BASE.format(url="sqlite:///m_{practice}.db", second="{}")
    path.write_text(text.split("practices:")[0] + "practices: []\n", "utf-8")
    with pytest.raises(ConfigError, match=r"'practices' must be a list of \{name, customer_key\}"):
        load_settings(path)
