"""Turn the API's failures into one-line messages that say what to fix, without the keys."""

from __future__ import annotations

import contextlib
import json
import re
from urllib.parse import urlsplit

import requests

from etl.api.retries import RETRY_STATUSES, attempts
from etl.config.settings import ApiSettings
from etl.errors import ApiError, AuthError, OfficeUnreachableError
from etl.outside_text import shown

# The vendor's 400 covers "office unreachable" too; its wording is not documented.
_OFFICE_DOWN = re.compile(
    r"econnector|unreachable|offline|not running|could not connect|unable to connect", re.I
)


def status_error(path: str, response: requests.Response, secrets: tuple[str, ...]) -> ApiError:
    """The error for a response with a failure status."""
    status, said = response.status_code, explanation(response, secrets)
    tries = attempts(response)
    if status == 401:
        return AuthError(
            "the API refused the keys (401): check api.developer_key and api.customer_key "
            f"(invalid, disabled, or without the permission){said}"
        )
    if status == 400 and _OFFICE_DOWN.search(said):
        return OfficeUnreachableError(
            "the office is unreachable (400): its server, network or eConnector is down; "
            f"try again when it is back{said}"
        )
    if status == 429:
        return ApiError(f"the API kept throttling us (429) after {tries} tries{said}")
    if status in RETRY_STATUSES:
        return ApiError(f"the API failed with {status} after {tries} tries{said}")
    hint = {404: "; check api.base_url", 410: "; this method is deprecated"}.get(status, "")
    return ApiError(f"the API refused GET {path} ({status}){said}{hint}")


def explanation(response: requests.Response, secrets: tuple[str, ...]) -> str:
    """ ": what the server said" (text, or a JSON string), on one line, short, keys hidden,
    control characters escaped (etl.outside_text)."""
    text = response.text.strip()
    if text.startswith('"'):
        with contextlib.suppress(ValueError):
            text = str(json.loads(text))
    text = shown(scrub(text, secrets))
    return f": {text}" if text else ""


def transport_error(exc: requests.RequestException, settings: ApiSettings) -> ApiError:
    """The error for a request that got no usable answer at all."""
    host = _host(settings.base_url)
    # After retries, requests reports a read timeout as a ConnectionError.
    if isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower():
        return ApiError(
            f"the API at {host} did not answer within {settings.timeout:g} s "
            f"({settings.max_retries + 1} tries)"
        )
    if isinstance(exc, requests.ConnectionError):
        return ApiError(f"cannot reach the API at {host}: {_reason(exc)} (check api.base_url)")
    return ApiError(f"request to the API at {host} failed: {exc.__class__.__name__}")


def overdue_error(settings: ApiSettings) -> ApiError:
    """The error for answers that did not finish within the deadline (trickled, or never sent)."""
    tries = settings.max_retries + 1
    return ApiError(
        f"the API at {_host(settings.base_url)} did not finish an answer within "
        f"{settings.response_deadline:g} s (api.response_deadline; {tries} tries)"
    )


def too_large_error(path: str, settings: ApiSettings) -> ApiError:
    """The error for an answer larger than the cap (counted decoded, while it was read)."""
    return ApiError(
        f"the API sent more than {settings.max_response_mb:g} MiB for one page of {path}: "
        "lower api.page_size, or raise api.max_response_mb if its rows are that large"
    )


def _host(url: str) -> str:
    # netloc would carry user:password@ if the base URL had them.
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.hostname or '?'}{port}"


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Hide every secret in a text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _reason(exc: requests.RequestException) -> str:
    text = str(exc).lower()
    for needle, reason in (
        ("refused", "connection refused"),
        ("name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("temporary failure in name resolution", "host name not found"),
        ("certificate", "TLS certificate rejected"),
        ("reset", "connection reset"),
        ("remotedisconnected", "connection closed without a response"),
        ("aborted", "connection closed without a response"),
    ):
        if needle in text:
            return reason
    return "connection failed"
