"""Hostile error text and a mirror changed by hand: one clean line, no row values, a repair.

Real SQLite and PostgreSQL; the API is tests/hostile_api.py or a few lines of http.server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from etl.catalog.resources import PATIENTS
from etl.cli import main
from etl.mirror import views
from etl.outside_text import shown
from etl.sync import state
from tests.hostile_api import HostileApi, write_config
from tests.test_hostile_records import table_rows, whole_row

pytestmark = pytest.mark.reliability

STAMP = {"DateTStamp": "2025-05-01 08:00:00", "serverDateTime": "2025-05-05 10:00:00"}
SMITHS = [{"PatNum": n, "LName": "Smithleak", **STAMP} for n in (1, 2)]
HOSTILE_BODY = "\x1b[2J\x1b]0;owned\x07 no SSN 123-45-6789 " + "x" * 100_000


@pytest.fixture
def api() -> Iterator[HostileApi]:
    server = HostileApi()
    yield server
    server.stop()


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def run_errors(engine: Engine) -> list[str]:
    return [r.error for r in state.latest_runs(engine) if r.error]


def test_shown_escapes_controls_and_cuts() -> None:
    assert shown("a\x1b[31mb\x07\u2028c\n\td", 100) == "a\\x1b[31mb\\x07 c d"
    assert shown("y" * 300) == "y" * 200 + "..."


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("SSN 123-45-6789 refused", "SSN ***-**-**** refused"),
        ("ssn=123456789.", "ssn=***-**-****."),
        ("123 45 6789", "***-**-****"),
        ("zip 97301-1234, phone 503-555-0100, id 1234567890", None),
    ],
)
def test_shown_masks_what_looks_like_an_ssn(said: str, expected: str | None) -> None:
    assert shown(said) == (expected or said)


@pytest.fixture
def hostile_500() -> Iterator[str]:
    """An API whose every answer is a 500 with a body full of terminal escapes, 100 kB long."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = HOSTILE_BODY.encode()
            self.send_response(500)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/api/v1"
    server.shutdown()
    server.server_close()


def test_server_error_text_is_escaped_and_cut_everywhere(
    engine: Engine,
    api: HostileApi,
    hostile_500: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    api.base_url = hostile_500
    path = write_config(tmp_path, api, url_of(engine))
    assert main(["sync", "--config", path, "-v"]) == 1
    assert main(["status", "--config", path]) != 0
    out, err = capfd.readouterr()
    (error,) = run_errors(engine)
    for where in (out, err, error):
        assert "\x1b" not in where and "\x07" not in where
        assert "\\x1b[2J\\x1b]0;owned\\x07 no SSN ***-**-**** xxx" in where
        assert "6789" not in where
    assert len(error) < 400
    assert max(len(line) for line in (out + err).splitlines()) < 600


def test_a_database_error_names_its_constraint_never_the_row(
    engine: Engine, api: HostileApi, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with engine.begin() as conn:  # made by hand: two patients may no longer share a name
        conn.execute(text("CREATE UNIQUE INDEX uq_lname ON patient (lname)"))
    api.lists[PATIENTS.path] = SMITHS
    path = write_config(tmp_path, api, url_of(engine))
    assert main(["sync", "--config", path, "-v"]) == 1
    assert main(["status", "--config", path]) != 0
    out, err = capfd.readouterr()
    (error,) = run_errors(engine)
    if engine.dialect.name == "postgresql":
        assert "UniqueViolation (SQLSTATE 23505), table patient, constraint uq_lname" in error
    else:
        assert "IntegrityError, UNIQUE constraint failed: patient.lname" in error
    assert "(the row's values are not shown)" in error
    assert error in err
    assert "Smithleak" not in out + err + error


def test_an_error_a_trigger_raises_with_the_row_is_not_shown(
    engine: Engine, api: HostileApi, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a trigger that raises with its own text: PostgreSQL's RAISE")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$BEGIN RAISE EXCEPTION 'refused %', NEW.lname; END$$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON patient"
                " FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        )
    api.lists[PATIENTS.path] = SMITHS
    path = write_config(tmp_path, api, url_of(engine))
    assert main(["sync", "--config", path]) == 1
    out, err = capfd.readouterr()
    (error,) = run_errors(engine)
    assert "RaiseException (SQLSTATE P0001)" in error
    assert "Smithleak" not in out + err + error


def drop_lname(engine: Engine) -> None:
    with engine.begin() as conn:
        views.drop_views(conn)
        conn.execute(text("ALTER TABLE patient DROP COLUMN lname"))


def retype_lname(engine: Engine) -> None:
    with engine.begin() as conn:
        views.drop_views(conn)
        conn.execute(text("ALTER TABLE patient ALTER COLUMN lname TYPE integer USING NULL"))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (drop_lname, "the column lname of the mirror table patient is missing"),
        (
            retype_lname,
            "the column lname of the mirror table patient is integer, odmirror needs text",
        ),
    ],
    ids=["dropped", "retyped"],
)
def test_a_column_changed_by_hand_is_one_line_and_init_repairs_it(
    engine: Engine,
    api: HostileApi,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    change: Any,
    problem: str,
) -> None:
    if change is retype_lname and engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no ALTER COLUMN ... TYPE: a column cannot be retyped")
    records = [{"PatNum": n, "LName": f"Name{n}", **STAMP} for n in (1, 2)]
    api.lists[PATIENTS.path] = records
    path = write_config(tmp_path, api, url_of(engine))
    assert main(["sync", "--config", path]) == 0
    change(engine)
    capfd.readouterr()
    assert main(["sync", "--config", path]) == 1
    assert main(["status", "--config", path]) == 1
    out, err = capfd.readouterr()
    expected = f"odmirror: error: {problem}: run `odmirror init` to repair it\n"
    assert (out, err) == ("", expected * 2)
    assert main(["init", "--config", path]) == 0
    assert f"repaired: {problem}" in capfd.readouterr().err
    assert state.get_cursor(engine, "patients") is None  # the next sync reads everything
    assert main(["sync", "--config", path]) == 0
    assert table_rows(engine, PATIENTS) == {r["PatNum"]: whole_row(PATIENTS, r) for r in records}
    with engine.connect() as conn:  # the readable views are back
        assert conn.execute(text("SELECT count(*) FROM patient_v")).scalar() == 2
