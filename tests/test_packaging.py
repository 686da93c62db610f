"""The wheel: it carries the example config and the migrations, `odmirror init-config` writes the
example out of it (never over a file), and `--version` is the wheel's own."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout (no index, no isolation), unpacked into a folder."""
    if importlib.util.find_spec("hatchling") is None:
        message = "hatchling (the build backend) is not installed: pip install hatchling"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*build, "--no-index", "-q", str(ROOT), "-w", str(out)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    (wheel,) = out.glob("odmirror-*.whl")
    target = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def odmirror(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m etl ARGS` with the unpacked wheel first on the path."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "etl", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_init_config_writes_the_example_from_the_wheel_and_never_overwrites(
    unpacked: Path, tmp_path: Path
) -> None:
    assert (unpacked / "etl" / "config.example.yaml").is_file()
    assert (unpacked / "etl" / "_migrations" / "env.py").is_file()
    example = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    made = odmirror(unpacked, "init-config", "odmirror.yaml", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("wrote odmirror.yaml: ")
    written = tmp_path / "odmirror.yaml"
    assert written.read_text(encoding="utf-8") == example
    written.write_text("# mine\n", encoding="utf-8")
    again = odmirror(unpacked, "init-config", "odmirror.yaml", cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.splitlines() == [
        "odmirror: error: odmirror.yaml exists; not overwritten (remove it or name another)"
    ]
    assert written.read_text(encoding="utf-8") == "# mine\n"


def test_version_is_the_wheels(unpacked: Path, tmp_path: Path) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"$', pyproject, re.M)
    result = odmirror(unpacked, "--version", cwd=tmp_path)
    assert version is not None and result.stdout.strip() == f"odmirror {version.group(1)}"
