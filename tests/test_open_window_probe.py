"""Payments with SQL (issue 23 item 1): a window "on or after" a date, proved current, is not read.

Payments list by DateEntry on or after a date (30 days back): no end date. The run's probe
counts the office's payments entered since that date and their newest stamp (SecDateTEdit), as
it does schedules' dated window (etl.sync.window_probe), the range's end being open. An edit,
a deletion or a new payment in the window reads it; nothing changed: not read.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import Engine, text

from etl.catalog.resources import RESOURCES
from etl.sync import window_probe
from tests.conftest import DATABASES
from tests.practice import assert_mirrors, office_clock, sync
from tests.test_fanout_gone import assert_gone_exactly, remove

PAYMENTS = RESOURCES["payments"]
NAMES = ("patients", "payments")


@pytest.fixture
def practice(make_sim: Any) -> Any:
    return make_sim(20, clock=office_clock()).fill_practice()


def payment_requests(sim: Any) -> int:
    return sum(r.path.strip("/").lower() == "api/v1/payments" for r in sim.requests)


def run(sim: Any, engine: Engine, seconds: int = 600) -> Any:
    """Advance the office's clock, sync, and return the payments' result."""
    sim.clock.advance(seconds)
    sim.requests.clear()
    return next(r for r in sync(sim, engine, NAMES) if r.resource == "payments")


def recent(sim: Any) -> dict[str, Any]:
    """A payment entered inside the window an incremental run reads."""
    start = str(sim.clock.now().date() - dt.timedelta(days=20))
    return next(r for r in sim.tables.all("payments") if r["DateEntry"] >= start)


@pytest.mark.parametrize("db_url", DATABASES, indirect=True)
def test_payments_are_read_only_when_one_in_the_window_changed(
    engine: Engine, practice: Any
) -> None:
    sync(practice, engine, NAMES)  # the first read: every payment (no date asked)
    with engine.connect() as conn:
        kept = conn.execute(
            text("SELECT value FROM odmirror_settings WHERE name = :n"),
            {"n": window_probe.PREFIX + "payments"},
        ).scalar_one()
    assert json.loads(kept) == {
        "first": "0001-01-01",
        "last": "9999-12-31",
        "before": practice.clock.now().isoformat(),
    }
    quiet = run(practice, engine)
    assert payment_requests(practice) == 0
    assert quiet.notes == [window_probe.UNCHANGED]
    edited = recent(practice)
    practice.tables.update("payments", edited["PayNum"], PayNote="a note added")
    read = run(practice, engine)
    assert payment_requests(practice) > 0 and read.stats.updated == 1
    assert_mirrors(engine, practice, PAYMENTS)
    assert run(practice, engine).notes == [window_probe.UNCHANGED]
    # A deletion stamps nothing: the count tells.
    gone = remove(practice, PAYMENTS, recent(practice)["PayNum"])
    run(practice, engine)
    assert payment_requests(practice) > 0
    assert_gone_exactly(engine, practice, PAYMENTS, [gone])
    run(practice, engine)
    assert payment_requests(practice) == 0  # the mirror's rows (not gone) count as the office's
    new = {**recent(practice), "PayNote": "new"}
    new.pop("PayNum")
    practice.tables.add("payments", **new)
    read = run(practice, engine)
    assert payment_requests(practice) > 0 and read.stats.inserted == 1
    assert_gone_exactly(engine, practice, PAYMENTS, [gone])
