"""The errors odmirror reports to a user: each one becomes a one-line message and an exit code."""

from __future__ import annotations


class OdMirrorError(Exception):
    """An error with a message fit to show a user as it is (no traceback, no secrets)."""

    exit_code = 1


class ConfigError(OdMirrorError):
    """The configuration file is missing, unreadable or invalid."""

    exit_code = 2


class ApiError(OdMirrorError):
    """The Open Dental API refused a request or could not be reached."""


class AuthError(ApiError):
    """401: a key is invalid, unassigned or disabled, or lacks the permission."""


class OfficeUnreachableError(ApiError):
    """400 saying the office, its server or its eConnector cannot be reached."""


class DatabaseError(OdMirrorError):
    """The mirror database cannot be reached or is not in the expected state."""


class SchemaError(DatabaseError):
    """The mirror schema is missing or older than this version of odmirror."""
