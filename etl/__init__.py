"""odmirror: keep a SQL mirror of an Open Dental practice's data."""

from __future__ import annotations

__version__ = "0.1.0"
