"""The dashboard resources: declared, synced whole and incrementally, deletions, selection."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, MetaData, text

from etl.catalog.resources import RESOURCES, Resource, select_resources
from etl.catalog.tables import TABLES, Mirrored, declare
from etl.cli import main
from etl.config.load import settings_from_dict
from etl.config.settings import DEFAULT_RESOURCES
from etl.errors import ConfigError
from etl.mapping.record import map_record
from etl.simulator.tables import Table
from etl.sync import state
from tests.conftest import load_json
from tests.practice import ALL, assert_mirrors, mirror, office_clock, sync, url_of


@pytest.fixture
def db_url(db_url_all: str) -> str:
    """These tests run on MariaDB too (tests/conftest.py)."""
    return db_url_all


@pytest.fixture
def practice(make_sim: Any) -> Any:
    return make_sim(120, clock=office_clock()).fill_practice()


def test_first_sync_mirrors_every_resource_whole(engine: Engine, practice: Any) -> None:
    results = sync(practice, engine)
    assert [r.resource for r in results] == list(RESOURCES)
    for resource in RESOURCES.values():
        assert_mirrors(engine, practice, resource)
    counts = {r.resource: r.stats.inserted for r in results}
    assert counts["appointments"] > 100 and counts["procedurelogs"] > counts["appointments"]
    assert counts["clinics"] == 3 and counts["claims"] > 0
    # Claims send no serverDateTime: their cursor is the newest SecDateTEdit read.
    newest = max(r["SecDateTEdit"] for r in practice.tables.all("claims"))
    assert state.get_cursor(engine, "claims") == dt.datetime.fromisoformat(newest)
    assert state.get_cursor(engine, "appointments") == practice.clock.now()
    assert state.get_cursor(engine, "clinics") is None


def test_second_sync_reads_only_changes_and_drops_deleted_appointments(
    engine: Engine, practice: Any
) -> None:
    sync(practice, engine)
    tables = practice.tables
    practice.clock.advance(3600)
    tables.update("appointments", 5, AptStatus="Broken")
    tables.delete_appointment(7)
    tables.update("claims", 1, ClaimStatus="R", InsPayAmt=12.5)
    copied = {k: v for k, v in tables.all("procedurelogs")[0].items() if k != "DateTStamp"}
    tables.add("procedurelogs", **{**copied, "ProcFee": "99.50"})
    results = {r.resource: r for r in sync(practice, engine)}
    assert results["appointments"].mode == "incremental"
    assert results["appointments"].stats.fetched == 1
    # the claim changed, and (the overlap) the one at the cursor, the newest SecDateTEdit before
    assert (results["claims"].stats.fetched, results["claims"].stats.updated) == (2, 1)
    assert results["procedurelogs"].stats.inserted == 1
    assert "1 deleted in Open Dental" in results["appointments"].summary()
    for name in ("appointments", "claims", "procedurelogs"):
        assert_mirrors(engine, practice, RESOURCES[name])
    assert 7 not in mirror(engine, RESOURCES["appointments"])
    assert mirror(engine, RESOURCES["appointments"])[5]["aptstatus"] == 5  # Broken


def test_cursor_from_rows_over_many_pages(engine: Engine, practice: Any) -> None:
    """Claims send no serverDateTime: the change check must not take the newest row for news."""
    first = sync(practice, engine, ("claims",), page_size=5)[0]
    newest = max(r["SecDateTEdit"] for r in practice.tables.all("claims"))
    assert first.advanced and first.cursor == dt.datetime.fromisoformat(newest)

    def edit_between_pages(index: int, _path: str) -> None:
        if index == 1:
            practice.clock.advance(5)
            practice.tables.update("claims", 1, ClaimNote="edited while paging")

    practice.clock.advance(600)
    practice.tables.update("claims", 2, ClaimNote="a change")
    practice.tables.on_serve(edit_between_pages)
    second = sync(practice, engine, ("claims",), page_size=1)[0]
    practice.tables.on_serve(None)
    assert not second.advanced and "changed while pages were read" in second.summary()
    assert_mirrors(engine, practice, RESOURCES["claims"])


def test_a_deletion_older_than_the_row_leaves_it(engine: Engine, practice: Any) -> None:
    """A history row older than the mirror's row cannot be about that row's current life."""
    sync(practice, engine, ("appointments",))
    row = practice.tables.all("appointments")[2]
    practice.tables.add(
        "histappointments", HistApptAction="Deleted", AptNum=row["AptNum"],
        HistDateTStamp="2001-01-01 00:00:00",
    )  # fmt: skip
    sync(practice, engine, ("appointments",))
    assert row["AptNum"] in mirror(engine, RESOURCES["appointments"])


def test_a_feed_that_ignores_its_filter_deletes_only_deletions(
    engine: Engine, practice: Any
) -> None:
    sync(practice, engine, ("appointments",))
    deaf = Table("histappointments", "HistApptNum")  # no filters: HistApptAction is ignored
    deaf.rows = {1: {"HistApptNum": 1, "HistApptAction": "Changed", "AptNum": 3,
                     "HistDateTStamp": "2040-01-01 00:00:00"}}  # fmt: skip
    practice.tables.add_table(deaf)
    practice.tables.delete_appointment(4)
    sync(practice, engine, ("appointments",))
    kept = mirror(engine, RESOURCES["appointments"])
    assert 3 in kept and 4 not in kept


def test_small_tables_mark_rows_that_stop_coming(engine: Engine, practice: Any) -> None:
    sync(practice, engine, ("clinics",))
    practice.tables.update("clinics", 2, IsHidden="true")
    result = sync(practice, engine, ("clinics",))[0]
    gone = {k: r["odmirror_gone_at"] for k, r in mirror(engine, RESOURCES["clinics"]).items()}
    assert gone[2] is not None and gone[1] is None and gone[3] is None
    assert "1 no longer listed" in result.summary()
    assert mirror(engine, RESOURCES["clinics"])[2]["description"] == "North Dental"
    practice.tables.update("clinics", 2, IsHidden="false")
    sync(practice, engine, ("clinics",))
    assert mirror(engine, RESOURCES["clinics"])[2]["odmirror_gone_at"] is None


def test_a_whole_table_pulled_again_counts_only_what_changed(engine: Engine, make_sim: Any) -> None:
    # Without the Queries permission: with it, the run reads the changed row alone
    # (tests/test_changed_rows.py).
    practice = make_sim(120, clock=office_clock(), queries_allowed=False).fill_practice()
    first = sync(practice, engine, ("operatories",))[0].stats
    practice.tables.update("operatories", 2, OpName="Hygiene 9")
    again = sync(practice, engine, ("operatories",))[0].stats
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, first.inserted - 1)
    assert mirror(engine, RESOURCES["operatories"])[2]["opname"] == "Hygiene 9"


def test_a_failed_pull_marks_and_deletes_nothing(engine: Engine, practice: Any) -> None:
    sync(practice, engine, ("clinics", "appointments"))
    practice.tables.update("clinics", 3, IsHidden="true")
    practice.tables.delete_appointment(9)
    practice.fail_next(500, "boom", count=10)
    with pytest.raises(Exception, match="500"):
        sync(practice, engine, ("clinics",), max_retries=0)
    assert mirror(engine, RESOURCES["clinics"])[3]["odmirror_gone_at"] is None
    assert 9 in mirror(engine, RESOURCES["appointments"])


def test_adding_a_resource_is_a_declaration(
    engine: Engine, practice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catalog entry (Open Dental's own table) and one Resource: nothing else changes."""
    with engine.begin() as conn:  # the catalog's own commlog, replaced by the one declared here
        conn.execute(text("DROP VIEW IF EXISTS commlog_v"))
        TABLES["commlog"].drop(conn)
    commlog = declare("commlog", Mirrored(indexes=("datetstamp",)), MetaData())
    monkeypatch.setitem(TABLES, "commlog", commlog)
    commlogs = Resource("commlogs", "commlogs", "commlog", "CommlogNum", "DateTStamp", "DateTStamp")
    monkeypatch.setitem(RESOURCES, "commlogs", commlogs)
    commlog.create(engine)
    practice.tables.add_table(Table("commlogs", "CommlogNum", "DateTStamp", server_time=True))
    for note in ("Called", "O'Brien's \"gear\"", "Zoë"):
        practice.tables.add("commlogs", PatNum=1, Note=note, CommDateTime="2024-03-01 09:00:00",
                            SigIsTopaz="false", Color="blue")  # fmt: skip
    result = sync(practice, engine, ("commlogs",))[0]
    assert result.stats.inserted == 3
    assert_mirrors(engine, practice, commlogs)
    row = mirror(engine, commlogs)[2]
    assert row["odmirror_extra"] == {"Color": "blue"}
    assert (row["note"], row["sigistopaz"], row["commdatetime"]) == (
        "O'Brien's \"gear\"", 0, dt.datetime(2024, 3, 1, 9))  # fmt: skip
    assert row["signature"] is None  # a column the endpoint did not send: not known


