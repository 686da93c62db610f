"""Benchmark: requests per run (issue 23 item 1), endpoint mode and query mode, against the floor.

    python bench/bench_requests.py                     # make bench: under a minute
    python bench/bench_requests.py --patients 5000 --mode query --db postgresql

On the Remote API every request costs a second or more, so the number of requests is the bill.
Over a simulated practice (the simulator in this process, its money tables filled), each mode
runs three times into a fresh mirror: the first load, a run with no change (every resource that
made a request shown), and a run after 1% of every table's rows changed. Endpoint mode runs
twice: with SQL (the Queries permission: the run's one probe vouches for what did not change)
and without (`no-sql`, the endpoints alone). For each run it prints the requests in all, per
resource (the costliest), and the floor: the pages the rows that changed fill (100 rows a
page, per table), and the run's requests over that floor. Counts, not times: they do not depend
on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text

from etl.api.client import ApiClient
from etl.catalog.query_tables import change_column
from etl.catalog.resources import RESOURCES
from etl.config.settings import ApiSettings, DatabaseSettings, Settings, SyncSettings
from etl.mirror.engine import make_engine, upgrade
from etl.simulator import OfficeClock, Simulator, SimulatorConfig
from etl.simulator.office_db import OfficeDatabase
from etl.simulator.office_rows import office_rows
from etl.sync.run import run_sync

START = dt.datetime(2025, 3, 14, 9, 26, 53)
PAGE = 100  # Remote: ShortQuery's cap, and the page size odmirror asks of the endpoints
#: Query mode's tables and their rows per patient (a practice of realistic shape).
QUERY_TABLES = {"procedurelog": 8, "claimproc": 6, "paysplit": 3, "appointment": 2,
                "payment": 1, "adjustment": 1, "recall": 1, "commlog": 2}  # fmt: skip
#: Endpoint resources whose rows the 1% run changes (those whose list has a change time).
CHANGED_PATHS = ("appointments", "procedurelogs", "claims", "claimprocs", "paysplits", "recalls")
HEADER = f"{'mode':<9} {'run':<19} {'rows':>7} {'req':>6} {'floor':>6} {'x floor':>7}  costliest"


def main() -> None:
    """Run both modes, print the table, write the JSON."""
    args = _args()
    print(HEADER)
    found: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.mode in ("endpoints", "both"):
            found += _endpoint_mode(args, Path(tmp), sql=True)
            if not args.no_without_sql:
                found += _endpoint_mode(args, Path(tmp), sql=False)
        if args.mode in ("query", "both"):
            found += _query_mode(args, Path(tmp))
    Path(args.json).write_text(json.dumps(found, indent=2), encoding="utf-8")
    print(f"written: {args.json}")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--mode", choices=("endpoints", "query", "both"), default="both")
    parser.add_argument(
        "--no-without-sql",
        action="store_true",
        help="endpoint mode with SQL only (without it, a first load at 50,000 "
        "patients costs 100,000 requests, one per patient's fan-out)",
    )
    parser.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="N more runs after 1%% changed, each with a patient and a "
        "procedure edited while their lists are paged (a busy office)",
    )
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", default="bench_requests.json", help="where the results go")
    return parser.parse_args()


def _mirror_url(args: argparse.Namespace, tmp: Path, label: str) -> str:
    if args.db == "sqlite":
        return f"sqlite:///{tmp / label}.db"
    engine = make_engine(args.pg_url)  # a fresh database per mirror, dropped first
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS bench_requests_{label}"))
        conn.execute(text(f"CREATE DATABASE bench_requests_{label}"))
    engine.dispose()
    return args.pg_url.rsplit("/", 1)[0] + f"/bench_requests_{label}"


def _settings(sim: Simulator, url: str, **sync: Any) -> Settings:
    api = ApiSettings(base_url=sim.base_url, developer_key=sim.config.developer_key,
                      customer_key=sim.config.customer_key, page_size=PAGE,
                      min_request_interval=0.0, timeout=30.0)  # fmt: skip
    return Settings(
        api=api, database=DatabaseSettings(url=url), sync=SyncSettings(overlap_seconds=60, **sync)
    )


def _run(sim: Simulator, settings: Settings) -> tuple[int, Counter[str]]:
    """One sync: rows fetched, and requests per resource (the simulator's count)."""
    sim.requests.clear()
    with ApiClient(settings.api) as client:
        results = run_sync(settings, client=client)
    spent = Counter({r.resource: r.stats.requests for r in results if r.stats.requests})
    assert sum(spent.values()) == len(sim.requests), "every request is counted on a resource"
    return sum(r.stats.fetched for r in results), spent


def _endpoint_mode(args: argparse.Namespace, tmp: Path, sql: bool) -> list[dict[str, Any]]:
    # With SQL (the Queries permission): the run's one probe vouches for what did not change;
    # without it (`no-sql`), the endpoints alone.
    config = SimulatorConfig(queries_allowed=sql)
    sim = Simulator(args.patients, config, clock=OfficeClock(start=START))
    sim.start().fill_practice()
    mode = "endpoints" if sql else "no-sql"
    try:
        url = _mirror_url(args, tmp, mode.replace("-", "_"))
        upgrade(make_engine(url))
        settings = _settings(sim, url, resources=tuple(RESOURCES))
        rows: list[dict[str, Any]] = []
        rows.append(_line(mode, "first load", *_run(sim, settings), None))
        sim.clock.advance(900)
        rows.append(_line(mode, "no change", *_run(sim, settings), 0, every=True))
        if not sql:  # whole pulls on an hourly cadence (sync.whole_tables_every), read just now
            hourly = _settings(sim, url, resources=tuple(RESOURCES), whole_tables_every="1h")
            rows.append(_line(mode, "no change, whole 1h", *_run(sim, hourly), 0, every=True))
        sim.clock.advance(900)
        floor = _change_endpoints(sim)
        sim.clock.advance(900)
        rows.append(_line(mode, "1% changed", *_run(sim, settings), floor))
        for number in range(1, args.busy + 1):  # and a row edited while each list is paged
            sim.clock.advance(900)
            floor = _change_endpoints(sim, first=number)  # other rows than the last run's
            sim.clock.advance(900)
            with _edits_while_paging(sim):
                rows.append(_line(mode, f"1%, busy {number}", *_run(sim, settings), floor))
        return rows
    finally:
        sim.stop()


@contextlib.contextmanager
def _edits_while_paging(sim: Simulator) -> Iterator[None]:
    """A busy office: one patient and one procedure edited while their lists' pages are read
    (before each list's second page), as any edit during a run may be."""
    assert sim.tables is not None
    tables, served = sim.tables, Counter[str]()

    def edit_patient(index: int, _log: Any) -> None:
        if index == 1:
            sim.clock.advance(1)
            sim.store.update(sim.store.all()[0]["PatNum"], Address="2 Busy St")

    def edit_procedure(_index: int, path: str) -> None:
        served[path] += 1
        if path == "procedurelogs" and served[path] == 2:
            sim.clock.advance(1)
            tables.update("procedurelogs", tables.all("procedurelogs")[0]["ProcNum"])

    sim.on_request(edit_patient)
    tables.on_serve(edit_procedure)
    try:
        yield
    finally:
        sim.on_request(None)
        tables.on_serve(None)


def _change_endpoints(sim: Simulator, first: int = 0) -> int:
    """Change 1% of the patients and of each list with a change time (every hundredth row from
    the `first`); the pages they fill."""
    floor = 0
    patients = [r["PatNum"] for r in sim.store.all()][first::100]
    for patnum in patients:
        sim.store.update(patnum, Address="1 Bench St")
    floor += math.ceil(len(patients) / PAGE)
    assert sim.tables is not None
    for path in CHANGED_PATHS:
        keys = [row[_key(path)] for row in sim.tables.all(path)][first::100]
        for key in keys:
            sim.tables.update(path, key)
        floor += math.ceil(len(keys) / PAGE)
    return floor


def _key(path: str) -> str:
    return next(r.key for r in RESOURCES.values() if r.path == path)


def _query_mode(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    sim = Simulator(0, SimulatorConfig(), clock=OfficeClock(start=START)).start()
    office = sim.office_db = OfficeDatabase(sim.clock)
    for table, per_patient in QUERY_TABLES.items():
        office.insert(table, office_rows(table, per_patient * args.patients, START))
    try:
        url = _mirror_url(args, tmp, "tables")
        upgrade(make_engine(url))
        # patients (none here): the endpoint side of the run costs the same three requests each
        # time; only ShortQuery's are counted below.
        settings = _settings(sim, url, resources=("patients",), tables=tuple(QUERY_TABLES))
        rows: list[dict[str, Any]] = []
        rows.append(_line("query", "first load", *_queries(sim, settings), None))
        sim.clock.advance(900)
        rows.append(_line("query", "no change", *_queries(sim, settings), 0))
        sim.clock.advance(900)
        floor = 0
        for table, per_patient in QUERY_TABLES.items():
            assert change_column(table) is not None  # each is read by its change column
            changed = range(1, per_patient * args.patients + 1, 100)
            for number in changed:
                office.update(table, number)  # its change column takes the office clock
            floor += math.ceil(len(changed) / PAGE)
        sim.clock.advance(900)
        rows.append(_line("query", "1% changed", *_queries(sim, settings), floor))
        return rows
    finally:
        sim.stop()


def _queries(sim: Simulator, settings: Settings) -> tuple[int, Counter[str]]:
    fetched, spent = _run(sim, settings)
    spent.pop("patients", None)
    return fetched, spent


def _line(
    mode: str, run: str, rows: int, spent: Counter[str], floor: int | None, every: bool = False
) -> dict[str, Any]:
    # `every`: each resource that made a request, not only the costliest six.
    total = sum(spent.values())
    ratio = f"{total / floor:.2f}" if floor else "-"
    top = ", ".join(f"{name} {count}" for name, count in spent.most_common(None if every else 6))
    shown_floor = "-" if floor is None else str(floor)
    print(f"{mode:<9} {run:<19} {rows:>7} {total:>6} {shown_floor:>6} {ratio:>7}  {top}")
    return {"mode": mode, "run": run, "rows": rows, "requests": total, "floor": floor,
            "per_resource": dict(spent)}  # fmt: skip


if __name__ == "__main__":
    main()
