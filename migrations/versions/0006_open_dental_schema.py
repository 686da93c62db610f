"""open dental schema: every mirrored table becomes Open Dental 24.3's own, with its values

Each of the twelve tables is rebuilt as etl.catalog.opendental declares it: all of Open Dental's
columns in Open Dental's order (those no endpoint sends stay NULL), flags as 0/1 integers instead
of BOOLEAN, enums as INTEGER; then the derived text columns and odmirror's own, as before. The
rows are copied over, turning what the mirror used to store unlike Open Dental back into Open
Dental's values: a NULL date or date-time in a column the API sends stood for 0001-01-01 (the
old mapping stored Open Dental's "no date" as NULL; a key the API leaves out is not sent at all,
so it has no column here), and SQLite date-times lose a `.000000` suffix the first releases
wrote. The downgrade copies the rows back into the old shapes (0/1 to BOOLEAN, 0001-01-01 to
NULL) and drops the columns the old tables did not have.

The table shapes are written out here (not read from etl.catalog.tables), so that later changes
to the catalog do not change what this revision does; Open Dental 24.3's schema file is fixed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from etl.catalog.od_types import text as od_text
from etl.catalog.opendental import OD_TABLES, od_table

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAMING = {"ix": "ix_%(table_name)s_%(column_0_N_name)s", "pk": "pk_%(table_name)s"}
# table: (derived columns, derived flags, indexed columns, pulled whole)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], bool]] = {
    "patient": (("priprov_abbr", "secprov_abbr", "billingtype_name", "clinic_abbr", "site_desc"),
                (), ("patstatus", "clinicnum", "guarantor", "datetstamp"), False),
    "appointment": (("confirmed_name", "prov_abbr", "unschedstatus_name"), ("ismirrored",),
                    ("datetstamp", "provnum", "patnum", "clinicnum", "aptstatus", "aptdatetime"),
                    False),
    "procedurelog": (("priority_name", "prov_abbr", "dx_name", "code_proccode", "code_descript"),
                     (), ("procstatus", "codenum", "provnum", "datetstamp", "aptnum", "clinicnum",
                          "patnum", "procdate"), False),
    "provider": ((), (), ("datetstamp",), False),
    "procedurecode": (("proccat_name",), (), ("datetstamp",), False),
    "claim": ((), (), ("patnum", "clinicnum", "secdatetedit"), False),
    "claimpayment": (("paytype_name", "paygroup_name"), (),
                     ("checkdate", "clinicnum", "secdatetedit"), False),
    "inssub": ((), (), ("plannum", "secdatetedit", "subscriber"), False),
    "treatplan": ((), (), ("patnum", "secdatetedit"), False),
    "clinic": ((), (), (), True),
    "definition": ((), (), (), True),
    "operatory": (("operatorytype_name",), (), (), True),
}  # fmt: skip
# The columns each table had before this revision (the keys its endpoint sends), for the downgrade.
OLD_COLUMNS: dict[str, str] = {
    "patient": (
        "patnum lname fname middlei preferred patstatus gender position birthdate ssn address "
        "address2 city state zip hmphone wkphone wirelessphone guarantor email estbalance "
        "priprov secprov feesched imagefolder famfinurgnote chartnumber medicaidid baltotal "
        "employernum datefirstvisit clinicnum premed ward preferconfirmmethod "
        "prefercontactmethod preferrecallmethod language admitdate datetstamp superfamily "
        "txtmsgok secdateentry"
    ),
    "appointment": (
        "aptnum patnum aptstatus pattern confirmed timelocked op note provnum provhyg "
        "aptdatetime nextaptnum unschedstatus isnewpatient procdescript assistant clinicnum "
        "ishygiene datetstamp datetimearrived datetimeseated datetimedismissed insplan1 "
        "insplan2 datetimeaskedtoarrive appointmenttypenum secusernumentry secdatetentry "
        "priority patternsecondary itemorderplanned"
    ),
    "procedurelog": (
        "procnum patnum aptnum procdate procfee surf toothnum toothrange priority procstatus "
        "provnum dx plannedaptnum prosthesis dateoriginalprosth claimnote dateentryc "
        "clinicnum codenum unitqty baseunits datetp sitenum hidegraphics canadiantypecodes "
        "datetstamp prognosis islocked billingnote discount isdateprosthest secdateentry"
    ),
    "provider": (
        "provnum abbr lname fname mi suffix feesched specialty ssn statelicense issecondary "
        "ishidden usingtin sigonfile nationalprovid datetstamp isnotperson provstatus "
        "ishiddenreport birthdate schednote preferredname"
    ),
    "procedurecode": (
        "codenum proccode descript abbrdesc proctime proccat treatarea nobillins isprosth "
        "defaultnote ishygiene alternatecode1 medicalcode istaxed laymanterm iscanadianlab "
        "baseunits substitutioncode datetstamp drugndc revenuecodedefault provnumdefault "
        "isradiology defaultclaimnote defaulttpnote painttext areaalsotoothrange "
        "diagnosticcodes"
    ),
    "claim": (
        "claimnum patnum dateservice datesent claimstatus datereceived plannum provtreat "
        "claimfee inspayest inspayamt dedapplied isprosthesis priordate reasonunderpaid "
        "claimnote claimtype provbill accidentrelated accidentdate accidentst isortho "
        "orthoremainm orthodate patrelat plannum2 patrelat2 writeoff claimform inssubnum "
        "inssubnum2 priorauthorizationnumber orthototalm clinicnum secdatetedit"
    ),
    "claimpayment": (
        "claimpaymentnum checkdate checkamt checknum bankbranch note clinicnum depositnum "
        "carriername dateissued ispartial paytype secusernumentry secdateentry secdatetedit "
        "paygroup"
    ),
    "inssub": (
        "inssubnum plannum subscriber dateeffective dateterm subscriberid benefitnotes "
        "releaseinfo assignben subscnote secdatetedit"
    ),
    "treatplan": (
        "treatplannum patnum datetp heading note sigistopaz responsparty docnum tpstatus "
        "secusernumentry secdateentry secdatetedit usernumpresenter tptype datetsigned "
        "datetpracticesigned signaturetext signaturepracticetext"
    ),
    "clinic": (
        "clinicnum description address address2 city state zip billingaddress billingaddress2 "
        "billingcity billingstate billingzip paytoaddress paytoaddress2 paytocity paytostate "
        "paytozip phone abbr ishidden"
    ),
    "definition": ("defnum category itemorder itemname itemvalue ishidden"),
    "operatory": (
        "operatorynum opname abbrev itemorder ishidden provdentist provhygienist ishygiene "
        "clinicnum setprospective iswebsched operatorytype"
    ),
}
OWN_TIMES = ("odmirror_synced_at", "odmirror_gone_at")
_SECONDS = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
_TIMESTAMP = sa.DateTime().with_variant(
    sa.dialects.sqlite.DATETIME(storage_format=_SECONDS),  # type: ignore[no-untyped-call]
    "sqlite",
)


def _new_table(name: str) -> sa.Table:
    derived, flags, indexed, whole = TABLES[name]
    texts = {c.name.lower() for c in OD_TABLES[name] if c.storage == "String"}
    table = od_table(name, sa.MetaData(naming_convention=NAMING), indexed_text=set(indexed) & texts)
    for column in derived:
        table.append_column(sa.Column(column, od_text()))
    for column in flags:
        table.append_column(sa.Column(column, sa.Integer()))
    table.append_column(sa.Column("odmirror_extra", sa.JSON(none_as_null=True)))
    table.append_column(sa.Column("odmirror_synced_at", _TIMESTAMP))
    if whole:
        table.append_column(sa.Column("odmirror_gone_at", _TIMESTAMP))
    return table


def _storage(table: sa.Table, column: str) -> str | None:
    info = table.c[column].info
    return info.get("od_storage") or ("Bool" if column in TABLES[table.name][1] else None)


def _to_open_dental(dialect: str, table: sa.Table, column: str) -> str:
    """The old column's value as Open Dental stores it."""
    storage, ref = _storage(table, column), f"old.{column}"
    if dialect == "sqlite" and (storage == "DateT" or column in OWN_TIMES):
        ref = f"substr({ref}, 1, 19)"
    if storage == "Bool":
        return f"CAST(CAST({ref} AS INTEGER) AS SMALLINT)" if dialect == "postgresql" else ref
    if storage == "Date":
        return f"COALESCE({ref}, {_literal(dialect, 'DATE', '0001-01-01')})"
    if storage == "DateT":
        return f"COALESCE({ref}, {_literal(dialect, 'TIMESTAMP', '0001-01-01 00:00:00')})"
    return ref