def test_vendor_example_responses_map_to_whole_rows() -> None:
    appointment = map_record(
        RESOURCES["appointments"], load_json("vendor_example_appointment.json")
    )
    # colorOverride is the column ColorOverride ("r,g,b" -> ARGB; "0,0,0" is "no colour", 0).
    assert appointment.unknown == [] and not appointment.invalid
    row = appointment.row
    assert row["coloroverride"] == 0
    assert (row["aptnum"], row["aptstatus"], row["confirmed"], row["confirmed_name"]) == (
        18, 1, 19, "Not Called")  # fmt: skip
    assert row["aptdatetime"] == dt.datetime(2020, 7, 31, 8, 30)
    assert row["datetimearrived"] == dt.datetime(1, 1, 1) and row["ishygiene"] == 0
    procedure = map_record(
        RESOURCES["procedurelogs"], load_json("vendor_example_procedurelog.json")
    )
    assert not procedure.invalid
    assert procedure.row["procstatus"] == 2 and str(procedure.row["procfee"]) == "130.00"
    assert procedure.row["code_proccode"] == "D0120" and procedure.row["aptnum"] == 1341
    claim = map_record(RESOURCES["claims"], load_json("vendor_example_claim.json"))
    assert not claim.invalid
    assert (claim.row["claimstatus"], claim.row["isortho"], claim.row["inssubnum"]) == (
        "R",
        1,
        24,
    )
    assert claim.row["patrelat"] == 0 and claim.row["priordate"] == dt.date(1, 1, 1)


