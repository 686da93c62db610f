"""A hostile Open Dental look-alike on loopback: each connection gets what a test scripts, byte by
byte (a trickle, silence, a gzip bomb, an endless page), and everything ends when it stops."""

from __future__ import annotations

import contextlib
import gzip
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from typing import Any

#: What a connection gets: behave(socket, request number, closing), after its request was read.
Behaviour = Callable[[socket.socket, int, threading.Event], None]
#: The pause between two bytes of a trickle: fast enough for short tests, far slower than a page.
TRICKLE_SECONDS = 0.2
MIB = 1024 * 1024


class Hostile:
    """A loopback TCP server that reads each request's head, then runs `behave` on it.

    `on_request(n)` (if set) runs when the n-th request (from 0) has arrived, before any answer:
    a test sends its signal there, while the request is in flight; `on_answered(n)` runs once
    the answer has been sent.
    """

    def __init__(self, behave: Behaviour, tls: ssl.SSLContext | None = None) -> None:
        self.closing = threading.Event()
        self.requests = 0
        self.on_request: Callable[[int], None] | None = None
        self.on_answered: Callable[[int], None] | None = None
        lock, outer = threading.Lock(), self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.settimeout(10)  # a client that sends nothing does not hold a thread
                with contextlib.suppress(OSError):
                    if tls is not None:
                        sock = tls.wrap_socket(sock, server_side=True)
                    if not _read_head(sock):
                        return
                    with lock:
                        number, outer.requests = outer.requests, outer.requests + 1
                    if outer.on_request is not None:
                        outer.on_request(number)
                    behave(sock, number, outer.closing)
                    if outer.on_answered is not None:
                        outer.on_answered(number)

        socketserver.ThreadingTCPServer.daemon_threads = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        scheme = "https" if tls else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/api/v1"

    def stop(self) -> None:
        """End every connection's behaviour and the server."""
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


def _read_head(sock: socket.socket) -> bool:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = sock.recv(4096)
        if not chunk:
            return False
        data += chunk
    return True


def head(status: str = "200 OK", **headers: Any) -> bytes:
    """A response's status line and headers (`Content_Type` for Content-Type)."""
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def silent(_sock: socket.socket, _n: int, closing: threading.Event) -> None:
    """Accept the request and never answer (until the server stops)."""
    closing.wait(120)


def trickle_headers(sock: socket.socket, _n: int, closing: threading.Event) -> None:
    """Send the status line, then a header one byte at a time, forever."""
    sock.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: ")
    while not closing.wait(TRICKLE_SECONDS):
        sock.sendall(b"a")


def silent_then_trickle_headers(sock: socket.socket, n: int, closing: threading.Event) -> None:
    """The first try gets nothing at all, later ones trickled headers (two ways to be cut)."""
    if n == 0:
        silent(sock, n, closing)
    else:
        trickle_headers(sock, n, closing)


def trickle_body(sock: socket.socket, _n: int, closing: threading.Event) -> None:
    """Send whole headers for a 1 MB body, then the body one byte at a time."""
    sock.sendall(head(Content_Length=MIB) + b"[")
    while not closing.wait(TRICKLE_SECONDS):
        sock.sendall(b" ")


def unavailable(sock: socket.socket, _n: int, _closing: threading.Event) -> None:
    """503 with Retry-After: 100: the client waits 100 s before each retry."""
    sock.sendall(head("503 Service Unavailable", Retry_After=100, Content_Length=0))


def gzip_bomb(inflated_mib: int) -> Behaviour:
    """A valid-looking gzip answer (members of 1 MiB of spaces) that inflates to `inflated_mib`."""
    member = gzip.compress(b" " * MIB, compresslevel=9)
    body = gzip.compress(b"[") + member * inflated_mib + gzip.compress(b"]")

    def behave(sock: socket.socket, _n: int, _closing: threading.Event) -> None:
        sock.sendall(head(Content_Encoding="gzip", Content_Length=len(body)) + body)

    return behave


def tiny_values(total_mib: int) -> Behaviour:
    """A page of `total_mib` MiB of empty objects (`[{},{},...]`), its length declared."""
    body = b"[" + b"{}," * (total_mib * MIB // 3 - 1) + b"{}]"

    def behave(sock: socket.socket, _n: int, _closing: threading.Event) -> None:
        sock.sendall(head(Content_Length=len(body)) + body)

    return behave


def endless_page(total_mib: int) -> Behaviour:
    """A chunked JSON array of patients, `total_mib` long, with no declared length."""
    row = b'{"PatNum": 1, "LName": "Endless", "DateTStamp": "2030-05-01 08:00:00"},'
    chunk = row * (MIB // len(row))

    def behave(sock: socket.socket, _n: int, closing: threading.Event) -> None:
        sock.sendall(head(Transfer_Encoding="chunked") + b"1\r\n[\r\n")
        for _ in range(total_mib):
            if closing.is_set():
                return
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        sock.sendall(b"1\r\n]\r\n0\r\n\r\n")

    return behave
