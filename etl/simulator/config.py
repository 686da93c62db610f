"""How the simulated API behaves, and what it records of each request."""

from __future__ import annotations

from dataclasses import dataclass

from etl.simulator.query import ORDERS

CAPS = {"service": 1000, "remote": 100}


@dataclass
class SimulatorConfig:
    """How the simulated API behaves, in particular where the vendor documents nothing."""

    developer_key: str = "NFF6i0KrXrxDkZHt"  # Open Dental's published test keys
    customer_key: str = "VzkmZEaUWOjnQX2z"
    mode: str = "service"
    page_cap: int | None = None
    throttle_interval: float = 5.0
    throttle_status: int = 429
    retry_after: int | None = None
    inclusive_datetstamp: bool = True
    order: str = "patnum"
    hide_deleted: bool = True
    error_body_json: bool = False
    #: Seconds each answer takes on top of the work (the office's eConnector, the internet).
    latency: float = 0.0
    #: Whether PUT /queries/ShortQuery answers (True) or refuses the key (401).
    queries_allowed: bool = True
    #: Whether ShortQuery also reads the REST endpoints' tables (claimproc, recall, ...), as
    #: the office's one database would: copied, raw, into the office database before each query.
    sql_reads_rest: bool = True
    #: With sql_reads_rest: a REST table is copied again only after its rows changed (their
    #: `Rows.version`), not for every query. A change made inside a row without `touch()` is
    #: then not seen: for the benchmarks, whose office database is there before a run starts.
    keep_office_copies: bool = False

    def __post_init__(self) -> None:
        if self.mode not in CAPS:
            raise ValueError(f"mode must be one of {sorted(CAPS)}, not {self.mode!r}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {sorted(ORDERS)}, not {self.order!r}")

    @property
    def cap(self) -> int:
        """The page cap: page_cap if set, else the mode's (100 Remote, 1000 Service)."""
        return CAPS[self.mode] if self.page_cap is None else self.page_cap


@dataclass
class RequestLog:
    """One request the simulator received; status and rows are filled in once answered."""

    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    status: int
    arrived: float
    rows: int = 0
    #: The request's body (a ShortQuery's JSON), as sent.
    body: bytes = b""