def test_config_lists_the_enabled_resources() -> None:
    base = {"api": {"base_url": "http://x", "developer_key": "a", "customer_key": "b"},
            "database": {"url": "sqlite://"}}  # fmt: skip
    assert settings_from_dict(base).sync.resources == DEFAULT_RESOURCES == ("patients",)
    chosen = settings_from_dict({**base, "sync": {"resources": ["claims", "patients"]}})
    assert chosen.sync.resources == ("patients", "claims")  # declaration order
    env = settings_from_dict(base, environ={"ODMIRROR_SYNC_RESOURCES": "clinics, providers"})
    assert env.sync.resources == ("providers", "clinics")
    with pytest.raises(ConfigError, match=r"'sync\.resources': unknown resource 'claim'"):
        settings_from_dict({**base, "sync": {"resources": ["claim"]}})
    with pytest.raises(ConfigError, match="must be a list of names"):
        settings_from_dict({**base, "sync": {"resources": 3}})
    assert [r.name for r in select_resources(["clinics,appointments", "clinics"])] == [
        "appointments", "clinics"]  # fmt: skip
    assert set(ALL) == set(RESOURCES)


def test_cli_sync_resource(
    tmp_path: Path, db_url: str, practice: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "api": {"base_url": practice.base_url, "developer_key": practice.config.developer_key,
                "customer_key": practice.config.customer_key, "min_request_interval": 0,
                "max_retries": 0},
        "database": {"url": db_url},
        "sync": {"resources": ["patients", "providers"]},
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["init", "--config", str(path)]) == 0
    capsys.readouterr()
    assert main(["sync", "--config", str(path)]) == 0
    assert [line.split(" ")[0] for line in capsys.readouterr().out.splitlines()] == [
        "patients", "providers", "requests:"]  # fmt: skip
    for given in (["clinics,operatories"], ["operatories", "--resource", "clinics"]):
        assert main(["sync", "--config", str(path), "--resource", *given]) == 0
        assert [line.split(" ")[0] for line in capsys.readouterr().out.splitlines()] == [
            "clinics", "operatories", "requests:"]  # fmt: skip
    assert main(["sync", "--config", str(path), "--resource", "clinic"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("odmirror: error: unknown resource 'clinic' (known: patients,")
    assert len(err.splitlines()) == 1


def test_unknown_resource_leaves_the_mirror_alone(engine: Engine, practice: Any) -> None:
    sync(practice, engine, ("providers",))
    before = mirror(engine, RESOURCES["providers"])
    with pytest.raises(ConfigError):
        sync(practice, engine, ("providers", "nope"))
    assert mirror(engine, RESOURCES["providers"]) == before
    assert url_of(engine)


# Open Dental stores these enums as the integers of its own C# enums (OpenDentBusiness:
# Enumerations.cs and the table types), which the SQL its users already have relies on: a
# mirror that numbers them otherwise answers `WHERE AptStatus = 5` with the wrong rows.
CONTACT = {"None": 0, "DoNotCall": 1, "HmPhone": 2, "WkPhone": 3, "WirelessPh": 4, "Email": 5}
OPEN_DENTAL_CODES: dict[tuple[str, str], dict[str, int]] = {
    ("patients", "PatStatus"): {
        "Patient": 0, "NonPatient": 1, "Inactive": 2, "Archived": 3, "Deleted": 4,
        "Deceased": 5, "Prospective": 6,
    },
    ("patients", "Gender"): {"Male": 0, "Female": 1, "Unknown": 2},
    ("patients", "Position"): {"Single": 0, "Married": 1, "Child": 2, "Widowed": 3, "Divorced": 4},
    ("patients", "TxtMsgOk"): {"Unknown": 0, "Yes": 1, "No": 2},
    **{
        ("patients", key): {**CONTACT, "SeeNotes": 6, "Mail": 7, "TextMessage": 8}
        for key in ("PreferConfirmMethod", "PreferContactMethod", "PreferRecallMethod")
    },
    ("appointments", "AptStatus"): {
        "Scheduled": 1, "Complete": 2, "UnschedList": 3, "ASAP": 4, "Broken": 5, "Planned": 6,
        "PtNote": 7, "PtNoteCompleted": 8,
    },
    ("appointments", "Priority"): {"Normal": 0, "ASAP": 1},
    ("procedurelogs", "ProcStatus"): {
        "TP": 1, "C": 2, "EC": 3, "EO": 4, "R": 5, "D": 6, "Cn": 7, "TPi": 8,
    },
    ("procedurecodes", "TreatArea"): {
        "None": 0, "Surf": 1, "Tooth": 2, "Mouth": 3, "Quad": 4, "Sextant": 5, "Arch": 6,
        "ToothRange": 7,
    },
    ("claims", "PatRelat"): {
        "Self": 0, "Spouse": 1, "Child": 2, "Employee": 3, "HandicapDep": 4, "SignifOther": 5,
        "InjuredPlaintiff": 6, "LifePartner": 7, "Dependent": 8,
    },
    ("treatplans", "TPStatus"): {"Saved": 0, "Active": 1, "Inactive": 2},
}  # fmt: skip


@pytest.mark.parametrize(("resource", "key"), sorted(OPEN_DENTAL_CODES))
def test_enum_codes_are_open_dentals_own(resource: str, key: str) -> None:
    spec = RESOURCES[resource].by_key[key]
    codes = {name: spec.enum.index(name) for name in OPEN_DENTAL_CODES[resource, key]}
    assert codes == OPEN_DENTAL_CODES[resource, key]
    row = map_record(RESOURCES[resource], {RESOURCES[resource].key: 1, key: "x"}).row
    assert row[spec.column] is None  # a word it does not know is no code at all


def test_the_readme_lists_the_columns_each_endpoint_does_not_send() -> None:
    root = Path(__file__).resolve().parent.parent
    # The money tables' lists are in docs/money-tables.md, which the README links.
    readme = "".join(
        (root / name).read_text(encoding="utf-8") for name in ("README.md", "docs/money-tables.md")
    )
    for resource in RESOURCES.values():
        missing = resource.columns_not_sent
        total = sum("od_storage" in c.info for c in resource.table.columns)
        line = f"| `{resource.table.name}` | {total - len(missing)} of {total} | "
        assert line + (", ".join(missing) or "-") + " |" in readme, resource.name
