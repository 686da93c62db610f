"""Benchmark: one practice against a dental group of N, each throttled as the Remote API does.

    python bench/bench_practices.py --practices 20 --interval 0.5

Every office sits behind one simulated Remote API address that refuses a customer key's
request sooner than `--interval` seconds after its last, and odmirror paces each practice at
that interval. Practices sync at once, so N practices should take about as long as one; one
after the other they would take N times as long.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from etl.commands import init_mirrors, sync_mirrors
from etl.config.load import settings_from_dict
from etl.simulator import Simulator, SimulatorConfig
from etl.simulator.group import OfficeGroup

DEVELOPER_KEY = "NFF6i0KrXrxDkZHt"  # Open Dental's published test key


def main() -> None:
    """Run the benchmark and print one line per group size."""
    args = _args()
    for count in sorted({1, args.practices}):
        seconds, requests = _run(count, args)
        print(
            f"{count} practice(s) x {args.patients} patients, one request per "
            f"{args.interval:g} s per practice: {seconds:.1f} s, {requests} requests"
        )


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--practices", type=int, default=20)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--interval", type=float, default=0.5)
    return parser.parse_args()


def _run(count: int, args: argparse.Namespace) -> tuple[float, int]:
    config = SimulatorConfig(mode="remote", throttle_interval=args.interval)
    sims = [Simulator(args.patients, _with_key(config, n), seed=n) for n in range(1, count + 1)]
    with OfficeGroup(sims) as front, tempfile.TemporaryDirectory() as tmp:
        settings = settings_from_dict(_config(front.base_url, sims, Path(tmp), args.interval))
        init_mirrors(settings, out=_quiet)
        started = time.perf_counter()
        sync_mirrors(settings, out=_quiet)
        seconds = time.perf_counter() - started
    return seconds, sum(len(sim.requests) for sim in sims)


def _with_key(config: SimulatorConfig, number: int) -> SimulatorConfig:
    return SimulatorConfig(**{**vars(config), "customer_key": f"SynthBenchKey{number:03d}"})


def _config(base_url: str, sims: list[Simulator], tmp: Path, interval: float) -> dict[str, Any]:
    return {
        "api": {
            "base_url": base_url,
            "developer_key": DEVELOPER_KEY,
            "page_size": 100,
            "min_request_interval": interval,
        },
        "database": {"url": f"sqlite:///{tmp / 'mirror_{practice}.db'}"},
        "practices": [
            {"name": f"practice{n}", "customer_key": sim.config.customer_key}
            for n, sim in enumerate(sims, 1)
        ],
    }


def _quiet(_line: str) -> None:
    pass


if __name__ == "__main__":
    main()
