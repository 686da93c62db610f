"""The typed settings odmirror runs with, one frozen dataclass per config section.

etl.config reads them from the YAML file; a field's annotation (a string, under
`from __future__ import annotations`) is also what the config's value check expects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from etl.config.bulk_sftp import BulkSftpSettings
from etl.config.practices import PracticeSettings
from etl.mapping.pii import DEFAULT_POLICY, PiiPolicy

#: What `sync.resources` means when the config does not say: the patient mirror, as before.
#: The other tables are opt-in, so an upgrade never starts pulling new kinds of data unasked.
DEFAULT_RESOURCES = ("patients",)
#: Database sessions one practice's sync holds at most at once (measured on PostgreSQL): the
#: writer, the run lock's own session and the thread that builds the indexes a first load
#: deferred. `sync.max_db_sessions` is shared out in these.
SESSIONS_PER_PRACTICE = 3


@dataclass(frozen=True)
class ApiSettings:
    """Where the Open Dental API is and how hard we may use it."""

    base_url: str
    developer_key: str = field(repr=False)
    customer_key: str = field(repr=False)
    page_size: int = 100
    min_request_interval: float = 5.0
    timeout: float = 60.0
    max_retries: int = 5
    #: Seconds one try may take from its request sent to its answer's last byte.
    response_deadline: float = 90.0
    #: The most one answer may hold once decoded (gzip inflated), in MiB.
    max_response_mb: float = 16.0
    #: The most pages one list may take in one run.
    max_pages: int = 100_000
    #: SQL through ShortQuery (Queries permission): auto (ask once, remember), on or off.
    queries: str = "auto"
    #: First loads of big query-mode tables through POST /queries and SFTP; None: off.
    bulk_sftp: BulkSftpSettings | None = None


@dataclass(frozen=True)
class DatabaseSettings:
    """The mirror database."""

    url: str
    #: PostgreSQL schema of the views that union all practices (only with `practices:`).
    group_schema: str = "odmirror_group"
    #: PostgreSQL: `odmirror init` creates the schema odmirror_mysql of MySQL-compatible
    #: functions (CURDATE, DATE_FORMAT, IFNULL, ...) that Open Dental's queries use.
    mysql_functions: bool = True


@dataclass(frozen=True)
class SyncSettings:
    """How incremental runs overlap and how often `odmirror run` syncs."""

    overlap_seconds: int = 60
    interval_minutes: float = 15.0
    resources: tuple[str, ...] = DEFAULT_RESOURCES
    #: Open Dental tables read with SQL (query mode, etl.sync.query_mode), any of its 458.
    tables: tuple[str, ...] = ()
    #: How often a table of `tables` without a change column, or a resource the API lists whole
    #: (claimprocs, paysplits, ...: etl.sync.cadence), is read whole (90m, 1d); None: every run.
    whole_tables_every: str | None = None
    #: A group's bound on database sessions at once, across its practices (0: none): practices
    #: sync max_db_sessions // SESSIONS_PER_PRACTICE at a time, the others wait their turn.
    max_db_sessions: int = 0
    #: How often the tables read are reconciled with the office by key ranges, to find the rows
    #: Open Dental deleted (etl.sync.reconcile; needs SQL queries): 12h, 1d; "0"/off: never.
    reconcile_every: str | None = "1d"
    #: What reconciliation does with a row the office deleted: mark (odmirror_gone_at) or delete.
    removed_rows: str = "mark"


@dataclass(frozen=True)
class ScheduleSettings:
    """When `odmirror run` syncs: `every` (15m, 2h) or a crontab line; neither means
    every `sync.interval_minutes`. Repeated failures wait longer, up to `backoff_max`."""

    every: str | None = None
    cron: str | None = None
    timezone: str = "UTC"
    backoff_max: str = "4h"


@dataclass(frozen=True)
class StatusSettings:
    """When `odmirror status` calls the mirror stale (default: two schedule periods)."""

    max_age: str | None = None


@dataclass(frozen=True)
class LogSettings:
    """How odmirror logs: `text` for people, `json` (one object a line) for collectors."""

    format: str = "text"


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus metrics (etl/metrics.py): served by `odmirror run` on `port` (0: off) with
    /healthz, written after `odmirror sync` to `textfile` (node_exporter), pushed to
    `pushgateway`. /healthz fails when a resource's last success is older than `max_age`
    (default: as `status.max_age`)."""

    port: int = 0
    address: str = "127.0.0.1"
    textfile: str | None = None
    pushgateway: str | None = None
    max_age: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything odmirror needs to run."""

    api: ApiSettings
    database: DatabaseSettings
    sync: SyncSettings = field(default_factory=SyncSettings)
    pii: PiiPolicy = DEFAULT_POLICY
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    status: StatusSettings = field(default_factory=StatusSettings)
    log: LogSettings = field(default_factory=LogSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    #: A dental group's practices (etl/practice_config.py); empty for a single practice.
    practices: tuple[PracticeSettings, ...] = ()