def _back(dialect: str, table: sa.Table, column: str) -> str:
    """A new column's value as the old mirror stored it."""
    storage, ref = _storage(table, column), f"old.{column}"
    if storage == "Bool":
        return f"({ref} <> 0)" if dialect == "postgresql" else ref
    if storage == "Date":
        return f"NULLIF({ref}, {_literal(dialect, 'DATE', '0001-01-01')})"
    if storage == "DateT":
        return f"NULLIF({ref}, {_literal(dialect, 'TIMESTAMP', '0001-01-01 00:00:00')})"
    return ref


def _literal(dialect: str, kind: str, value: str) -> str:
    return f"{kind} '{value}'" if dialect == "postgresql" else f"'{value}'"


def _old_type(table: sa.Table, column: sa.Column[object]) -> sa.types.TypeEngine[object]:
    storage = _storage(table, column.name)
    if storage == "Bool":
        return sa.Boolean()
    if column.info.get("od_enum"):
        return sa.SmallInteger()
    if storage == "Double":
        return sa.Numeric(18, 4, asdecimal=True)
    if isinstance(column.type, sa.Text) or storage in ("String", "EnumAsString"):
        return sa.Text()
    return column.type


def _rebuild(name: str, make: sa.Table, convert: object) -> None:
    """Move `name` aside, create `make` in its place, copy the rows over, drop the old one."""
    conn = op.get_bind()
    dialect = conn.dialect.name
    inspector = sa.inspect(conn)
    for index in inspector.get_indexes(name):
        op.drop_index(str(index["name"]), table_name=name, if_exists=True)
    aside = f"{name}_before_0006"
    op.rename_table(name, aside)
    if dialect == "postgresql":  # the primary key's name is the schema's: free it for the new one
        op.execute(f'ALTER TABLE {aside} RENAME CONSTRAINT "pk_{name}" TO "pk_{aside}"')
    old = {c["name"] for c in inspector.get_columns(aside)}
    make.create(conn)
    common = [c.name for c in make.columns if c.name in old]
    values = ", ".join(convert(dialect, make, c) for c in common)  # type: ignore[operator]
    op.execute(f"INSERT INTO {name} ({', '.join(common)}) SELECT {values} FROM {aside} old")
    op.drop_table(aside)


def upgrade() -> None:
    for name, (_derived, _flags, indexed, _whole) in TABLES.items():
        table = _new_table(name)
        _rebuild(name, table, _to_open_dental)
        for column in indexed:
            op.create_index(f"ix_{name}_{column}", name, [column])


def downgrade() -> None:
    for name, (derived, flags, indexed, whole) in TABLES.items():
        new = _new_table(name)
        own = ["odmirror_extra", "odmirror_synced_at"] + (["odmirror_gone_at"] if whole else [])
        kept = set(OLD_COLUMNS[name].split()) | set(derived) | set(flags) | set(own)
        old = sa.Table(
            name,
            sa.MetaData(naming_convention=NAMING),
            *(
                sa.Column(c.name, _old_type(new, c), primary_key=c.primary_key, autoincrement=False)
                for c in new.columns
                if c.name in kept
            ),
        )
        for column in old.columns:
            column.info.update(new.c[column.name].info)
        _rebuild(name, old, _back)
        for column in indexed:
            op.create_index(f"ix_{name}_{column}", name, [column])
