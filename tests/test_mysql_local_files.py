"""A database server that asks for another file during odmirror's LOAD DATA gets nothing.

The server is a few lines of MySQL protocol on a loopback socket: it greets, accepts any login,
answers every statement OK, and answers LOAD DATA with a request for the file it was told to
ask for, keeping what the client sends.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from etl.mirror import mysql_local_files

pymysql = pytest.importorskip("pymysql")

OK = b"\x00\x00\x00\x02\x00\x00\x00"
# Capabilities: long password, found rows, LOCAL files, protocol 41, transactions, secure
# connection, plugin auth.
CAPABILITIES = 0x1 | 0x2 | 0x80 | 0x200 | 0x2000 | 0x8000 | 0x80000


class HostileServer:
    """Answers LOAD DATA by asking for `asks_for`; `received` holds the file bytes sent back."""

    def __init__(self, asks_for: Path) -> None:
        self.asks_for = asks_for
        self.received = bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.settimeout(10)
        with conn:
            self._send(conn, 0, self._greeting())
            self._read(conn)  # the login, whatever it is
            self._send(conn, 2, OK)
            while (packet := self._read(conn)) is not None:
                seq, payload = packet
                if payload[:1] == b"\x01":  # COM_QUIT
                    return
                if b"LOAD DATA" not in payload.upper():
                    self._send(conn, seq + 1, OK)
                    continue
                self._send(conn, seq + 1, b"\xfb" + str(self.asks_for).encode())
                while (chunk := self._read(conn)) is not None and chunk[1]:
                    seq = chunk[0]
                    self.received += chunk[1]
                self._send(conn, (chunk[0] if chunk else seq) + 1, OK)

    @staticmethod
    def _greeting() -> bytes:
        salt = b"abcdefgh" + b"ijklmnopqrst"
        return (
            b"\x0a5.5.5-10.11.0-MariaDB\x00"
            + struct.pack("<I", 7)
            + salt[:8]
            + b"\x00"
            + struct.pack("<H", CAPABILITIES & 0xFFFF)
            + bytes([45])
            + struct.pack("<H", 0x0002)
            + struct.pack("<H", CAPABILITIES >> 16)
            + bytes([21])
            + b"\x00" * 10
            + salt[8:]
            + b"\x00"
            + b"mysql_native_password\x00"
        )

    @staticmethod
    def _send(conn: socket.socket, seq: int, payload: bytes) -> None:
        conn.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq % 256]) + payload)

    @staticmethod
    def _read(conn: socket.socket) -> tuple[int, bytes] | None:
        head = b""
        while len(head) < 4:
            if not (more := conn.recv(4 - len(head))):
                return None
            head += more
        size, seq = int.from_bytes(head[:3], "little"), head[3]
        body = b""
        while len(body) < size:
            if not (more := conn.recv(size - len(body))):
                return None
            body += more
        return seq, body


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    rows = tmp_path / "odmirror-rows.tsv"
    rows.write_bytes(b"1\tSmith\n")
    secret = tmp_path / "config.yaml"
    secret.write_bytes(b"api_key: not-a-real-key\n")
    yield rows, secret


def _load(server: HostileServer, rows: Path) -> None:
    conn: Any = pymysql.connect(
        host="127.0.0.1", port=server.port, user="odmirror", password="x", local_infile=True,
        connect_timeout=5, read_timeout=10,
    )  # fmt: skip
    mysql_local_files.refuse(conn)  # as every mirror connection is set (etl.mirror.mysql)
    try:
        with mysql_local_files.sending_only(conn, str(rows)), conn.cursor() as cursor:
            cursor.execute(f"LOAD DATA LOCAL INFILE '{rows}' INTO TABLE patient")
    finally:
        conn.close()
        server.thread.join(10)


def test_a_server_that_asks_for_another_file_gets_none_of_it(files: tuple[Path, Path]) -> None:
    rows, secret = files
    server = HostileServer(asks_for=secret)
    with pytest.raises(pymysql.err.OperationalError, match="not odmirror's rows"):
        _load(server, rows)
    assert bytes(server.received) == b""


def test_the_server_that_asks_for_the_rows_file_gets_it(files: tuple[Path, Path]) -> None:
    rows, _secret = files
    server = HostileServer(asks_for=rows)
    _load(server, rows)
    assert bytes(server.received) == b"1\tSmith\n"
