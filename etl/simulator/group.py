"""Several simulated offices behind one API address, told apart by customer key.

This is how Open Dental's Remote API serves a dental group: one base URL, one customer key per
office, and the throttle counted per customer key. Each office is a `Simulator` (not started on
its own) with its own data, faults, request log and throttle; the group only routes.
"""

from __future__ import annotations

from collections.abc import Iterable

from etl.simulator.http import Reply, Serving
from etl.simulator.server import TEXT_TYPE, Simulator


class OfficeGroup(Serving):
    """One HTTP server in front of several offices' simulators.

    Args:
        offices: the simulators; each is reached with its `config.customer_key`.
    """

    _thread_name = "od-group"

    def __init__(self, offices: Iterable[Simulator]) -> None:
        self.offices = {sim.config.customer_key: sim for sim in offices}

    def _release(self) -> None:
        for sim in self.offices.values():
            sim._release()

    def _answer(
        self, method: str, target: str, authorization: str | None, body: bytes = b""
    ) -> Reply | None:
        customer = (authorization or "").rsplit("/", 1)[-1]
        office = self.offices.get(customer)
        if office is None:
            body = b"Invalid developer key or customer key."
            return Reply(401, body, {"Content-Type": TEXT_TYPE})
        # The office answers as if it were served alone: keys, throttle, faults, log.
        return office._answer(method, target, authorization, body)
