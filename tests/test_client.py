"""The API client against the simulator over real HTTP: auth, paging, pacing, retries, errors."""

from __future__ import annotations

import itertools
import math
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from requests import PreparedRequest, Response

from etl.api.client import ApiClient
from etl.config.settings import ApiSettings
from etl.errors import ApiError, AuthError, OfficeUnreachableError

DEV, CUST = "NFF6i0KrXrxDkZHt", "VzkmZEaUWOjnQX2z"


def client_for(sim: Any, **overrides: Any) -> ApiClient:
    values: dict[str, Any] = {
        "base_url": sim.base_url,
        "developer_key": DEV,
        "customer_key": CUST,
        "page_size": 100,
        "min_request_interval": 0.0,
        "timeout": 5.0,
        "max_retries": 3,
        **overrides,
    }
    return ApiClient(ApiSettings(**values), backoff_factor=0.01)


def all_rows(client: ApiClient, params: dict[str, Any] | None = None) -> list[Any]:
    return [row for page in client.pages("patients/Simple", params) for row in page.rows]


def test_auth_header_and_paging_until_a_short_page(make_sim: Any) -> None:
    sim = make_sim(250, hide_deleted=False)
    with client_for(sim) as client:
        rows = all_rows(client)
    assert [r["PatNum"] for r in rows] == list(range(1, 251))
    simple = [r for r in sim.requests if r.path.endswith("Simple")]
    assert [r.query["Offset"] for r in simple] == ["0", "100", "200"]
    assert {r.query["Limit"] for r in simple} == {"100"}
    assert {r.authorization for r in simple} == {f"ODFHIR {DEV}/{CUST}"}


def test_exactly_full_last_page_ends_with_an_empty_page(make_sim: Any) -> None:
    sim = make_sim(200, hide_deleted=False)
    with client_for(sim) as client:
        assert len(all_rows(client)) == 200
    assert len(sim.requests) == 3


def test_a_silently_capped_limit_is_followed(make_sim: Any) -> None:
    sim = make_sim(250, mode="remote", throttle_interval=0.0, hide_deleted=False)
    with client_for(sim, page_size=1000) as client:
        assert len(all_rows(client)) == 250


def test_requests_are_never_closer_than_the_interval_at_the_server(make_sim: Any) -> None:
    sim = make_sim(250)
    with client_for(sim, min_request_interval=0.25) as client:
        all_rows(client)
    arrivals = [r.arrived for r in sim.requests]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(gaps) == 2 and min(gaps) >= 0.25


def paced_sleeps(
    make_sim: Any, before_send: Callable[[int], float], proxied: bool = False
) -> list[float]:
    """The waits of a client on a clock of its own: each request takes 0.3 s to answer, the
    interval is 1 s, and the i-th request (from 0) leaves before_send(i) s after the client
    read its clock. `proxied`: through an HTTP proxy (the simulator takes proxy requests)."""
    now, slept, sending = [0.0], [], itertools.count()

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    def delay(request: PreparedRequest) -> PreparedRequest:
        now[0] += before_send(next(sending))  # say, another thread held the GIL
        return request

    def slow_answer(response: Response, **_: Any) -> None:
        now[0] += 0.3  # on the client's thread: the server's would race the stamp of sending

    sim = make_sim(250, hide_deleted=False)
    base_url = "http://office-server.invalid:30223/api/v1" if proxied else sim.base_url
    settings = ApiSettings(
        base_url=base_url, developer_key=DEV, customer_key=CUST, min_request_interval=1.0
    )
    with ApiClient(settings, monotonic=lambda: now[0], sleep=sleep) as client:
        if proxied:
            client.session.proxies = {"http": sim.base_url.split("/api/")[0]}
        client.session.auth = delay
        client.session.hooks["response"].append(slow_answer)
        assert len(all_rows(client)) == 250
    return slept


def test_the_wait_overlaps_the_request(make_sim: Any) -> None:
    # From the previous request's sending, plus the slack (2% of the interval and 20 ms, less
    # than the request took).
    assert paced_sleeps(make_sim, lambda _: 0.0) == [0.74, 0.74]


