"""Benchmark: where a first load leaves the API idle, between one request's end and the next.

A sync's time over a bare fetch of the same pages is what it does while no request is in
flight (the gaps: writes the fetch waits for, bookkeeping between resources, index builds) plus
whatever its CPU takes from the fetch. This measures the first directly, in this process: every
request's start and end (ApiClient), the gaps between them, the largest with the resource asked
next, and with --sample what the sync's main thread was doing in them (its stack, every ms).
Less noisy than a ratio of two wall times on a shared machine: run it before and after a change.

    python bench/bench_gaps.py --db postgresql --latency 0.02
    python bench/bench_gaps.py --db sqlite --scale 0.1 --sample
"""

from __future__ import annotations

import argparse
import bisect
import collections
import contextlib
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench_whole import FANOUTS, PATIENTS_AT_SCALE_1, PG_DEFAULT
from mirrors import MYSQL_DEFAULT, mirror_for
from simproc import SimProcess

from etl.api.client import ApiClient
from etl.catalog.resources import RESOURCES
from etl.config.load import load_settings
from etl.sync.run import run_sync

Span = tuple[float, float, str]  # a request's start, end and path


def main() -> None:
    """Run one first load, print the gaps as a table, write them as JSON."""
    args = _args()
    names = [n for n in RESOURCES if n not in FANOUTS]
    patients = max(100, round(args.scale * PATIENTS_AT_SCALE_1))
    spans: list[Span] = []
    _time_requests(spans)
    sampler = _Sampler() if args.sample else None
    with (
        SimProcess(patients, "service", 0.0, args.latency, practice=True, shape="issue") as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mirror = mirror_for(args.db, Path(tmp), args.pg_url, "gaps", args.mysql_url)
        settings = load_settings(mirror.config(sim.base_url, 1000, 0.0, names))
        began = time.perf_counter()
        with sampler or contextlib.nullcontext():
            run_sync(settings)
        ended = time.perf_counter()
    gaps = _gaps(sorted(spans), began, ended)
    idle = sum(end - start for start, end, _ in gaps)
    print(f"{args.db}, {patients} patients, {args.latency} s a page: run {ended - began:.2f} s, "
          f"{len(spans)} requests, in flight {ended - began - idle:.2f} s, "
          f"none in flight {idle:.2f} s in {len(gaps)} gaps")  # fmt: skip
    largest = sorted(gaps, key=lambda gap: gap[0] - gap[1])[: args.top]
    print(f"{'gap ms':>8}  before")
    for start, end, path in largest:
        print(f"{(end - start) * 1000:8.1f}  {path}")
    chains = sampler.in_gaps(gaps, args.depth) if sampler else {}
    if chains:
        print(f"{'ms':>8}  the main thread in the gaps (sampled)")
        for chain, seconds in list(chains.items())[: args.top]:
            print(f"{seconds * 1000:8.0f}  {chain}")
    out = {"db": args.db, "patients": patients, "latency": args.latency,
           "run": ended - began, "requests": len(spans), "idle": idle,
           "largest": [{"ms": (e - s) * 1000, "before": p} for s, e, p in largest],
           "main_thread_in_gaps": chains}  # fmt: skip
    Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(f"written: {args.json}")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2, help="1 = 50,000 patients")
    parser.add_argument("--db", default="postgresql", help="sqlite, postgresql or mysql")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    parser.add_argument("--mysql-url", default=MYSQL_DEFAULT)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to each answer")
    parser.add_argument("--sample", action="store_true", help="sample the main thread's stack")
    parser.add_argument("--depth", type=int, default=4, help="odmirror frames of a sampled chain")
    parser.add_argument("--top", type=int, default=12, help="lines of each list")
    parser.add_argument("--json", default="bench-gaps.json", help="where to write results")
    return parser.parse_args()


def _time_requests(spans: list[Span]) -> None:
    # Every request through ApiClient, on any thread, from its turn to its decoded answer.
    send = ApiClient._send_once

    def timed(self: ApiClient, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return send(self, method, path, *args, **kwargs)
        finally:
            spans.append((start, time.perf_counter(), path))

    ApiClient._send_once = timed  # type: ignore[method-assign]


def _gaps(spans: list[Span], began: float, ended: float) -> list[Span]:
    """The stretches with no request in flight, each with the path of the request after it."""
    gaps, busy_until = [], began
    for start, end, path in spans:
        if start > busy_until:
            gaps.append((busy_until, start, path))
        busy_until = max(busy_until, end)
    if ended > busy_until:
        gaps.append((busy_until, ended, "(the run's end)"))
    return gaps


class _Sampler:
    """The main thread's odmirror frames, every millisecond, on a thread of its own."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, list[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._main = threading.main_thread().ident

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            frame, stack = sys._current_frames().get(self._main or 0), []
            while frame is not None:
                module = frame.f_globals.get("__name__", "")
                if module.startswith("etl.") and module != "etl.sync.run":
                    stack.append(f"{module.rsplit('.', 1)[-1]}.{frame.f_code.co_name}")
                frame = frame.f_back
            self.samples.append((time.perf_counter(), stack[::-1]))
            time.sleep(0.001)

    def in_gaps(self, gaps: list[Span], depth: int) -> dict[str, float]:
        """Seconds of the gaps by the main thread's outermost `depth` odmirror frames."""
        starts, counts = [start for start, _, _ in gaps], collections.Counter[str]()
        for at, stack in self.samples:
            index = bisect.bisect_right(starts, at) - 1
            if index >= 0 and at < gaps[index][1]:
                counts[" > ".join(stack[:depth]) or "(outside odmirror)"] += 1
        idle = sum(end - start for start, end, _ in gaps)
        each = idle / max(1, sum(counts.values()))
        return {chain: count * each for chain, count in counts.most_common()}


if __name__ == "__main__":
    main()
