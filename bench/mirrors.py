"""Fresh mirrors for the benchmark: a SQLite file, or a PostgreSQL schema of its own."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from etl.schema import make_engine, upgrade
from etl.simulator import SimulatorConfig

KEYS = SimulatorConfig()


class Mirror:
    """One mirror database and a config file that points `odmirror sync` at it."""

    def __init__(self, url: str, tmp: Path, label: str, schema: str = "") -> None:
        self.url, self.tmp, self.label, self.schema = url, tmp, label, schema
        self._writes = (0, 0)

    def config(self, base_url: str, page_size: int, interval: float) -> Path:
        """Write the YAML config of a sync of this mirror from base_url."""
        path = self.tmp / f"{self.label}.yaml"
        path.write_text(
            f"api:\n  base_url: {base_url}\n  developer_key: {KEYS.developer_key}\n"
            f"  customer_key: {KEYS.customer_key}\n  page_size: {page_size}\n"
            f"  min_request_interval: {interval}\n  timeout: 60\n"
            f"database:\n  url: '{self.url}'\n",
            encoding="utf-8",
        )
        return path

    def note(self) -> str:
        """On PostgreSQL: row versions written to the patient table since the last note."""
        if not self.schema:
            return ""
        engine = make_engine(self.url)
        query = text(
            "SELECT COALESCE(SUM(n_tup_ins), 0), COALESCE(SUM(n_tup_upd), 0) "
            "FROM pg_stat_user_tables WHERE schemaname = :s AND relname = 'patient'"
        )
        with engine.connect() as conn:
            inserted, updated = conn.execute(query, {"s": self.schema}).one()
        engine.dispose()
        before, self._writes = self._writes, (int(inserted), int(updated))
        added = (self._writes[0] - before[0], self._writes[1] - before[1])
        return f"pg_stat: {added[0]} tuples inserted, {added[1]} updated (new row versions)"


def mirror_for(db: str, tmp: Path, pg_url: str, label: str) -> Mirror:
    """A fresh, empty mirror at the current schema (for dlt, an empty schema: it makes its own)."""
    if db == "sqlite":
        path = tmp / f"{label}.db"
        path.unlink(missing_ok=True)
        mirror = Mirror(f"sqlite:///{path}", tmp, f"{db}-{label}")
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
