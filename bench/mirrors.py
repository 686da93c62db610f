"""Fresh mirrors for the benchmark: a SQLite file, a PostgreSQL schema or a MySQL database."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import make_url, text

from etl.mirror.engine import make_engine, upgrade
from etl.simulator import SimulatorConfig

KEYS = SimulatorConfig()
MYSQL_DEFAULT = "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"


class Mirror:
    """One mirror database and a config file that points `odmirror sync` at it."""

    def __init__(self, url: str, tmp: Path, label: str, schema: str = "") -> None:
        self.url, self.tmp, self.label, self.schema = url, tmp, label, schema
        self._xid = 0

    def config(
        self, base_url: str, page_size: int, interval: float, resources: Sequence[str] = ()
    ) -> Path:
        """Write the YAML config of a sync of this mirror from base_url (patients by default)."""
        path = self.tmp / f"{self.label}.yaml"
        chosen = "".join(f"    - {name}\n" for name in resources)
        path.write_text(
            f"api:\n  base_url: {base_url}\n  developer_key: {KEYS.developer_key}\n"
            f"  customer_key: {KEYS.customer_key}\n  page_size: {page_size}\n"
            f"  min_request_interval: {interval}\n  timeout: 60\n"
            f"database:\n  url: '{self.url}'\n"
            + (f"sync:\n  resources:\n{chosen}" if chosen else ""),
            encoding="utf-8",
        )
        return path

    def mark(self) -> None:
        """On PostgreSQL: remember the transaction id before a run."""
        if self.schema:
            self._xid = int(self._scalar("SELECT txid_current()")) % 2**32

    def note(self) -> str:
        """On PostgreSQL: rows of the patient table that a transaction after mark() wrote."""
        if not self.schema or self.label.endswith("dlt"):
            return ""
        query = f"SELECT count(*) FROM patient WHERE xmin::text::bigint > {self._xid}"
        return f"rows written (new xmin) by this run: {self._scalar(query)}"

    def _scalar(self, query: str) -> object:
        engine = make_engine(self.url)
        with engine.connect() as conn:
            value = conn.execute(text(query)).scalar_one()
        engine.dispose()
        return value


def mirror_for(
    db: str, tmp: Path, pg_url: str, label: str, mysql_url: str = MYSQL_DEFAULT
) -> Mirror:
    """A fresh, empty mirror at the current schema (for dlt, an empty schema: it makes its own)."""
    if db == "sqlite":
        path = tmp / f"{label}.db"
        path.unlink(missing_ok=True)
        mirror = Mirror(f"sqlite:///{path}", tmp, f"{db}-{label}")
    elif db == "mysql":
        mirror = Mirror(_fresh_mysql(mysql_url, f"odmirror_bench_{label}"), tmp, f"{db}-{label}")
    else:
        name = f"odmirror_bench_{label}"
        admin = make_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            conn.execute(text(f"DROP SCHEMA IF EXISTS {name}_staging CASCADE"))  # dlt's
            conn.execute(text(f"CREATE SCHEMA {name}"))
        admin.dispose()
        joiner = "&" if "?" in pg_url else "?"
        url = f"{pg_url}{joiner}options=-csearch_path%3D{name}"
        mirror = Mirror(url, tmp, f"{db}-{label}", name)
    if label != "dlt":
        engine = make_engine(mirror.url)
        upgrade(engine)
        engine.dispose()
    return mirror


def _fresh_mysql(server_url: str, name: str) -> str:
    """Drop and create database `name` on the MySQL/MariaDB server; its URL."""
    admin = make_engine(server_url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)
