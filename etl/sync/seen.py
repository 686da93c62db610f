"""What a run has seen: the keys it saved (about one bit each), the statuses the list showed.

A run must know whether a row comes again (the overlap, a second pass, the closing change
check) to count it once, and whether a page brought anything new (a server that ignores
Offset sends the same page forever). A set of a million keys costs some 60 MB; API keys are
auto-increment integers, so a bitmap in blocks costs 125 kB for a million and stays flat in
the run's memory. Keys that are not integers (no resource has any yet) fall back to a set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

_BLOCK_BITS = 1 << 16  # 8 kB a block; a block is made when one of its keys is first seen
_SET_BYTE = re.compile(rb"[^\x00]")
_BITS = tuple(tuple(bit for bit in range(8) if byte >> bit & 1) for byte in range(256))


class SeenKeys:
    """A set of keys that only grows: add, membership, size and iteration (integers in order)."""

    def __init__(self) -> None:
        self._blocks: dict[int, bytearray] = {}
        self._others: set[Any] = set()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Any]:
        for number, block in sorted(self._blocks.items()):
            first = number * _BLOCK_BITS
            # The regex finds the bytes with a key in C: a block of 65,536 keys holds few.
            for found in _SET_BYTE.finditer(block):
                at = found.start()
                for bit in _BITS[block[at]]:
                    yield first + at * 8 + bit
        yield from self._others

    def __contains__(self, key: object) -> bool:
        if not _is_index(key):
            return key in self._others
        assert isinstance(key, int)
        block = self._blocks.get(key // _BLOCK_BITS)
        bit = key % _BLOCK_BITS
        return block is not None and bool(block[bit >> 3] & (1 << (bit & 7)))

    def add_all(self, keys: Iterable[Any]) -> set[Any]:
        """Add keys; return those that were there before (one call a page, not two a key)."""
        again: set[Any] = set()
        blocks, size, added = self._blocks, _BLOCK_BITS, 0
        for key in keys:
            if type(key) is not int or key < 0:  # not an index (bool is not int here)
                if key in self._others:
                    again.add(key)
                else:
                    self._others.add(key)
                    added += 1
                continue
            block = blocks.get(key // size)
            if block is None:
                block = blocks[key // size] = bytearray(size // 8)
            bit = key % size
            mask = 1 << (bit & 7)
            if block[bit >> 3] & mask:
                again.add(key)
            else:
                block[bit >> 3] |= mask
                added += 1
        self._count += added
        return again

    def add(self, key: Any) -> bool:
        """Add a key; True if it was not there before."""
        return not self.add_all((key,))


def _is_index(key: object) -> bool:
    # As add_all tells them: a plain non-negative int (not bool, not a subclass).
    return type(key) is int and key >= 0


def filters_text(filters: dict[str, str]) -> str:
    """A pass's filters as the run's notes and the settings name them: `PatStatus=Deleted`."""
    return "&".join(f"{k}={v}" for k, v in filters.items())


class ShownValues:
    """Which values of the status passes' filters (PatStatus=Deleted, ...) the plain list showed.

    A pass for rows the plain list may hide is a wasted request, or thousands, once the plain
    list has shown such a row: then it hides none of them.

    Args:
        passes: the resource's passes; {} is the plain list.
    """

    def __init__(self, passes: tuple[dict[str, str], ...]) -> None:
        self.passes = passes
        self._wanted = {item for f in passes for item in f.items()}
        self._shown: set[tuple[str, str]] = set()
        self._deferred: list[dict[str, str]] = []

    def note(self, records: list[Any]) -> None:
        """Look at a page of the plain list."""
        for item in self._wanted - self._shown:  # one pass a value not yet shown, not a row
            key, value = item
            if value in [r.get(key) for r in records if isinstance(r, dict)]:
                self._shown.add(item)

    def vouch(self, filters: dict[str, str]) -> None:
        """Take a pass as shown: the change probe found nothing it would return (not read)."""
        self._shown.update(filters.items())

    def defer(self, filters: dict[str, str]) -> None:
        """Leave a pass out of this run: not due on its cadence (etl.sync.pass_cadence)."""
        self._deferred.append(filters)

    def deferred(self, filters: dict[str, str]) -> bool:
        """Whether a pass was left out of this run."""
        return filters in self._deferred

    def needed(self) -> Iterator[dict[str, str]]:
        """The passes still worth a request, the plain list first."""
        for filters in self.passes:
            if filters in self._deferred:
                continue
            if not filters or not set(filters.items()) <= self._shown:
                yield filters
