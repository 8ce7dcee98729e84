"""The shared refresh-token flow: rotation, persistence before use, expiry, 401, retries.

The token endpoint is a ``responses`` fake behind the real :class:`HttpClient`; the credential
store is the real in-memory (or file) store.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from urllib3.exceptions import MaxRetryError, NewConnectionError

from claimbridge.connectors.base import CheckItem, CheckKind, ConnectorContext
from claimbridge.credentials import FileCredentialStore, MemoryCredentialStore
from claimbridge.errors import AuthError, ConfigError, OutcomeUnknownError, RemoteError
from claimbridge.transport.http import ErrorInfo, HttpClient, HttpOptions, HttpSettings
from claimbridge.transport.oauth import (
    OAuthVendor,
    RefreshTokenAuth,
    TokenClient,
    check_source,
    connect_app,
    refresh_token_key,
    token_endpoint_settings,
)

TOKEN_URL = "https://auth.example.test/oauth/token"
API_URL = "https://api.example.test/v1"
KEY = refresh_token_key("acme", "ledger")
VENDOR = OAuthVendor("Acme")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TokenServer:
    """A token endpoint that rotates the refresh token on every grant, like Fortnox."""

    def __init__(self, *, refresh_token: str = "rt-0", expires_in: Any = 3600) -> None:
        self.refresh_token = refresh_token
        self.expires_in = expires_in
        self.grants = 0
        self.forms: list[dict[str, list[str]]] = []
        self.rotate = True

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        form = parse_qs(str(request.body))
        self.forms.append(form)
        if form.get("refresh_token") != [self.refresh_token]:
            body = {"error": "invalid_grant", "error_description": "refresh token is spent"}
            return 400, {"Content-Type": "application/json"}, json.dumps(body)
        self.grants += 1
        answer: dict[str, Any] = {"access_token": f"at-{self.grants}", "token_type": "bearer"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        if self.rotate:
            self.refresh_token = f"rt-{self.grants}"
            answer["refresh_token"] = self.refresh_token
        return 200, {"Content-Type": "application/json"}, json.dumps(answer)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def server(rsps: responses.RequestsMock) -> TokenServer:
    fake = TokenServer()
    rsps.add_callback(responses.POST, TOKEN_URL, callback=fake)
    return fake


def make_auth(
    *,
    store: Any = None,
    vendor: OAuthVendor = VENDOR,
    clock: Clock | None = None,
    sleeps: list[float] | None = None,
    initial: str = "rt-0",
) -> RefreshTokenAuth:
    sink = sleeps if sleeps is not None else []
    options = HttpOptions(backoff_initial=0, max_retries=2)
    client = TokenClient(
        token_endpoint_settings(TOKEN_URL, options),
        vendor,
        client_id="app-id",
        client_secret=SecretStr("app-secret"),
        sleep=sink.append,
        name="ledger",
    )
    return RefreshTokenAuth(
        client,
        initial_refresh_token=SecretStr(initial),
        store=store if store is not None else MemoryCredentialStore(),
        store_key=KEY,
        clock=clock or Clock(),
    )


def api(auth: RefreshTokenAuth) -> HttpClient:
    return HttpClient(HttpSettings(base_url=API_URL, max_retries=0), auth=auth, name="ledger")


def refused() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


# --- the token request ----------------------------------------------------------------------


def test_basic_client_credentials(rsps: responses.RequestsMock, server: TokenServer) -> None:
    assert make_auth().access_token() == "at-1"
    request = rsps.calls[0].request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Authorization"].startswith("Basic ")
    assert server.forms == [{"grant_type": ["refresh_token"], "refresh_token": ["rt-0"]}]


def test_form_client_credentials(rsps: responses.RequestsMock, server: TokenServer) -> None:
    make_auth(vendor=OAuthVendor("Acme", client_auth="form")).access_token()
    assert "Authorization" not in rsps.calls[0].request.headers
    assert server.forms[0]["client_id"] == ["app-id"]
    assert server.forms[0]["client_secret"] == ["app-secret"]


def test_vendor_field_names(rsps: responses.RequestsMock) -> None:
    body = {"token": "at-x", "lifetime": 30}
    rsps.add(responses.POST, TOKEN_URL, json=body)
    vendor = OAuthVendor(
        "Acme", access_token_field="token", expires_in_field="lifetime", expiry_skew_s=0
    )
    clock = Clock()
    auth = make_auth(vendor=vendor, clock=clock)
    assert auth.access_token() == "at-x"
    clock.now += 29
    assert auth.access_token() == "at-x"
    assert len(rsps.calls) == 1
    clock.now += 1
    auth.access_token()
    assert len(rsps.calls) == 2


# --- where the refresh token lives ----------------------------------------------------------


def test_stored_refresh_token_wins_over_the_configured_one(server: TokenServer) -> None:
    store = MemoryCredentialStore()
    make_auth(store=store).access_token()
    assert store.get(KEY) == "rt-1" == server.refresh_token
    # a new process: the configured rt-0 is spent, the stored rt-1 is used
    assert make_auth(store=store).access_token() == "at-2"
    assert server.forms[-1]["refresh_token"] == ["rt-1"]
    assert store.get(KEY) == "rt-2"


def test_unrotated_refresh_token_is_not_written(server: TokenServer) -> None:
    server.rotate = False
    writes: list[str] = []

    class Store(MemoryCredentialStore):
        def put(self, key: str, value: str) -> None:
            writes.append(key)
            super().put(key, value)

    make_auth(store=Store()).access_token()
    assert writes == []


def test_rotated_token_is_stored_before_the_access_token_is_used(
    rsps: responses.RequestsMock, server: TokenServer
) -> None:
    events: list[str] = []

    class Store(MemoryCredentialStore):
        def put(self, key: str, value: str) -> None:
            events.append("put")
            super().put(key, value)

    def endpoint(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        events.append(f"api {request.headers['Authorization']}")
        return 200, {}, "{}"

    rsps.add_callback(responses.GET, f"{API_URL}/things", callback=endpoint)
    auth = make_auth(store=Store())
    auth.send(lambda: api(auth).get("/things"))
    assert events == ["put", "api Bearer at-1"]


def test_failed_write_stops_the_run_and_the_new_access_token_is_never_used(
    rsps: responses.RequestsMock,
    server: TokenServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = FileCredentialStore(tmp_path / "creds")
    store.put(KEY, "rt-0")
    rsps.add(responses.GET, f"{API_URL}/things", json={})

    def disk_full(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", disk_full)
    auth = make_auth(store=store)
    with pytest.raises(AuthError, match="could not be stored") as caught:
        auth.send(lambda: api(auth).get("/things"))
    assert "rt-1" not in str(caught.value)
    assert "at-1" not in str(caught.value)
    assert store.get(KEY) == "rt-0"
    assert not [c for c in rsps.calls if str(c.request.url).startswith(API_URL)]
    monkeypatch.undo()
    with pytest.raises(AuthError, match="refused the refresh token"):
        auth.access_token()  # no access token was kept; rt-0 is spent at the fake


def test_empty_refresh_token_makes_no_request(rsps: responses.RequestsMock) -> None:
    with pytest.raises(AuthError, match="no refresh token configured"):
        make_auth(initial="  ").access_token()
    assert len(rsps.calls) == 0


# --- expiry and 401 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [(120, 120.0), ("120", 120.0), (None, 3600.0), (True, 3600.0), ("soon", 3600.0), (-5, 0.0)],
)
def test_expiry_with_skew(server: TokenServer, expires_in: Any, lifetime: float) -> None:
    server.expires_in = expires_in
    clock = Clock()
    auth = make_auth(clock=clock)
    auth.access_token()
    clock.now += max(lifetime - VENDOR.expiry_skew_s - 1, 0)
    auth.access_token()
    expected = 2 if lifetime <= VENDOR.expiry_skew_s else 1
    assert server.grants == expected
    clock.now += 1
    auth.access_token()
    assert server.grants == expected + 1


def test_401_is_answered_with_one_refresh_and_one_more_try(
    rsps: responses.RequestsMock, server: TokenServer
) -> None:
    rsps.add(responses.GET, f"{API_URL}/things", status=401, json={"error": "invalid_token"})
    rsps.add(responses.GET, f"{API_URL}/things", json={"ok": True})
    auth = make_auth()
    assert auth.send(lambda: api(auth).get("/things")).json() == {"ok": True}
    assert server.grants == 2
    api_auth = [
        c.request.headers["Authorization"] for c in rsps.calls if "api." in str(c.request.url)
    ]
    assert api_auth == ["Bearer at-1", "Bearer at-2"]


def test_second_401_is_an_auth_error(rsps: responses.RequestsMock, server: TokenServer) -> None:
    rsps.add(responses.GET, f"{API_URL}/things", status=401)
    auth = make_auth()
    with pytest.raises(AuthError) as caught:
        auth.send(lambda: api(auth).get("/things"))
    assert caught.value.status == 401
    assert server.grants == 2


def test_403_is_not_answered_with_a_new_token(
    rsps: responses.RequestsMock, server: TokenServer
) -> None:
    rsps.add(responses.GET, f"{API_URL}/things", status=403)
    auth = make_auth()
    with pytest.raises(AuthError) as caught:
        auth.send(lambda: api(auth).get("/things"))
    assert caught.value.status == 403
    assert server.grants == 1


def test_invalidate_spares_a_token_refreshed_meanwhile(server: TokenServer) -> None:
    auth = make_auth()
    first = auth.access_token()
    auth.invalidate()
    second = auth.access_token()
    auth.invalidate(first)  # a late 401 for the old token
    assert auth.access_token() == second
    assert server.grants == 2


def test_concurrent_callers_share_one_refresh(server: TokenServer) -> None:
    auth = make_auth()
    tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda: tokens.append(auth.access_token())) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tokens == ["at-1"] * 8
    assert server.grants == 1


# --- failures of the token endpoint ---------------------------------------------------------


def test_refresh_that_never_left_is_sent_again(
    rsps: responses.RequestsMock, server: TokenServer
) -> None:
    rsps.replace(responses.POST, TOKEN_URL, body=refused())
    rsps.add_callback(responses.POST, TOKEN_URL, callback=server)
    sleeps: list[float] = []
    assert make_auth(sleeps=sleeps).access_token() == "at-1"
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    "lost", [requests.exceptions.ReadTimeout(), requests.exceptions.ConnectionError("reset")]
)
def test_refresh_whose_answer_was_lost_is_not_repeated(
    rsps: responses.RequestsMock, lost: Exception
) -> None:
    rsps.add(responses.POST, TOKEN_URL, body=lost)
    with pytest.raises(OutcomeUnknownError, match="authorize the app again") as caught:
        make_auth().access_token()
    assert len(rsps.calls) == 1
    assert "rt-0" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"error": "invalid_grant", "error_description": "spent"}, "invalid_grant"),
        (400, {"error": "invalid_request"}, "invalid_request"),
        (401, {"error": "invalid_client"}, "invalid_client"),
    ],
)
def test_refusals_are_auth_errors_with_status_and_code(
    rsps: responses.RequestsMock, status: int, body: dict[str, str], code: str
) -> None:
    rsps.add(responses.POST, TOKEN_URL, status=status, json=body)
    with pytest.raises(AuthError, match="Acme refused the refresh token") as caught:
        make_auth().access_token()
    assert (caught.value.status, caught.value.code) == (status, code)
    assert "rt-0" not in str(caught.value)
    assert "app-secret" not in str(caught.value)


def test_refusal_message_comes_from_the_vendor_parser(rsps: responses.RequestsMock) -> None:
    vendor = OAuthVendor("Acme", error_parser=lambda _: ErrorInfo("E1", "vendor words"))
    rsps.add(responses.POST, TOKEN_URL, status=400, body="<html>")
    with pytest.raises(AuthError, match="vendor words"):
        make_auth(vendor=vendor).access_token()


def test_server_error_is_a_remote_error_and_not_repeated(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, TOKEN_URL, status=503)
    with pytest.raises(RemoteError) as caught:
        make_auth().access_token()
    assert caught.value.status == 503
    assert len(rsps.calls) == 1  # a POST that reached the server is not sent again


@pytest.mark.parametrize(
    "body",
    ["<html>", "[]", "{}", '{"access_token": ""}', '{"access_token": 5}', "[" * 100_000],
)
def test_answer_without_an_access_token(rsps: responses.RequestsMock, body: str) -> None:
    rsps.add(responses.POST, TOKEN_URL, body=body, content_type="application/json")
    with pytest.raises(RemoteError, match="without an access token"):
        make_auth().access_token()


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["access_token", "refresh_token", "expires_in", "x"]), inner
            )
        ),
        max_leaves=8,
    )
)
def test_any_json_answer_is_a_grant_or_a_remote_error(body: Any) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, TOKEN_URL, body=json.dumps(body))
        access = body.get("access_token") if isinstance(body, dict) else None
        if isinstance(access, str) and access.strip():
            assert make_auth().access_token() == access.strip()
        else:
            with pytest.raises(RemoteError, match="without an access token"):
                make_auth().access_token()


# --- secrets --------------------------------------------------------------------------------


def test_tokens_stay_out_of_logs_and_repr(
    rsps: responses.RequestsMock, server: TokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rsps.add(responses.GET, f"{API_URL}/things", status=401)
    rsps.add(responses.GET, f"{API_URL}/things", json={})
    auth = make_auth()
    auth.send(lambda: api(auth).get("/things"))
    assert "stored the rotated Acme refresh token" in caplog.text
    text = caplog.text + repr(auth) + repr(auth._tokens)
    for secret in ("rt-0", "rt-1", "rt-2", "at-1", "at-2", "app-secret"):
        assert secret not in text


# --- construction and check -----------------------------------------------------------------


APP_SECRET = SecretStr("app-secret")
FIRST_TOKEN = SecretStr("rt-0")
APP_HTTP = HttpOptions(rate_limit_per_s=2)


@dataclass(frozen=True)
class App:
    """The settings a connector passes (its pydantic Settings in production)."""

    client_id: str = "app-id"
    client_secret: SecretStr = APP_SECRET
    refresh_token: SecretStr = FIRST_TOKEN
    base_url: str = API_URL
    token_url: str = TOKEN_URL
    http: HttpOptions = APP_HTTP


def test_connect_app_builds_from_settings(server: TokenServer) -> None:
    context = ConnectorContext(name="ledger")
    api_settings, auth = connect_app(VENDOR, App(), context, "acme")
    assert (api_settings.base_url, api_settings.rate_limit_per_s) == (API_URL, 2)
    assert auth.access_token() == "at-1"
    assert context.credentials.get("acme:ledger:refresh_token") == "rt-1"


@pytest.mark.parametrize(
    "app", [App(base_url="http://example.test"), App(token_url="http://x.test")]
)
def test_connect_app_refuses_a_clear_text_url(app: App) -> None:
    with pytest.raises(ConfigError, match="acme: invalid URL") as caught:
        connect_app(VENDOR, app, ConnectorContext(name="ledger"), "acme")
    assert "https" in str(caught.value)


def test_token_endpoint_is_not_rate_limited_by_the_api_setting() -> None:
    settings = token_endpoint_settings(TOKEN_URL, HttpOptions(rate_limit_per_s=4))
    assert settings.rate_limit_per_s is None
    assert settings.base_url == TOKEN_URL


CONFIG = CheckItem(CheckKind.CONFIG, True, "company x")


def run_check(auth: RefreshTokenAuth) -> list[tuple[CheckKind, bool]]:
    result = check_source(
        "ledger",
        CONFIG,
        auth,
        lambda: auth.send(lambda: api(auth).get("/company")),
        reachable="reachable",
        not_found="no such company",
    )
    return [(item.kind, item.ok) for item in result.items]


def test_check_all_good(rsps: responses.RequestsMock, server: TokenServer) -> None:
    rsps.add(responses.GET, f"{API_URL}/company", json={})
    assert run_check(make_auth()) == [
        (CheckKind.CONFIG, True),
        (CheckKind.AUTH, True),
        (CheckKind.REACHABILITY, True),
    ]


def test_check_tells_failures_apart(rsps: responses.RequestsMock, server: TokenServer) -> None:
    assert run_check(make_auth(initial="wrong")) == [
        (CheckKind.CONFIG, True),
        (CheckKind.AUTH, False),
    ]
    rsps.add(responses.GET, f"{API_URL}/company", status=403)
    assert run_check(make_auth(initial="rt-0"))[-1] == (CheckKind.PERMISSION, False)
    rsps.replace(responses.GET, f"{API_URL}/company", status=404)
    assert run_check(make_auth(initial="rt-1"))[0] == (CheckKind.CONFIG, False)
    rsps.replace(responses.GET, f"{API_URL}/company", status=500)
    assert run_check(make_auth(initial="rt-2"))[-1] == (CheckKind.REACHABILITY, False)
    rsps.replace(responses.POST, TOKEN_URL, body=refused())
    assert run_check(make_auth())[-1] == (CheckKind.REACHABILITY, False)
