"""A small SFTP server (asyncssh) on loopback, for POST /queries in tests, the bench and demos.

Password login for one account, every path inside a temporary folder (chroot), served on a
thread of its own with its own event loop.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from pathlib import Path
from typing import Any

with warnings.catch_warnings():  # cryptography's notice about DSA, at import only
    warnings.simplefilter("ignore")
    import asyncssh


class SftpServer:
    """An SFTP server for one user, rooted at `root`.

    Args:
        root: the folder the account sees as "/".
        username, password: the one account.
    """

    def __init__(self, root: Path, username: str, password: str) -> None:
        self.root, self.username, self._password = root, username, password
        self.port = 0
        self.logins = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Any = None

    def start(self) -> SftpServer:
        """Listen on a free port of 127.0.0.1; returns self."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self._server = future.result(timeout=30)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Stop listening and end the thread."""
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> SftpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _listen(self) -> Any:
        key = asyncssh.generate_private_key("ssh-ed25519")
        server = self

        class _Login(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                ok = username == server.username and password == server._password
                server.logins += ok
                return ok

        def sftp(chan: Any) -> asyncssh.SFTPServer:
            return asyncssh.SFTPServer(chan, chroot=str(server.root).encode())

        return await asyncssh.listen(
            "127.0.0.1",
            0,
            server_factory=_Login,
            server_host_keys=[key],
            sftp_factory=sftp,
            allow_scp=False,
        )
