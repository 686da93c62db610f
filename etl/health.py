"""The HTTP endpoint of `odmirror run` (opt-in, `metrics.port`): /metrics for Prometheus and
/healthz for a load balancer or an uptime check.

/healthz answers 200 while every resource of every office succeeded within `metrics.max_age`
(default: as `odmirror status`, `status.max_age` or two schedule periods), else 503 with one
line naming what is stale. It reads the mirror, so it also notices a sync that hangs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from etl.config.operations import max_age, parse_duration
from etl.config.settings import Settings
from etl.errors import OdMirrorError
from etl.metrics import SINGLE_OFFICE, MirrorCollector, registry_for
from etl.sync.state import utcnow
from etl.wording import plural

StartResponse = Callable[..., Any]


def health(settings: Settings, collector: MirrorCollector) -> tuple[bool, str]:
    """Whether every resource of every office synced within the limit, and a line saying so."""
    now = utcnow()
    limit = _limit(settings, now)
    problems = []
    for office in collector.offices:
        where = "" if office.name == SINGLE_OFFICE else f"{office.name}: "
        figures = collector.read(office)
        if figures is None:
            problems.append(f"{where}the mirror cannot be read")
            continue
        for resource, found in figures.items():
            if found.last_success is None:
                problems.append(f"{where}{resource} never synced")
            elif now - found.last_success > limit:
                age = _seconds(now - found.last_success)
                problems.append(f"{where}{resource} last synced {age} ago")
    if problems:
        return False, f"stale (limit {_seconds(limit)}): {'; '.join(problems)}"
    return True, f"ok: every resource synced within {_seconds(limit)}"


def _limit(settings: Settings, now: dt.datetime) -> dt.timedelta:
    if settings.metrics.max_age:
        return parse_duration(settings.metrics.max_age)
    return max_age(settings, now.replace(tzinfo=dt.timezone.utc))


def _seconds(delta: dt.timedelta) -> str:
    return plural(int(delta.total_seconds()), "second")


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No line per scrape."""


class MetricsServer:
    """/metrics and /healthz on `metrics.address`:`metrics.port`, on a thread of its own.

    Args:
        settings: the config.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        registry, self.collector = registry_for(settings)
        self.metrics = make_wsgi_app(registry)
        self.server: WSGIServer | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI application."""
        if environ.get("PATH_INFO") != "/healthz":
            return self.metrics(environ, start_response)  # type: ignore[no-any-return]
        ok, line = health(self.settings, self.collector)
        status = "200 OK" if ok else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [f"{line}\n".encode()]

    def start(self) -> MetricsServer:
        """Listen and serve.

        Raises:
            OdMirrorError: the address cannot be listened on (one line).
        """
        metrics = self.settings.metrics
        try:
            self.server = make_server(
                metrics.address, metrics.port, self, _Server, handler_class=_Quiet
            )
        except OSError as exc:
            raise OdMirrorError(
                f"metrics.port: cannot listen on {metrics.address}:{metrics.port}: {exc.strerror}"
            ) from None
        threading.Thread(
            target=self.server.serve_forever, name="odmirror-metrics", daemon=True
        ).start()
        return self

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self.server is not None
        return int(self.server.server_port)

    def stop(self) -> None:
        """Stop serving and close the mirror connections."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        self.collector.close()


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[MetricsServer | None]:
    """Serve the metrics for the body of the `with`, if `metrics.port` is set (else None)."""
    if not settings.metrics.port:
        yield None
        return
    server = MetricsServer(settings).start()
    try:
        yield server
    finally:
        server.stop()
