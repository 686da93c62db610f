"""What the benchmark runs in child processes: timed from outside, peak RSS from wait4.

    python bench/children.py fetch URL PAGE_SIZE INTERVAL      # the floor: pages, no database
    python bench/children.py naive URL DB_URL ROWS             # one INSERT and commit per row
    python bench/children.py dlt URL PG_URL DATASET PAGE_SIZE  # dlt rest_api, merge
    python bench/children.py replay URL PAGE_SIZE INTERVAL LOG  # the same requests, no database
    python bench/children.py naive_all URL DB_URL ROWS NAMES   # naive loop, every resource
    python bench/children.py dlt_all URL PG_URL DATASET PAGE_SIZE NAMES  # dlt, every resource

Each prints one line: rows and requests.
"""

from __future__ import annotations

import json
import sys
import tempfile
from typing import Any

import requests
from sqlalchemy import make_url

from etl.api.client import ApiClient
from etl.catalog.resources import PATIENTS, RESOURCES
from etl.cli import finish
from etl.config.settings import ApiSettings
from etl.mapping.record import map_record
from etl.mirror.engine import make_engine
from etl.mirror.upsert import upsert_statement
from etl.simulator import SimulatorConfig

KEYS = SimulatorConfig()
AUTH = f"ODFHIR {KEYS.developer_key}/{KEYS.customer_key}"


def fetch(url: str, page_size: str, interval: str) -> None:
    """Page through every patient as the sync must (the list, then Deleted), JSON decoded."""
    settings = ApiSettings(
        base_url=url,
        developer_key=KEYS.developer_key,
        customer_key=KEYS.customer_key,
        page_size=int(page_size),
        min_request_interval=float(interval),
    )
    rows = 0
    with ApiClient(settings) as client:
        for params in ({}, {"PatStatus": "Deleted"}):
            for page in client.pages(PATIENTS.path, params):
                rows += len(page.rows)
        print(f"{rows} rows {client.requests_made} requests")


def replay(url: str, page_size: str, interval: str, log: str) -> None:
    """Send the GETs a sync sent (a JSON list of [method, path, query]), in order, JSON decoded.

    The floor of a whole practice: the same client, the same pages, no mapping, no database.
    """
    settings = ApiSettings(
        base_url=url,
        developer_key=KEYS.developer_key,
        customer_key=KEYS.customer_key,
        page_size=int(page_size),
        min_request_interval=float(interval),
    )
    with open(log, encoding="utf-8") as file:
        sent = json.load(file)
    rows = 0
    with ApiClient(settings) as client:
        for method, path, query in sent:
            if method == "GET":
                answer = client.get(path, query)
                rows += len(answer) if isinstance(answer, list) else 1
        print(f"{rows} rows {client.requests_made} requests")


