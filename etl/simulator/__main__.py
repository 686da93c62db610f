"""Serve the simulated Open Dental API until Ctrl-C: `python -m etl.simulator --patients 5000`.

`--offices 3` serves a dental group: three offices with their own customer keys (and data)
behind one address; `--changes-per-minute 30` keeps editing, adding and deleting patients.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from etl.simulator.churn import Churn
from etl.simulator.clock import OfficeClock
from etl.simulator.config import CAPS, SimulatorConfig
from etl.simulator.group import OfficeGroup
from etl.simulator.http import Serving
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
    parser.add_argument(
        "--offices", type=_offices, default=1, help="offices behind one address, each its own key"
    )
    parser.add_argument(
        "--changes-per-minute",
        type=float,
        default=0.0,
        metavar="N",
        help="edit, add and delete patients this often while serving (0: never)",
    )
    return parser.parse_args(argv)


def _offices(text: str) -> int:
    count = int(text)
    if not 1 <= count <= 100:
        raise argparse.ArgumentTypeError("must be between 1 and 100")
    return count


def office_key(number: int, offices: int) -> str:
    """The customer key of office `number` (from 1): one office keeps the published test key."""
    return SimulatorConfig.customer_key if offices == 1 else f"SimOffice{number:03d}Key0"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator in the foreground.

    Args:
        argv: command-line arguments (default: sys.argv[1:]).

    Returns:
        The exit status.
    """
    args = _parse(argv)
    # Set explicitly: a shell's background job inherits SIGINT ignored, so Ctrl-C would not stop it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    churn: Churn | None = None
    try:
        sims = [_office(args, number) for number in range(1, args.offices + 1)]
        server: Serving = sims[0] if len(sims) == 1 else OfficeGroup(sims)
        server.start(args.host, args.port)
    except OSError as exc:
        print(f"cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        _announce(server, sims, args.changes_per_minute)
        if args.changes_per_minute > 0:
            churn = Churn(sims, args.changes_per_minute, seed=args.seed).start()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if churn is not None:
            churn.stop()
        server.stop()
    print("simulator stopped", flush=True)
    return 0


def _office(args: argparse.Namespace, number: int) -> Simulator:
    config = SimulatorConfig(
        customer_key=office_key(number, args.offices),
        mode=args.mode,
        page_cap=args.page_cap,
        throttle_interval=args.throttle_interval,
        order=args.order,
        inclusive_datetstamp=not args.exclusive,
        hide_deleted=not args.show_deleted,
        latency=args.latency,
    )
    seed = args.seed + number - 1  # each office its own patients
    sim = Simulator(args.patients, config, OfficeClock(args.tz), seed=seed)
    return sim.fill_practice() if args.practice else sim


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _announce(server: Serving, sims: list[Simulator], per_minute: float) -> None:
    first = sims[0]
    if len(sims) == 1:
        what = f"{len(first.store)} synthetic patients"
        keys = [f"  customer key:  {first.config.customer_key}"]
    else:
        what = f"{len(sims)} offices behind one address"
        keys = [
            f"  office {n}:     customer key {sim.config.customer_key}, {len(sim.store)} patients"
            for n, sim in enumerate(sims, 1)
        ]
    if per_minute > 0:
        keys.append(f"  changes:       {per_minute:g} a minute (edits, new patients, deletions)")
    lines = [
        f"Open Dental API simulator: {what}, {first.config.mode} mode "
        f"({first.config.cap} rows a page)",
        f"  base URL:      {server.base_url}",
        f"  developer key: {first.config.developer_key}  (Open Dental's published test keys)",
        *keys,
        "Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
