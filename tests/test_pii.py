"""The PHI policy, and what never reaches logs, errors or the file system's other users."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from etl.catalog.resources import PATIENTS
from etl.cli import main
from etl.config.load import settings_from_dict
from etl.errors import ConfigError
from etl.mapping.pii import DEFAULT_POLICY, PiiPolicy, policy_from_config
from etl.mapping.record import map_record
from etl.mirror import rejects
from etl.mirror.bookkeeping import Rejected
from etl.mirror.engine import make_engine, mask_password, safe_url
from etl.sync.run import run_sync
from tests.conftest import settings_for
from tests.test_cli import write_config
from tests.test_faults import Scripted, one_page
from tests.test_sync import mirror

pytestmark = pytest.mark.reliability

SECRET = "test-only-pii-secret-0123456789"
SSN = "123-45-6789"
BASE = {"base_url": "http://127.0.0.1:1/api/v1", "developer_key": "a", "customer_key": "b"}


def config(pii: Any = None, **api: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"api": {**BASE, **api}, "database": {"url": "sqlite:///m.db"}}
    if pii is not None:
        raw["pii"] = pii
    return raw


def digest(value: str) -> str:
    return hmac.new(SECRET.encode(), value.encode(), hashlib.sha256).hexdigest()


def hashing(*fields: str) -> PiiPolicy:
    raw = {"fields": dict.fromkeys(fields, "hmac")}
    return policy_from_config(raw, "config", {"ODMIRROR_PII_SECRET": SECRET})


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OD_DEVELOPER_KEY", "NFF6i0KrXrxDkZHt")
    monkeypatch.setenv("OD_CUSTOMER_KEY", "VzkmZEaUWOjnQX2z")
    monkeypatch.delenv("ODMIRROR_CONFIG", raising=False)


# --- config -------------------------------------------------------------------------------------


@pytest.mark.plain_irrelevant
def test_default_policy_drops_ssn_and_keeps_the_rest() -> None:
    settings = settings_from_dict(config())
    assert settings.pii.action("SSN") == "drop"
    assert settings.pii.action("LName") == settings.pii.action("Birthdate") == "keep"


@pytest.mark.plain_irrelevant
def test_fields_merge_over_the_default_and_can_keep_ssn() -> None:
    raw = {"fields": {"SSN": "keep", "Email": "drop", "Birthdate": "HMAC"}}
    policy = policy_from_config(raw, "c", {"ODMIRROR_PII_SECRET": SECRET})
    # Held case-folded: a field matches in any case.
    assert dict(policy.fields) == {"ssn": "keep", "email": "drop", "birthdate": "hmac"}
    assert policy.secret == SECRET.encode()
    assert SECRET not in repr(policy)


@pytest.mark.plain_irrelevant
def test_secret_comes_from_the_variable_the_config_names() -> None:
    raw = {"secret_env": "MY_SECRET", "fields": {"LName": "hmac"}}
    policy = policy_from_config(raw, "c", {"MY_SECRET": SECRET})
    assert policy.digest("Smith") == digest("Smith")


@pytest.mark.plain_irrelevant
@pytest.mark.parametrize(
    ("pii", "env", "message"),
    [
        (
            {"fields": {"Birthdate": "hmac"}},
            {},
            "c: 'pii.fields.Birthdate' is hmac, but the secret variable $ODMIRROR_PII_SECRET "
            "is not set",
        ),
        ({"fields": {"SSN": "encrypt"}}, {}, "c: 'pii.fields.SSN' must be keep, hmac or drop"),
        ({"fields": {"PatNum": "drop"}}, {}, "c: 'pii.fields.PatNum' must be kept"),
        ({"fields": ["SSN"]}, {}, "c: 'pii.fields' must map API field names"),
        ({"salt": "x"}, {}, "c: unknown key 'pii.salt'"),
        ("drop", {}, "c: 'pii' must be a mapping"),
    ],
)
def test_bad_pii_config_is_refused_clearly(pii: Any, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict(config(pii), source="c", environ=env)
    assert str(info.value).startswith(message)


@pytest.mark.plain_irrelevant
@pytest.mark.parametrize(
    "key", ["YOUR_DEVELOPER_KEY", "your-customer-key", "<developer key>", "XXXXXXXX", "..."]
)
def test_placeholder_keys_are_refused(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict(config(developer_key=key), source="c")
    assert str(info.value) == (
        "c: 'api.developer_key' is a placeholder, not a key: put the real key in the "
        "environment (see config.example.yaml)"
    )


@pytest.mark.plain_irrelevant
def test_empty_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"'api\.customer_key' must be a non-empty string"):
        settings_from_dict(config(customer_key="  "), source="c")


@pytest.mark.plain_irrelevant
def test_published_test_keys_are_accepted() -> None:
    settings = settings_from_dict(
        config(developer_key="NFF6i0KrXrxDkZHt", customer_key="VzkmZEaUWOjnQX2z")
    )
    assert settings.api.customer_key == "VzkmZEaUWOjnQX2z"


# --- mapping ------------------------------------------------------------------------------------


@pytest.mark.plain_irrelevant
def test_ssn_is_never_stored_by_default() -> None:
    mapped = map_record(PATIENTS, {"PatNum": 5, "SSN": SSN, "LName": "Ng"})
    assert mapped.row == {"patnum": 5, "ssn": None, "lname": "Ng", "odmirror_extra": None}


@pytest.mark.plain_irrelevant
def test_a_dropped_field_that_does_not_decode_is_not_kept_in_extra() -> None:
    mapped = map_record(PATIENTS, {"PatNum": 5, "SSN": ["not", "text"]})
    assert mapped.row == {"patnum": 5, "ssn": None, "odmirror_extra": None}
    assert mapped.invalid == []


@pytest.mark.plain_irrelevant
def test_dropping_an_unknown_field_keeps_it_out_of_extra() -> None:
    policy = policy_from_config({"fields": {"DriverLicense": "drop"}}, "c", {})
    mapped = map_record(PATIENTS, {"PatNum": 5, "DriverLicense": "D123", "New": 1}, policy)
    assert mapped.row == {"patnum": 5, "odmirror_extra": {"New": 1}}


@pytest.mark.plain_irrelevant
def test_hmac_of_a_text_field_is_stored_in_its_column() -> None:
    mapped = map_record(PATIENTS, {"PatNum": 5, "LName": "Smith", "FName": "Jo"}, hashing("LName"))
    assert mapped.row == {
        "patnum": 5,
        "lname": digest("Smith"),
        "fname": "Jo",
        "odmirror_extra": None,
    }


@pytest.mark.plain_irrelevant
def test_hmac_of_a_date_goes_to_extra_and_the_column_is_null() -> None:
    policy = hashing("Birthdate", "NewSecret")
    record = {"PatNum": 5, "Birthdate": "1976-05-24", "NewSecret": "s", "SSN": SSN}
    mapped = map_record(PATIENTS, record, policy)
    assert mapped.row == {
        "patnum": 5,
        "birthdate": None,
        "ssn": None,
        "odmirror_extra": {"Birthdate": digest("1976-05-24"), "NewSecret": digest("s")},
    }
    assert mapped.invalid == [] and mapped.unknown == ["NewSecret"]


@pytest.mark.plain_irrelevant
def test_the_same_value_gives_the_same_digest_so_rows_can_be_joined() -> None:
    policy = hashing("Email")
    one = map_record(PATIENTS, {"PatNum": 1, "Email": "a@example.com"}, policy).row["email"]
    two = map_record(PATIENTS, {"PatNum": 2, "Email": "a@example.com"}, policy).row["email"]
    other = map_record(PATIENTS, {"PatNum": 3, "Email": "b@example.com"}, policy).row["email"]
    assert one == two != other
    assert "a@example.com" not in one


@pytest.mark.plain_irrelevant
def test_a_reject_payload_follows_the_policy() -> None:
    record = {"LName": "Smith", "SSN": SSN, "Birthdate": "1976-05-24", "Note": "x" * 5000}
    reject = rejects.rejected(PATIENTS, record, "no PatNum", hashing("LName"))
    assert reject.payload == {
        "LName": digest("Smith"),
        "Birthdate": "1976-05-24",
        "Note": "x" * rejects.MAX_TEXT + "... [5000 characters, cut]",
    }
    assert reject.key is None and reject.loaded is False


# --- end to end: database, logs, errors ---------------------------------------------------------


def hostile_patients() -> list[dict[str, Any]]:
    """Records whose PHI must not leak, some good, some broken."""
    base = {"DateTStamp": "2025-01-02 03:04:05", "serverDateTime": "2025-01-02 04:00:00"}
    return [
        {**base, "PatNum": 1, "LName": "Leakname", "SSN": SSN, "Birthdate": "1980-01-02"},
        {
            **base,
            "PatNum": 2,
            "LName": "Otherleak",
            "SSN": "987-65-4321",
            "Birthdate": "1999-02-30",
        },
        {**base, "LName": "Nokeyleak", "SSN": "555-44-3333", "Birthdate": "1970-07-07"},
        {**base, "PatNum": "Keyleak", "FName": "Textkeyleak", "SSN": "111-22-3333"},
    ]


@pytest.fixture
def hostile_server() -> Iterator[Scripted]:
    """An API that sends `hostile_patients()` as its whole patient list."""
    server = Scripted(one_page(hostile_patients()))
    yield server
    server.stop()


SECRETS_IN_DATA = ("Leakname", "Otherleak", "Nokeyleak", "Keyleak", "1980-01-02", "1999-02-30")
SSNS = (SSN, "987-65-4321", "555-44-3333", "111-22-3333")


def test_a_sync_stores_no_ssn_anywhere_and_logs_no_phi(
    engine: Engine, hostile_server: Scripted, caplog: pytest.LogCaptureFixture
) -> None:
    sim = hostile_server
    settings = settings_for(sim, engine.url.render_as_string(hide_password=False))
    with caplog.at_level(logging.DEBUG):
        result = run_sync(settings)[0]
    assert (result.stats.rejected, result.stats.set_aside) == (2, 1)
    rows = mirror(engine)
    assert sorted(rows) == [1, 2]
    assert all(row["ssn"] is None for row in rows.values())
    assert rows[2]["odmirror_extra"] == {"Birthdate": "1999-02-30"}
    with engine.connect() as conn:
        stored = [dict(r) for r in conn.execute(select(Rejected)).mappings()]
    assert not any(s in repr(stored) for s in SSNS)
    assert {r["key"] for r in stored} == {None, "2"}
    logged = caplog.text + result.summary()
    assert not any(s in logged for s in (*SECRETS_IN_DATA, *SSNS))


def test_no_ssn_in_the_sqlite_file(tmp_path: Path, hostile_server: Scripted) -> None:
    sim = hostile_server
    db = tmp_path / "mirror.db"
    path = write_config(tmp_path, sim, f"sqlite:///{db}")
    assert main(["init", "--config", str(path)]) == 0
    assert main(["sync", "--config", str(path)]) == 0
    assert main(["sync", "--config", str(path), "--full"]) == 0
    data = b"".join(p.read_bytes() for p in tmp_path.glob("mirror.db*"))
    assert b"Leakname" in data  # the check below can see text in the file
    assert not any(s.encode() in data for s in SSNS)


def test_cli_logs_and_summary_carry_no_phi(
    tmp_path: Path, hostile_server: Scripted, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = hostile_server
    path = write_config(tmp_path, sim, f"sqlite:///{tmp_path / 'm.db'}")
    assert main(["init", "--config", str(path)]) == 0
    assert main(["-v", "sync", "--config", str(path)]) == 0
    out = capsys.readouterr()
    assert "2 rejected, 1 with values set aside" in out.out
    assert not any(s in out.out + out.err for s in (*SECRETS_IN_DATA, *SSNS, "NFF6i0KrXrxDkZHt"))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://odm:Pa55w0rd-S3cret@127.0.0.1:1/test",
        "postgresql+psycopg://odm:Pa55w0rd-S3cret@127.0.0.1:notaport/test",
        "postgresql+psycopg://odm:Pa55w0rd-S3cret@127.0.0.1:1/test?sslmode=bogus",
        "postgresql+psycopg://odm:Pa55w0rd%40S3cret@127.0.0.1:1/test",
        "postgresql+psycopg//odm:Pa55w0rd-S3cret@127.0.0.1:1/test",
    ],
)
@pytest.mark.parametrize("command", ["init", "sync", "status"])
def test_the_database_password_is_masked_in_every_message(
    tmp_path: Path, make_sim: Any, capsys: pytest.CaptureFixture[str], url: str, command: str
) -> None:
    path = write_config(tmp_path, make_sim(1), url)
    assert main([command, "--config", str(path)]) != 0
    err = capsys.readouterr().err
    assert err.startswith("odmirror: error: ") and err.count("\n") == 1
    assert "Pa55w0rd" not in err


def test_the_sqlite_mirror_is_readable_by_its_owner_only(tmp_path: Path, make_sim: Any) -> None:
    old = os.umask(0o022)
    try:
        path = write_config(tmp_path, make_sim(20), f"sqlite:///{tmp_path / 'private.db'}")
        assert main(["init", "--config", str(path)]) == 0
        assert main(["sync", "--config", str(path)]) == 0
        engine = make_engine(f"sqlite:///{tmp_path / 'private.db'}")
        with engine.connect():  # while a connection is open, the WAL files exist
            files = sorted(tmp_path.glob("private.db*"))
            modes = {stat.S_IMODE(f.stat().st_mode) for f in files}
        engine.dispose()
    finally:
        os.umask(old)
    names = ["private.db", "private.db-shm", "private.db-wal", "private.db.lock"]
    assert [f.name for f in files] == names
    assert modes == {0o600}


@pytest.mark.plain_irrelevant
def test_default_policy_object_is_the_settings_default() -> None:
    assert settings_from_dict(config()).pii == DEFAULT_POLICY


def test_switching_a_field_to_drop_erases_it_at_the_next_full_sync(
    engine: Engine, make_sim: Any
) -> None:
    sim = make_sim(120)
    url = engine.url.render_as_string(hide_password=False)
    keep = policy_from_config({"fields": {"SSN": "keep"}}, "c", {})
    run_sync(dataclasses.replace(settings_for(sim, url), pii=keep))
    stored = {n: r["ssn"] for n, r in mirror(engine).items()}
    assert stored == {r["PatNum"]: r["SSN"] for r in sim.store.all()}
    assert any(stored.values())
    run_sync(settings_for(sim, url), full=True)
    assert all(r["ssn"] is None for r in mirror(engine).values())


@pytest.mark.plain_irrelevant
@given(st.dictionaries(st.sampled_from(["SSN", "LName", "PatNum", "Birthdate", "X"]), st.text()))
def test_no_reject_payload_holds_a_dropped_field(record: dict[str, Any]) -> None:
    policy = policy_from_config({"fields": {"Birthdate": "drop"}}, "c", {})
    payload = rejects.rejected(PATIENTS, record, "no PatNum", policy).payload
    assert "SSN" not in payload and "Birthdate" not in payload
    assert set(payload) == set(record) - {"SSN", "Birthdate"}


def test_credentials_in_the_api_url_never_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "config.yaml"
    path.write_text(
        f"api:\n  base_url: http://proxyuser:Hunter2-S3cret@127.0.0.1:{port}/api/v1\n"
        "  developer_key: NFF6i0KrXrxDkZHt\n  customer_key: VzkmZEaUWOjnQX2z\n"
        "  min_request_interval: 0\n  max_retries: 0\n"
        f"database:\n  url: sqlite:///{tmp_path / 'm.db'}\n",
        encoding="utf-8",
    )
    assert main(["init", "--config", str(path)]) == 0
    assert main(["sync", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the API at 127.0.0.1:{port}: connection refused" in err
    assert "Hunter2" not in err and "proxyuser" not in err


@pytest.mark.plain_irrelevant
@pytest.mark.parametrize(
    ("text", "url", "expected"),
    [
        ("failed for postgresql://u:pw1@h/db", None, "failed for postgresql://u:***@h/db"),
        ("conninfo: host=h password=pw2 user=u", None, "conninfo: host=h password=*** user=u"),
        ("said pw%403 and pw@3", "postgresql://u:pw%403@h/db", "said *** and ***"),
        ("no secret here", "sqlite:///m.db", "no secret here"),
    ],
)
def test_mask_password(text: str, url: str | None, expected: str) -> None:
    assert mask_password(text, url) == expected


@pytest.mark.plain_irrelevant
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://u:pw@h/db", "postgresql+psycopg://u:***@h/db"),
        ("postgresql+psycopg//u:pw@h/db", "(invalid database URL)"),
        ("postgresql://u:pw@h:port/db", "(invalid database URL)"),
        ("(mirror)", "(mirror)"),
    ],
)
def test_safe_url(url: str, shown: str) -> None:
    assert safe_url(url) == shown
