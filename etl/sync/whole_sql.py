"""What the run's probe asks of whole pulls (etl.sync.whole_probe): one SELECT row per table.

A table with a change column: its `COUNT(*)` and `MAX(change column)`
(etl.catalog.query_tables.change_column). A table without one (scheduleop, payplanlink): its
`COUNT(*)` and a fingerprint of its rows, `SUM(CRC32(...))` of every column the endpoint maps,
joined by `CONCAT_WS`. Captions the API derives from another table (paysplits' unearnedType:
definition.ItemName) get the same fingerprint of that table's key and caption.

The fingerprint of a row, in MySQL 5.5 SQL: `CONCAT_WS('|', c1, ..., cn, CONCAT(ISNULL(c1),
..., ISNULL(cn)))`. CONCAT_WS skips a NULL, so a value turned NULL (or back) would shift the
others into the same text; the last part, one 0 or 1 a column, says which were NULL. Any edit
of a mapped column changes its row's text and so, but for a CRC32 collision (about one in four
billion), the sum; an insert or a deletion changes the count.
"""

from __future__ import annotations

from collections.abc import Sequence

from etl.catalog.query_tables import change_column
from etl.catalog.resources import Resource
from etl.sync import change_probe

#: Where the captions the API derives come from (its key: table, key, caption column). The
#: probe fingerprints those columns: a caption renamed changes the list, not the table's stamps.
CAPTION_SOURCES = {
    "unearnedType": ("definition", "DefNum", "ItemName"),
    "operatoryType": ("definition", "DefNum", "ItemName"),
    "payType": ("definition", "DefNum", "ItemName"),  # claimpayments' (etl.sync.rows_probe)
    "payGroup": ("definition", "DefNum", "ItemName"),
    "procCode": ("procedurecode", "CodeNum", "ProcCode"),
}
#: The label's end of a table's own fingerprint (`scheduleop.*`): read as a caption's is.
ROWS = "*"


def probed(resource: Resource) -> bool:
    """Whether a resource is a whole pull the probe can vouch for (see the module's notes)."""
    plain = resource.cursor_param is None and resource.fan_out is None
    whole = plain and resource.window is None and resource.passes == ({},)
    return (
        whole and captions(resource) is not None and (stamped(resource) or bool(mapped(resource)))
    )


def stamped(resource: Resource) -> bool:
    """Whether the resource's table has a change column (else its rows are fingerprinted)."""
    return change_column(resource.table_name) is not None


def captions(resource: Resource) -> list[tuple[str, str, str]] | None:
    """The caption columns a resource's list derives (None: one the probe cannot fingerprint)."""
    found = []
    for column in resource.table.columns:
        key = column.info.get("derived_from")
        if key is not None and key not in CAPTION_SOURCES:
            return None
        if key is not None:
            found.append(CAPTION_SOURCES[key])
    return sorted(set(found))


def mapped(resource: Resource) -> list[str]:
    """Open Dental's columns the endpoint sends and the mirror maps, as the database names them."""
    not_sent = set(resource.columns_not_sent)
    return [
        str(column.info["od_name"])
        for column in resource.table.columns
        if "od_storage" in column.info and column.name not in not_sent
    ]


def prints_of(resource: Resource) -> list[str]:
    """The labels of the fingerprints that vouch for a resource: its captions', its rows'."""
    labels = [label(source) for source in captions(resource) or ()]
    if not stamped(resource):
        labels.append(f"{resource.table_name}.{ROWS}")
    return labels


def label(source: tuple[str, str, str]) -> str:
    """A caption source's label in the probe's answer (`definition.ItemName`)."""
    return f"{source[0]}.{source[2]}"


def row_text(columns: Sequence[str]) -> str:
    """A row's text over `columns` in SQL (see the module's notes; etl.sync.fan_prints too)."""
    flags = ", ".join(f"ISNULL({c})" for c in columns)
    return f"CONCAT_WS('|', {', '.join(columns)}, CONCAT({flags}))"


def fingerprint(table: str, name: str, columns: Sequence[str]) -> str:
    """The probe's row of a table's rows over `columns`: their count and CRC32 sum."""
    return f"SELECT '{name}', COUNT(*), NULL, SUM(CRC32({row_text(columns)})) FROM {table}"


def probe_sql(resources: Sequence[Resource], more: Sequence[str] = ()) -> str:
    """The probe's SELECT: the clock's row, one row per resource's table, then `more`."""
    parts = [change_probe.clock_select(), *more]
    for resource in resources:
        table, stamp = resource.table_name, change_column(resource.table_name)
        if stamp is None:
            parts.append(fingerprint(table, f"{table}.{ROWS}", mapped(resource)))
        else:
            parts.append(f"SELECT '{table}', COUNT(*), NULL, MAX({stamp}) FROM {table}")
    sources = sorted({s for r in resources for s in captions(r) or ()})
    for table, key, column in sources:
        parts.append(fingerprint(table, label((table, key, column)), (key, column)))
    return " UNION ALL ".join(parts)
