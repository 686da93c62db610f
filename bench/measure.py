"""Run one child process; time it, and read its CPU time and peak RSS from the kernel (wait4)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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


# The child is started by a small launcher, not by this process: a child's peak RSS as the
# kernel reports it (ru_maxrss) includes the memory of the process it was started from, as it
# was before the child's exec (measured: 314 MB for `python -c pass` started from a process of
# 300 MB, 14 MB from a small one). This process holds SQLAlchemy, Alembic and the migrations.
_LAUNCHER = """
import os, sys, time
report = int(sys.argv[1])
spawned = time.monotonic()
pid = os.posix_spawn(sys.executable, [sys.executable, *sys.argv[2:]], os.environ)
_, status, usage = os.wait4(pid, 0)
ended = time.monotonic()
line = f"{spawned} {ended} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}"
os.write(report, line.encode())
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(args: list[str]) -> Measured:
    """Run `python ARGS...` with this interpreter and wait for it.

    Raises:
        SystemExit: the child failed (its output is shown).
    """
    read, write = os.pipe()
    with tempfile.TemporaryFile("w+") as out, os.fdopen(read) as report:
        launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(write), *args]
        proc = subprocess.Popen(launcher, stdout=out, stderr=subprocess.STDOUT, pass_fds=(write,))
        os.close(write)
        proc.wait()
        spawned, ended, maxrss_kb, cpu = (float(v) for v in report.read().split())
        out.seek(0)
        output = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{output}")
    return Measured(ended - spawned, ended, maxrss_kb / 1024, output.strip(), cpu)


def sync_args(config: Path, full: bool = False) -> list[str]:
    """The real code path: `odmirror sync` (as python -m etl)."""
    return ["-m", "etl", "sync", "--config", str(config), *(["--full"] if full else [])]


def child_args(*args: object) -> list[str]:
    """A command of bench/children.py."""
    return [str(HERE / "children.py"), *(str(a) for a in args)]
