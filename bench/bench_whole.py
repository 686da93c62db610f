"""Benchmark: a whole practice's first load, on every database, against the floor and the peers.

    python bench/bench_whole.py --scale 0.1                  # 5,000 patients and their tables
    python bench/bench_whole.py --scale 1 --repeat 2         # 50,000 patients
    python bench/bench_whole.py --scale 0.1 --regime remote --interval 0.01
    python bench/bench_whole.py --scale 0.2 --latency 0.05   # a server taking 50 ms more a page
    python bench/bench_whole.py --scale 1 --shape default     # the tests' shape (3 claimprocs)

The simulator (a process of its own) serves a practice: patients, appointments, procedures,
claims, claimprocs, paysplits, payments, recalls, schedules and the other money tables; by
default in issue 23's shape (8 procedures, 6 claimprocs, 3 paysplits, 2 appointments a
patient). Each measured thing runs in a child process, timed from outside, its peak RSS read
from the kernel:
- sync: the real `odmirror sync` of every resource into a fresh SQLite, PostgreSQL or
  MySQL/MariaDB mirror;
- floor (API Service): a bare fetch that sends the very requests the sync sent, in order, with
  the same client, decoded, no mapping, no database (measured right after each sync: pairs);
- floor (Remote): (requests - 1) x the throttle interval;
- peers (PostgreSQL): the naive loop (a page, then one upsert and commit per row) and dlt's
  rest_api source merging into the same database.
`cpu s` is the measured process's CPU seconds (beside its wall, it shows a sync bound by its
own CPU), `all cpu` every process's over the same time (the simulator's, the database
server's): what the machine's cores had to give.
Fan-out resources (one request per patient or treatment plan) are left out unless --fanouts:
their cost is requests, not the database, and at 50,000 patients they are 100,000 requests.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any

from measure import child_args, run_child, sync_args
from mirrors import MYSQL_DEFAULT, mirror_for
from quiet import machine_cpu, wait_until_quiet
from simproc import SimProcess

from etl.catalog.resources import RESOURCES

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PATIENTS_AT_SCALE_1 = 50_000
FANOUTS = tuple(name for name, r in RESOURCES.items() if r.fan_out is not None)
COLUMNS = ("regime", "what", "into", "rows", "req", "run s", "floor s", "x floor", "rows/s",
           "RSS MB", "cpu s", "all cpu")  # fmt: skip
WIDTHS = (7, 18, 10, 7, 5, 7, 7, 7, 7, 6, 6, 7)


def main() -> None:
    """Run the benchmark, print a table, write the results as JSON."""
    args = _args()
    names = [n for n in RESOURCES if args.fanouts or n not in FANOUTS]
    patients = max(100, round(args.scale * PATIENTS_AT_SCALE_1))
    results: list[dict[str, Any]] = []
    print(" ".join(f"{c:>{w}}" for c, w in zip(COLUMNS, WIDTHS, strict=True)), flush=True)
    page = 1000 if args.regime == "service" else 100
    interval = args.interval if args.regime == "remote" else 0.0
    latency = args.latency
    shape = args.shape
    with SimProcess(patients, args.regime, interval, latency, practice=True, shape=shape) as sim:
        sizes = {n: s for n, s in sim.call("sizes").items() if n in names}
        total = sum(sizes.values())
        print(f"practice: {patients} patients, {total} rows in {len(names)} resources "
              f"(made in {sim.ready_seconds:.0f} s): {_biggest(sizes)}", flush=True)  # fmt: skip
        bench = _Bench(args, sim, names, page, interval, results)
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(max(1, args.repeat)):
                for db in args.db.split(","):
                    bench.sync_and_floor(db, Path(tmp))
            if args.regime == "service" and not args.no_peers:
                bench.peers(Path(tmp))
    summary = _summary(results)
    for line in summary:
        print(line, flush=True)
    out = {"scale": args.scale, "patients": patients, "shape": args.shape, "sizes": sizes,
           "regime": args.regime, "interval": interval, "latency": latency, "results": results,
           "summary": summary}  # fmt: skip
    Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(f"written: {args.json}")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="1 = 50,000 patients")
    parser.add_argument("--regime", choices=("service", "remote"), default="service")
    parser.add_argument("--shape", choices=("issue", "default"), default="issue",
                        help="rows a patient has: issue 23's, or the tests' fewer")  # fmt: skip
    parser.add_argument("--db", default="sqlite,postgresql,mysql", help="comma-separated")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    parser.add_argument("--mysql-url", default=MYSQL_DEFAULT)
    parser.add_argument("--interval", type=float, default=0.01, help="Remote throttle, seconds")
    # The simulator answers a page of 1000 rows in about 20 ms; Open Dental's API Service is
    # "said to be 10-20x faster" than the Remote API's second a call: 50-100 ms.
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument("--repeat", type=int, default=1, help="each database N times (pairs)")
    parser.add_argument("--fanouts", action="store_true", help="also the per-parent resources")
    parser.add_argument("--no-peers", action="store_true", help="skip the naive loop and dlt")
    parser.add_argument("--naive-rows", type=int, default=3000)
    parser.add_argument("--json", default="bench-whole.json", help="where to write results")
    return parser.parse_args()


class _Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        sim: SimProcess,
        names: list[str],
        page: int,
        interval: float,
        results: list[dict[str, Any]],
    ) -> None:
        self.args, self.sim, self.names, self.results = args, sim, names, results
        self.page, self.interval = page, interval

    def sync_and_floor(self, db: str, tmp: Path) -> None:
        """A first load into a fresh mirror, then the bare fetch of the same requests."""
        mirror = mirror_for(db, tmp, self.args.pg_url, "whole", self.args.mysql_url)
        config = mirror.config(self.sim.base_url, self.page, self.interval, self.names)
        sync = self.measure("sync full", db, sync_args(config))
        if self.args.regime == "remote":
            sync["floor"] = max(0, sync["requests"] - 1) * self.interval
            self.show(sync)
            return
        log = tmp / "requests.json"
        log.write_text(json.dumps(self.sim.call("log")), encoding="utf-8")
        what = child_args("replay", self.sim.base_url, self.page, self.interval, log)
        floor = self.measure("bare fetch", "-", what)
        self.show(floor)
        sync["floor"] = floor["run"]
        self.show(sync)

    def peers(self, tmp: Path) -> None:
        """The naive loop and dlt, into PostgreSQL."""
        floors = [r["floor"] for r in self.results if r["what"] == "sync full" and r["floor"]]
        rows = [r["rows"] for r in self.results if r["what"] == "bare fetch"]
        floor_rate = rows[0] / statistics.median(floors) if floors and rows else 0.0
        names = ",".join(self.names)
        mirror = mirror_for("postgresql", tmp, self.args.pg_url, "naive")
        what = child_args("naive_all", self.sim.base_url, mirror.url, self.args.naive_rows, names)
        self.show(self.measure("naive row-by-row", "postgresql", what), floor_rate)
        try:
            import dlt  # noqa: F401
        except ImportError:
            print("(dlt not installed: pip install '.[bench]' to compare)")
            return
        mirror = mirror_for("postgresql", tmp, self.args.pg_url, "dlt")
        what = child_args("dlt_all", self.sim.base_url, self.args.pg_url, mirror.schema,
                          self.page, names)  # fmt: skip
        self.show(self.measure("dlt rest_api merge", "postgresql", what), floor_rate)

    def measure(self, what: str, into: str, args: list[str]) -> dict[str, Any]:
        wait_until_quiet()  # the last run's database server done with its own work
        self.sim.call("reset")
        before = machine_cpu()
        measured = run_child(args)
        after = machine_cpu()
        counts = self.sim.call("counts")
        run = measured.ended - counts["first"] if counts["first"] is not None else measured.wall
        result = {"regime": self.args.regime, "what": what, "into": into,
                  "rows": _rows(measured.output), "requests": counts["requests"],
                  "violations": counts["violations"], "wall": measured.wall, "run": run,
                  "floor": None, "rss_mb": measured.rss_mb, "cpu": measured.cpu,
                  "machine_cpu": None if before is None or after is None else after - before,
                  }  # fmt: skip
        self.results.append(result)
        return result

    def show(self, r: dict[str, Any], floor_rate: float = 0.0) -> None:
        rate = r["rows"] / r["run"] if r["run"] else 0.0
        if r["floor"]:
            ratio = f"{r['run'] / r['floor']:.3f}"
        elif floor_rate and rate:
            ratio = f"{floor_rate / rate:.1f}"  # the rate's ratio: the peers load fewer rows
        else:
            ratio = ""
        r["x_floor"] = float(ratio) if ratio else None
        floor = f"{r['floor']:.2f}" if r["floor"] else ""
        every = r["machine_cpu"]
        cells = (r["regime"], r["what"][:18], r["into"][:10], r["rows"], r["requests"],
                 f"{r['run']:.2f}", floor, ratio, f"{rate:.0f}", f"{r['rss_mb']:.0f}",
                 f"{r['cpu']:.1f}", "" if every is None else f"{every:.1f}")  # fmt: skip
        print(" ".join(f"{c!s:>{w}}" for c, w in zip(cells, WIDTHS, strict=True)), flush=True)
        if r["violations"]:
            print(f"{'':>10}throttle violations: {r['violations']}", flush=True)


def _rows(output: str) -> int:
    fetched = [int(n) for n in re.findall(r"fetched (\d+) rows", output)]
    if fetched:
        return sum(fetched)
    found = re.search(r"^(\d+) rows", output, re.M)
    return int(found.group(1)) if found else 0


def _biggest(sizes: dict[str, int]) -> str:
    top = sorted(sizes.items(), key=lambda item: -item[1])[:6]
    return ", ".join(f"{name} {count}" for name, count in top)


def _summary(results: list[dict[str, Any]]) -> list[str]:
    """The median ratio and the peak RSS of the syncs, by database."""
    lines = []
    for db in dict.fromkeys(r["into"] for r in results if r["what"] == "sync full"):
        mine = [r for r in results if r["what"] == "sync full" and r["into"] == db]
        ratios = [r["run"] / r["floor"] for r in mine if r["floor"]]
        rss = max(r["rss_mb"] for r in mine)
        text = f"median {statistics.median(ratios):.3f}x floor " if ratios else ""
        spread = f"({min(ratios):.3f}-{max(ratios):.3f}, {len(ratios)} runs), " if ratios else ""
        lines.append(f"sync full into {db}: {text}{spread}peak RSS {rss:.0f} MB")
    return lines


if __name__ == "__main__":
    main()
