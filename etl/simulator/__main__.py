"""Serve the simulated Open Dental API until Ctrl-C: `python -m etl.simulator --patients 5000`."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from etl.simulator.clock import OfficeClock
from etl.simulator.config import CAPS, SimulatorConfig
from etl.simulator.query import ORDERS
from etl.simulator.server import Simulator


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m etl.simulator",
        description="Serve a simulated Open Dental API with synthetic patients.",
    )
    parser.add_argument("--patients", type=int, default=5000, help="synthetic patients to make")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=30223, help="0 picks a free port")
    parser.add_argument("--mode", choices=sorted(CAPS), default="service")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tz", default="America/Chicago", help="the office's time zone")
    parser.add_argument("--page-cap", type=int, help="override the mode's page cap")
    parser.add_argument("--throttle-interval", type=float, default=5.0, help="remote mode only")
    parser.add_argument("--order", choices=sorted(ORDERS), default="patnum")
    parser.add_argument("--exclusive", action="store_true", help="DateTStamp filter is >, not >=")
    parser.add_argument("--show-deleted", action="store_true", help="Simple returns Deleted rows")
    parser.add_argument(
        "--practice", action="store_true", help="also serve appointments, procedures, claims, ..."
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator in the foreground.

    Args:
        argv: command-line arguments (default: sys.argv[1:]).

    Returns:
        The exit status.
    """
    args = _parse(argv)
    config = SimulatorConfig(
        mode=args.mode,
        page_cap=args.page_cap,
        throttle_interval=args.throttle_interval,
        order=args.order,
        inclusive_datetstamp=not args.exclusive,
        hide_deleted=not args.show_deleted,
        latency=args.latency,
    )
    # Set explicitly: a shell's background job inherits SIGINT ignored, so Ctrl-C would not stop it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sim = Simulator(args.patients, config, OfficeClock(args.tz), seed=args.seed)
        if args.practice:
            sim.fill_practice()
        sim.start(args.host, args.port)
    except OSError as exc:
        print(f"cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        _announce(sim)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    print("simulator stopped", flush=True)
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _announce(sim: Simulator) -> None:
    print(
        f"Open Dental API simulator: {len(sim.store)} synthetic patients, {sim.config.mode} mode"
        f" ({sim.config.cap} rows a page)\n"
        f"  base URL:      {sim.base_url}\n"
        f"  developer key: {sim.config.developer_key}  (Open Dental's published test keys)\n"
        f"  customer key:  {sim.config.customer_key}\n"
        "Ctrl-C to stop.",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
