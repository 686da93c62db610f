"""Benchmark: a full and an incremental sync of N simulated patients into SQLite or PostgreSQL.

    python bench/bench_sync.py --patients 20000
    python bench/bench_sync.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test

The simulator runs as the API Service would (1000 rows a page, no throttle), on loopback, so the
numbers measure odmirror itself: mapping, upserts and bookkeeping, plus local HTTP. Against the
Remote API the throttle dominates: ceil(N / 100) requests x min_request_interval seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from etl.client import ApiClient
from etl.config import ApiSettings, DatabaseSettings, Settings
from etl.schema import make_engine, upgrade
from etl.simulator import OfficeClock, Simulator, SimulatorConfig
from etl.sync import run_sync

BENCH_SCHEMA = "odmirror_bench"


def main() -> None:
    """Run the benchmark and print one line per run."""
    args = _args()
    clock = OfficeClock("America/Chicago", start=dt.datetime(2030, 1, 1, 8, 0, 0))
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        started = time.perf_counter()
        with Simulator(args.patients, SimulatorConfig(mode="service"), clock=clock) as sim:
            print(
                f"simulator with {args.patients} patients ready in "
                f"{time.perf_counter() - started:.1f} s"
            )
            settings = _settings(sim, _reset(url), args.page_size)
            _timed("full", settings)
            clock.advance(3600)
            for record in sim.store.all()[: max(1, args.patients // 100)]:
                sim.store.update(record["PatNum"], City="Benchtown")
            _timed("incremental (1% changed)", settings)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    return parser.parse_args()


def _settings(sim: Simulator, url: str, page_size: int) -> Settings:
    api = ApiSettings(
        base_url=sim.base_url,
        developer_key=sim.config.developer_key,
        customer_key=sim.config.customer_key,
        page_size=page_size,
        min_request_interval=0.0,
    )
    return Settings(api=api, database=DatabaseSettings(url=url))


def _reset(url: str) -> str:
    """A fresh place for the mirror; on PostgreSQL, a schema of its own (nothing else touched)."""
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {BENCH_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {BENCH_SCHEMA}"))
        joiner = "&" if "?" in url else "?"
        url = f"{url}{joiner}options=-csearch_path%3D{BENCH_SCHEMA}"
    engine.dispose()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def _timed(label: str, settings: Settings) -> None:
    started = time.perf_counter()
    with ApiClient(settings.api) as client:
        result = run_sync(settings, client=client)[0]
    seconds = time.perf_counter() - started
    rate = result.stats.fetched / seconds if seconds else 0.0
    print(
        f"{label:<26} {result.stats.fetched:>7} rows {result.stats.requests:>4} requests "
        f"{seconds:7.2f} s {rate:9.0f} rows/s"
    )


if __name__ == "__main__":
    main()
