"""`POST /queries` on the simulator: the SELECT run whole, its CSV written to the client's SFTP.

The office database (etl.simulator.office_db) runs the SQL without ShortQuery's 100-row cap;
the result goes as CSV (a header, then one record a row; values as MySQL shows them: dates
"yyyy-MM-dd", date-times "yyyy-MM-dd HH:mm:ss", NULL as NULL) to `SftpAddress` ("host/path")
on `SftpPort`, with an SFTP client. An empty result writes "OK", as the vendor documents.
Without IsAsync the answer (201) comes once the file is written; with it, at once.
Tests steer the faults: `write` False answers 201 and writes nothing, `mangle` rewrites the
CSV text before it is sent, `refuse` answers 400 with its text.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from etl.simulator.office_db import OfficeDatabase

try:
    with warnings.catch_warnings():  # cryptography's notice about DSA, at import only
        warnings.simplefilter("ignore")
        import asyncssh
except ImportError:  # without the sftp extra the simulator answers POST /queries with 501
    asyncssh = None  # type: ignore[assignment]

_REQUIRED = ("SqlCommand", "SftpAddress", "SftpUsername", "SftpPassword")


@dataclass
class BulkQueries:
    """How the simulator answers POST /queries (faults for the tests)."""

    write: bool = True
    mangle: Callable[[str], str] | None = None
    #: Answer 400 with this text instead (as a server that cannot write the file).
    refuse: str | None = None
    #: Files written, as (address, bytes), for the tests.
    written: list[tuple[str, int]] | None = None

    def answer(self, office_db: OfficeDatabase, body: bytes) -> tuple[int, str]:
        """Answer one POST /queries body: (201, "") or (status, why)."""
        try:
            asked = json.loads(body or b"{}")
        except ValueError:
            return 400, "The request body must be JSON."
        if not isinstance(asked, dict) or any(not asked.get(k) for k in _REQUIRED):
            return 400, f"{', '.join(_REQUIRED)} are required."
        if self.refuse is not None:
            return 400, self.refuse
        if asyncssh is None:
            return 501, "This simulator has no SFTP client (pip install 'odmirror[sftp]')."
        status, rows = office_db.run(str(asked["SqlCommand"]), cap=None)
        if status != 200:
            return status, str(rows)
        text = self._csv(rows)
        if self.mangle is not None:
            text = self.mangle(text)
        host, _, path = str(asked["SftpAddress"]).partition("/")
        port = int(asked.get("SftpPort") or 22)
        login = (str(asked["SftpUsername"]), str(asked["SftpPassword"]))
        if not self.write:
            return 201, ""
        if str(asked.get("IsAsync", "")).lower() == "true":
            threading.Thread(
                target=self._upload, args=(host, port, login, f"/{path}", text), daemon=True
            ).start()
            return 201, ""
        try:
            self._upload(host, port, login, f"/{path}", text)
        except (OSError, asyncssh.Error) as exc:
            return 400, f"Error writing to the SFTP server: {exc.__class__.__name__}"
        return 201, ""

    def _csv(self, rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "OK"
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(list(rows[0]))
        writer.writerows([_shown(v) for v in row.values()] for row in rows)
        return out.getvalue()

    def _upload(self, host: str, port: int, login: tuple[str, str], path: str, text: str) -> None:
        data = text.encode()
        asyncio.run(_put(host, port, login, path, data))
        if self.written is not None:
            self.written.append((f"{host}{path}", len(data)))


def _shown(value: Any) -> Any:
    # As MySQL shows them: ShortQuery's "T" date-times with a space, NULL spelled out.
    if value is None:
        return "NULL"
    if isinstance(value, str) and len(value) == 19 and value[10] == "T" and value[4] == "-":
        return f"{value[:10]} {value[11:]}"
    return value


async def _put(host: str, port: int, login: tuple[str, str], path: str, data: bytes) -> None:
    async with (
        asyncssh.connect(
            host,
            port,
            username=login[0],
            password=login[1],
            known_hosts=None,
            client_keys=None,
            agent_path=None,
            preferred_auth="password",
        ) as conn,
        conn.start_sftp_client() as sftp,
        sftp.open(path, "wb") as remote,
    ):
        await remote.write(data)