def naive_all(url: str, db_url: str, limit: str, names: str) -> None:
    """The naive loop over every resource: a page, then one upsert and commit per row.

    Each resource stops after ROWS / (number of resources) rows: its rate is what counts.
    """
    engine = make_engine(db_url)
    session = requests.Session()
    session.headers["Authorization"] = AUTH
    chosen = names.split(",")
    each, rows, calls = max(1, int(limit) // len(chosen)), 0, 0
    for name in chosen:
        resource = RESOURCES[name]
        stmt = upsert_statement(resource.table, engine.dialect.name)
        path = "patients/Simple" if name == "patients" else resource.path
        done, offset = 0, 0
        while done < each:
            page = session.get(f"{url}/{path}", params={"Offset": offset}).json()
            calls += 1
            for record in page[: each - done]:
                with engine.begin() as conn:
                    conn.execute(stmt, map_record(resource, record).row)
                done += 1
            if len(page) == 0 or done >= each:
                break
            offset += len(page)
        rows += done
    print(f"{rows} rows {calls} requests")


def naive(url: str, db_url: str, limit: str) -> None:
    """What most hand-written scripts do: each row its own INSERT and commit."""
    engine = make_engine(db_url)
    stmt = upsert_statement(PATIENTS.table, engine.dialect.name)
    session, offset, rows, calls = requests.Session(), 0, 0, 0
    session.headers["Authorization"] = AUTH
    while rows < int(limit):
        page = session.get(f"{url}/patients/Simple", params={"Offset": offset}).json()
        calls += 1
        for record in page[: int(limit) - rows]:
            with engine.begin() as conn:
                conn.execute(stmt, map_record(PATIENTS, record).row)
            rows += 1
        if not page:
            break
        offset += len(page)
    print(f"{rows} rows {calls} requests")


def dlt_merge(url: str, pg_url: str, dataset: str, page_size: str) -> None:
    """dlt's rest_api source, offset paging, merged on PatNum into PostgreSQL."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    # dlt wants a plain URL with a password (trust authentication ignores it).
    url_obj = make_url(pg_url).set(drivername="postgresql")
    credentials = url_obj.set(password=url_obj.password or "unused").render_as_string(False)
    config: Any = {
        "client": {"base_url": url, "headers": {"Authorization": AUTH}},
        "resources": [
            {
                "name": "patient",
                "primary_key": "PatNum",
                "write_disposition": "merge",
                "endpoint": {
                    "path": "patients/Simple",
                    "paginator": {
                        "type": "offset",
                        "limit": int(page_size),
                        "offset_param": "Offset",
                        "limit_param": "Limit",
                        "total_path": None,
                        "stop_after_empty_page": True,
                    },
                },
            }
        ],
    }
    pipeline = dlt.pipeline(
        pipeline_name=dataset,
        destination=dlt.destinations.postgres(credentials=credentials),
        dataset_name=dataset,
        pipelines_dir=tempfile.mkdtemp(prefix="odmirror-bench-dlt-"),
    )
    info = pipeline.run(rest_api_source(config))
    rows = sum(m.get("patient", 0) for m in _row_counts(pipeline))
    print(f"{rows} rows {info.loads_ids and len(info.loads_ids)} loads")


def dlt_all(url: str, pg_url: str, dataset: str, page_size: str, names: str) -> None:
    """dlt's rest_api source over every resource, offset paging, merged on each key."""
    import dlt
    from dlt.sources.rest_api import rest_api_source

    url_obj = make_url(pg_url).set(drivername="postgresql")
    credentials = url_obj.set(password=url_obj.password or "unused").render_as_string(False)
    resources = []
    for name in names.split(","):
        resource = RESOURCES[name]
        path = "patients/Simple" if name == "patients" else resource.path
        resources.append(
            {
                "name": resource.table_name,
                "primary_key": resource.key,
                "write_disposition": "merge",
                "endpoint": {"path": path, "paginator": _offset(int(page_size))},
            }
        )
    config: Any = {"client": {"base_url": url, "headers": {"Authorization": AUTH}}}
    config["resources"] = resources
    pipeline = dlt.pipeline(
        pipeline_name=dataset,
        destination=dlt.destinations.postgres(credentials=credentials),
        dataset_name=dataset,
        pipelines_dir=tempfile.mkdtemp(prefix="odmirror-bench-dlt-"),
    )
    pipeline.run(rest_api_source(config))
    rows = sum(sum(counts.values()) for counts in _row_counts(pipeline))
    print(f"{rows} rows")


def _offset(limit: int) -> dict[str, Any]:
    return {
        "type": "offset",
        "limit": limit,
        "offset_param": "Offset",
        "limit_param": "Limit",
        "total_path": None,
        "stop_after_empty_page": True,
    }


def _row_counts(pipeline: Any) -> list[dict[str, int]]:
    trace = pipeline.last_trace
    return [trace.last_normalize_info.row_counts] if trace and trace.last_normalize_info else []


if __name__ == "__main__":
    commands = {
        "fetch": fetch,
        "naive": naive,
        "dlt": dlt_merge,
        "replay": replay,
        "naive_all": naive_all,
        "dlt_all": dlt_all,
    }
    commands[sys.argv[1]](*sys.argv[2:])
    # Ended as `odmirror sync` ends (no teardown of every object), so that the floor does not
    # count what the sync does not do.
    finish(0)
