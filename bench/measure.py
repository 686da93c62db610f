"""Run one child process; time it, and read its CPU time and peak RSS from the kernel (wait4)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass
class Measured:
    """One child process: wall time, when it ended (time.monotonic), peak RSS, its output."""

    wall: float
    ended: float
    rss_mb: float
    output: str
    cpu: float = 0.0


def run_child(args: list[str]) -> Measured:
    """Run `python ARGS...` with this interpreter and wait for it.

    Raises:
        SystemExit: the child failed (its output is shown).
    """
    with tempfile.TemporaryFile("w+") as out:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        ended = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{output}")
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(ended - started, ended, usage.ru_maxrss / 1024, output.strip(), cpu)


def sync_args(config: Path, full: bool = False) -> list[str]:
    """The real code path: `odmirror sync` (as python -m etl)."""
    return ["-m", "etl", "sync", "--config", str(config), *(["--full"] if full else [])]


def child_args(*args: object) -> list[str]:
    """A command of bench/children.py."""
    return [str(HERE / "children.py"), *(str(a) for a in args)]
