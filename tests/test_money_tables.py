"""The money, insurance, recall and schedule resources (issue 21) against the simulated office.

Every new resource is synced into SQLite and PostgreSQL mirrors and compared, whole rows, with
what the simulator serves; a whole pull marks a row it no longer lists; a fan-out reads only
the parents changed since its last run; date windows ask for the dates they should; the KPI
views are made over the mirrored tables and answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from etl.catalog.resources import MONEY, RESOURCES
from etl.mirror.bookkeeping import SyncRun
from etl.mirror.kpi_views import create_kpi_views, kpi_view_names
from etl.sync import state, sweep, whole_probe
from etl.sync.cursor import window_start
from tests.practice import ALL, assert_mirrors, mirror, office_clock, sync


@pytest.fixture
def practice(make_sim: Any) -> Any:
    return make_sim(80, clock=office_clock()).fill_practice()


def requests_to(sim: Any, path: str) -> list[dict[str, str]]:
    """The query parameters of every GET of one list endpoint, in order."""
    return [r.query for r in sim.requests if r.path.strip("/").lower() == f"api/v1/{path}"]


def test_every_money_resource_mirrors_the_source(engine: Engine, practice: Any) -> None:
    results = {r.resource: r for r in sync(practice, engine)}
    for resource in MONEY:
        assert results[resource.name].stats.inserted > 0, resource.name
        assert_mirrors(engine, practice, resource)
    claimprocs = mirror(engine, RESOURCES["claimprocs"])
    served = {r["ClaimProcNum"]: r for r in practice.tables.all("claimprocs")}
    codes = {"NotReceived": 0, "Received": 1, "Supplemental": 4, "Estimate": 6, "CapComplete": 7}
    for key, row in claimprocs.items():
        # Open Dental's integer codes, its 0/1 flags, and NULL for what the endpoint omits.
        assert row["status"] == codes.get(served[key]["Status"], row["status"])
        assert row["nobillins"] in (0, 1) and row["linenumber"] is None
        assert row["odmirror_gone_at"] is None
    payment = next(iter(mirror(engine, RESOURCES["payments"]).values()))
    assert payment["paytype_name"] in ("Check", "Card", "Cash", "")
    assert payment["paymentstatus"] is None  # not in the endpoint's example: not known
    # Keys sent under another name, and intervals sent as text, land in their columns.
    served_users = {r["UserNum"]: r for r in practice.tables.all("userods")}
    for key, user in mirror(engine, RESOURCES["userods"]).items():
        assert "ProvNum" not in served_users[key]
        assert user["provnum"] == served_users[key]["ProviderNum"]
        assert not (user["odmirror_extra"] or {}).get("ProviderNum")
    assert {u["provnum"] for u in mirror(engine, RESOURCES["userods"]).values()} == {0, 1, 2}
    attached = mirror(engine, RESOURCES["refattaches"])
    served_types = {
        r["RefAttachNum"]: r["ReferralType"] for r in practice.tables.all("refattaches")
    }
    assert {k: row["reftype"] for k, row in attached.items()} == {
        k: {"RefTo": 0, "RefFrom": 1, "RefCustom": 2}[t] for k, t in served_types.items()
    }
    recalls = mirror(engine, RESOURCES["recalls"]).values()
    assert {r["recallinterval"] for r in recalls} == {6 << 16}  # "6m" as sent
    assert {r["RecallInterval"] for r in practice.tables.all("recalls")} == {"6m"}


def test_a_row_a_whole_pull_no_longer_lists_is_marked(engine: Engine, practice: Any) -> None:
    # Without SQL (with it, the keys are reconciled instead: tests/test_changed_rows.py).
    sync(practice, engine, ("claimprocs", "recalls"), queries="off")
    gone_claimproc = practice.tables["claimprocs"].rows.pop(3)
    practice.tables["recalls"].rows.pop(2)
    practice.clock.advance(600)
    results = {
        r.resource: r for r in sync(practice, engine, ("claimprocs", "recalls"), queries="off")
    }
    assert "1 no longer listed" in results["claimprocs"].summary()
    claimprocs = mirror(engine, RESOURCES["claimprocs"])
    assert claimprocs[3]["odmirror_gone_at"] is not None
    assert claimprocs[3]["claimprocnum"] == gone_claimproc["ClaimProcNum"]
    assert [k for k, r in claimprocs.items() if r["odmirror_gone_at"]] == [3]
    recalls = mirror(engine, RESOURCES["recalls"])
    assert [k for k, r in recalls.items() if r["odmirror_gone_at"]] == [2]


def test_a_fan_out_reads_only_changed_parents_on_the_second_run(
    engine: Engine, practice: Any
) -> None:
    # Without SQL (with it, etl.sync.fan_probe reads the parents of changed children instead).
    names = ("patients", "adjustments")
    first = {r.resource: r for r in sync(practice, engine, names, queries="off")}
    patnums = sorted(r["PatNum"] for r in practice.store.all())
    asked = [q["PatNum"] for q in requests_to(practice, "adjustments")]
    assert asked == [str(n) for n in patnums]  # every patient, once, on the first run
    assert first["adjustments"].mode == "full"
    # The cursor: the newest patient change the mirror held before the children were read.
    cursor = state.get_cursor(engine, "adjustments")
    assert cursor == max(dt.datetime.fromisoformat(r["DateTStamp"]) for r in practice.store.all())
    practice.requests.clear()
    practice.clock.advance(3600)
    changed = patnums[4]
    practice.store.update(changed, EstBalance="10.00")
    copied = dict(practice.tables.all("adjustments")[0])
    new_key = practice.tables.add("adjustments", **{**copied, "PatNum": changed, "AdjAmt": -5.0})
    second = {r.resource: r for r in sync(practice, engine, names, queries="off")}
    assert second["adjustments"].mode == "incremental"
    since = window_start(cursor, dt.timedelta(seconds=60))  # the overlap reads the newest again
    recent = [r["PatNum"] for r in practice.store.all()
              if dt.datetime.fromisoformat(r["DateTStamp"]) >= since]  # fmt: skip
    assert changed in recent and len(recent) < len(patnums) // 4
    # ...and the sweep's slots due since the first run began (etl.sync.sweep), seconds ago: few.
    query = select(SyncRun.started_at).where(SyncRun.resource == "adjustments")
    with engine.connect() as conn:
        began = conn.execute(query.order_by(SyncRun.id)).scalars().all()
    slots = sweep.slots_due(began[0], began[1], dt.timedelta(days=7))
    first, last = slots or (0, sweep.SLOTS - 1)
    swept = [n for n in patnums if first <= n % sweep.SLOTS <= last]  # no wrap in seconds
    asked = [q["PatNum"] for q in requests_to(practice, "adjustments")]
    assert asked == [str(n) for n in sorted(set(recent) | set(swept))]
    assert mirror(engine, RESOURCES["adjustments"])[new_key]["adjamt"] == -5.0
    assert_mirrors(engine, practice, RESOURCES["adjustments"])


def test_date_windows_ask_for_their_dates(engine: Engine, practice: Any) -> None:
    names = ("patients", "payments", "schedules")
    # Without SQL (with it, an unchanged window is not read: etl.sync.window_probe).
    sync(practice, engine, names, queries="off")
    today = practice.clock.now().date()
    first = requests_to(practice, "schedules")
    assert first[0]["dateStart"] == (today - dt.timedelta(days=731)).isoformat()
    assert first[-1]["dateEnd"] == (today + dt.timedelta(days=121)).isoformat()
    assert "DateEntry" not in requests_to(practice, "payments")[0]  # first run: every payment
    practice.requests.clear()
    practice.clock.advance(3600)
    results = {r.resource: r for r in sync(practice, engine, names, queries="off")}
    assert results["schedules"].mode == "incremental"
    starts = [q["dateStart"] for q in requests_to(practice, "schedules")]
    assert starts[0] == (today - dt.timedelta(days=8)).isoformat()
    entered = [q.get("DateEntry") for q in requests_to(practice, "payments")]
    assert entered == [(today - dt.timedelta(days=31)).isoformat()]
    for name in ("payments", "schedules"):
        assert_mirrors(engine, practice, RESOURCES[name])


def test_kpi_views_are_made_over_the_mirrored_tables_and_answer(
    engine: Engine, practice: Any
) -> None:
    sync(practice, engine, ALL)
    with engine.begin() as conn:
        skipped = create_kpi_views(conn)
        # Every table they read is mirrored (claimsnapshot declared, empty until query mode).
        assert skipped == {}
        answered = {
            n: conn.execute(text(f"SELECT COUNT(*) FROM {n}")).scalar() for n in kpi_view_names()
        }
    # Each view has rows: a view over a column the endpoints leave NULL would silently have none.
    assert all(answered.values()), answered
    splits = [r for r in practice.tables.all("paysplits") if r["UnearnedType"] == 0]
    with engine.connect() as conn:
        collected = conn.execute(text("SELECT SUM(amount) FROM kpi_patient_collections")).scalar()
    assert collected is not None
    assert round(float(collected), 2) == round(sum(r["SplitAmt"] for r in splits), 2)


def test_a_resource_on_its_own_cadence_is_skipped_until_due(engine: Engine, practice: Any) -> None:
    first = sync(practice, engine, ("fees", "claimprocs"))
    assert [r.mode for r in first] == ["full", "full"]
    practice.requests.clear()
    second = {r.resource: r for r in sync(practice, engine, ("fees", "claimprocs"))}
    assert second["fees"].mode == "skipped" and "read every 24h" in second["fees"].summary()
    # claimprocs has no cadence: run, and found unchanged by the probe (etl.sync.whole_probe).
    assert requests_to(practice, "fees") == [] and second["claimprocs"].mode == "full"
    with engine.begin() as conn:  # a day later (odmirror's own clock): due again
        conn.execute(
            text("UPDATE odmirror_sync_state SET last_success_at = :then WHERE resource = 'fees'"),
            {"then": state.utcnow() - dt.timedelta(hours=25)},
        )
    third = {r.resource: r for r in sync(practice, engine, ("fees",))}
    # Due, and found unchanged since its last pull by the SQL probe (etl.sync.whole_probe).
    assert third["fees"].mode == "full" and third["fees"].notes[0] == whole_probe.UNCHANGED
    assert_mirrors(engine, practice, RESOURCES["fees"])