def test_the_wait_counts_from_when_the_request_left(make_sim: Any) -> None:
    """The second request leaves 0.5 s after the client read its clock: it reaches the server
    that much later, and so must the third."""
    assert paced_sleeps(make_sim, lambda i: 0.5 if i == 1 else 0.0) == [0.74, 0.74]


def test_requests_through_an_http_proxy_are_stamped_too(make_sim: Any) -> None:
    assert paced_sleeps(make_sim, lambda i: 0.5 if i == 1 else 0.0, proxied=True) == [0.74, 0.74]


def test_a_paced_client_is_never_throttled(make_sim: Any) -> None:
    sim = make_sim(350, mode="remote", throttle_interval=0.2, hide_deleted=False)
    with client_for(sim, min_request_interval=0.2) as client:
        assert len(all_rows(client)) == 350
    assert {r.status for r in sim.requests} == {200}


def test_throttled_requests_honour_retry_after(make_sim: Any) -> None:
    sim = make_sim(150, mode="remote", throttle_interval=0.5, retry_after=1, hide_deleted=False)
    with client_for(sim) as client:
        assert len(all_rows(client)) == 150
    statuses = [r.status for r in sim.requests]
    assert 429 in statuses
    throttled = statuses.index(429)
    assert sim.requests[throttled + 1].arrived - sim.requests[throttled].arrived >= 1.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_transient_statuses_are_retried(make_sim: Any, status: int) -> None:
    sim = make_sim(10, hide_deleted=False)
    sim.fail_next(status, "try later", count=2)
    with client_for(sim) as client:
        assert len(client.get("patients/Simple")) == 10
        assert client.requests_made == 3


def test_dropped_connections_are_retried(make_sim: Any) -> None:
    sim = make_sim(10, hide_deleted=False)
    sim.drop_next(2)
    with client_for(sim) as client:
        assert len(client.get("patients/Simple")) == 10


def test_retries_are_bounded(make_sim: Any) -> None:
    sim = make_sim(10)
    sim.fail_next(503, "Service Unavailable", count=50)
    with client_for(sim, max_retries=2) as client, pytest.raises(ApiError) as info:
        client.get("patients/Simple")
    assert str(info.value) == "the API failed with 503 after 3 tries: Service Unavailable"
    assert len(sim.requests) == 3


def test_a_stalled_server_times_out(make_sim: Any) -> None:
    sim = make_sim(10)
    sim.stall_next(3.0, count=5)
    with client_for(sim, timeout=0.3, max_retries=1) as client, pytest.raises(ApiError) as info:
        client.get("patients/Simple")
    assert "did not answer within 0.3 s (2 tries)" in str(info.value)


def test_401_is_not_retried_and_says_what_to_fix(make_sim: Any) -> None:
    sim = make_sim(10)
    with (
        client_for(sim, developer_key="WrongDeveloper12") as client,
        pytest.raises(AuthError) as info,
    ):
        client.get("patients/Simple")
    assert "check api.developer_key and api.customer_key" in str(info.value)
    assert "WrongDeveloper12" not in str(info.value)
    assert len(sim.requests) == 1


def test_office_offline_is_reported_as_such(make_sim: Any) -> None:
    sim = make_sim(10)
    sim.office_online = False
    with client_for(sim) as client, pytest.raises(OfficeUnreachableError) as info:
        client.get("patients/Simple")
    assert str(info.value).startswith("the office is unreachable (400)")
    assert len(sim.requests) == 1


def test_a_plain_400_is_not_retried_and_quotes_the_server(make_sim: Any) -> None:
    sim = make_sim(10)
    with client_for(sim) as client, pytest.raises(ApiError) as info:
        client.get("patients/Simple", {"DateTStamp": "not a time"})
    assert "(400)" in str(info.value)
    assert len(sim.requests) == 1


def test_keys_echoed_by_a_server_are_scrubbed(make_sim: Any) -> None:
    sim = make_sim(10)
    sim.fail_next(400, f'"Bad key {CUST} for developer {DEV}"')
    with client_for(sim) as client, pytest.raises(ApiError) as info:
        client.get("patients/Simple")
    assert CUST not in str(info.value) and DEV not in str(info.value)
    assert "Bad key *** for developer ***" in str(info.value)


