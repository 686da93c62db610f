"""`odmirror check`: every check passes on a sound installation; each misconfiguration is one
FAIL line, against the simulator and real databases."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from etl.api.probe import THROTTLE_TIERS, throttle_text
from etl.check_mirror import clock_text
from etl.cli import main
from etl.config.settings import ApiSettings
from etl.mirror.lock import mirror_lock
from tests.test_cli import _keys, write_config  # noqa: F401 - _keys: autouse

Lines = list[str]


def check(config: str | Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Lines]:
    """`odmirror check` on this config: its exit code and its lines."""
    code = main(["check", "--config", str(config), *extra])
    return code, capsys.readouterr().out.splitlines()


def test_a_sound_installation_passes_every_check(
    tmp_path: Path, db_url: str, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, make_sim(3), db_url)
    assert main(["init", "--config", str(config)]) == 0
    capsys.readouterr()
    code, lines = check(config, capsys)
    assert code == 0, lines
    names = [line.split(":")[0].split(maxsplit=1)[1] for line in lines]
    expected = ["config", "environment", "keys", "api", "throttle", "sql queries", "database"]
    expected += ["schema", "lock"] + (["disk"] if db_url.startswith("sqlite") else [])
    assert names == expected
    assert all(line.startswith("ok   ") for line in lines)
    (api,) = [line for line in lines if line.startswith("ok   api: ")]
    assert "answers (unknown mode; version not told by the API); office clock " in api
    assert "ok   sql queries: allowed" in lines
    assert "ok   throttle: not paced (only the Remote API is throttled)" in lines


def _bad_yaml(tmp: Path, sim: Any, url: str, env: pytest.MonkeyPatch) -> Path:
    path = write_config(tmp, sim, url)
    path.write_text("api: [\n", encoding="utf-8")
    return path


def _bad_override(tmp: Path, sim: Any, url: str, env: pytest.MonkeyPatch) -> Path:
    env.setenv("ODMIRROR_API_PAGE_SIZE", "lots")
    return write_config(tmp, sim, url)


def _misspelled(tmp: Path, sim: Any, url: str, env: pytest.MonkeyPatch) -> Path:
    env.setenv("ODMIRROR_DATABSE_URL", "sqlite:///elsewhere.db")
    return write_config(tmp, sim, url)


def _placeholder(tmp: Path, sim: Any, url: str, env: pytest.MonkeyPatch) -> Path:
    env.setenv("OD_DEVELOPER_KEY", "replace-with-your-developer-key")
    return write_config(tmp, sim, url)


def _unset_key(tmp: Path, sim: Any, url: str, env: pytest.MonkeyPatch) -> Path:
    env.delenv("OD_CUSTOMER_KEY")
    return write_config(tmp, sim, url)


def _wrong_key(tmp: Path, sim: Any, url: str, env: pytest.MonkeyPatch) -> Path:
    env.setenv("OD_CUSTOMER_KEY", "NotTheRightKey99")
    return write_config(tmp, sim, url)


def _wrong_port(tmp: Path, sim: Any, url: str, env: pytest.MonkeyPatch) -> Path:
    config = write_config(tmp, sim, url, max_retries=5, min_request_interval=0)
    sim.stop()  # nothing listens at its port now
    return config


def _not_initialised(tmp: Path, sim: Any, url: str, env: pytest.MonkeyPatch) -> Path:
    return write_config(tmp, sim, f"sqlite:///{tmp / 'never.db'}")


Case = Callable[[Path, Any, str, pytest.MonkeyPatch], Path]
CASES: list[tuple[Case, int, str]] = [
    (_bad_yaml, 2, "FAIL config: {tmp}/config.yaml: not valid YAML at line 2"),
    (
        _bad_override,
        2,
        "FAIL config: environment variable ODMIRROR_API_PAGE_SIZE: 'api.page_size' must be an "
        "integer, not 'lots'",
    ),
    (
        _misspelled,
        1,
        "FAIL environment: ODMIRROR_DATABSE_URL is not a variable odmirror reads; did you mean "
        "ODMIRROR_DATABASE_URL?",
    ),
    (
        _placeholder,
        1,
        "FAIL keys: {tmp}/config.yaml: 'api.developer_key' is a placeholder, not a key: put the "
        "real key in the environment (see config.example.yaml)",
    ),
    (
        _unset_key,
        1,
        "FAIL keys: {tmp}/config.yaml: 'api.customer_key' uses ${{OD_CUSTOMER_KEY}}, which is "
        "not set",
    ),
    (
        _wrong_key,
        1,
        "FAIL api: {base}: the API refused the keys (401): check api.developer_key and "
        "api.customer_key",
    ),
    (_wrong_port, 1, "FAIL api: {base}: cannot reach the API at {host}: connection refused"),
    (
        _not_initialised,
        1,
        "FAIL database: no mirror at {tmp}/never.db: run `odmirror init` (or check database.url)",
    ),
]


@pytest.mark.parametrize(
    ("case", "exit_code", "expected"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_each_misconfiguration_is_one_fail_line(
    tmp_path: Path,
    make_sim: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    case: Case,
    exit_code: int,
    expected: str,
) -> None:
    sim = make_sim(2)
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    assert main(["init", "--config", str(write_config(tmp_path, sim, url))]) == 0
    capsys.readouterr()
    base = sim.base_url
    config = case(tmp_path, sim, url, monkeypatch)
    code, lines = check(config, capsys)
    failed = [line for line in lines if line.startswith("FAIL")]
    wanted = expected.format(tmp=tmp_path, base=base, host=base.split("/")[2])
    assert code == exit_code and len(failed) == 1, lines
    assert failed[0].startswith(wanted), (failed[0], wanted)


def test_a_held_lock_and_a_missing_schema_fail_on_their_lines(
    tmp_path: Path, db_url: str, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, make_sim(2), db_url)
    if db_url.startswith("sqlite"):
        Path(db_url.removeprefix("sqlite:///")).touch()  # a file, but no schema in it
    code, lines = check(config, capsys)
    assert code == 1 and [line for line in lines if line.startswith("FAIL")] == [
        "FAIL schema: none yet: run `odmirror init`"
    ]
    assert main(["init", "--config", str(config)]) == 0
    capsys.readouterr()
    with mirror_lock(db_url):
        code, lines = check(config, capsys)
    (failed,) = [line for line in lines if line.startswith("FAIL")]
    assert code == 1 and failed.startswith("FAIL lock: another odmirror is syncing")


def test_json_and_sql_queries_not_allowed(
    tmp_path: Path, make_sim: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = make_sim(2, queries_allowed=False)
    config = write_config(tmp_path, sim, f"sqlite:///{tmp_path / 'never.db'}")
    code, lines = check(config, capsys, "--json")
    document = json.loads("\n".join(lines))
    assert code == 1 and document["ok"] is False
    by_name = {c["check"]: c for c in document["checks"]}
    assert by_name["sql queries"] == {
        "check": "sql queries",
        "ok": True,
        "detail": "not allowed (401: the key lacks the permission)",
        "practice": None,
    }
    assert by_name["database"]["ok"] is False and "schema" not in by_name


def test_throttle_tiers_against_the_remote_api() -> None:
    def remote(interval: float) -> tuple[bool, str]:
        return throttle_text(
            ApiSettings(
                "https://api.opendental.com/api/v1", "d", "c", min_request_interval=interval
            )
        )

    assert remote(5.0) == (True, "one request per 5 s: within the tier of free Read All")
    assert remote(1.0) == (True, "one request per 1 s: within the tier of a paid permission")
    assert remote(0.5) == (True, "one request per 0.5 s: within the tier of Enterprise")
    assert remote(0.2) == (
        False,
        "api.min_request_interval 0.2 s is faster than the Remote API allows any key (0.5 s, "
        "Enterprise): set 5.0, 1.0 or 0.5 as your permission allows",
    )


def test_the_office_clock_is_its_zone_and_its_skew() -> None:
    now = dt.datetime(2026, 12, 7, 3, 0, 0)
    office = now - dt.timedelta(hours=6) + dt.timedelta(seconds=3)
    assert clock_text(office, now) == (
        "office clock 2026-12-06 21:00:03 (UTC-06:00, 3 s ahead of this machine's clock)"
    )
    assert clock_text(None, now).startswith("office clock not told")


def test_the_docs_agree_on_min_request_interval() -> None:
    root = Path(__file__).resolve().parent.parent
    example = (root / "config.example.yaml").read_text(encoding="utf-8")
    comment = example[: example.index("  min_request_interval:")].rsplit("\n\n", 1)[-1]
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    said = "starts min_request_interval after the one before was sent"
    assert said in " ".join(comment.replace("#", " ").split())
    assert said.replace("min_request_interval", "`min_request_interval`") in readme
    for seconds, who in THROTTLE_TIERS:
        assert f"{seconds:.1f} with" in comment and who.split()[-1] in comment


def test_a_group_is_checked_practice_by_practice(
    tmp_path: Path, offices: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_practices import KEYS, Group, three

    group = Group(f"sqlite:///{tmp_path / 'mirror_{practice}.db'}", "", "everyone")
    config = three(tmp_path, group, offices)
    assert main(["init", "--config", config, "--practice", "north"]) == 0
    capsys.readouterr()
    code, lines = check(config, capsys)
    assert code == 1
    assert lines[:3] == [
        f"ok   config: {config} is valid (3 practices)",
        "ok   environment: every ODMIRROR_ variable set is one odmirror reads",
        "ok   keys: the developer key and 3 customer keys are set (no placeholders)",
    ]
    for name in KEYS:
        assert any(
            line.startswith(f"ok   {name}: api: {offices.base_url} answers") for line in lines
        )
    assert [line for line in lines if line.startswith("FAIL")] == [
        f"FAIL {name}: database: no mirror at {tmp_path}/mirror_{name}.db: run `odmirror init` "
        "(or check database.url)"
        for name in ("south", "east")
    ]


@pytest.fixture
def offices() -> Any:
    """tests/test_practices.py's: three offices behind one API address."""
    from tests import test_practices

    yield from test_practices.offices.__wrapped__()  # type: ignore[attr-defined]
