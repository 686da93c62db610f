"""Several simulated offices behind one API address, told apart by customer key.

This is how Open Dental's Remote API serves a dental group: one base URL, one customer key per
office, and the throttle counted per customer key. Each office is a `Simulator` (not started on
its own) with its own data, faults, request log and throttle; the group only routes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from types import TracebackType

from etl.simulator.http import Reply, Server
from etl.simulator.server import TEXT_TYPE, Simulator


class OfficeGroup:
    """One HTTP server in front of several offices' simulators.

    Args:
        offices: the simulators; each is reached with its `config.customer_key`.
    """

    def __init__(self, offices: Iterable[Simulator]) -> None:
        self.offices = {sim.config.customer_key: sim for sim in offices}
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> OfficeGroup:
        """Serve in a daemon thread on host:port (0: any free port); returns self."""
        self._server = Server((host, port), self._answer)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="od-group", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open connections."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        for sim in self.offices.values():
            sim._stopping.set()  # releases stalled requests, as Simulator.stop does
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> OfficeGroup:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The API base URL shared by every office of the group."""
        if self._server is None:
            raise RuntimeError("the group is not serving; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/v1"

    def _answer(self, method: str, target: str, authorization: str | None) -> Reply | None:
        customer = (authorization or "").rsplit("/", 1)[-1]
        office = self.offices.get(customer)
        if office is None:
            body = b"Invalid developer key or customer key."
            return Reply(401, body, {"Content-Type": TEXT_TYPE})
        # The office answers as if it were served alone: keys, throttle, faults, log.
        return office._answer(method, target, authorization)
