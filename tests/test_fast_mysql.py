"""MySQL/MariaDB's fast write (etl.mirror.fast_mysql) gives the mirror its plain twin gives."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from etl import fast_paths
from etl.catalog.resources import RESOURCES
from etl.mirror.engine import make_engine, upgrade
from etl.mirror.fast_mysql import _literals
from tests.mariadb import fresh_mariadb
from tests.practice import ALL, mirror, office_clock, sync

ODD_NAMES = ["O'Brien", "back\\slash", "100% %(x)s %s", "Zoë 😀 山田", "line\nbreak", "", "'; --"]


def test_a_practice_synced_fast_and_plain_gives_the_same_mirror_on_mariadb(
    make_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirrors = {}
    for way in ("fast", "plain"):
        if way == "plain":
            monkeypatch.setenv(fast_paths.PLAIN_ENV, "copy")
        else:
            monkeypatch.delenv(fast_paths.PLAIN_ENV, raising=False)
        sim = make_sim(80, clock=office_clock()).fill_practice()
        for patnum, name in enumerate(ODD_NAMES, 1):  # text that must be escaped, or not
            sim.store.update(patnum, LName=name, FName=name[::-1])
        with fresh_mariadb() as url:
            engine = make_engine(url)
            upgrade(engine)
            mirrors[way] = _synced_twice(sim, engine)
            engine.dispose()
    for name in ALL:
        assert mirrors["fast"][name] == mirrors["plain"][name], name
    patients = mirrors["fast"]["patients"]
    assert [patients[n]["lname"] for n in range(1, len(ODD_NAMES) + 1)] == ODD_NAMES


def _synced_twice(sim: Any, engine: Any) -> dict[str, dict[int, dict[str, Any]]]:
    """A first load, edits at the office, an incremental run: every table as the mirror holds it."""
    sync(sim, engine)
    sim.clock.advance(120)
    for patnum in range(20, 80, 7):  # some patients change between the runs
        sim.store.update(patnum, City="Elsewhere", PatStatus="Inactive")
    sim.clock.advance(120)
    sync(sim, engine)
    return {name: mirror(engine, resource) for name, resource in RESOURCES.items()}


def test_literals_are_the_text_pymysql_writes() -> None:
    """Whole numbers, dates and moments written by the fast path's own code, as PyMySQL would."""
    from pymysql.converters import escape_item

    columns: list[list[Any]] = [
        [0, -(2**63), 2**63 - 1, None],
        [dt.date(1, 1, 1), dt.date(2025, 1, 14), None],
        [dt.datetime(2025, 1, 14, 10, 0, 0), dt.datetime(2025, 1, 14, 10, 0, 0, 5), None],
        [True, 1, None],
        [1.5, 1e300, -0.0, None],
        [Decimal("12.30"), None],
        ["it's", None],
    ]
    for column in columns:
        assert _literals(column, lambda v: escape_item(v, "utf8mb4")) == [
            escape_item(v, "utf8mb4") for v in column
        ], column
