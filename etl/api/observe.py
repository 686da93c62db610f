"""What this process's API sessions saw, counted for the metrics: answers and retries by status.

Counted here, beneath the metrics (etl/metrics.py reads `snapshot()` when scraped), so the API
layer needs no metrics library. Each count is kept by the session's customer key, which is
never shown: the metrics name the practice the key belongs to.
"""

from __future__ import annotations

import threading
from collections import Counter

#: One request's end: its final answer (or "error": no answer), after any retries.
REQUEST = "request"
#: One try that failed and was tried again.
RETRY = "retry"
_LOCK = threading.Lock()
_COUNTS: Counter[tuple[str, str, str]] = Counter()


def count(customer_key: str, kind: str, status: int | str | None) -> None:
    """Count one request or retry of the session with this key; status None is "error"."""
    with _LOCK:
        _COUNTS[(customer_key, kind, "error" if status is None else str(status))] += 1


def snapshot() -> dict[tuple[str, str, str], int]:
    """Every count so far, by (customer key, REQUEST or RETRY, status)."""
    with _LOCK:
        return dict(_COUNTS)
