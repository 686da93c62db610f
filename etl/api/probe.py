"""What one request tells of an Open Dental API: its mode, its clock, whether queries are allowed.

For `odmirror check`: one GET of the patient list (one row) proves the address and the keys
and carries the server's clock (`serverDateTime`); one PUT of `SELECT 1` to ShortQuery says
whether the key may run SQL queries (401: not allowed). The API does not tell its version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from etl.api.client import ApiClient
from etl.api.errors import explanation, transport_error
from etl.config.settings import ApiSettings

#: The throttle tiers of the Remote API: seconds between requests, and who gets them.
THROTTLE_TIERS = ((5.0, "free Read All"), (1.0, "a paid permission"), (0.5, "Enterprise"))
REMOTE_HOST = "api.opendental.com"
#: A check's request waits at most this long (or api.timeout, if shorter).
PROBE_TIMEOUT = 20.0
_PORTS = {30223: "API Service", 30222: "Local API"}


@dataclass(frozen=True)
class ApiAnswer:
    """What the probe learnt.

    Attributes:
        mode: Remote, API Service, Local API, or "unknown mode" (by the address).
        server_time: the office server's clock (its local time), None if no row carried it.
        queries: "allowed", "not allowed (401)" or what else the API said.
    """

    mode: str
    server_time: dt.datetime | None
    queries: str


def mode_of(base_url: str) -> str:
    """The API's mode, by its address: Remote, API Service (port 30223), Local API (30222)."""
    parts = urlsplit(base_url)
    if parts.hostname == REMOTE_HOST:
        return "Remote"
    return _PORTS.get(parts.port or 0, "unknown mode")


def throttle_text(settings: ApiSettings) -> tuple[bool, str]:
    """Whether `api.min_request_interval` suits the mode, and a phrase saying what it means."""
    interval, remote = settings.min_request_interval, mode_of(settings.base_url) == "Remote"
    if not remote:
        paced = "not paced" if interval == 0 else f"paced at one request per {interval:g} s"
        return True, f"{paced} (only the Remote API is throttled)"
    for seconds, who in THROTTLE_TIERS:
        if interval >= seconds:
            return True, f"one request per {interval:g} s: within the tier of {who}"
    fastest = THROTTLE_TIERS[-1]
    return False, (
        f"api.min_request_interval {interval:g} s is faster than the Remote API allows any key "
        f"({fastest[0]:g} s, {fastest[1]}): set 5.0, 1.0 or 0.5 as your permission allows"
    )


def probe(settings: ApiSettings) -> ApiAnswer:
    """Ask the API once for a patient and once for `SELECT 1`; no retries, short timeouts.

    Raises:
        ApiError: the API cannot be reached or refused the keys (one line, what to fix).
    """
    quick = dataclasses.replace(
        settings, max_retries=0, timeout=min(settings.timeout, PROBE_TIMEOUT)
    )
    with ApiClient(quick) as client:
        rows = client.get("patients/Simple", {"Limit": 1})
        server_time = _server_time(rows)
        time.sleep(settings.min_request_interval)  # the throttle counts the PUT too
        return ApiAnswer(mode_of(settings.base_url), server_time, _queries(client, quick))


def _server_time(rows: object) -> dt.datetime | None:
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        return None
    stamp = rows[0].get("serverDateTime")
    try:
        return dt.datetime.strptime(str(stamp), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _queries(client: ApiClient, settings: ApiSettings) -> str:
    url = f"{settings.base_url.rstrip('/')}/queries/ShortQuery"
    try:
        response = client.session.put(
            url, json={"SqlCommand": "SELECT 1"}, params={"Limit": 1}, timeout=settings.timeout
        )
    except requests.RequestException as exc:
        return f"not known: {transport_error(exc, settings)}"
    secrets = (settings.developer_key, settings.customer_key)
    if response.status_code == 200:
        return "allowed"
    if response.status_code == 401:
        return "not allowed (401: the key lacks the permission)"
    return f"not known: ShortQuery answered {response.status_code}{explanation(response, secrets)}"
