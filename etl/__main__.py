"""`python -m etl` works like `odmirror`."""

from __future__ import annotations

from etl.cli import entry

entry()
