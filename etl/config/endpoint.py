"""Which API addresses odmirror may send the keys to: never Open Dental's servers in clear."""

from __future__ import annotations

from urllib.parse import urlsplit

#: Open Dental's own servers (Remote API); they take the keys over https only.
VENDOR_DOMAIN = "opendental.com"


def plain_http_to_vendor(url: str) -> bool:
    """Whether `url` is plain http to Open Dental's servers, where the keys would travel in clear.

    Plain http stays allowed for any other host: the API Service on an office's own server
    listens on http (ports 30222 and 30223) inside the office's network.
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").rstrip(".")
    vendor = host == VENDOR_DOMAIN or host.endswith("." + VENDOR_DOMAIN)
    return parts.scheme.lower() == "http" and vendor


def refusal(key: str) -> str:
    """The one line that refuses plain http to Open Dental's servers for config key `key`."""
    return (
        f"'{key}' is plain http to Open Dental's servers, which would send the keys in clear: "
        "use https://api.opendental.com/api/v1"
    )
