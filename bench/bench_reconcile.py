"""Benchmark: removed-row reconciliation by key ranges (issue 23 item 4).

    python bench/bench_reconcile.py                     # 1,000,000 rows, SQLite and PostgreSQL
    python bench/bench_reconcile.py --rows 100000 --db sqlite --json out.json

The office is the simulator (over HTTP, in this process) whose ShortQuery reads a claimproc
table of `--rows` keys; the mirror holds the same keys. Each scenario deletes rows in the office
(and may add rows the mirror has not read), reconciles once, checks that exactly the deleted
rows were marked gone, and counts the requests: the target is at most 150 for 5 deletes in a
million rows. Printed as a table, written as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, make_url, select, text, update

from etl.api.client import ApiClient
from etl.catalog.tables import TABLES
from etl.config.settings import ApiSettings
from etl.mirror.engine import make_engine
from etl.simulator import OfficeClock, Simulator
from etl.simulator.office_db import OfficeDatabase
from etl.sync.reconcile import Reconciler, Target

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TABLE = TABLES["claimproc"]
TARGET = Target("claimproc", "ClaimProcNum", TABLE, "claimprocnum")
NOW = dt.datetime(2025, 6, 1, 12, 0, 0)
LIMIT = 150
HEADER = (
    f"{'into':<10} {'rows':>9} {'scenario':<26} {'deleted':>7} {'added':>6} {'marked':>6} "
    f"{'unread':>6} {'req':>4} {'limit':>5} {'wall s':>7}"
)

#: name -> (rows deleted from the office, rows the office added that the mirror lacks)
Scenario = Callable[[int, random.Random], tuple[list[int], list[int]]]
SCENARIOS: dict[str, Scenario] = {
    "5 deleted anywhere": lambda n, rng: (rng.sample(range(1, n + 1), 5), []),
    "1000 deleted in one place": lambda n, rng: (list(range(n // 3, n // 3 + 1000)), []),
    "5 deleted, 1000 added": lambda n, rng: (
        rng.sample(range(1, n + 1), 5),
        list(range(n + 1, n + 1001)),
    ),
    "nothing changed": lambda n, rng: ([], []),
}


def main() -> None:
    """Run every scenario on each database; print a table and write JSON."""
    args = _args()
    dbs = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    print(HEADER)
    results: list[dict[str, Any]] = []
    sim = Simulator(0, clock=OfficeClock(start=NOW)).start()
    try:
        office = sim.office_db = OfficeDatabase(sim.clock)
        office.load_keys("claimproc", range(1, args.rows + 1))
        for db in dbs:
            engine = _mirror(db, args)
            try:
                for name, scenario in SCENARIOS.items():
                    results.append(_scenario(sim, office, engine, db, name, scenario, args))
            finally:
                engine.dispose()
    finally:
        sim.stop()
    Path(args.json).write_text(json.dumps({"rows": args.rows, "results": results}, indent=2))
    print(f"written {args.json}")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=PG_DEFAULT, help="PostgreSQL server (own database)")
    parser.add_argument("--json", default="bench_reconcile.json", help="where to write results")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--sqlite", default="bench_reconcile.db", help="the SQLite mirror's file")
    return parser.parse_args()


def _mirror(db: str, args: argparse.Namespace) -> Engine:
    """A mirror whose claimproc holds keys 1..rows (only the key column filled)."""
    if db == "sqlite":
        path = Path(args.sqlite)
        path.unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{path}")
        fill = (
            "INSERT INTO claimproc (claimprocnum) WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL "
            "SELECT k + 1 FROM s WHERE k < :n) SELECT k FROM s"
        )
    else:
        engine = make_engine(_own_database(args.pg_url, "odmirror_bench_reconcile"))
        fill = "INSERT INTO claimproc (claimprocnum) SELECT generate_series(1, :n)"
    TABLE.drop(engine, checkfirst=True)
    TABLE.create(engine)
    with engine.begin() as conn:
        conn.execute(text(fill), {"n": args.rows})
    return engine


def _own_database(url: str, name: str) -> str:
    """A database of the benchmark's own on the PostgreSQL server of `url` (made if missing)."""
    server = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            known = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if known.first() is None:
                conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        server.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _scenario(
    sim: Simulator,
    office: OfficeDatabase,
    engine: Engine,
    db: str,
    name: str,
    scenario: Scenario,
    args: argparse.Namespace,
) -> dict[str, Any]:
    deleted, added = scenario(args.rows, random.Random(args.seed))
    for key in deleted:
        office.delete("claimproc", key)
    office.load_keys("claimproc", added)
    settings = ApiSettings(
        base_url=sim.base_url,
        developer_key=sim.config.developer_key,
        customer_key=sim.config.customer_key,
        min_request_interval=0.0,
    )
    began = time.perf_counter()
    with ApiClient(settings) as client:
        outcome = Reconciler(engine, client, TARGET, NOW).run()
        requests = client.requests_made
    wall = time.perf_counter() - began
    marked = _marked(engine)
    assert marked == sorted(deleted), f"{name}: marked {marked[:10]}, deleted {deleted[:10]}"
    assert outcome.unread == len(added), (outcome.unread, len(added))
    row = {"into": db, "rows": args.rows, "scenario": name, "deleted": len(deleted),
           "added": len(added), "marked": len(marked), "unread": outcome.unread,
           "requests": requests, "limit": LIMIT, "wall_s": round(wall, 2)}  # fmt: skip
    print(
        f"{db:<10} {args.rows:>9} {name:<26} {len(deleted):>7} {len(added):>6} "
        f"{len(marked):>6} {outcome.unread:>6} {requests:>4} {LIMIT:>5} {wall:>7.2f}"
    )
    _restore(office, engine, deleted, added)
    return row


def _marked(engine: Engine) -> list[int]:
    gone = TABLE.c.odmirror_gone_at
    query = select(TABLE.c.claimprocnum).where(gone.is_not(None)).order_by(TABLE.c.claimprocnum)
    with engine.connect() as conn:
        return [int(k) for k in conn.execute(query).scalars()]


def _restore(office: OfficeDatabase, engine: Engine, deleted: list[int], added: list[int]) -> None:
    """Put the office and the mirror back as they were, for the next scenario."""
    office.load_keys("claimproc", deleted)
    for key in added:
        office.delete("claimproc", key)
    with engine.begin() as conn:
        conn.execute(update(TABLE).values(odmirror_gone_at=None))
        left = conn.execute(select(func.count()).select_from(TABLE)).scalar_one()
    assert left > 0


if __name__ == "__main__":
    main()
