"""The simulated API in a process of its own, so its memory and CPU are not the sync's.

The benchmark talks to it over a pipe: reset the request log, read the counts, change rows.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import time
from multiprocessing.connection import Connection
from typing import Any

from etl.simulator import OfficeClock, Simulator, SimulatorConfig
from etl.simulator.data import make_many_patients
from etl.simulator.office_db import OfficeDatabase
from etl.simulator.rest_sql import REST_TABLES, copy_named_tables

OFFICE_START = dt.datetime(2025, 1, 14, 10, 0, 0)


class SimProcess:
    """A simulator serving `patients` synthetic patients in a child process.

    Args:
        patients: how many.
        mode: "service" (1000 rows a page, no throttle) or "remote" (100 a page, throttled).
        interval: the Remote throttle, seconds per request.
        latency: seconds each answer takes on top of the work.
        practice: also serve the practice's other tables (appointments, money, schedules, ...).
        shape: the practice's shape (etl.simulator.shape: "default", or "issue" for issue 23's
            8 procedures, 6 claimprocs, 3 paysplits and 2 appointments a patient).
    """

    def __init__(
        self,
        patients: int,
        mode: str,
        interval: float,
        latency: float,
        practice: bool = False,
        shape: str = "default",
    ) -> None:
        self._conn, child = mp.Pipe()
        args = (child, patients, mode, interval, latency, practice, shape)
        self._proc = mp.Process(target=_serve, args=args, name="bench-simulator", daemon=True)

    def __enter__(self) -> SimProcess:
        self._proc.start()
        self.base_url, self.ready_seconds = self._conn.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        self.call("stop")
        self._proc.join(10)

    def call(self, command: str, *args: Any) -> Any:
        """Run a command in the simulator process and return its answer."""
        self._conn.send((command, args))
        return self._conn.recv()


def _serve(
    conn: Connection,
    patients: int,
    mode: str,
    interval: float,
    latency: float,
    practice: bool,
    shape: str,
) -> None:
    started = time.perf_counter()
    # The office's database is there before a run: ShortQuery copies a list into it once, not
    # for every query (a probe of a practice's tables cost the simulator seconds each time).
    config = SimulatorConfig(
        mode=mode, throttle_interval=interval, latency=latency, keep_office_copies=True
    )
    clock = OfficeClock("America/Chicago", start=OFFICE_START)
    sim = Simulator(make_many_patients(patients, now=clock.now()), config, clock=clock)
    if practice:
        sim.fill_practice(shape)
    sim.office_db = OfficeDatabase(clock)
    _refresh_office(sim)
    sim.start()
    conn.send((sim.base_url, time.perf_counter() - started))
    while True:
        command, args = conn.recv()
        if command == "stop":
            sim.stop()
            conn.send(None)
            return
        conn.send(_COMMANDS[command](sim, *args))


def _refresh_office(sim: Simulator) -> None:
    """Bring the office database's copies of the lists up to date, before a measurement.

    A real office's database is always current; the simulator's ShortQuery copies a list that
    changed since its last copy (etl.simulator.rest_sql): 3 s of a probe at 100,000 patients,
    which would count against the run measured next.
    """
    assert sim.office_db is not None
    tables = sorted(REST_TABLES) if sim.tables is not None else []
    every = " UNION ALL ".join(f"SELECT 1 FROM {table}" for table in [*tables, "patient"])
    body = json.dumps({"SqlCommand": every}).encode()
    version = sim.store.version  # before the rows: a change meanwhile is copied next time
    copy_named_tables(sim.office_db, sim.tables, body, sim.store.all, True, version)


def _reset(sim: Simulator) -> None:
    _refresh_office(sim)
    sim.requests.clear()
    sim.throttle_violations = 0


def _counts(sim: Simulator) -> dict[str, Any]:
    logs = list(sim.requests)
    return {
        "requests": len(logs),
        "violations": sim.throttle_violations,
        "rows": sum(log.rows for log in logs),
        "first": logs[0].arrived if logs else None,
        "last": logs[-1].arrived if logs else None,
    }


def _log(sim: Simulator) -> list[tuple[str, str, dict[str, str]]]:
    """The requests since the last reset: (method, path under the API's base, query)."""
    return [(log.method, log.path.removeprefix("/api/v1"), dict(log.query)) for log in sim.requests]


def _sizes(sim: Simulator) -> dict[str, int]:
    """Rows each endpoint holds (patients included)."""
    sizes = {"patients": len(sim.store)}
    if sim.tables is not None:
        sizes.update((name, len(table.rows)) for name, table in sim.tables._tables.items())
    return sizes


def _change(sim: Simulator, fraction: float, advance: float) -> int:
    """Advance the office clock, then change every 1/fraction-th patient."""
    sim.clock.advance(advance)
    step = max(1, round(1 / fraction))
    changed = 0
    for patnum in range(1, len(sim.store) + 1, step):
        sim.store.update(patnum, City="Benchtown")
        changed += 1
    sim.clock.advance(advance)
    return changed


_COMMANDS = {
    "reset": _reset,
    "counts": _counts,
    "change": _change,
    "log": _log,
    "sizes": _sizes,
}
