"""Helpers for tests of the dashboard resources: a filled simulator, syncs, whole-row mirrors."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Engine, MetaData, Table, select

from etl.api.client import ApiClient
from etl.catalog.resources import RESOURCES, Resource
from etl.mapping.block import Block
from etl.mapping.record import map_record
from etl.mirror.engine import make_engine
from etl.simulator import OfficeClock
from etl.sync.run import run_sync
from etl.sync.state import RunResult
from tests.conftest import settings_for

OFFICE_START = dt.datetime(2025, 3, 14, 9, 26, 53)
ALL = tuple(RESOURCES)


def office_clock() -> OfficeClock:
    return OfficeClock("Pacific/Kiritimati", start=OFFICE_START)


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def sync(
    sim: Any, engine: Engine, names: tuple[str, ...] = ALL, full: bool = False, **api: Any
) -> list[RunResult]:
    settings = settings_for(sim, url_of(engine), **api)
    with ApiClient(settings.api, backoff_factor=0.01) as client:
        return run_sync(settings, full=full, client=client, resources=names)


def mirror(engine: Engine, resource: Resource) -> dict[int, dict[str, Any]]:
    """The mirror's rows of a resource by key, without the time we wrote them."""
    with engine.connect() as conn:
        rows = conn.execute(select(resource.table)).mappings().all()
    skip = {"odmirror_synced_at"}
    return {r[resource.key_column]: {k: v for k, v in r.items() if k not in skip} for r in rows}


def expected(resource: Resource, records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """What the mirror should hold for these API records: the mapping's whole rows."""
    rows = {}
    for record in records:
        # A key the record lacks is a column the mirror holds as NULL.
        row = {c.name: None for c in resource.table.columns if c.name != "odmirror_synced_at"}
        row.update(map_record(resource, record).row)
        rows[row[resource.key_column]] = row
    return rows


def served(sim: Any, resource: Resource) -> list[dict[str, Any]]:
    """The rows the simulator lists for a resource (hidden clinics are not listed)."""
    if resource.name == "patients":
        return [r for r in sim.store.all() if r["PatStatus"] != "Deleted"] + [
            r for r in sim.store.all() if r["PatStatus"] == "Deleted"
        ]
    rows = sim.tables.all(resource.path)
    return [
        r for r in rows if str(r.get("IsHidden")).lower() != "true" or resource.name != "clinics"
    ]


def assert_mirrors(engine: Engine, sim: Any, resource: Resource) -> None:
    want, got = expected(resource, served(sim, resource)), mirror(engine, resource)
    assert sorted(got) == sorted(want), resource.name
    wrong = [k for k in want if got[k] != want[k]]
    assert not wrong, f"{resource.name}: {len(wrong)} rows differ, e.g. {wrong[:3]}"


def fast_and_plain_on_mariadb(
    make_sim: Any,
    monkeypatch: Any,
    patients: int,
    dress: Callable[[Any], None],
    run: Callable[[Any, Engine], None],
) -> dict[str, dict[int, dict[str, Any]]]:
    """One practice synced into MariaDB by the fast write and by its plain twin: the same mirror.

    Args:
        make_sim: the `make_sim` fixture.
        monkeypatch: the test's, to set ODMIRROR_PLAIN for the plain way.
        patients: the practice's size.
        dress: changes the filled practice before either sync (odd texts, say).
        run: the syncs (and edits between them) each way makes.

    Returns:
        The fast way's tables, by resource name (each equal to the plain way's, asserted).
    """
    from etl import fast_paths
    from etl.mirror.engine import make_engine, upgrade
    from tests.mariadb import fresh_mariadb

    mirrors = {}
    for way in ("fast", "plain"):
        if way == "plain":
            monkeypatch.setenv(fast_paths.PLAIN_ENV, "copy")
        else:
            monkeypatch.delenv(fast_paths.PLAIN_ENV, raising=False)
        sim = make_sim(patients, clock=office_clock()).fill_practice()
        dress(sim)
        with fresh_mariadb() as url:
            engine = make_engine(url)
            upgrade(engine)
            run(sim, engine)
            mirrors[way] = {name: mirror(engine, r) for name, r in RESOURCES.items()}
            engine.dispose()
    for name in ALL:
        assert mirrors["fast"][name] == mirrors["plain"][name], name
    return mirrors["fast"]


def probed_office(make_sim: Any) -> Any:
    """A small practice whose ShortQuery reads the REST tables; its clock past every stamp."""
    sim = make_sim(patients=12, clock=office_clock()).fill_practice()
    sim.clock.advance(300)
    return sim


def sync_by_name(
    sim: Any, engine: Engine, names: tuple[str, ...], full: bool = False
) -> dict[str, RunResult]:
    """One run of `names`, its requests alone in `sim.requests`: each result by resource."""
    sim.requests.clear()
    return {r.resource: r for r in sync(sim, engine, names, full=full)}


def cycled_block(values: dict[str, list[Any]], n: int, first: int = 1) -> Block:
    """`n` rows keyed `num` from `first` that take every value of every column (each column
    cycling through its list)."""
    names = tuple(values)
    columns = [[values[c][i % len(values[c])] for i in range(n)] for c in names]
    return Block(("num", *names), [list(range(first, first + n)), *columns])


@contextlib.contextmanager
def twin_tables(
    url: str, table_of: Callable[[MetaData, str], Table], names: tuple[str, str]
) -> Iterator[tuple[Engine, Table, Table]]:
    """An engine on `url` and two empty tables of one shape (a fast write and its twin's)."""
    engine = make_engine(url)
    metadata = MetaData()
    first, second = (table_of(metadata, name) for name in names)
    metadata.create_all(engine)
    try:
        yield engine, first, second
    finally:
        engine.dispose()


def held_rows(engine: Engine, table: Table) -> list[tuple[Any, ...]]:
    """A table's rows as tuples, in key (`num`) order."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(table.c.num))]
