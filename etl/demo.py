"""`odmirror demo`: the bundled simulator mirrored into a local SQLite file, no keys needed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import inspect, text

from etl.catalog.resources import RESOURCES
from etl.config.settings import ApiSettings, DatabaseSettings, Settings, SyncSettings
from etl.errors import OdMirrorError
from etl.mirror.engine import make_engine, upgrade
from etl.mirror.kpi_views import create_kpi_views
from etl.simulator import OfficeClock, Simulator, SimulatorConfig
from etl.simulator.office_db import OfficeDatabase
from etl.simulator.office_rows import office_rows
from etl.sync.run import run_sync

MARKER = "odmirror_demo"
#: Open Dental tables the demo reads with SQL through ShortQuery (query mode), every column.
QUERY_TABLES = ("claimsnapshot", "toothinitial")
OFFICE_TZ = "America/Chicago"


def demo_settings(sim: Simulator, db: Path) -> Settings:
    """Settings for mirroring the simulator (the API Service mode: 1000 rows, no throttle)."""
    api = ApiSettings(
        base_url=sim.base_url,
        developer_key=sim.config.developer_key,
        customer_key=sim.config.customer_key,
        page_size=1000,
        min_request_interval=0.0,
        timeout=30.0,
        max_retries=2,
    )
    # Every resource: the simulated office has a schedule, procedures and insurance too.
    every = SyncSettings(resources=tuple(RESOURCES), tables=QUERY_TABLES)
    return Settings(api=api, database=DatabaseSettings(url=f"sqlite:///{db}"), sync=every)


def prepare_file(db: Path) -> None:
    """Start from an empty file; only a file an earlier demo made may be replaced."""
    if db.exists():
        engine = make_engine(f"sqlite:///{db}")
        try:
            is_demo = MARKER in inspect(engine).get_table_names()
        finally:
            engine.dispose()
        if not is_demo:
            raise OdMirrorError(f"{db} exists and is not a demo mirror; choose another --db path")
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            path.unlink(missing_ok=True)
    db.parent.mkdir(parents=True, exist_ok=True)


def run_demo(db: Path, patients: int = 3000, say: Callable[[str], None] = print) -> None:
    """Mirror a simulated office, change a few patients, mirror again, and show the result."""
    db = db.resolve()
    prepare_file(db)
    now = dt.datetime.now(ZoneInfo(OFFICE_TZ)).replace(tzinfo=None, microsecond=0)
    clock = OfficeClock(OFFICE_TZ, start=now)
    with Simulator(patients, SimulatorConfig(mode="service"), clock=clock) as sim:
        sim.fill_practice()
        sim.office_db = OfficeDatabase(clock)
        for table in QUERY_TABLES:
            sim.office_db.insert(table, office_rows(table, 500, now))
        say(f"simulated Open Dental API with {patients} synthetic patients at {sim.base_url}")
        settings = demo_settings(sim, db)
        engine = make_engine(settings.database.url)
        try:
            upgrade(engine)
            with engine.begin() as conn:
                conn.execute(text(f"CREATE TABLE {MARKER} (note TEXT)"))
        finally:
            engine.dispose()
        for result in run_sync(settings):
            say("first sync:  " + result.summary())
        clock.advance(600)
        edited = _edit_office(sim)
        say(f"ten minutes later the office changed {edited} patients")
        for result in run_sync(settings):
            say("second sync: " + result.summary())
    say(kpi_summary(settings.database.url, now.date()))
    say(f"\nthe mirror is {db}\ntry:\n  sqlite3 {db} \\\n    {_QUERY!r}")
    say(f"  sqlite3 {db} \\\n    {_VIEW_QUERY!r}")
    say(f"  sqlite3 {db} \\\n    {_KPI_QUERY!r}")


def last_full_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first day of the month before `today`'s, and the first day of `today`'s month."""
    end = today.replace(day=1)
    return (end - dt.timedelta(days=1)).replace(day=1), end


def kpi_summary(url: str, today: dt.date) -> str:
    """Make the KPI views and say the last full month's production against its collections.

    Args:
        url: the demo mirror's database URL.
        today: the office's date.

    Returns:
        One line: production, collections (patients and insurance) and their ratio.
    """
    start, end = last_full_month(today)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            skipped = create_kpi_views(conn)
            if skipped:
                return f"KPI views not made: {'; '.join(f'{k} ({v})' for k, v in skipped.items())}"
            month = {"start": start.isoformat(), "end": end.isoformat()}
            production, patients, insurance = (
                conn.execute(text(_MONTH_TOTAL.format(view=view)), month).scalar_one() or 0.0
                for view in _KPI_VIEWS
            )
    finally:
        engine.dispose()
    collected = patients + insurance
    share = f", {collected / production:.0%} of production" if production else ""
    return (
        f"\n{start:%B %Y} from the KPI views: production ${production:,.2f},"
        f" collections ${collected:,.2f} (patients ${patients:,.2f},"
        f" insurance ${insurance:,.2f}){share}"
    )


_QUERY = "SELECT PatStatus, COUNT(*) FROM patient GROUP BY PatStatus ORDER BY PatStatus"
_VIEW_QUERY = (
    "SELECT apt_month, prov_name, aptstatus_label, COUNT(*) FROM appointment_v"
    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
)


_KPI_VIEWS = ("kpi_production", "kpi_patient_collections", "kpi_insurance_collections")
_MONTH_TOTAL = "SELECT SUM(amount) FROM {view} WHERE day >= :start AND day < :end"
_KPI_QUERY = (
    "SELECT month, provnum, SUM(amount) FROM kpi_net_production"
    " GROUP BY 1, 2 ORDER BY 1 DESC, 2 LIMIT 12"
)


def _edit_office(sim: Simulator) -> int:
    patients = sim.store.all()
    for record in patients[10:30]:
        sim.store.update(record["PatNum"], HmPhone="(555)010-2030", EstBalance=42.5)
    sim.store.update(patients[40]["PatNum"], PatStatus="Deleted")
    sim.store.update(patients[41]["PatNum"], PatStatus="Archived")
    for _ in range(3):
        sim.store.add(LName="Newpatient", FName="Demo")
    return 25
