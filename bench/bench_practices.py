"""Benchmark: one practice against a dental group of N, each throttled as the Remote API does.

    python bench/bench_practices.py --practices 20 --interval 0.5
    python bench/bench_practices.py --practices 20 --whole --interval 0.05 --db postgresql \
        --max-db-sessions 30

Every office sits behind one simulated Remote API address that refuses a customer key's
request sooner than `--interval` seconds after its last, and odmirror paces each practice at
that interval. Practices sync at once, so N practices should take about as long as one; one
after the other they would take N times as long. `--whole` serves each office's whole practice
(appointments, procedures, claims, money tables, schedules; fan-outs left out) instead of its
patients. On PostgreSQL the peak of the group's database sessions is read from
pg_stat_activity while it syncs; `--max-db-sessions` sets `sync.max_db_sessions`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sessions import SessionCount, drop_schemas

from etl.catalog.resources import RESOURCES
from etl.commands import init_mirrors, sync_mirrors
from etl.config.load import settings_from_dict
from etl.simulator import Simulator, SimulatorConfig
from etl.simulator.group import OfficeGroup

DEVELOPER_KEY = "NFF6i0KrXrxDkZHt"  # Open Dental's published test key
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
WHOLE = [name for name, r in RESOURCES.items() if r.fan_out is None]


def main() -> None:
    """Run the benchmark, print one line per group size, write the results as JSON."""
    args = _args()
    results = []
    for count, bound in _runs(args):
        result = _run(count, bound, args)
        results.append(result)
        alone = results[0]["seconds"]
        print(
            f"{count:>2} practice(s) x {args.patients} patients{' (whole practice)' * args.whole}"
            f", one request per {args.interval:g} s each, max_db_sessions {bound or 'none'}: "
            f"{result['seconds']:.1f} s ({result['seconds'] / alone:.2f}x one), "
            f"{result['requests']} requests, {result['violations']} throttle violations"
            + (
                f", peak {result['peak_sessions']} database sessions" if args.db != "sqlite" else ""
            ),
            flush=True,
        )
    Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print(f"written: {args.json}")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--practices", type=int, default=20)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--whole", action="store_true", help="every table, not only patients")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    parser.add_argument("--max-db-sessions", type=int, default=0, help="also run N with it")
    parser.add_argument("--json", default="bench-practices.json")
    return parser.parse_args()


def _runs(args: argparse.Namespace) -> list[tuple[int, int]]:
    runs = [(1, 0), (args.practices, 0)]
    if args.max_db_sessions:
        runs.append((args.practices, args.max_db_sessions))
    return runs


def _run(count: int, bound: int, args: argparse.Namespace) -> dict[str, Any]:
    config = SimulatorConfig(mode="remote", throttle_interval=args.interval)
    sims = [Simulator(args.patients, _with_key(config, n), seed=n) for n in range(1, count + 1)]
    if args.whole:
        for sim in sims:
            sim.fill_practice()
    prefix = f"b{uuid.uuid4().hex[:8]}"
    app = f"{prefix}app"
    with OfficeGroup(sims) as front, tempfile.TemporaryDirectory() as tmp:
        raw = _config(front.base_url, sims, Path(tmp), args, prefix, bound)
        settings = settings_from_dict(raw)
        init_mirrors(settings, out=_quiet)
        with SessionCount(args.pg_url if args.db != "sqlite" else None, app) as sessions:
            started = time.perf_counter()
            sync_mirrors(settings, out=_quiet)
            seconds = time.perf_counter() - started
    if args.db != "sqlite":
        drop_schemas(args.pg_url, prefix)
    return {
        "practices": count,
        "max_db_sessions": bound,
        "seconds": seconds,
        "requests": sum(len(sim.requests) for sim in sims),
        "violations": sum(sim.throttle_violations for sim in sims),
        "peak_sessions": sessions.peak,
    }


def _with_key(config: SimulatorConfig, number: int) -> SimulatorConfig:
    return SimulatorConfig(**{**vars(config), "customer_key": f"SynthBenchKey{number:03d}"})


def _config(
    base_url: str,
    sims: list[Simulator],
    tmp: Path,
    args: argparse.Namespace,
    prefix: str,
    bound: int,
) -> dict[str, Any]:
    if args.db == "sqlite":
        url, names = f"sqlite:///{tmp / 'mirror_{practice}.db'}", "practice"
    else:
        joiner = "&" if "?" in args.pg_url else "?"
        url, names = f"{args.pg_url}{joiner}application_name={prefix}app", f"{prefix}_p"
    return {
        "api": {
            "base_url": base_url,
            "developer_key": DEVELOPER_KEY,
            "page_size": 100,
            "min_request_interval": args.interval,
        },
        "database": {"url": url, "group_schema": f"{prefix}_group"},
        "sync": {"resources": WHOLE if args.whole else ["patients"], "max_db_sessions": bound},
        "practices": [
            {"name": f"{names}{n}", "customer_key": sim.config.customer_key}
            for n, sim in enumerate(sims, 1)
        ],
    }


def _quiet(_line: str) -> None:
    pass


if __name__ == "__main__":
    main()
