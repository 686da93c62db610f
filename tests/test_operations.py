"""The schedule, status and log settings: what they accept and the one-line errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from etl.cli import main
from etl.config.load import load_settings
from etl.config.operations import max_age, parse_duration, schedule_trigger
from etl.errors import ConfigError
from tests.test_config import GOOD, _keys, write  # noqa: F401 - _keys: autouse

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86_400), ("1h30m", 5400), ("1.5 H", 5400)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["15", "m", "-5m", "0s", "400d", "15 minutes", "1h 2x", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_defaults_keep_the_old_interval(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, GOOD + "sync:\n  interval_minutes: 5\n"))
    trigger = schedule_trigger(settings)
    assert isinstance(trigger, IntervalTrigger) and trigger.interval == dt.timedelta(minutes=5)
    assert max_age(settings, NOW) == dt.timedelta(minutes=10)
    assert settings.log.format == "text" and settings.schedule.backoff_max == "4h"


def test_every_cron_timezone_max_age_and_log_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = GOOD + (
        'schedule:\n  cron: "0 2 * * *"\n  timezone: America/Chicago\n'
        "status:\n  max_age: 26h\nlog:\n  format: json\n"
    )
    settings = load_settings(write(tmp_path, text))
    trigger = schedule_trigger(settings)
    assert isinstance(trigger, CronTrigger) and str(trigger.timezone) == "America/Chicago"
    assert max_age(settings, NOW) == dt.timedelta(hours=26) and settings.log.format == "json"
    monkeypatch.setenv("ODMIRROR_SCHEDULE_CRON", "")
    monkeypatch.setenv("ODMIRROR_SCHEDULE_EVERY", "20m")
    every = load_settings(write(tmp_path, GOOD + "schedule:\n  every: 5m\n"))
    assert schedule_trigger(every).interval == dt.timedelta(minutes=20)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('schedule:\n  every: 15m\n  cron: "0 2 * * *"\n', "set 'schedule.every' or"),
        ("schedule:\n  every: soon\n", "'schedule.every': 'soon' is not a duration"),
        ("schedule:\n  every: 15\n", "'schedule.every' must be text, like 15m"),
        ('schedule:\n  cron: "0 25 * * *"\n', "'schedule': "),
        ('schedule:\n  cron: "every night"\n', "'schedule': "),
        ("schedule:\n  every: 1h\n  timezone: Mars/Olympus\n", "unknown timezone 'Mars/Olympus'"),
        ("schedule:\n  backoff_max: forever\n", "'schedule.backoff_max'"),
        ("status:\n  max_age: 0s\n", "'status.max_age': '0s' must be between"),
        ("log:\n  format: xml\n", "'log.format' must be one of text, json"),
        ("log:\n  colour: red\n", "unknown key 'log.colour'"),
    ],
)
def test_bad_operations_settings_are_one_line_exit_2(
    tmp_path: Path, section: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD + section)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("*", r"\*")):
        load_settings(path)
    assert main(["status", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("odmirror: error: ") and err.count("\n") == 1
