"""What each mirrored API resource is: where to fetch it, its key, its cursor, its columns.

Adding a resource is its table's entry in `etl.catalog.tables` (Open Dental's own table, from
the schema file), a migration, and one `Resource(...)` here: sync, mapping and loading read
everything they need from the declaration. A JSON key names its column as Open Dental spells it
(matched case-insensitively where it is not ambiguous, as `provColor` for ProvColor).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Column, Numeric, Table

from etl.catalog.enums import ENUM_NAMES
from etl.catalog.reading import DateWindow, FanOut
from etl.catalog.tables import DERIVED_FLAGS as _DERIVED_FLAGS
from etl.catalog.tables import MIRRORED, TABLES
from etl.errors import ConfigError

#: Columns that odmirror fills itself; never read from the API.
OWN_COLUMNS = ("odmirror_extra", "odmirror_synced_at", "odmirror_gone_at")


@dataclass(frozen=True)
class FieldSpec:
    """How one API key becomes one column.

    Attributes:
        key: the JSON key the API sends.
        column: the mirror column.
        kind: one of int, text, enum, bool, date, datetime, decimal, double, time, timespan,
            interval (Open Dental's packed years/months/weeks/days).
        enum: for kind enum, the names in code order.
        bounds: for kind int, the whole numbers Open Dental's column holds, [low, high): a
            value outside is undecodable (NULL, kept in odmirror_extra), never wrapped or a
            page's failure (a Byte is 0-255, an Int 32 bits, a Long 64).
    """

    key: str
    column: str
    kind: str
    enum: tuple[str, ...] = ()
    bounds: tuple[int, int] = (-(2**63), 2**63)


@dataclass(frozen=True)
class DeletionFeed:
    """Where the API lists rows that were hard-deleted, so the mirror can drop them too.

    Attributes:
        path: the list endpoint of the history rows.
        params: filters that select deletions only.
        key: the JSON key, in a history row, of the deleted row's primary key.
        stamp: the JSON key of the history row's time (a mirror row changed after it stays).
        every: the feed, listed whole, is read at most this often (`sync.whole_tables_every`).
    """

    path: str
    params: dict[str, str]
    key: str
    stamp: str | None = None
    every: dt.timedelta | None = None


@dataclass(frozen=True)
class Resource:
    """An API list endpoint mirrored into one table.

    Attributes:
        name: the resource's name in odmirror (state, logs, CLI).
        path: the list endpoint under the base URL.
        table_name: the mirror table (Open Dental's table, declared in etl.catalog.tables).
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
        fan_out: read once per parent key (etl.catalog.reading.FanOut).
        window: read over a window of dates (etl.catalog.reading.DateWindow).
        every: the resource is read at most this often: a run before it is due skips it
            (whole pulls of big tables that change little, on their own cadence).
        passes_every: the status passes (those beside the plain list) are read at most this
            often, each from where it was last read (`sync.whole_tables_every`, without SQL:
            etl.sync.pass_cadence).
        aliases: (JSON key, Open Dental column) pairs for keys the endpoint sends under
            another name than its column (userods `ProviderNum` is ProvNum): the key fills that
            column, decoded as the column's own key would be.
    """

    name: str
    path: str
    table_name: str
    key: str
    cursor_param: str | None
    cursor_field: str | None
    passes: tuple[dict[str, str], ...] = field(default=({},))
    deletions: DeletionFeed | None = None
    cursor_from_rows: bool = False
    mark_missing: bool = False
    fan_out: FanOut | None = None
    window: DateWindow | None = None
    every: dt.timedelta | None = None
    passes_every: dt.timedelta | None = None
    aliases: tuple[tuple[str, str], ...] = ()

    @property
    def table(self) -> Table:
        """The mirror table."""
        return TABLES[self.table_name]

    @cached_property
    def fields(self) -> tuple[FieldSpec, ...]:
        """One FieldSpec per column the API may fill: Open Dental's columns, then derived text."""
        return tuple(
            _spec(column) for column in self.table.columns if column.name not in OWN_COLUMNS
        )

    @cached_property
    def by_key(self) -> KeyLookup:
        """The FieldSpecs by JSON key (exact, else case-insensitive where unambiguous)."""
        by_column = {spec.key: spec for spec in self.fields}
        renamed = (dataclasses.replace(by_column[column], key=key) for key, column in self.aliases)
        return KeyLookup((*self.fields, *renamed))

    @cached_property
    def columns_not_sent(self) -> tuple[str, ...]:
        """Open Dental's columns the endpoint does not send: NULL in the mirror (not known)."""
        sent = {key.lower() for key in MIRRORED[self.table_name].sent}
        sent |= {column.lower() for _key, column in self.aliases}
        return tuple(
            column.name
            for column in self.table.columns
            if "od_storage" in column.info and column.name not in sent
        )

    @cached_property
    def key_column(self) -> str:
        """The mirror column that holds the primary key."""
        return next(f.column for f in self.fields if f.key == self.key)

    @cached_property
    def cursor_column(self) -> str | None:
        """The mirror column that holds the row's change time, if the resource has one."""
        return next((f.column for f in self.fields if f.key == self.cursor_field), None)


class KeyLookup(Mapping[str, FieldSpec]):
    """FieldSpecs by JSON key: the exact key first, else the one column it names in any case.

    The API spells some keys unlike the column (`provColor` for ProvColor); a key whose lower
    case fits two fields (appointments send `Confirmed`, a DefNum, and `confirmed`, its name)
    is only ever matched exactly.
    """

    def __init__(self, specs: Iterable[FieldSpec]) -> None:
        self._exact = {spec.key: spec for spec in specs}
        folded: dict[str, list[FieldSpec]] = {}
        for spec in self._exact.values():
            folded.setdefault(spec.key.lower(), []).append(spec)
        self._folded = {k: v[0] for k, v in folded.items() if len(v) == 1}

    def __getitem__(self, key: str) -> FieldSpec:
        spec = self._exact.get(key)
        if spec is None and isinstance(key, str):
            spec = self._folded.get(key.lower())
        if spec is None:
            raise KeyError(key)
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(self._exact)

    def __len__(self) -> int:
        return len(self._exact)


_KINDS = {
    "Long": "int", "Int": "int", "Byte": "int", "Interval": "interval", "Bool": "bool",
    "Double": "double", "Float": "double", "String": "text", "EnumAsString": "text",
    "Date": "date", "DateT": "datetime", "Time": "time", "TSpan": "timespan",
}  # fmt: skip


#: The whole numbers Open Dental's MySQL columns hold, by storage (Long: BIGINT, the default).
#: Bool is a signed tinyint (a query may read a 2 there); Byte an unsigned one; Int an int.
_BOUNDS = {"Int": (-(2**31), 2**31), "Byte": (0, 2**8), "Bool": (-(2**7), 2**7)}


def _spec(column: Column[Any]) -> FieldSpec:
    derived = column.info.get("derived_from")
    if derived is not None:
        kind = "text" if column.name not in _DERIVED_FLAGS else "bool"
        return FieldSpec(derived, column.name, kind)
    storage, names = column.info["od_storage"], ENUM_NAMES.get(column.info.get("od_enum") or "")
    kind = _KINDS[storage]
    if names and kind == "int":
        kind = "enum"
    elif kind == "double" and isinstance(column.type, Numeric) and column.type.asdecimal:
        kind = "decimal"  # an amount the mirror keeps exact (etl.catalog.opendental)
    bounds = _BOUNDS.get(storage, FieldSpec.bounds)
    return FieldSpec(column.info["od_name"], column.name, kind, names or (), bounds)


PATIENTS = Resource(
    name="patients",
    path="patients/Simple",
    table_name="patient",
    key="PatNum",
    cursor_param="DateTStamp",
    cursor_field="DateTStamp",
    passes=({}, {"PatStatus": "Deleted"}, {"PatStatus": "Archived"}),
)


def _stamped(name: str, path: str, table: str, key: str, cursor: str) -> Resource:
    # The vendor's examples show serverDateTime on the DateTStamp lists only.
    from_rows = cursor == "SecDateTEdit"
    return Resource(name, path, table, key, cursor, cursor, cursor_from_rows=from_rows)


def _whole(name: str, path: str, table: str, key: str) -> Resource:
    return Resource(name, path, table, key, None, None, mark_missing=True)


APPOINTMENTS = Resource(
    name="appointments",
    path="appointments",
    table_name="appointment",
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

# Money, insurance, recalls and schedules (issue 21). Parents come before their fan-outs: a run
# reads them in this order. Freshness per resource: README "What each table's freshness is".
_DAY = dt.timedelta(days=1)


def _fan(name: str, table: str, key: str, fan_out: FanOut) -> Resource:
    return Resource(name, name, table, key, None, None, fan_out=fan_out)


def _daily(name: str, table: str, key: str) -> Resource:
    # Plan, fee and user lists change little: one whole pull a day (`odmirror sync --full`
    # reads them at once).
    return Resource(name, name, table, key, None, None, mark_missing=True, every=_DAY)


def _changed(name: str, table: str, key: str) -> Resource:
    # DateTStamp filters of 25.1+ (commlogs, refattaches): no serverDateTime in the examples.
    return Resource(name, name, table, key, "DateTStamp", "DateTStamp", cursor_from_rows=True)


# A child can change while its parent's row does not: every parent is read again within a
# week, a slice each run (etl.sync.sweep), besides the parents that changed and, for patients,
# those with new or changed procedures, payments, splits or claim rows in the mirror.
_ACCOUNT_ACTIVITY = (("procedurelog", "patnum"), ("payment", "patnum"), ("paysplit", "patnum"),
                     ("claimproc", "patnum"))  # fmt: skip
_BY_PATIENT = FanOut("PatNum", "patient", "patnum", "datetstamp", all_parents_every=7 * _DAY,
                     activity=_ACCOUNT_ACTIVITY)  # fmt: skip
_BY_TREATPLAN = FanOut(
    "TreatPlanNum", "treatplan", "treatplannum", "secdatetedit", all_parents_every=7 * _DAY
)
MONEY: tuple[Resource, ...] = (
    _whole("claimprocs", "claimprocs", "claimproc", "ClaimProcNum"),
    _whole("paysplits", "paysplits", "paysplit", "SplitNum"),
    # DateEntry is the entry date: a trailing window re-reads recent payments (edits to older
    # ones need query mode's SecDateTEdit).
    Resource("payments", "payments", "payment", "PayNum", None, None,
             window=DateWindow("DateEntry", None, back=30 * _DAY, date_field="DateEntry")),
    _fan("adjustments", "adjustment", "AdjNum", _BY_PATIENT),
    _daily("insplans", "insplan", "PlanNum"),
    _daily("carriers", "carrier", "CarrierNum"),
    _whole("patplans", "patplans", "patplan", "PatPlanNum"),
    _daily("benefits", "benefit", "BenefitNum"),
    _whole("recalls", "recalls", "recall", "RecallNum"),
    _daily("recalltypes", "recalltype", "RecallTypeNum"),
    Resource("schedules", "schedules", "schedule", "ScheduleNum", None, None,
             window=DateWindow("dateStart", "dateEnd", back=7 * _DAY, first_back=730 * _DAY,
                               ahead=120 * _DAY, step=None, date_field="SchedDate")),
    _whole("scheduleops", "scheduleops", "scheduleop", "ScheduleOpNum"),
    _daily("feescheds", "feesched", "FeeSchedNum"),
    _daily("fees", "fee", "FeeNum"),
    Resource("userods", "userods", "userod", "UserNum", None, None,
             passes=({"includeHidden": "true"},), mark_missing=True, every=_DAY,
             aliases=(("ProviderNum", "ProvNum"),)),
    _daily("referrals", "referral", "ReferralNum"),
    Resource("refattaches", "refattaches", "refattach", "RefAttachNum", "DateTStamp",
             "DateTStamp", cursor_from_rows=True, aliases=(("ReferralType", "RefType"),)),
    _changed("commlogs", "commlog", "CommlogNum"),
    _whole("claimtrackings", "claimtrackings", "claimtracking", "ClaimTrackingNum"),
    _fan("payplans", "payplan", "PayPlanNum", _BY_PATIENT),
    _fan("payplancharges", "payplancharge", "PayPlanChargeNum",
         FanOut("PayPlanNum", "payplan", "payplannum")),
    _fan("proctps", "proctp", "ProcTPNum", _BY_TREATPLAN),
    _fan("treatplanattaches", "treatplanattach", "TreatPlanAttachNum", _BY_TREATPLAN),
    _whole("payplanlinks", "payplanlinks", "payplanlink", "PayPlanLinkNum"),
    _daily("preferences", "preference", "PrefNum"),
)  # fmt: skip

RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        PATIENTS,
        APPOINTMENTS,
        _stamped("procedurelogs", "procedurelogs", "procedurelog", "ProcNum", "DateTStamp"),
        _stamped("providers", "providers", "provider", "ProvNum", "DateTStamp"),
        _stamped("procedurecodes", "procedurecodes", "procedurecode", "CodeNum", "DateTStamp"),
        _stamped("claims", "claims", "claim", "ClaimNum", "SecDateTEdit"),
        _stamped(
            "claimpayments", "claimpayments", "claimpayment", "ClaimPaymentNum", "SecDateTEdit"
        ),
        _stamped("inssubs", "inssubs", "inssub", "InsSubNum", "SecDateTEdit"),
        _stamped("treatplans", "treatplans", "treatplan", "TreatPlanNum", "SecDateTEdit"),
        _whole("clinics", "clinics", "clinic", "ClinicNum"),
        _whole("definitions", "definitions", "definition", "DefNum"),
        _whole("operatories", "operatories", "operatory", "OperatoryNum"),
        *MONEY,
    )
}
"""Every resource odmirror can mirror, by name; `sync.resources` in the config picks some."""


def select_resources(names: Iterable[str], allow_empty: bool = False) -> list[Resource]:
    """The resources by name, in declaration order; "a,b" counts as two names.

    Args:
        names: resource names.
        allow_empty: no name is no resource (a config that reads only `sync.tables`).

    Raises:
        ConfigError: a name is not a resource odmirror knows, or none is named (unless allowed).
    """
    wanted = {part.strip() for name in names for part in name.split(",") if part.strip()}
    unknown = sorted(wanted - RESOURCES.keys())
    if unknown:
        raise ConfigError(
            f"unknown resource {', '.join(map(repr, unknown))} (known: {', '.join(RESOURCES)})"
        )
    if not wanted and not allow_empty:
        raise ConfigError("no resource to sync: name at least one")
    return [r for name, r in RESOURCES.items() if name in wanted]
