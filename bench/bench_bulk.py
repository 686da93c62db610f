"""Benchmark: a big table's first load in query mode, by ShortQuery pages and by the bulk path.

    python bench/bench_bulk.py                      # 200000 claimprocs into SQLite
    python bench/bench_bulk.py --rows 50000 --db postgresql --interval 1

The simulator (in this process, on loopback) holds the table in its office database; the bulk
path goes through POST /queries to a local SFTP server (asyncssh) and back. Each load starts
from an empty mirror. "requests" are the table's own (clock, COUNT(*), pages or the POST);
"Remote floor" is what those requests cost at the Remote API's paid throttle (1 request a
second), which the wall measured here (no throttle unless --interval) does not include.
Prints a table and writes the figures as JSON (--json).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from etl.api.client import ApiClient
from etl.config.bulk_sftp import BulkSftpSettings
from etl.config.settings import ApiSettings, DatabaseSettings, Settings, SyncSettings
from etl.mirror.engine import make_engine, upgrade
from etl.simulator import OfficeClock, Simulator
from etl.simulator.office_db import OfficeDatabase
from etl.simulator.office_rows import office_rows
from etl.simulator.sftp_server import SftpServer
from etl.sync.run import run_sync

START = dt.datetime(2025, 3, 14, 9, 26, 53)
TABLE = "claimproc"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REMOTE_INTERVAL = 1.0


def main() -> None:
    """Load the table both ways, print the table, write the JSON."""
    args = _args()
    sim = Simulator(clock=OfficeClock(start=START))
    sim.office_db = OfficeDatabase(sim.clock)
    made = time.monotonic()
    for first in range(0, args.rows, 10_000):
        batch = office_rows(TABLE, min(10_000, args.rows - first), START)
        for offset, row in enumerate(batch):
            row["ClaimProcNum"] = first + offset + 1
        sim.office_db.insert(TABLE, batch)
    print(f"office table: {args.rows} rows in {time.monotonic() - made:.1f} s")
    results = []
    with tempfile.TemporaryDirectory() as tmp, sim:
        root = Path(tmp) / "sftp"
        root.mkdir()
        with SftpServer(root, "bench", "bench-password") as sftp:
            bulk = BulkSftpSettings(
                host="127.0.0.1", port=sftp.port, username="bench", password="bench-password",
                min_rows=args.min_rows, wait_seconds=3600,
            )  # fmt: skip
            for how, setting in (("pages", None), ("bulk", bulk)):
                url = _mirror_url(args, Path(tmp), how)
                results.append(_load(sim, url, setting, args, how))
    print(f"{'how':<6} {'db':<10} {'rows':>8} {'requests':>8} {'wall s':>8} {'rows/s':>9} "
          f"{'Remote floor s':>14}")  # fmt: skip
    for r in results:
        print(f"{r['how']:<6} {r['db']:<10} {r['rows']:>8} {r['requests']:>8} {r['wall_s']:>8.1f} "
              f"{r['rows_per_s']:>9.0f} {r['remote_floor_s']:>14.0f}")  # fmt: skip
    Path(args.json).write_text(json.dumps({"machine": platform.node(), "runs": results}, indent=2))
    print(f"written: {args.json}")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    parser.add_argument("--interval", type=float, default=0.0, help="throttle, seconds")
    parser.add_argument("--min-rows", type=int, default=20_000, help="bulk_sftp.min_rows")
    parser.add_argument("--json", default="bench_bulk.json")
    return parser.parse_args()


def _mirror_url(args: argparse.Namespace, tmp: Path, how: str) -> str:
    if args.db == "sqlite":
        return f"sqlite:///{tmp / f'{how}.db'}"
    schema = f"bench_bulk_{how}"
    engine = make_engine(args.pg_url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return f"{args.pg_url}?options=-csearch_path%3D{schema}"


def _load(
    sim: Simulator, url: str, bulk: BulkSftpSettings | None, args: argparse.Namespace, how: str
) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    api = ApiSettings(
        base_url=sim.base_url, developer_key=sim.config.developer_key,
        customer_key=sim.config.customer_key, min_request_interval=args.interval,
        timeout=600.0, response_deadline=600.0, bulk_sftp=bulk,
    )  # fmt: skip
    sync = dataclasses.replace(SyncSettings(), tables=(TABLE,), resources=("patients",))
    settings = Settings(api=api, database=DatabaseSettings(url=url), sync=sync)
    began = time.monotonic()
    with ApiClient(api) as client:
        result = next(r for r in run_sync(settings, client=client) if r.resource == TABLE)
    wall = time.monotonic() - began
    requests = result.stats.requests
    return {
        "how": how, "db": args.db, "rows": result.stats.fetched, "requests": requests,
        "wall_s": round(wall, 2), "rows_per_s": round(result.stats.fetched / wall),
        "remote_floor_s": requests * REMOTE_INTERVAL, "notes": result.notes,
    }  # fmt: skip


if __name__ == "__main__":
    main()