def test_unknown_path_hints_at_the_base_url(make_sim: Any) -> None:
    sim = make_sim(1)
    with client_for(sim) as client, pytest.raises(ApiError, match=r"check api\.base_url"):
        client.get("no/such/thing")


def test_nobody_listening(make_sim: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = ApiSettings(f"http://127.0.0.1:{port}/api/v1", DEV, CUST, max_retries=1)
    with ApiClient(settings, backoff_factor=0.01) as client, pytest.raises(ApiError) as info:
        client.get("patients/Simple")
    assert str(info.value) == (
        f"cannot reach the API at 127.0.0.1:{port}: connection refused (check api.base_url)"
    )


def test_a_non_json_answer_is_retried(make_sim: Any) -> None:
    sim = make_sim(1)
    sim.fail_next(200, "<html>captive portal</html>")
    with client_for(sim) as client:
        assert [row["PatNum"] for row in client.get("patients/Simple")] == [1]
        assert client.requests_made == 2


def test_a_cap_is_only_reported_when_it_is_one(
    make_sim: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sim = make_sim(100, hide_deleted=False)  # exactly 100 rows, nothing capped
    with client_for(sim, page_size=1000) as client:
        assert len(all_rows(client)) == 100
    assert "caps pages" not in caplog.text
    capped = make_sim(150, mode="remote", throttle_interval=0.0, hide_deleted=False)
    with client_for(capped, page_size=1000) as client:
        assert len(all_rows(client)) == 150
    assert "the API returned 100 rows for Limit=1000: it caps pages at 100" in caplog.text


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[{"PatNum": 1, "LName": "Ann"}]', [{"PatNum": 1, "LName": "Ann"}]),
        (
            '[{"PatNum": 123456789012345678901234567890}]',
            [{"PatNum": 123456789012345678901234567890}],
        ),
        # What msgspec refuses, the json module reads as it always did.
        ('[{"PatNum": 1, "LName": "\\ud800x"}]', [{"PatNum": 1, "LName": "\ud800x"}]),
        ('[{"PatNum": 1, "EstBalance": NaN, "BalTotal": 1e400}]', "nan inf"),
        ('\ufeff[{"PatNum": 1}]', [{"PatNum": 1}]),  # a UTF-8 BOM
        ('[{"PatNum": 1}', None),
    ],
)
def test_answers_are_decoded_as_the_json_module_decodes_them(
    make_sim: Any, body: str, expected: Any
) -> None:
    sim = make_sim(1)
    sim.fail_next(200, body, headers={"Content-Type": "application/json"})
    with client_for(sim) as client:
        if expected is None:  # not JSON: retried, and the next answer is whole
            assert [row["PatNum"] for row in client.get("patients/Simple")] == [1]
            assert client.requests_made == 2
            return
        got = client.get("patients/Simple")
    if expected == "nan inf":
        assert math.isnan(got[0]["EstBalance"]) and got[0]["BalTotal"] == math.inf
    else:
        assert got == expected and type(got[0]["PatNum"]) is int


def test_a_proxy_from_the_environment_is_taken_once_at_start(
    make_sim: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The environment is read when the client is made (not per request): HTTP_PROXY still
    carries every request, and a ~/.netrc entry for the host does not replace our key."""
    sim = make_sim(20, hide_deleted=False)
    monkeypatch.setenv("HTTP_PROXY", sim.base_url.split("/api/")[0])
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine office-server.invalid login someone password secret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    base_url = "http://office-server.invalid:30223/api/v1"  # reachable only through the proxy
    settings = ApiSettings(base_url=base_url, developer_key=DEV, customer_key=CUST)
    with ApiClient(settings) as client:
        monkeypatch.delenv("HTTP_PROXY")  # read at start: a later change is not seen
        assert len(all_rows(client)) == 20
        assert client.session.headers["Authorization"] == f"ODFHIR {DEV}/{CUST}"
