"""Open Dental's `POST /queries` (a SELECT written as CSV to an SFTP server) and the SFTP read.

The vendor documents the body (SqlCommand, SftpAddress as the file's full path, SftpUsername,
SftpPassword, SftpPort, IsAsync from 23.3.26), 201 Created, and a file holding "OK" for an
empty result. It does not say what SftpAddress looks like: we send `host/dir/file.csv` (no
scheme), as its "full file path". Without IsAsync the answer comes once the file is written,
so that request may take as long as the query: it runs on a thread of its own, so that a stop
request ends the wait at once (the thread ends with its timeout). The SFTP side is asyncssh,
driven from this thread through a private event loop, every call under a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
import warnings
from collections.abc import Awaitable
from typing import Any, TypeVar

import requests

from etl.api.client import ApiClient
from etl.api.errors import explanation, scrub
from etl.config.bulk_sftp import BulkSftpSettings
from etl.control import StopRequested
from etl.errors import ApiError

PATH = "queries"
_T = TypeVar("_T")
#: How often a stop request is looked at while the office runs the query.
STOP_POLL = 0.2


class BulkFailed(ApiError):
    """The bulk path cannot go on; the message is one line, without passwords."""


def post_query(client: ApiClient, sql: str, address: str, bulk: BulkSftpSettings) -> None:
    """Ask the office to run `sql` and write its CSV to `address` (host/path) on the SFTP server.

    Waits one request interval first (the clock query just went), and sets the next request
    one interval later. Counts as one request of the client.

    Raises:
        BulkFailed: the API refused, did not answer in time, or could not be reached.
        StopRequested: a stop was asked for while waiting.
    """
    settings = client.settings
    if client.stop.wait(settings.min_request_interval):
        raise StopRequested("stopped on request")
    body = {
        "SqlCommand": sql,
        "SftpAddress": address,
        "SftpUsername": bulk.username,
        "SftpPassword": bulk.password,
        "SftpPort": bulk.port,
    }
    if bulk.is_async:
        body["IsAsync"] = "true"
    read_timeout = settings.timeout if bulk.is_async else float(bulk.wait_seconds)
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def send() -> None:
        try:
            outcome["response"] = client.session.post(
                f"{settings.base_url.rstrip('/')}/{PATH}",
                json=body,
                timeout=(settings.timeout, read_timeout),
            )
        except requests.RequestException as exc:
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=send, name="odmirror-bulk-post", daemon=True).start()
    while not done.wait(STOP_POLL):
        if client.stop.is_set():
            raise StopRequested("stopped on request")
    client.count_requests(1)
    client.not_before(settings.min_request_interval)
    _check_answer(outcome, client, bulk, read_timeout)


def _check_answer(
    outcome: dict[str, Any], client: ApiClient, bulk: BulkSftpSettings, read_timeout: float
) -> None:
    error = outcome.get("error")
    if isinstance(error, requests.Timeout):
        raise BulkFailed(f"POST /{PATH} got no answer within {read_timeout:g} s")
    if error is not None:
        raise BulkFailed(f"POST /{PATH} failed: {error.__class__.__name__}")
    response: requests.Response = outcome["response"]
    secrets = (client.settings.developer_key, client.settings.customer_key, *bulk.secrets)
    said = explanation(response, secrets)
    if response.status_code == 401:
        raise BulkFailed(f"the office does not allow POST /{PATH} (401){said}")
    if not 200 <= response.status_code < 300:
        raise BulkFailed(f"POST /{PATH} was refused ({response.status_code}){said}")


def _asyncssh() -> Any:
    """asyncssh, imported on first use (it is an extra, and slow to import)."""
    try:
        with warnings.catch_warnings():  # cryptography's notice about DSA, at import only
            warnings.simplefilter("ignore")
            import asyncssh
        # Its INFO lines (each connection, each login) are noise in a sync's log.
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
    except ImportError:
        raise BulkFailed("the bulk path needs asyncssh: pip install 'odmirror[sftp]'") from None
    return asyncssh


class SftpReader:
    """One SFTP session, for reading back (and deleting) the files the office wrote.

    Args:
        bulk: the settings (read_* where given, else the office's own).
        timeout: the deadline of each SFTP call, in seconds.

    Raises:
        BulkFailed: asyncssh is missing, or the server cannot be reached or refuses the login.
    """

    def __init__(self, bulk: BulkSftpSettings, timeout: float) -> None:
        asyncssh = self._ssh = _asyncssh()
        self.host = bulk.read_host or bulk.host
        self.port = bulk.read_port or bulk.port
        self.timeout, self._secrets = timeout, bulk.secrets
        self._loop = asyncio.new_event_loop()
        try:
            self._conn: Any = self._run(
                asyncssh.connect(
                    self.host,
                    self.port,
                    username=bulk.read_username or bulk.username,
                    password=bulk.read_password or bulk.password,
                    known_hosts=bulk.known_hosts,
                    client_keys=None,
                    agent_path=None,
                    preferred_auth="password,keyboard-interactive",
                    connect_timeout=timeout,
                )
            )
            self._sftp: Any = self._run(self._conn.start_sftp_client())
        except BulkFailed:
            self._loop.close()
            raise

    def size(self, path: str) -> int | None:
        """The file's size in bytes, None while it does not exist."""
        try:
            attrs = self._run(self._sftp.stat(path))
        except BulkFailed as exc:
            if isinstance(exc.__cause__, self._ssh.SFTPNoSuchFile):
                return None
            raise
        return int(attrs.size or 0)

    def names(self, directory: str) -> list[str]:
        """The names in a folder."""
        return [str(name) for name in self._run(self._sftp.listdir(directory))]

    def remove(self, path: str) -> None:
        """Delete a file."""
        self._run(self._sftp.remove(path))

    def open(self, path: str, limit: int) -> io.BufferedReader:
        """The file, for reading in binary (each read under the deadline, `limit` bytes at
        most: a file that grows past it fails the read)."""
        handle = self._run(self._sftp.open(path, "rb"))
        return io.BufferedReader(_RemoteFile(self, handle, limit), buffer_size=1 << 20)

    def close(self) -> None:
        """End the session (quietly: it is only ever closed on the way out)."""
        try:
            self._conn.close()
            self._run(self._conn.wait_closed())
        except BulkFailed:
            pass
        finally:
            self._loop.close()

    def __enter__(self) -> SftpReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, step: Awaitable[_T]) -> _T:
        where = f"the SFTP server {self.host}:{self.port}"
        try:
            return self._loop.run_until_complete(asyncio.wait_for(step, self.timeout))
        except (asyncio.TimeoutError, TimeoutError):
            raise BulkFailed(f"{where} did not answer within {self.timeout:g} s") from None
        except self._ssh.PermissionDenied:
            raise BulkFailed(f"{where} refused the username or password") from None
        except self._ssh.SFTPError as exc:
            raise BulkFailed(f"{where}: {scrub(exc.reason, self._secrets)}") from exc
        except (OSError, self._ssh.Error) as exc:
            reason = scrub(str(exc) or exc.__class__.__name__, self._secrets)
            raise BulkFailed(f"cannot use {where}: {reason}") from None


class _RemoteFile(io.RawIOBase):
    """A remote file as a raw binary stream for io.BufferedReader."""

    def __init__(self, reader: SftpReader, handle: Any, limit: int) -> None:
        self._reader, self._handle, self._left = reader, handle, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data: bytes = self._reader._run(self._handle.read(len(buffer)))
        self._left -= len(data)
        if self._left < 0:
            raise BulkFailed("the file grew past bulk_sftp.max_file_mb while it was read")
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(BulkFailed):
                self._reader._run(self._handle.close())
        super().close()
