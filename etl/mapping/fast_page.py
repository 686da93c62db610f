"""Map a page of records column by column: the plain records without a Python call per value.

`map_record` takes one record and every oddity, fifty decoder calls a row. Most pages are plain:
every record has the keys of the first, in its order, and every value already has its column's
type, or is an enum name or a date seen before. `map_page` decodes such records one column at a
time, one comprehension per column kind, into a `Block` that holds, for each record, the very
row `map_record` gives it. It leaves to `map_record` the others: a value off the short path, an
unknown key, a key the PHI policy hashes into extras, a key order of its own, no usable key.
"""

from __future__ import annotations

from itertools import chain
from typing import Any, NamedTuple

from etl.catalog.resources import Resource
from etl.mapping.block import Block, blocks_of, newest_per_key
from etl.mapping.fast_columns import SLOW, SLOW_MADE, Column, column_decoder
from etl.mapping.fast_plain import Dates, only
from etl.mapping.pii import DROP, HMAC, PiiPolicy
from etl.mapping.record import NOT_DATA

_Plan = tuple[tuple[str, ...], list[int], list[Column], int]
_plans: dict[tuple[int, tuple[str, ...], int], tuple[Resource, PiiPolicy, _Plan | None]] = {}


class MappedPage(NamedTuple):
    """A page mapped by the short path.

    Attributes:
        block: the rows of the records it took, in page order (None if it took none), with a
            place kept for each record of the same layout that map_record must map.
        at: for each record, the index of its row in `block`, or None: map_record's record.
        holes: for each record of the block's layout that map_record must map, its place.
    """

    block: Block | None
    at: list[int | None]
    holes: dict[int, int]

    def row(self, index: int) -> dict[str, Any] | None:
        """The row of record `index` as a dict, or None if the short path did not take it."""
        at = self.at[index]
        if at is None or self.block is None:
            return None
        return {n: v[at] for n, v in zip(self.block.columns, self.block.values, strict=True)}

    def blocks(self, others: dict[int, dict[str, Any]], key: str, guard: str | None) -> list[Block]:
        """The page's rows as blocks, with one row per key as `newest_per_key` keeps it.

        Fills the block's places with the rows map_record gave (once: the block changes).

        Args:
            others: the rows map_record gave the other records, by record index.
            key: the primary key column.
            guard: the change time column, if any.
        """
        block = self.block
        keys = [r[key] for r in others.values()]
        if block is not None and self.holes:
            places = set(self.holes.values())
            keys += (k for at, k in enumerate(block.column(key)) if at not in places)
        elif block is not None:  # most pages: no place kept, the block's keys as they are
            keys += block.column(key)
        if len(set(keys)) < len(keys):
            # A key twice in one page (rare): which row wins depends on the page's order.
            ordered = (others.get(i) if at is None else self.row(i) for i, at in enumerate(self.at))
            return blocks_of(newest_per_key([r for r in ordered if r is not None], key, guard))
        if block is None:
            return blocks_of(others.values())
        rest = {i: row for i, row in others.items() if not _fill(block, self.holes.get(i), row)}
        empty = {self.holes[i] for i in self.holes.keys() & rest.keys()}
        empty.update(at for i, at in self.holes.items() if i not in others)  # refused
        return blocks_of(rest.values(), into=[block.without(empty)] if empty else [block])


def _fill(block: Block, at: int | None, row: dict[str, Any]) -> bool:
    if at is None or len(row) != len(block.columns) or not all(c in row for c in block.columns):
        return False
    block.put(at, row)
    return True


def map_page(resource: Resource, records: list[Any], policy: PiiPolicy) -> MappedPage:
    """The rows `map_record(resource, record, policy).row` gives the plain records, as a block.

    The records it does not take (`at` is None for them) need `map_record`, which also says
    what it set aside or why it refuses the record.
    """
    nothing = MappedPage(None, [None] * len(records), {})
    first = records[0] if records else None
    if type(first) is not dict or not first:
        return nothing
    layout = tuple(first)
    plan = _plan_for(resource, layout, policy)
    if plan is None:
        return nothing
    columns, positions, decoders, key_at = plan
    chosen = _same_layout(records, layout)
    plain = records if len(chosen) == len(records) else [records[i] for i in chosen]
    # Every chosen record has the keys of the layout in its order: its values line up, and a
    # column is every len(layout)-th value of them all, from its position (a slice in C).
    every = list(chain.from_iterable(map(dict.values, plain)))
    values = [every[position :: len(layout)] for position in positions]
    mark = next(SLOW_MADE)
    decoded = [decode(col) for decode, col in zip(decoders, values, strict=True)]
    keys = decoded[key_at]
    slow = set() if only(keys, int) and min(keys) > 0 else _unusable(keys)
    if next(SLOW_MADE) != mark + 1:  # some decoder gave up on a value (here or on a thread)
        for column in decoded:
            if SLOW in column:
                slow.update(i for i, value in enumerate(column) if value is SLOW)
    if len(slow) == len(chosen):
        return nothing
    at: list[int | None]
    if type(chosen) is range:  # every record: record i is row i
        at = list(chosen)
    else:
        at = [None] * len(records)
        for row, index in enumerate(chosen):
            at[index] = row
    holes = {chosen[row]: row for row in slow}
    for index in holes:
        at[index] = None
    # Date columns whose every text is its value's isoformat: the writer may send the text.
    texts = {n: c.texts for n, c in zip(columns[:-1], decoded, strict=True) if type(c) is Dates}
    return MappedPage(Block(columns, [*decoded, [None] * len(chosen)], texts), at, holes)


def _same_layout(records: list[Any], layout: tuple[str, ...]) -> list[int] | range:
    """The positions of the records that are dicts with exactly these keys in this order."""
    # Most pages: every record is; one comparison of all their keys in a row with the layout
    # repeated says so without a tuple, a comparison and a branch in Python a record. (No key
    # comes twice in a dict, nor in the layout: no record can hold more keys than the layout,
    # so every record holds exactly its keys, in order.)
    every = set(map(type, records)) == {dict}
    if every and list(chain.from_iterable(records)) == list(layout) * len(records):
        return range(len(records))
    return [i for i, r in enumerate(records) if type(r) is dict and tuple(r) == layout]


def _plan_for(resource: Resource, layout: tuple[str, ...], policy: PiiPolicy) -> _Plan | None:
    cache_key = (id(resource), layout, id(policy))
    known = _plans.get(cache_key)
    if known is None or known[0] is not resource or known[1] is not policy:
        if len(_plans) >= 64:
            _plans.clear()
        known = _plans[cache_key] = (resource, policy, _build(resource, layout, policy))
    return known[2]


def _build(resource: Resource, layout: tuple[str, ...], policy: PiiPolicy) -> _Plan | None:
    positions, columns, decoders = [], [], []
    for position, key in enumerate(layout):
        if key in NOT_DATA:
            continue
        spec = resource.by_key.get(key)
        action = policy.action(key)
        if action == DROP and spec is None:
            continue
        if spec is None or (action == HMAC and spec.kind != "text"):
            return None  # the value goes into odmirror_extra: map_record's work
        positions.append(position)
        columns.append(spec.column)
        decoders.append(column_decoder(spec, action, policy))
    if resource.key_column not in columns:
        return None
    return (*columns, "odmirror_extra"), positions, decoders, columns.index(resource.key_column)


def _unusable(keys: list[Any]) -> set[int]:
    return {i for i, key in enumerate(keys) if type(key) is not int or key <= 0}
