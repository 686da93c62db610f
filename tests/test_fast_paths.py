"""Each fast path and its plain twin give the same mirror (ODMIRROR_PLAIN turns fast paths off)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect

from etl import fast_paths
from etl.catalog.resources import RESOURCES
from etl.mirror.engine import make_engine, upgrade
from tests.practice import ALL, mirror, office_clock, sync

#: Four pages of patients (page_size 100) and every other table filled in proportion: enough
#: for a first load, deferred indexes, prefetched pages and an incremental run with changes.
PATIENTS = 400


@pytest.mark.parametrize(
    ("plain", "off"),
    [
        ("", set()),
        ("all", set(fast_paths.FAST_PATHS)),
        ("copy, Prefetch", {"copy", "prefetch"}),
        ("columnar", {"columnar"}),
        ("nonsense", set()),
    ],
)
def test_the_switch_turns_off_what_it_names(
    monkeypatch: pytest.MonkeyPatch, plain: str, off: set[str]
) -> None:
    monkeypatch.setenv(fast_paths.PLAIN_ENV, plain)
    assert {name for name in fast_paths.FAST_PATHS if not fast_paths.enabled(name)} == off


def test_an_unknown_fast_path_is_a_bug_not_a_default() -> None:
    with pytest.raises(ValueError, match="no fast path named 'cpoy'"):
        fast_paths.enabled("cpoy")


def _synced_twice(sim: Any, engine: Engine) -> dict[str, dict[int, dict[str, Any]]]:
    """A first load, edits at the office, an incremental run: every table as the mirror holds it."""
    sync(sim, engine)
    sim.clock.advance(120)
    for patnum in range(1, PATIENTS, 9):  # some patients change between the runs
        sim.store.update(patnum, City="Elsewhere", PatStatus="Inactive")
    sim.clock.advance(120)
    sync(sim, engine)
    return {name: mirror(engine, resource) for name, resource in RESOURCES.items()}


@pytest.fixture
def twin_url(db_url: str, tmp_path: Any) -> Iterator[str]:
    """A second empty database beside `db_url`: another SQLite file, or a sibling schema."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'plain.db'}"
        return
    schema = db_url.rsplit("%3D", 1)[1]
    sibling = f"{schema}_plain"
    admin = create_engine(db_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {sibling}")
    try:
        yield db_url.replace(f"%3D{schema}", f"%3D{sibling}")
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {sibling} CASCADE")
        admin.dispose()


def test_plain_twins_give_the_mirror_the_fast_paths_give(
    db_url: str, twin_url: str, make_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(fast_paths.PLAIN_ENV, raising=False)
    fast_engine = make_engine(db_url)
    upgrade(fast_engine)
    fast = _synced_twice(make_sim(PATIENTS, clock=office_clock()).fill_practice(), fast_engine)

    # The same office again, into a second mirror, with every fast path off.
    monkeypatch.setenv(fast_paths.PLAIN_ENV, "all")
    plain_engine = make_engine(twin_url)
    upgrade(plain_engine)
    plain = _synced_twice(make_sim(PATIENTS, clock=office_clock()).fill_practice(), plain_engine)

    assert set(plain) == set(ALL)
    for name in ALL:
        assert plain[name] == fast[name], name
    assert sum(len(rows) for rows in plain.values()) > PATIENTS
    # The plain twin keeps the indexes: none is missing after its first load either.
    assert _indexes(plain_engine) == _indexes(fast_engine)
    fast_engine.dispose()
    plain_engine.dispose()


def _indexes(engine: Engine) -> dict[str, list[str]]:
    inspector = inspect(engine)
    return {
        r.table.name: sorted(str(i["name"]) for i in inspector.get_indexes(r.table.name))
        for r in RESOURCES.values()
    }
