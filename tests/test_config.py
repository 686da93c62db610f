"""The YAML config: what it accepts, and the one-line errors for what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.config.load import load_settings
from etl.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
GOOD = """
api:
  base_url: http://127.0.0.1:30223/api/v1
  developer_key: ${OD_DEVELOPER_KEY}
  customer_key: ${OD_CUSTOMER_KEY:-VzkmZEaUWOjnQX2z}
  page_size: 1000
  min_request_interval: 0
  timeout: 30
database:
  url: sqlite:///mirror.db
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OD_DEVELOPER_KEY", "OD_CUSTOMER_KEY", "ODMIRROR_CONFIG", "ODMIRROR_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OD_DEVELOPER_KEY", "NFF6i0KrXrxDkZHt")


def test_good_config_with_env_expansion_and_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.api.developer_key == "NFF6i0KrXrxDkZHt"
    assert settings.api.customer_key == "VzkmZEaUWOjnQX2z"
    assert settings.api.page_size == 1000
    assert settings.api.min_request_interval == 0.0
    assert settings.api.timeout == 30.0
    assert settings.api.max_retries == 5
    assert settings.database.url == "sqlite:///mirror.db"
    assert settings.sync.overlap_seconds == 60
    assert "NFF6i0KrXrxDkZHt" not in repr(settings)


def test_the_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OD_CUSTOMER_KEY", "VzkmZEaUWOjnQX2z")
    settings = load_settings(ROOT / "config.example.yaml")
    assert settings.api.base_url == "https://api.opendental.com/api/v1"
    assert settings.api.min_request_interval == 5.0


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ODMIRROR_DATABASE_URL", "sqlite:///other.db")
    monkeypatch.setenv("ODMIRROR_API_PAGE_SIZE", "100")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.database.url == "sqlite:///other.db"
    assert settings.api.page_size == 100


def test_odmirror_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ODMIRROR_CONFIG", str(write(tmp_path, GOOD)))
    assert load_settings().api.page_size == 1000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("page_size: 1000", "page_size: lots"), "'api.page_size' must be an integer"),
        (GOOD.replace("page_size: 1000", "page_size: 0"), "'api.page_size' must be between"),
        (GOOD.replace("timeout: 30", "timeout: [1]"), "'api.timeout' must be a number"),
        (GOOD.replace("page_size: 1000", "pagesize: 1000"), "unknown key 'api.pagesize'"),
        (GOOD + "extra:\n  x: 1\n", "unknown key 'extra'"),
        (GOOD.replace("  url: sqlite:///mirror.db\n", ""), "missing key 'database.url'"),
        (GOOD.replace("${OD_DEVELOPER_KEY}", "${NOT_SET_ANYWHERE}"), "${NOT_SET_ANYWHERE}"),
        (GOOD.replace("http://127.0.0.1", "ftp://x"), "'api.base_url' must start with http"),
        (GOOD.replace("sqlite:///mirror.db", "not a url"), "'database.url' is not a database URL"),
        (GOOD.replace("page_size: 1000", "page_size: true"), "'api.page_size' must be an integer"),
        ("api: [1, 2]\n", "'api' must be a mapping"),
        ("- just\n- a list\n", "expected a mapping"),
        ("api:\n  base_url: [unclosed\n", "not valid YAML at line"),
    ],
)
def test_bad_configs_are_refused_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.yaml"):
        load_settings(tmp_path / "nope.yaml")
