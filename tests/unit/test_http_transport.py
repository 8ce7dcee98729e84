"""The HTTP transport: timeouts, the retry matrix, Retry-After, rate limit, errors, redaction."""

from __future__ import annotations

import logging
import threading
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from claimbridge.errors import (
    AuthError,
    ConnectorError,
    OutcomeUnknownError,
    RateLimitedError,
    RemoteError,
    UnreachableError,
)
from claimbridge.transport.http import (
    BearerAuth,
    ErrorInfo,
    HttpClient,
    HttpSettings,
    failed_before_sending,
    parse_error_body,
    parse_retry_after,
)
from claimbridge.transport.ratelimit import TokenBucket

BASE = "https://agency.example.test/api"
TOKEN = "s3cr3t-token-value"


class Sleeps(list[float]):
    """A sleep function that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(sleeps: Sleeps | None = None, **settings: Any) -> HttpClient:
    fields: dict[str, Any] = {"base_url": BASE, "max_retries": 3, "backoff_initial": 0.5}
    fields.update(settings)
    return HttpClient(
        HttpSettings(**fields),
        auth=BearerAuth(TOKEN),
        sleep=sleeps if sleeps is not None else Sleeps(),
        name="testagency",
    )


def refused() -> requests.exceptions.ConnectionError:
    """What requests raises when nothing listens: the request was never sent."""
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


def dropped() -> requests.exceptions.ConnectionError:
    """What requests raises when the remote hangs up after reading the request."""
    return requests.exceptions.ConnectionError(
        ProtocolError("Connection aborted.", ConnectionResetError())
    )


# --- settings -----------------------------------------------------------------------------


def test_verify_false_is_refused() -> None:
    with pytest.raises(ValidationError, match="cannot be turned off"):
        HttpSettings(base_url=BASE, verify=False)
    with pytest.raises(ValidationError, match="cannot be turned off"):
        HttpSettings.model_validate({"base_url": BASE, "verify": "false"})


def test_custom_ca_bundle_must_exist(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    with pytest.raises(ValidationError, match="does not exist"):
        HttpSettings(base_url=BASE, verify=bundle)
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    client = HttpClient(HttpSettings(base_url=BASE, verify=bundle))
    assert client.session.verify == str(bundle)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://agency.example.test", "only allowed for loopback"),
        ("ftp://agency.example.test", "must start with https"),
        ("https://user:pw@agency.example.test", "must not contain credentials"),
        ("https://agency.example.test/?token=x", "query string"),
        ("https:///nohost", "no host"),
        ("https://agency.example.test:99999", "invalid port"),
    ],
)
def test_bad_base_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        HttpSettings(base_url=url)


def test_plain_http_is_allowed_on_loopback() -> None:
    for url in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"):
        assert HttpSettings(base_url=url + "/").base_url == url


def test_client_key_needs_a_certificate(tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_text("x")
    with pytest.raises(ValidationError, match="without client_cert"):
        HttpSettings(base_url=BASE, client_key=key)


# --- timeouts and basics ------------------------------------------------------------------


@responses.activate
def test_every_request_carries_both_timeouts() -> None:
    for method in ("GET", "POST", "PUT", "DELETE"):
        responses.add(method, f"{BASE}/v1/things", json={})
    client = make_client(timeout_connect=3, timeout_read=7)
    client.get("/v1/things")
    client.post("/v1/things", json={"a": 1})
    client.put("v1/things", json={})
    client.delete("/v1/things")
    assert len(responses.calls) == 4
    for call in responses.calls:
        assert call.request.req_kwargs["timeout"] == (3, 7)
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["User-Agent"].startswith("claimbridge/")


@responses.activate
def test_absolute_url_to_another_host_is_refused() -> None:
    client = make_client()
    with pytest.raises(ConnectorError, match="another host"):
        client.get("https://evil.example.test/steal")
    responses.add(responses.GET, f"{BASE}/page/2", json={})
    assert client.get(f"{BASE}/page/2").status_code == 200


# --- the retry matrix ---------------------------------------------------------------------


@responses.activate
def test_429_waits_retry_after_seconds() -> None:
    responses.add(responses.GET, f"{BASE}/x", status=429, headers={"Retry-After": "3"})
    responses.add(responses.GET, f"{BASE}/x", json={"ok": True})
    sleeps = Sleeps()
    assert make_client(sleeps).get("/x").json() == {"ok": True}
    assert sleeps == [3.0]


@responses.activate
def test_429_waits_retry_after_http_date() -> None:
    when = formatdate(time.time() + 30, usegmt=True)
    responses.add(responses.POST, f"{BASE}/x", status=429, headers={"Retry-After": when})
    responses.add(responses.POST, f"{BASE}/x", status=201, json={})
    sleeps = Sleeps()
    assert make_client(sleeps).post("/x", json={}).status_code == 201
    assert len(sleeps) == 1
    assert 27 <= sleeps[0] <= 30


@responses.activate
def test_retry_after_is_capped() -> None:
    responses.add(responses.GET, f"{BASE}/x", status=429, headers={"Retry-After": "3600"})
    responses.add(responses.GET, f"{BASE}/x", json={})
    sleeps = Sleeps()
    make_client(sleeps, retry_after_cap=10).get("/x")
    assert sleeps == [10]


@responses.activate
def test_429_exhausted_raises_rate_limited_with_retry_after() -> None:
    responses.add(
        responses.GET,
        f"{BASE}/x",
        status=429,
        headers={"Retry-After": "5"},
        json={"error": {"code": "slow_down", "message": "too many requests"}},
    )
    sleeps = Sleeps()
    with pytest.raises(RateLimitedError) as caught:
        make_client(sleeps, max_retries=2).get("/x")
    assert caught.value.retry_after == 5
    assert caught.value.code == "slow_down"
    assert caught.value.retryable
    assert len(responses.calls) == 3
    assert sleeps == [5, 5]


@responses.activate
def test_502_on_get_is_retried_with_backoff() -> None:
    responses.add(responses.GET, f"{BASE}/x", status=502)
    responses.add(responses.GET, f"{BASE}/x", status=504)
    responses.add(responses.GET, f"{BASE}/x", json={"ok": 1})
    sleeps = Sleeps()
    assert make_client(sleeps).get("/x").json() == {"ok": 1}
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0  # initial backoff plus jitter
    assert 1.0 <= sleeps[1] <= 1.5  # doubled


@responses.activate
def test_502_on_post_is_not_retried() -> None:
    responses.add(responses.POST, f"{BASE}/x", status=502)
    sleeps = Sleeps()
    with pytest.raises(RemoteError) as caught:
        make_client(sleeps).post("/x", json={})
    assert caught.value.status == 502
    assert caught.value.retryable
    assert len(responses.calls) == 1
    assert sleeps == []


@responses.activate
def test_503_on_post_with_idempotency_is_retried() -> None:
    responses.add(responses.POST, f"{BASE}/x", status=503, headers={"Retry-After": "2"})
    responses.add(responses.POST, f"{BASE}/x", json={"done": True})
    sleeps = Sleeps()
    response = make_client(sleeps).post("/x", json={}, idempotent=True)
    assert response.json() == {"done": True}
    assert sleeps == [2]


@responses.activate
def test_500_is_not_retried_even_on_get() -> None:
    responses.add(responses.GET, f"{BASE}/x", status=500, json={"message": "boom"})
    with pytest.raises(RemoteError, match="boom") as caught:
        make_client().get("/x")
    assert caught.value.retryable
    assert len(responses.calls) == 1


@responses.activate
def test_connect_error_is_retried_even_for_post() -> None:
    responses.add(responses.POST, f"{BASE}/x", body=refused())
    responses.add(responses.POST, f"{BASE}/x", body=requests.exceptions.ConnectTimeout())
    responses.add(responses.POST, f"{BASE}/x", status=201, json={})
    sleeps = Sleeps()
    assert make_client(sleeps).post("/x", json={}).status_code == 201
    assert len(sleeps) == 2


@responses.activate
def test_connect_errors_exhausted_raise_unreachable() -> None:
    responses.add(responses.GET, f"{BASE}/x", body=refused())
    with pytest.raises(UnreachableError, match="could not connect") as caught:
        make_client(max_retries=1).get("/x")
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert len(responses.calls) == 2


@responses.activate
def test_read_timeout_on_post_is_outcome_unknown_and_not_retried() -> None:
    responses.add(responses.POST, f"{BASE}/x", body=requests.exceptions.ReadTimeout())
    sleeps = Sleeps()
    with pytest.raises(OutcomeUnknownError, match="outcome is unknown") as caught:
        make_client(sleeps).post("/x", json={})
    assert caught.value.outcome_unknown is True
    assert isinstance(caught.value, UnreachableError)
    assert len(responses.calls) == 1
    assert sleeps == []


@responses.activate
def test_dropped_connection_on_post_is_outcome_unknown() -> None:
    responses.add(responses.POST, f"{BASE}/x", body=dropped())
    with pytest.raises(OutcomeUnknownError):
        make_client().post("/x", json={})
    assert len(responses.calls) == 1


@responses.activate
def test_read_timeout_on_idempotent_post_is_retried_then_unknown() -> None:
    responses.add(responses.POST, f"{BASE}/x", body=requests.exceptions.ReadTimeout())
    with pytest.raises(OutcomeUnknownError):
        make_client(max_retries=2).post("/x", json={}, idempotent=True)
    assert len(responses.calls) == 3


@responses.activate
def test_read_timeout_on_get_is_retried_and_ends_unreachable() -> None:
    responses.add(responses.GET, f"{BASE}/x", body=requests.exceptions.ReadTimeout())
    with pytest.raises(UnreachableError) as caught:
        make_client(max_retries=2).get("/x")
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert len(responses.calls) == 3


@responses.activate
def test_tls_failure_is_unreachable_and_not_retried() -> None:
    responses.add(responses.GET, f"{BASE}/x", body=requests.exceptions.SSLError("bad cert"))
    with pytest.raises(UnreachableError, match="TLS handshake"):
        make_client().get("/x")
    assert len(responses.calls) == 1


# --- error mapping ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_auth_failures_map_to_auth_error(status: int) -> None:
    responses.add(responses.GET, f"{BASE}/x", status=status, json={"error": "invalid_token"})
    with pytest.raises(AuthError, match=f"HTTP {status}") as caught:
        make_client().get("/x")
    assert caught.value.status == status
    assert len(responses.calls) == 1


@pytest.mark.parametrize("code", ["invalid_grant", "invalid_client", "unauthorized_client"])
@responses.activate
def test_oauth_refusal_with_400_is_an_auth_error(code: str) -> None:
    responses.add(responses.POST, f"{BASE}/token", status=400, json={"error": code})
    with pytest.raises(AuthError, match="HTTP 400") as caught:
        make_client().post("/token", data={"grant_type": "refresh_token"})
    assert (caught.value.status, caught.value.code) == (400, code)


@responses.activate
def test_other_400_stays_a_remote_error() -> None:
    responses.add(responses.POST, f"{BASE}/token", status=400, json={"error": "invalid_request"})
    with pytest.raises(RemoteError) as caught:
        make_client().post("/token", data={"grant_type": "password"})
    assert caught.value.status == 400


@responses.activate
def test_4xx_takes_code_and_message_from_the_json_body() -> None:
    responses.add(
        responses.POST,
        f"{BASE}/cases",
        status=422,
        json={"error": {"code": "invalid_case", "message": "claims: too short"}},
    )
    with pytest.raises(RemoteError) as caught:
        make_client().post("/cases", json={})
    error = caught.value
    assert (error.status, error.code, error.retryable) == (422, "invalid_case", False)
    assert "claims: too short" in str(error)
    assert str(error).startswith("testagency: POST /api/cases")


@responses.activate
def test_vendor_error_parser_is_used() -> None:
    responses.add(responses.GET, f"{BASE}/x", status=400, json={"Fault": {"Text": "nope"}})

    def parse(response: requests.Response) -> ErrorInfo:
        return ErrorInfo("V1", response.json()["Fault"]["Text"])

    client = HttpClient(HttpSettings(base_url=BASE), error_parser=parse)
    with pytest.raises(RemoteError, match="nope") as caught:
        client.get("/x")
    assert caught.value.code == "V1"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error": {"code": "c", "message": "m"}}', ErrorInfo("c", "m")),
        (b'{"error": "c", "message": "m"}', ErrorInfo("c", "m")),
        (b'{"code": 12, "detail": "m"}', ErrorInfo("12", "m")),
        (b"[1, 2]", ErrorInfo()),
        (b"<html>oops</html>", ErrorInfo()),
        (b"", ErrorInfo()),
    ],
)
def test_parse_error_body_shapes(body: bytes, expected: ErrorInfo) -> None:
    response = requests.Response()
    response._content = body
    assert parse_error_body(response) == expected


# --- secrets stay out of logs and errors --------------------------------------------------


@responses.activate
def test_no_token_query_or_body_in_logs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    responses.add(responses.GET, f"{BASE}/x", json={"debtor": "Kari"})
    responses.add(responses.POST, f"{BASE}/y", status=400, body="Kari Testesen 01019912345")
    responses.add(responses.POST, f"{BASE}/z", body=requests.exceptions.ReadTimeout(BASE + "/z"))
    caplog.set_level(logging.DEBUG, logger="claimbridge.http")
    client = make_client()
    client.get("/x", params={"national_id": "01019912345"})
    with pytest.raises(RemoteError) as remote:
        client.post("/y", json={"name": "Kari Testesen"}, params={"q": "01019912345"})
    with pytest.raises(OutcomeUnknownError) as unknown:
        client.post("/z?token=abc", json={})
    text = caplog.text + str(remote.value) + str(unknown.value) + repr(client.session.auth)
    for secret in (TOKEN, "01019912345", "Kari", "token=abc", "Authorization"):
        assert secret not in text
    assert "GET /api/x 200" in caplog.text
    assert "(attempt 1)" in caplog.text


# --- rate limit ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_token_bucket_spaces_requests() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        bucket.acquire()
    assert clock.sleeps == pytest.approx([0.25, 0.25, 0.25, 0.25])
    clock.now += 10  # idle time refills up to the burst only
    bucket.acquire()
    bucket.acquire()
    assert clock.sleeps[-1] == pytest.approx(0.25)


def test_token_bucket_allows_bursts() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        bucket.acquire()
    assert clock.sleeps == [pytest.approx(1.0)]


def test_token_bucket_is_thread_safe() -> None:
    """Reservations from many threads at one instant get distinct, evenly spaced slots."""
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    bucket = TokenBucket(10, clock=lambda: 0.0, sleep=record)

    def worker() -> None:
        for _ in range(25):
            bucket.acquire()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([k / 10 for k in range(1, 200)])


@responses.activate
def test_client_rate_limit_spacing_with_fake_clock() -> None:
    responses.add(responses.GET, f"{BASE}/x", json={})
    clock = FakeClock()
    client = HttpClient(
        HttpSettings(base_url=BASE, rate_limit_per_s=2), sleep=clock.sleep, clock=clock
    )
    for _ in range(3):
        client.get("/x")
    assert clock.sleeps == pytest.approx([0.5, 0.5])


def test_token_bucket_rejects_bad_rates() -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1, burst=0)


# --- Retry-After parsing ------------------------------------------------------------------


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(formatdate(0, usegmt=True)) == 0  # a date in the past: no wait


@given(st.text(max_size=60))
def test_parse_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value)
    assert result is None or result >= 0


# --- form bodies, per-request auth, failed_before_sending ---------------------------------


@responses.activate
def test_data_is_sent_form_encoded() -> None:
    responses.add(responses.POST, f"{BASE}/token", json={"ok": True})
    make_client().post("/token", data={"grant_type": "refresh_token", "refresh_token": "a b&c"})
    request = responses.calls[0].request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(str(request.body)) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["a b&c"],
    }


def test_json_and_data_together_are_refused() -> None:
    with pytest.raises(TypeError, match="json or data"):
        make_client().post("/x", json={"a": 1}, data={"a": "1"})


@responses.activate
def test_form_post_is_retried_only_when_it_failed_before_sending() -> None:
    responses.add(responses.POST, f"{BASE}/token", body=refused())
    responses.add(responses.POST, f"{BASE}/token", body=requests.exceptions.ReadTimeout())
    sleeps = Sleeps()
    with pytest.raises(OutcomeUnknownError):
        make_client(sleeps).post("/token", data={"grant_type": "refresh_token"})
    assert len(responses.calls) == 2  # the refused one again, never the one that was sent
    assert len(sleeps) == 1


@responses.activate
def test_form_post_honours_timeouts_and_retry_after() -> None:
    responses.add(responses.POST, f"{BASE}/token", status=429, headers={"Retry-After": "3"})
    responses.add(responses.POST, f"{BASE}/token", json={})
    sleeps = Sleeps()
    client = make_client(sleeps, timeout_connect=2, timeout_read=9)
    seen: list[Any] = []
    original = client.session.request

    def spy(*args: Any, **kwargs: Any) -> requests.Response:
        seen.append(kwargs["timeout"])
        return original(*args, **kwargs)

    client.session.request = spy  # type: ignore[method-assign]
    assert client.post("/token", data={"a": "b"}).status_code == 200
    assert sleeps == [3.0]
    assert seen == [(2, 9), (2, 9)]


@responses.activate
def test_per_request_auth_replaces_the_clients_own() -> None:
    responses.add(responses.POST, f"{BASE}/token", json={})
    responses.add(responses.GET, f"{BASE}/x", json={})
    client = make_client()
    client.post("/token", data={"a": "b"}, auth=requests.auth.HTTPBasicAuth("id", "secret"))
    client.get("/x")
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert responses.calls[1].request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (refused(), True),
        (requests.exceptions.ConnectTimeout(), True),
        (dropped(), False),
        (requests.exceptions.ReadTimeout(), False),
        (requests.exceptions.ConnectionError("no route"), False),
        (requests.exceptions.SSLError("bad cert"), False),
        (ValueError("not a request error"), False),
    ],
)
def test_failed_before_sending(exc: BaseException, expected: bool) -> None:
    assert failed_before_sending(exc) is expected
