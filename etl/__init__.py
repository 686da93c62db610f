"""odmirror: keep a SQL mirror of an Open Dental practice's data."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def installed_version() -> str:
    """The version pip installed (from a wheel's or a checkout's pyproject), not a constant kept
    by hand; a checkout that was never installed says `0+unknown`."""
    from importlib import metadata

    try:
        return metadata.version("odmirror")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str) -> Any:
    # Looked up when first asked for: reading the installed metadata takes a few milliseconds.
    if name == "__version__":
        return installed_version()
    raise AttributeError(f"module 'etl' has no attribute {name!r}")
