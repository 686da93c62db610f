"""The HTTP plumbing of the simulator: a threading server that hands each request to a callable."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar, cast


@dataclass(frozen=True)
class Reply:
    """One HTTP answer."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


#: answer(method, target, authorization, body) -> the reply, or None to drop the connection.
Answer = Callable[[str, str, "str | None", bytes], "Reply | None"]
#: The largest request body read (a ShortQuery's SQL); a longer one is not read.
MAX_BODY = 1_000_000


_S = TypeVar("_S", bound="Serving")


class Serving:
    """Serves `_answer` over HTTP on a daemon thread: start, stop, a with-block, base_url."""

    _thread_name = "od-server"
    _server: Server | None = None
    _thread: threading.Thread | None = None

    def _answer(
        self, method: str, target: str, authorization: str | None, body: bytes = b""
    ) -> Reply | None:
        raise NotImplementedError

    def _release(self) -> None:
        """Free requests held on purpose (stalls, latency) before the server shuts down."""

    def start(self: _S, host: str = "127.0.0.1", port: int = 0) -> _S:
        """Serve in a daemon thread on host:port (0: any free port); returns self."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already serving")
        self._server = Server((host, port), self._answer)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=self._thread_name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open connections; held requests are released."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        self._release()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(5)

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. "http://127.0.0.1:PORT/api/v1" (no trailing slash)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not serving; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/v1"


class Server(ThreadingHTTPServer):
    """Serves each request on its own thread; keeps track of open connections to close them."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], answer: Answer) -> None:
        self.answer = answer
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer's own looks up the host's FQDN, which can take seconds in some containers.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (timeouts, tests of dropped connections) are normal: stay quiet.
        pass

    def close_connections(self) -> None:
        """Shut down every open connection, so stalled requests and keep-alives end."""
        with self.connections_lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OpenDentalAPISimulator/1.0"
    timeout = 60  # so an idle keep-alive connection does not hold its thread forever
    # The headers and the body leave in two writes. With Nagle's algorithm the body's last
    # segment waited for the client's delayed ACK: a small answer took 40 ms more (measured:
    # 43 ms for 20 Deleted patients, 16 ms for 1000 changed ones). Servers such as Kestrel
    # send with TCP_NODELAY.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        server = cast(Server, self.server)
        with server.connections_lock:
            server.connections.add(self.connection)

    def finish(self) -> None:
        server = cast(Server, self.server)
        with server.connections_lock:
            server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: no request log on stderr."""

    def version_string(self) -> str:
        """The Server header, without Python's version."""
        return self.server_version

    def do_GET(self) -> None:
        """Answer any method the same way; only GET routes exist."""
        body = self._read_body()
        answer = cast(Server, self.server).answer
        reply = answer(self.command, self.path, self.headers.get("Authorization"), body)
        if reply is None:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) <= MAX_BODY:
            return self.rfile.read(int(length))
        if length or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # a body we did not read: the connection cannot go on
        return b""
