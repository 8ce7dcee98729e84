"""The shared expiring access token: cache, binding, answers, the one renewal on a 401.

The token endpoint and the API are ``responses`` fakes behind the real :class:`HttpClient`;
the credential store is the real in-memory store. The vendors' own token requests are tested
with their connectors (Amili, Amili Sweden, Riverty, PowerOffice Go).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from claimbridge.credentials import MemoryCredentialStore
from claimbridge.errors import AuthError, UnreachableError
from claimbridge.transport.http import HttpClient, HttpSettings
from claimbridge.transport.tokens import ExpiringTokens, TokenAnswer, TokenAuth, client_credentials
from tests.fakes.token_endpoint import form_of

TOKEN_URL = "https://auth.example.test/oauth/token"
API_URL = "https://api.example.test/v1"
SECRET = "s3cret-value"
KEY = "acme:ledger:access_token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Endpoint:
    """A client-credentials token endpoint and an API that takes only the tokens it issued."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.issued: list[str] = []
        self.forms: list[dict[str, str]] = []
        self.answer: dict[str, Any] = {"token_type": "Bearer", "expires_in": 600}
        self.api_calls = 0
        rsps.add_callback(responses.POST, TOKEN_URL, callback=self._token)
        rsps.add_callback(responses.GET, f"{API_URL}/things", callback=self._api)

    def _token(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        form = form_of(request)
        self.forms.append(form)
        if form.get("client_secret") != SECRET:
            return 401, {}, json.dumps({"error": "invalid_client"})
        token = f"at-{len(self.issued)}"
        self.issued.append(token)
        return 200, {}, json.dumps({"access_token": token, **self.answer})

    def _api(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.api_calls += 1
        live = self.issued[-1:]  # an earlier token counts as revoked
        if request.headers.get("Authorization") not in [f"Bearer {t}" for t in live]:
            return 401, {}, json.dumps({"error": "invalid_token"})
        return 200, {}, json.dumps({"ok": True})


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def endpoint(rsps: responses.RequestsMock) -> Endpoint:
    return Endpoint(rsps)


def client(url: str, **kwargs: Any) -> HttpClient:
    options = {"max_retries": 1, "backoff_initial": 0, "rate_limit_per_s": None}
    return HttpClient(HttpSettings(base_url=url, **options), sleep=lambda _: None, **kwargs)


def tokens(
    store: MemoryCredentialStore | None = None,
    *,
    clock: Clock | None = None,
    secret: str = SECRET,
    **kwargs: Any,
) -> ExpiringTokens:
    return ExpiringTokens(
        client(TOKEN_URL),
        client_credentials("acme", SecretStr(secret), scope=None, audience="https://api"),
        store=store if store is not None else MemoryCredentialStore(),
        key=KEY,
        clock=clock or Clock(),
        name="acme",
        **kwargs,
    )


def test_the_form_carries_the_grant_and_only_the_extras_that_are_set(endpoint: Endpoint) -> None:
    tokens().token()
    assert endpoint.forms == [
        {
            "grant_type": "client_credentials",
            "client_id": "acme",
            "client_secret": SECRET,
            "audience": "https://api",
        }
    ]


def test_a_token_serves_until_the_margin_before_its_end(endpoint: Endpoint) -> None:
    store, clock = MemoryCredentialStore(), Clock()
    source = tokens(store, clock=clock, margin_s=60)
    assert source.token() == "at-0"
    clock.now += 600 - 60 - 1
    assert tokens(store, clock=clock, margin_s=60).token() == "at-0"  # another run, same cache
    clock.now += 1
    assert source.token() == "at-1"
    assert source.token(renew=True) == "at-2"
    assert source.requests == 3
    assert json.loads(store.get(KEY) or "") == {"access_token": "at-2", "expires_at": 1540.0 + 600}


def test_a_token_is_bound_to_what_it_was_issued_for(endpoint: Endpoint) -> None:
    store = MemoryCredentialStore()
    tokens(store, bound_to={"audience": "https://test"}).token()
    assert json.loads(store.get(KEY) or "")["audience"] == "https://test"
    assert tokens(store, bound_to={"audience": "https://test"}).token() == "at-0"
    assert tokens(store, bound_to={"audience": "https://prod"}).token() == "at-1"
    assert tokens(store).token() == "at-1"  # no binding: any entry of the key serves


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.sampled_from(["access_token", "expires_at", "x"]), inner)
            ),
            max_leaves=8,
        ).map(json.dumps),
        st.just("[" * 100_000),
    )
)
def test_a_damaged_cache_entry_costs_one_request(entry: str) -> None:
    store = MemoryCredentialStore()
    store.put(KEY, entry)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, TOKEN_URL, json={"access_token": "fresh"})
        assert tokens(store).token() in ("fresh", *_usable(entry))


