"""Wait for the machine to be quiet before a measurement: the database servers' own work after
the last run (PostgreSQL's autovacuum and checkpoints, InnoDB's purge and flushing) would
otherwise slow whichever run comes next, on the same cores. And the machine's CPU time over a
measurement, every process's (the simulator's and the database server's too): on N cores a run
cannot take less than that over N, however well its parts overlap."""

from __future__ import annotations

import os
import time
from pathlib import Path

#: Idle share of all CPUs over a sample that counts as quiet.
QUIET = 0.9
SAMPLE = 0.5  # seconds a sample lasts
DEADLINE = 60.0  # seconds to wait at most: a machine busy with something else is reported


def wait_until_quiet(stat: Path = Path("/proc/stat")) -> float | None:
    """Wait until the CPUs are idle for a sample; the seconds waited (None: no /proc/stat, or
    still busy at the deadline, which is printed)."""
    if not stat.exists():
        return None
    began = time.monotonic()
    before = _times(stat)
    while time.monotonic() - began < DEADLINE:
        time.sleep(SAMPLE)
        after = _times(stat)
        busy, idle = after[0] - before[0], after[1] - before[1]
        if busy + idle > 0 and idle / (busy + idle) >= QUIET:
            return time.monotonic() - began
        before = after
    print(f"the machine was still busy after {DEADLINE:.0f} s; measuring anyway", flush=True)
    return None


def machine_cpu(stat: Path = Path("/proc/stat")) -> float | None:
    """Every process's CPU seconds so far, all cores together (None: no /proc/stat)."""
    if not stat.exists():
        return None
    return _times(stat)[0] / os.sysconf("SC_CLK_TCK")


def _times(stat: Path) -> tuple[int, int]:
    # (busy, idle) jiffies of all CPUs: idle and iowait are idle, the rest busy (guest time is
    # already in user time).
    fields = [int(v) for v in stat.read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle, idle
