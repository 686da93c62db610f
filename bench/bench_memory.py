"""Benchmark: peak memory of a whole practice's first load, from 10k to 1M rows per table.

    python bench/bench_memory.py                                  # 10k, 100k, 1M; every database
    python bench/bench_memory.py --rows 10000,100000 --db sqlite,postgresql

For each size the simulator (a process of its own) serves a practice whose largest table
(procedurelogs in the issue's shape: 8 procedures, 6 claimprocs, 3 paysplits, 2 appointments a
patient) holds about that many rows; then `odmirror sync` loads every resource (fan-outs left
out, as in bench_whole) into a fresh SQLite, PostgreSQL or MySQL/MariaDB mirror, in a child
process whose peak RSS the kernel reports (bench/measure.py). Issue 23's target: at most
150 MB on every database, flat (the largest size's peak minus the smallest's is what grows
with the data).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_whole import FANOUTS, PG_DEFAULT, _rows
from measure import run_child, sync_args
from mirrors import MYSQL_DEFAULT, mirror_for
from simproc import SimProcess
from sqlalchemy import text

from etl.catalog.resources import RESOURCES
from etl.mirror.engine import make_engine

TARGET_MB = 150.0
#: Rows of the largest table per patient, by shape (measured at 20,000 patients).
LARGEST_PER_PATIENT = {"issue": 8.0, "default": 3.0}
COLUMNS = ("into", "largest", "rows", "total", "peak RSS MB", "wall s", "rows/s", "sim s")
WIDTHS = (10, 24, 9, 9, 11, 8, 8, 6)


def main() -> None:
    """Run each size on each database; print a table and the verdict; write JSON."""
    args = _args()
    names = [n for n in RESOURCES if n not in FANOUTS]
    results: list[dict[str, Any]] = []
    print(" ".join(f"{c:>{w}}" for c, w in zip(COLUMNS, WIDTHS, strict=True)), flush=True)
    for rows in (int(n) for n in args.rows.split(",")):
        patients = max(100, round(rows / LARGEST_PER_PATIENT[args.shape]))
        with SimProcess(patients, "service", 0.0, 0.0, practice=True, shape=args.shape) as sim:
            sizes = {n: s for n, s in sim.call("sizes").items() if n in names}
            for db in args.db.split(","):
                result = _load(args, sim, names, db)
                result.update(target_rows=rows, patients=patients, sizes=sizes,
                              sim_seconds=sim.ready_seconds)  # fmt: skip
                results.append(result)
                _show(result)
                _write(args, results)  # as it goes: a long run stopped still leaves its sizes
    for line in _write(args, results):
        print(line, flush=True)
    print(f"written: {args.json}")


def _write(args: argparse.Namespace, results: list[dict[str, Any]]) -> list[str]:
    """Write the results so far as JSON, with the verdicts; returns the verdicts."""
    verdicts = [_verdict(results, db) for db in args.db.split(",")]
    out = {"shape": args.shape, "target_mb": TARGET_MB, "results": results, "verdicts": verdicts}
    Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return verdicts


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", default="10000,100000,1000000",
                        help="sizes: rows of the largest table, comma-separated")  # fmt: skip
    parser.add_argument("--db", default="sqlite,postgresql,mysql", help="comma-separated")
    parser.add_argument("--shape", choices=sorted(LARGEST_PER_PATIENT), default="issue")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    parser.add_argument("--mysql-url", default=MYSQL_DEFAULT)
    parser.add_argument("--json", default="bench-memory.json", help="where to write results")
    return parser.parse_args()


def _load(args: argparse.Namespace, sim: SimProcess, names: list[str], db: str) -> dict[str, Any]:
    """One first load of every resource into a fresh mirror, measured from outside."""
    with tempfile.TemporaryDirectory() as tmp:
        mirror = mirror_for(db, Path(tmp), args.pg_url, "memory", args.mysql_url)
        config = mirror.config(sim.base_url, 1000, 0.0, names)
        started = time.monotonic()
        measured = run_child(sync_args(config))
        wall = time.monotonic() - started
    _drop(db, args)  # a million-row mirror left behind is gigabytes on the shared servers
    return {"into": db, "rows": _rows(measured.output), "rss_mb": measured.rss_mb,
            "wall": wall, "cpu": measured.cpu}  # fmt: skip


def _drop(db: str, args: argparse.Namespace) -> None:
    """Drop the PostgreSQL schema or MySQL database the run loaded (SQLite's went with tmp)."""
    if db == "sqlite":
        return
    statement = ("DROP DATABASE IF EXISTS odmirror_bench_memory" if db == "mysql"
                 else "DROP SCHEMA IF EXISTS odmirror_bench_memory CASCADE")  # fmt: skip
    engine = make_engine(args.mysql_url if db == "mysql" else args.pg_url)
    with engine.begin() as conn:
        conn.execute(text(statement))
    engine.dispose()


def _show(r: dict[str, Any]) -> None:
    top = max(r["sizes"].items(), key=lambda item: item[1])
    cells = (r["into"], f"{top[0]} {top[1]}", r["rows"], sum(r["sizes"].values()),
             f"{r['rss_mb']:.0f}", f"{r['wall']:.1f}", f"{r['rows'] / r['wall']:.0f}",
             f"{r['sim_seconds']:.0f}")  # fmt: skip
    print(" ".join(f"{c!s:>{w}}" for c, w in zip(cells, WIDTHS, strict=True)), flush=True)


def _verdict(results: list[dict[str, Any]], db: str) -> str:
    """Whether peak RSS stays under the target and flat from the smallest size to the largest."""
    mine = sorted((r for r in results if r["into"] == db), key=lambda r: r["target_rows"])
    if not mine:
        return f"{db}: no runs"
    low, high = mine[0], mine[-1]
    growth = high["rss_mb"] - low["rss_mb"]
    peak = max(r["rss_mb"] for r in mine)
    under = "under" if peak <= TARGET_MB else "OVER"
    # Flat: what the data adds from the smallest size to the largest is small beside the target.
    flat = "flat" if growth <= 0.1 * TARGET_MB else "NOT flat"
    return (f"{db}: peak {peak:.0f} MB ({under} {TARGET_MB:.0f}); {flat}: "
            f"{high['rss_mb']:.0f} MB at {high['target_rows']} rows - {low['rss_mb']:.0f} MB at "
            f"{low['target_rows']} = {growth:+.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
