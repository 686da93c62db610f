"""Benchmark: `odmirror sync` from the simulated API, both regimes, into SQLite and PostgreSQL.

    python bench/bench_sync.py                         # make bench: a few minutes
    python bench/bench_sync.py --patients 100000 --regime service
    python bench/bench_sync.py --patients 1000000 --regime service --db sqlite --no-naive

The simulator runs in a process of its own; every measured thing (the sync, the bare fetch,
the naive loop, dlt) runs in a child process, timed from outside, its peak RSS read from the
kernel. "run" is from the first request's arrival at the API to the process's exit, so Python's
start-up (in "wall") does not count against the floor:
- Remote: the floor is (requests - 1) x min_request_interval, at the fewest requests.
- API Service: the floor is a bare paged fetch of the same rows (no mapping, no database).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import tempfile
from pathlib import Path

from measure import Measured, child_args, run_child, sync_args
from mirrors import Mirror, mirror_for
from quiet import machine_cpu, wait_until_quiet
from simproc import SimProcess

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: Every line printed, as a record, written to --json at the end (to compare machines).
RESULTS: list[dict[str, object]] = []
HEADER = (
    f"{'regime':<8} {'N':>8} {'what':<20} {'into':<10} {'rows':>8} {'req':>5} {'min':>5} "
    f"{'viol':>4} {'wall s':>7} {'run s':>7} {'floor s':>7} {'x floor':>7} {'rows/s':>8} "
    f"{'RSS MB':>6} {'cpu s':>6} {'all cpu':>7}"
)


def main() -> None:
    """Run the benchmark and print one line per measured run."""
    args = _args()
    print(HEADER)
    with tempfile.TemporaryDirectory() as tmp:
        for regime in ("service", "remote") if args.regime == "both" else (args.regime,):
            _regime(args, regime, Path(tmp))
    Path(args.json).write_text(json.dumps(RESULTS, indent=1), encoding="utf-8")
    print(f"written: {args.json}")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, help="default 20000 service, 2000 remote")
    parser.add_argument("--regime", choices=("service", "remote", "both"), default="both")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=PG_DEFAULT, help="PostgreSQL server (own schemas)")
    parser.add_argument("--interval", type=float, default=0.5, help="Remote throttle, seconds")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    parser.add_argument("--naive-rows", type=int, default=2000, help="rows for the naive loop")
    parser.add_argument("--no-naive", action="store_true")
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument("--no-again", action="store_true", help="skip the second full sync")
    parser.add_argument("--repeat", type=int, default=1, help="fetch and syncs N times (median)")
    parser.add_argument("--json", default="bench-sync.json", help="where to write results")
    return parser.parse_args()


def _regime(args: argparse.Namespace, regime: str, tmp: Path) -> None:
    n = args.patients or (20_000 if regime == "service" else 2_000)
    page = 1000 if regime == "service" else 100
    interval = args.interval if regime == "remote" else 0.0
    dbs = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    with SimProcess(n, regime, interval, args.latency) as sim:
        row = _Row(regime, n, page, interval, sim)
        ratios: dict[str, list[tuple[float, float]]] = {db: [] for db in dbs}
        for _ in range(max(1, args.repeat)):
            bare = row.measure("bare fetch", "-", child_args("fetch", sim.base_url, page, interval))
            floor = bare.run if regime == "service" else None
            for db in dbs:
                ratios[db].append(_syncs(args, row, sim, db, tmp, floor))
        _others(args, row, sim, regime, dbs, tmp, page, floor)
        if args.repeat > 1:
            _medians(args.repeat, ratios)


def _syncs(
    args: argparse.Namespace, row: _Row, sim: SimProcess, db: str, tmp: Path, floor: float | None
) -> tuple[float, float]:
    """A full sync into a fresh mirror, an incremental one, a full one again.

    Returns:
        The full sync's run over its floor, and the incremental run's over the full one's.
    """
    mirror = mirror_for(db, tmp, args.pg_url, "sync")
    config = mirror.config(sim.base_url, row.page, row.interval)
    full = row.measure("sync full", db, sync_args(config), floor, mirror)
    changed = sim.call("change", 0.01, 600.0)
    incr = row.measure(f"sync incr ({changed})", db, sync_args(config), None, mirror)
    share = incr.run / full.run if full.run else 0.0
    print(f"{'':>9}incremental run: {1000 * incr.run:.0f} ms, {100 * share:.1f}% of the full one")
    if not args.no_again:
        row.measure("sync full again", db, sync_args(config, full=True), floor, mirror)
    denominator = floor or full.floor
    return (full.run / denominator if denominator else 0.0), share


def _medians(repeat: int, ratios: dict[str, list[tuple[float, float]]]) -> None:
    full = ", ".join(f"{db} {statistics.median(r[0] for r in rs):.2f}" for db, rs in ratios.items())
    incr = ", ".join(
        f"{db} {100 * statistics.median(r[1] for r in rs):.1f}%" for db, rs in ratios.items()
    )
    print(f"{'':>9}sync full, median x floor of {repeat} runs: {full}", flush=True)
    print(f"{'':>9}sync incr, median share of the full run: {incr}", flush=True)


def _others(
    args: argparse.Namespace,
    row: _Row,
    sim: SimProcess,
    regime: str,
    dbs: tuple[str, ...],
    tmp: Path,
    page: int,
    floor: float | None,
) -> None:
    """The naive loop and dlt, side by side (API Service only)."""
    if regime == "service" and not args.no_naive:
        for db in dbs:
            mirror = mirror_for(db, tmp, args.pg_url, "naive")
            what = child_args("naive", sim.base_url, mirror.url, min(row.n, args.naive_rows))
            row.measure("naive row-by-row", db, what, None, mirror)
    if regime == "service" and not args.no_dlt and "postgresql" in dbs and _has_dlt():
        mirror = mirror_for("postgresql", tmp, args.pg_url, "dlt")
        what = child_args("dlt", sim.base_url, args.pg_url, mirror.schema, page)
        row.measure("dlt rest_api merge", "postgresql", what, floor, mirror)


class _Row:
    def __init__(self, regime: str, n: int, page: int, interval: float, sim: SimProcess) -> None:
        self.regime, self.n, self.page, self.interval, self.sim = regime, n, page, interval, sim

    def measure(
        self,
        what: str,
        into: str,
        args: list[str],
        floor: float | None = None,
        mirror: Mirror | None = None,
    ) -> _Result:
        self.sim.call("reset")
        if mirror is not None:
            mirror.mark()
        wait_until_quiet()  # the last run's database server done with its own work
        before = machine_cpu()
        measured = run_child(args)
        after = machine_cpu()
        counts = self.sim.call("counts")
        result = _Result(measured, counts, _rows(measured.output, counts["rows"]))
        result.every_cpu = None if before is None or after is None else after - before
        if self.regime == "remote":
            floor = max(0, counts["requests"] - 1) * self.interval
        result.floor = floor or 0.0
        self._print(what, into, result, floor, mirror)
        return result

    def _print(
        self, what: str, into: str, r: _Result, floor: float | None, mirror: Mirror | None
    ) -> None:
        fewest = math.ceil((self.n + 1) / self.page) if "full" in what or "fetch" in what else ""
        ratio = f"{r.run / floor:7.2f}" if floor else f"{'':>7}"
        floor_text = f"{floor:7.2f}" if floor is not None else f"{'':>7}"
        rate = r.rows / r.run if r.run else 0.0
        every = r.every_cpu
        RESULTS.append({
            "regime": self.regime, "patients": self.n, "run": what, "into": into,
            "rows": r.rows, "requests": r.counts["requests"], "fewest_requests": fewest or None,
            "violations": r.counts["violations"], "wall_s": round(r.measured.wall, 3),
            "run_s": round(r.run, 3), "floor_s": round(floor, 3) if floor else None,
            "x_floor": round(r.run / floor, 3) if floor else None, "rows_per_s": round(rate),
            "rss_mb": round(r.measured.rss_mb), "cpu_s": round(r.measured.cpu, 2),
            "all_cpu_s": None if every is None else round(every, 2),
        })  # fmt: skip
        print(
            f"{self.regime:<8} {self.n:>8} {what:<20} {into:<10} {r.rows:>8} "
            f"{r.counts['requests']:>5} {fewest!s:>5} {r.counts['violations']:>4} "
            f"{r.measured.wall:7.2f} {r.run:7.2f} {floor_text} {ratio} {rate:8.0f} "
            f"{r.measured.rss_mb:6.0f} {r.measured.cpu:6.2f} "
            f"{_cell(every):>7}",
            flush=True,
        )
        if mirror is not None and mirror.note():
            print(f"{'':>9}{mirror.note()}", flush=True)
        if ("full" in what or "fetch" in what) and r.tail is not None:
            # After its last request a first load builds the indexes it deferred: time no
            # fetch hides, beside the bare fetch's few milliseconds.
            print(f"{'':>9}last request to exit: {1000 * r.tail:.0f} ms", flush=True)


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


class _Result:
    def __init__(self, measured: Measured, counts: dict[str, float], rows: int) -> None:
        self.measured, self.counts, self.rows = measured, counts, rows
        self.floor = 0.0
        self.every_cpu: float | None = None  # every process's, over the run (bench/quiet.py)
        first, last = counts["first"], counts["last"]
        self.run = measured.ended - first if first is not None else measured.wall
        self.tail = measured.ended - last if last is not None else None


def _rows(output: str, served: float) -> int:
    found = re.search(r"fetched (\d+) rows|^(\d+) rows", output, re.M)
    return int(found.group(1) or found.group(2)) if found else int(served)


def _has_dlt() -> bool:
    try:
        import dlt  # noqa: F401
    except ImportError:
        print("(dlt not installed: pip install 'dlt[postgres]' to compare)")
        return False
    return True


if __name__ == "__main__":
    main()