def _usable(entry: str) -> list[str]:
    """The token a hand-made entry holds if it happens to be a valid one."""
    try:
        data = json.loads(entry)
        token, expires_at = str(data["access_token"]), float(data["expires_at"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return []
    return [token] if token and expires_at - 60 > 1000.0 else []


def test_a_token_answer_that_never_came_is_unreachable(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, TOKEN_URL, body=requests.exceptions.ReadTimeout())
    rsps.add(responses.POST, TOKEN_URL, body=requests.exceptions.ReadTimeout())
    source = tokens()
    with pytest.raises(UnreachableError, match="the token request got no answer"):
        source.token()
    assert len(rsps.calls) == 2  # idempotent: asked once more before giving up


def test_a_refused_secret_is_auth_and_stays_out_of_the_message(endpoint: Endpoint) -> None:
    with pytest.raises(AuthError) as caught:
        tokens(secret="wrong-secret").token()
    assert caught.value.status == 401
    assert "wrong-secret" not in str(caught.value)


# --- answers ---------------------------------------------------------------------------------


def answered(body: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return response


@pytest.mark.parametrize(
    "body",
    [
        b"<html>not json</html>",
        b"[" * 100_000,
        [],
        {"token_type": "Bearer"},
        {"access_token": None},
        {"access_token": 42},
        {"access_token": "   "},
    ],
)
def test_an_answer_without_a_token_is_auth(body: Any) -> None:
    with pytest.raises(AuthError, match="without an access token"):
        TokenAnswer().read(answered(body), "acme")


def test_a_token_of_another_field_names_the_setting() -> None:
    answer = TokenAnswer(token_field="token", lifetime_field=None, default_lifetime_s=3000)
    assert answer.read(answered({"token": " t ", "expires_in": 5}), "se") == ("t", 3000.0)
    with pytest.raises(AuthError, match="'token' token \\(see token_field\\)"):
        answer.read(answered({"access_token": "t"}), "se")


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [(120, 120.0), (0.5, 0.5), (0, 3600.0), (-5, 3600.0), (True, 3600.0), ("120", 3600.0)],
)
def test_the_lifetime_is_a_positive_number_or_the_default(expires_in: Any, lifetime: float) -> None:
    body = {"access_token": "t", "expires_in": expires_in}
    assert TokenAnswer().read(answered(body), "acme") == ("t", lifetime)


def test_bearer_only_refuses_another_token_type() -> None:
    strict, body = TokenAnswer(bearer_only=True), {"access_token": "t", "token_type": "mac"}
    with pytest.raises(AuthError, match="'mac' token, not Bearer"):
        strict.read(answered(body), "acme")
    assert TokenAnswer().read(answered(body), "acme")[0] == "t"
    assert strict.read(answered({"access_token": "t", "token_type": "bearer"}), "acme")[0] == "t"


# --- the auth on API calls -------------------------------------------------------------------


def test_a_refused_token_is_renewed_and_the_call_sent_once_more(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    source = tokens()
    api = client(API_URL, auth=TokenAuth(source))
    api.get("/things")
    endpoint.issued.append("revoked-elsewhere")  # the API now takes only a token we lack
    caplog.set_level(logging.DEBUG)
    assert api.get("/things").json() == {"ok": True}
    assert (source.requests, endpoint.api_calls) == (2, 3)
    assert "renewing it and sending once more" in caplog.text
    text = caplog.text + repr(api.session.auth) + repr(source)
    assert not any(token in text for token in endpoint.issued)
    assert SECRET not in text


def test_a_second_401_is_the_callers(endpoint: Endpoint, rsps: responses.RequestsMock) -> None:
    rsps.replace(responses.GET, f"{API_URL}/things", status=401, json={"error": "nope"})
    source = tokens()
    with pytest.raises(AuthError) as caught:
        client(API_URL, auth=TokenAuth(source)).get("/things")
    assert caught.value.status == 401
    assert source.requests == 2  # the first token, and one renewal
    assert len([c for c in rsps.calls if c.request.url == f"{API_URL}/things"]) == 2


def test_a_bare_token_header_and_further_secret_headers(
    endpoint: Endpoint, rsps: responses.RequestsMock
) -> None:
    rsps.add(responses.GET, f"{API_URL}/raw", json={})
    auth = TokenAuth(
        tokens(), header="X-API-Key", scheme=None, headers={"X-Sub": SecretStr("sub-key")}
    )
    client(API_URL, auth=auth).get("/raw")
    sent = rsps.calls[-1].request
    assert (sent.headers["X-API-Key"], sent.headers["X-Sub"]) == ("at-0", "sub-key")
    assert "Authorization" not in sent.headers
    assert "sub-key" not in repr(auth)
    assert "at-0" not in repr(auth)
