"""What each mirrored API resource is: where to fetch it, its key, its cursor, its columns.

Adding a resource is a model (`models.py` or `etl/tables/`), a migration, and one
`Resource(...)` here: sync, mapping and loading read everything they need from the declaration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Numeric, Table, Text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.sql.type_api import TypeEngine

from etl.catalog.base import Base
from etl.catalog.tables import (
    Appointment,
    Claim,
    ClaimPayment,
    Clinic,
    Definition,
    InsSub,
    Operatory,
    ProcedureCode,
    ProcedureLog,
    Provider,
    TreatPlan,
)
from etl.catalog.tables.patient import Patient
from etl.errors import ConfigError

#: Columns that odmirror fills itself; never read from the API.
OWN_COLUMNS = ("odmirror_extra", "odmirror_synced_at", "odmirror_gone_at")


@dataclass(frozen=True)
class FieldSpec:
    """How one API key becomes one column.

    Attributes:
        key: the JSON key the API sends.
        column: the mirror column.
        kind: one of int, text, enum, bool, date, datetime, decimal.
        enum: for kind enum, the names in code order.
    """

    key: str
    column: str
    kind: str
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeletionFeed:
    """Where the API lists rows that were hard-deleted, so the mirror can drop them too.

    Attributes:
        path: the list endpoint of the history rows.
        params: filters that select deletions only.
        key: the JSON key, in a history row, of the deleted row's primary key.
        stamp: the JSON key of the history row's time (a mirror row changed after it stays).
    """

    path: str
    params: dict[str, str]
    key: str
    stamp: str | None = None


@dataclass(frozen=True)
class Resource:
    """An API list endpoint mirrored into one table.

    Attributes:
        name: the resource's name in odmirror (state, logs, CLI).
        path: the list endpoint under the base URL.
        model: the declarative model of the mirror table.
        key: the JSON key of the primary key.
        cursor_param: the query parameter that asks for rows changed since a server time.
        cursor_field: the JSON key of the row's own change time (guards against stale writes).
        passes: extra filters, one list pull each per run. Rows the default pull may omit
            (the vendor does not say whether Simple returns Deleted patients) get their own pass.
        deletions: where hard deletions are listed, if the table has them.
        cursor_from_rows: the endpoint sends no serverDateTime (Claims, InsSubs, ... in the
            vendor's examples): the newest change time among the rows read is the cursor.
        mark_missing: for a table pulled whole (no cursor_param), stamp `odmirror_gone_at` on
            rows a complete pull no longer returns (and clear it when they come back). They are
            marked, not deleted: Clinics GET omits hidden clinics, which old rows still name.
    """

    name: str
    path: str
    model: type[Base]
    key: str
    cursor_param: str | None
    cursor_field: str | None
    passes: tuple[dict[str, str], ...] = field(default=({},))
    deletions: DeletionFeed | None = None
    cursor_from_rows: bool = False
    mark_missing: bool = False

    @property
    def table(self) -> Table:
        """The mirror table."""
        table = self.model.__table__
        assert isinstance(table, Table)
        return table

    @cached_property
    def fields(self) -> tuple[FieldSpec, ...]:
        """One FieldSpec per mirrored column: the model's attribute names are the JSON keys."""
        specs = []
        for attr in sa_inspect(self.model).column_attrs:
            column = attr.columns[0]
            if column.name in OWN_COLUMNS:
                continue
            enum = tuple(column.info.get("enum", ()))
            specs.append(FieldSpec(attr.key, column.name, _kind(column.type, bool(enum)), enum))
        return tuple(specs)

    @cached_property
    def by_key(self) -> dict[str, FieldSpec]:
        """The FieldSpecs by JSON key."""
        return {spec.key: spec for spec in self.fields}

    @cached_property
    def key_column(self) -> str:
        """The mirror column that holds the primary key."""
        return next(f.column for f in self.fields if f.key == self.key)

    @cached_property
    def cursor_column(self) -> str | None:
        """The mirror column that holds the row's change time, if the resource has one."""
        return next((f.column for f in self.fields if f.key == self.cursor_field), None)


def _kind(sqltype: TypeEngine[Any], is_enum: bool) -> str:
    if is_enum:
        return "enum"
    for cls, kind in ((Boolean, "bool"), (DateTime, "datetime"), (Date, "date")):
        if isinstance(sqltype, cls):
            return kind
    if isinstance(sqltype, Numeric):
        return "decimal"
    return "text" if isinstance(sqltype, Text) else "int"


PATIENTS = Resource(
    name="patients",
    path="patients/Simple",
    model=Patient,
    key="PatNum",
    cursor_param="DateTStamp",
    cursor_field="DateTStamp",
    passes=({}, {"PatStatus": "Deleted"}, {"PatStatus": "Archived"}),
)


def _stamped(name: str, path: str, model: type[Base], key: str, cursor: str) -> Resource:
    # The vendor's examples show serverDateTime on the DateTStamp lists only.
    from_rows = cursor == "SecDateTEdit"
    return Resource(name, path, model, key, cursor, cursor, cursor_from_rows=from_rows)


def _whole(name: str, path: str, model: type[Base], key: str) -> Resource:
    return Resource(name, path, model, key, None, None, mark_missing=True)


APPOINTMENTS = Resource(
    name="appointments",
    path="appointments",
    model=Appointment,
    key="AptNum",
    cursor_param="DateTStamp",
    cursor_field="DateTStamp",
    # The vendor documents no change filter on histappointments: the Deleted feed is read whole.
    deletions=DeletionFeed(
        path="histappointments",
        params={"HistApptAction": "Deleted"},
        key="AptNum",
        stamp="HistDateTStamp",
    ),
)

RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        PATIENTS,
        APPOINTMENTS,
        _stamped("procedurelogs", "procedurelogs", ProcedureLog, "ProcNum", "DateTStamp"),
        _stamped("providers", "providers", Provider, "ProvNum", "DateTStamp"),
        _stamped("procedurecodes", "procedurecodes", ProcedureCode, "CodeNum", "DateTStamp"),
        _stamped("claims", "claims", Claim, "ClaimNum", "SecDateTEdit"),
        _stamped("claimpayments", "claimpayments", ClaimPayment, "ClaimPaymentNum", "SecDateTEdit"),
        _stamped("inssubs", "inssubs", InsSub, "InsSubNum", "SecDateTEdit"),
        _stamped("treatplans", "treatplans", TreatPlan, "TreatPlanNum", "SecDateTEdit"),
        _whole("clinics", "clinics", Clinic, "ClinicNum"),
        _whole("definitions", "definitions", Definition, "DefNum"),
        _whole("operatories", "operatories", Operatory, "OperatoryNum"),
    )
}
"""Every resource odmirror can mirror, by name; `sync.resources` in the config picks some."""


def select_resources(names: Iterable[str]) -> list[Resource]:
    """The resources by name, in declaration order; "a,b" counts as two names.

    Raises:
        ConfigError: a name is not a resource odmirror knows.
    """
    wanted = {part.strip() for name in names for part in name.split(",") if part.strip()}
    unknown = sorted(wanted - RESOURCES.keys())
    if unknown:
        raise ConfigError(
            f"unknown resource {', '.join(map(repr, unknown))} (known: {', '.join(RESOURCES)})"
        )
    if not wanted:
        raise ConfigError("no resource to sync: name at least one")
    return [r for name, r in RESOURCES.items() if name in wanted]
