"""Small helpers for the words odmirror prints: counts with their nouns."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """The count with its noun, singular for one: `1 request`, `2 requests`, `0 rows`.

    Args:
        count: how many.
        noun: the singular.
        many: the plural when it is not the noun plus "s".
    """
    return f"{count} {noun if count == 1 else many or noun + 's'}"
