"""Benchmark: the sync's own CPU a row, on pages fetched once: mapping, then saving, per database.

    python bench/bench_pages.py --scale 0.1                   # 5,000 patients and their tables
    python bench/bench_pages.py --scale 0.1 --db sqlite --repeat 5

A whole first load's CPU is mostly the fetch's (JSON), the mapping's and the writing's, and on a
shared machine a whole run moves by tens of percent. Here every list of a practice (issue 23's
shape, fan-outs left out) is fetched once from the simulator; then, in this one process, its
pages go through the sync's own code, `PageSaver._map` alone, then `PageSaver.save` (map, keys,
write) into a fresh mirror with the deferred indexes, each page timed by process CPU. Run it
on the same machine before and after a change, alternating.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mirrors import KEYS, MYSQL_DEFAULT, mirror_for
from simproc import SimProcess
from sqlalchemy import Engine

from etl.api.client import ApiClient, Page
from etl.catalog.resources import RESOURCES
from etl.config.settings import ApiSettings
from etl.mapping.pii import DEFAULT_POLICY
from etl.mirror import fast_indexes
from etl.mirror.engine import make_engine
from etl.sync import state
from etl.sync.saver import PageSaver

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main() -> None:
    """Fetch the pages, time mapping and saving them, print a table, write JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="1 = 50,000 patients")
    parser.add_argument("--db", default="sqlite,postgresql,mysql", help="comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="runs a database")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    parser.add_argument("--mysql-url", default=MYSQL_DEFAULT)
    parser.add_argument("--json", default="bench-pages.json", help="where to write results")
    args = parser.parse_args()
    pages = _fetch(max(100, round(args.scale * 50_000)))
    rows = sum(len(page.rows) for _, page in pages)
    print(f"{len(pages)} pages, {rows} rows", flush=True)
    print(f"{'into':>10} {'map s':>7} {'save s':>7} {'µs a row':>8}", flush=True)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(max(1, args.repeat)):
            for db in args.db.split(","):
                mirror = mirror_for(db, Path(tmp), args.pg_url, "pages", args.mysql_url)
                mapped, saved = _run(mirror.url, pages)
                results.append({"into": db, "rows": rows, "map": mapped, "save": saved})
                print(f"{db:>10} {mapped:7.3f} {saved:7.3f} {1e6 * saved / rows:8.2f}", flush=True)
    for db in dict.fromkeys(r["into"] for r in results):
        saves = [r["save"] for r in results if r["into"] == db]
        print(f"{db}: save min {min(saves):.3f} s, median {statistics.median(saves):.3f} s")
    out = {"scale": args.scale, "rows": rows, "pages": len(pages), "results": results}
    Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(f"written: {args.json}")


def _fetch(patients: int) -> list[tuple[str, Page]]:
    """Every page of every list but the fan-outs, as the sync's client reads them."""
    pages = []
    with SimProcess(patients, "service", 0.0, 0.0, practice=True, shape="issue") as sim:
        settings = ApiSettings(
            base_url=sim.base_url,
            developer_key=KEYS.developer_key,
            customer_key=KEYS.customer_key,
            page_size=1000,
            min_request_interval=0.0,
        )
        with ApiClient(settings) as client:
            for name, resource in RESOURCES.items():
                if resource.fan_out is None:
                    pages += [(name, page) for page in client.pages(resource.path, {})]
    return pages


def _run(url: str, pages: list[tuple[str, Page]]) -> tuple[float, float]:
    """Process CPU to map every page (no database), then to save every page (a first load)."""
    engine = make_engine(url)
    savers: dict[str, PageSaver] = {}
    mapped = saved = 0.0
    for name, page in pages:
        saver = PageSaver(engine, RESOURCES[name], DEFAULT_POLICY, state.RunStats())
        began = time.process_time()
        saver._map(page.rows)
        mapped += time.process_time() - began
    for name, page in pages:
        saver = savers.get(name) or savers.setdefault(name, _saver(engine, name))
        began = time.process_time()
        saver.save(page)
        saved += time.process_time() - began
    engine.dispose()
    return mapped, saved


def _saver(engine: Engine, name: str) -> PageSaver:
    """A resource's saver as a first load has it: the table fresh, its indexes deferred."""
    resource = RESOURCES[name]
    saver = PageSaver(engine, resource, DEFAULT_POLICY, state.RunStats())
    saver.fresh = True
    fast_indexes.defer(engine, resource.table, True)
    return saver


if __name__ == "__main__":
    main()
