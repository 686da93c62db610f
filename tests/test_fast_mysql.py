"""MySQL/MariaDB's fast write (etl.mirror.fast_mysql) gives the mirror its plain twin gives."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from etl.mirror.fast_mysql import _literals
from tests.practice import fast_and_plain_on_mariadb, sync

ODD_NAMES = ["O'Brien", "back\\slash", "100% %(x)s %s", "Zoë 😀 山田", "line\nbreak", "", "'; --"]


def test_a_practice_synced_fast_and_plain_gives_the_same_mirror_on_mariadb(
    make_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dress(sim: Any) -> None:
        for patnum, name in enumerate(ODD_NAMES, 1):  # text that must be escaped, or not
            sim.store.update(patnum, LName=name, FName=name[::-1])

    fast = fast_and_plain_on_mariadb(make_sim, monkeypatch, 80, dress, _synced_twice)
    patients = fast["patients"]
    assert [patients[n]["lname"] for n in range(1, len(ODD_NAMES) + 1)] == ODD_NAMES


def _synced_twice(sim: Any, engine: Any) -> None:
    """A first load, edits at the office, an incremental run."""
    sync(sim, engine)
    sim.clock.advance(120)
    for patnum in range(20, 80, 7):  # some patients change between the runs
        sim.store.update(patnum, City="Elsewhere", PatStatus="Inactive")
    sim.clock.advance(120)
    sync(sim, engine)


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
