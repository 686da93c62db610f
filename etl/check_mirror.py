"""The checks of `odmirror check` for one office: its API, and its mirror database."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from etl.api.probe import probe, throttle_text
from etl.errors import OdMirrorError
from etl.findings import Finding, cut
from etl.mirror.engine import current_revision, describe, head_revision, make_engine, safe_url
from etl.mirror.lock import MirrorLocked, mirror_lock
from etl.sync.state import utcnow

if TYPE_CHECKING:
    from etl.config.settings import Settings

#: Less free space than this on a SQLite mirror's disk fails the check.
MIN_FREE_BYTES = 1 << 30


def api_findings(settings: Settings, practice: str | None) -> Iterator[Finding]:
    """The API: reachable with these keys, its mode and clock, the throttle, SQL queries."""
    api = settings.api
    suits, throttle = throttle_text(api)
    try:
        answer = probe(api)
    except OdMirrorError as exc:
        yield Finding("api", False, f"{api.base_url}: {failure(exc)}", practice)
        yield Finding("throttle", suits, throttle, practice)
        return
    clock = clock_text(answer.server_time, utcnow())
    detail = f"{api.base_url} answers ({answer.mode}; version not told by the API); {clock}"
    yield Finding("api", True, detail, practice)
    yield Finding("throttle", suits, throttle, practice)
    # Not a failure: the mirror reads the API's lists, not SQL; Open Dental's own reports on
    # the mirror need no API permission either.
    yield Finding("sql queries", True, answer.queries, practice)


def database_findings(url: str, practice: str | None) -> Iterator[Finding]:
    """The mirror: reachable, writable, at this version's schema, its lock free, disk space."""
    shown = safe_url(url)
    parsed = make_url(url)
    file = Path(parsed.database or "") if parsed.get_backend_name() == "sqlite" else None
    if file is not None and not file.is_file():
        detail = f"no mirror at {file}: run `odmirror init` (or check database.url)"
        yield Finding("database", False, detail, practice)
        return
    try:
        engine = make_engine(url)
    except OdMirrorError as exc:
        yield Finding("database", False, failure(exc), practice)
        return
    try:
        written = _write_nothing(engine)
        yield Finding("database", True, f"{shown} is reachable and {written}", practice)
        yield _schema(engine, practice)
    except SQLAlchemyError as exc:
        yield Finding("database", False, failure(OdMirrorError(describe(exc, url))), practice)
        return
    finally:
        engine.dispose()
    try:
        with mirror_lock(url):
            pass
        yield Finding("lock", True, "free: no other odmirror is syncing this mirror", practice)
    except MirrorLocked as exc:
        yield Finding("lock", False, failure(exc), practice)
    if file is not None:
        yield _disk(file, practice)


def _write_nothing(engine: Engine) -> str:
    # A table made and rolled back: the rights a sync needs, without leaving a trace.
    name = f"odmirror_check_{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(text(f"CREATE TABLE {name} (x INTEGER)"))
        conn.execute(text(f"INSERT INTO {name} (x) VALUES (1)"))
        transaction.rollback()
    return "writable"


def _schema(engine: Engine, practice: str | None) -> Finding:
    current, head = current_revision(engine), head_revision()
    if current == head:
        return Finding("schema", True, f"at revision {head}, this version's", practice)
    if current is None:
        return Finding("schema", False, "none yet: run `odmirror init`", practice)
    detail = f"at revision {current}, this version needs {head}: run `odmirror init`"
    return Finding("schema", False, detail, practice)


def _disk(file: Path, practice: str | None) -> Finding:
    free = shutil.disk_usage(file.resolve().parent).free
    text_free = f"{free / (1 << 30):.1f} GiB free beside {file}"
    if free < MIN_FREE_BYTES:
        return Finding("disk", False, f"only {text_free} (less than 1 GiB)", practice)
    return Finding("disk", True, text_free, practice)


def clock_text(server_time: dt.datetime | None, now: dt.datetime) -> str:
    """The office clock against this machine's (UTC, naive): its zone offset and its skew.

    The office's time has no zone: the offset is rounded to a quarter hour, the rest is skew.
    """
    if server_time is None:
        return "office clock not told (no patient to carry serverDateTime)"
    offset = (server_time - now).total_seconds()
    zone = round(offset / 900) * 900
    skew = offset - zone
    sign, hours, minutes = "+" if zone >= 0 else "-", abs(zone) // 3600, abs(zone) % 3600 // 60
    return (
        f"office clock {server_time:%Y-%m-%d %H:%M:%S} (UTC{sign}{hours:02.0f}:{minutes:02.0f}, "
        f"{abs(skew):.0f} s {'ahead of' if skew >= 0 else 'behind'} this machine's clock)"
    )


def failure(exc: Exception) -> str:
    """An error's one line, fit to show: secrets and quoted values hidden, cut short."""
    text = str(exc) if isinstance(exc, OdMirrorError) else f"{type(exc).__name__}: {exc}"
    return cut(text)
