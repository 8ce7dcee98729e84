"""Fiken's and PowerOffice Go's token requests through the core HTTP client.

What is new since they moved off the raw session: form bodies through ``HttpClient``, the
retry rule for Fiken's refresh (again only when it never left; never once it was sent, since
Fiken may already have rotated the refresh token) and a 403 told from a 401 by its status.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr
from urllib3.exceptions import MaxRetryError, NewConnectionError

from claimbridge.connectors.accounting.fiken import FikenSettings, FikenSource
from claimbridge.connectors.accounting.poweroffice import PowerOfficeSettings, PowerOfficeSource
from claimbridge.connectors.base import CheckKind, ConnectorContext
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.errors import AuthError, OutcomeUnknownError, UnreachableError
from claimbridge.transport.http import HttpOptions
from tests.fakes import fiken as fiken_fake
from tests.fakes import poweroffice as go_fake

TODAY = dt.date(2026, 3, 31)


def refused() -> requests.exceptions.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(MaxRetryError(None, "/", reason))  # type: ignore[arg-type]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def fiken_source(fake: fiken_fake.FikenFake, sleeps: list[float]) -> FikenSource:
    settings = FikenSettings(
        company_slug=fake.slug,
        client_id=fake.client_id,
        client_secret=SecretStr(fake.client_secret),
        refresh_token=SecretStr("rt-0"),
        http=HttpOptions(rate_limit_per_s=None, backoff_initial=0, max_retries=2),
    )
    context = ConnectorContext(name="ledger", today=TODAY, credentials=MemoryCredentialStore())
    return FikenSource(settings, context, sleep=sleeps.append)


def read_customers(source: FikenSource) -> list[Any]:
    spec = next(s for s in source.streams() if s.name == "customers")
    return [r for page in source.read(spec, None) for r in page.records]


def token_calls(rsps: responses.RequestsMock, url: str) -> int:
    return sum(1 for c in rsps.calls if c.request.url == url)


# --- Fiken ----------------------------------------------------------------------------------


def test_fiken_refresh_that_never_left_is_sent_again(rsps: responses.RequestsMock) -> None:
    fake = fiken_fake.FikenFake(today=TODAY)
    fake.add_customer()
    rsps.add(responses.POST, fiken_fake.TOKEN_URL, body=refused())
    fake.install(rsps)
    sleeps: list[float] = []
    assert len(read_customers(fiken_source(fake, sleeps))) == 1
    assert token_calls(rsps, fiken_fake.TOKEN_URL) == 2
    assert fake.token_requests == 1
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    "lost",
    [requests.exceptions.ReadTimeout(), requests.exceptions.ConnectionError("reset by peer")],
)
def test_fiken_refresh_whose_answer_was_lost_is_not_repeated(
    rsps: responses.RequestsMock, lost: Exception
) -> None:
    fake = fiken_fake.FikenFake(today=TODAY)
    rsps.add(responses.POST, fiken_fake.TOKEN_URL, body=lost)
    fake.install(rsps)
    source = fiken_source(fake, [])
    with pytest.raises(OutcomeUnknownError, match="authorize the app again") as caught:
        read_customers(source)
    assert token_calls(rsps, fiken_fake.TOKEN_URL) == 1
    assert "rt-0" not in str(caught.value)
    check = source.check()
    assert check.items[-1].kind is CheckKind.REACHABILITY


def test_fiken_403_is_not_answered_with_a_new_token(rsps: responses.RequestsMock) -> None:
    fake = fiken_fake.FikenFake(today=TODAY)
    fake.install(rsps)
    fake.fail_next(403, "forbidden", "the app may not read this company")
    with pytest.raises(AuthError, match="may not read") as caught:
        read_customers(fiken_source(fake, []))
    assert caught.value.status == 403
    assert fake.token_requests == 1  # a 401 would have refreshed; a 403 is about permission


def test_fiken_refused_refresh_token_keeps_status_and_code(rsps: responses.RequestsMock) -> None:
    fake = fiken_fake.FikenFake(today=TODAY, refresh_token="rt-other")
    fake.install(rsps)
    with pytest.raises(AuthError) as caught:
        read_customers(fiken_source(fake, []))
    assert (caught.value.status, caught.value.code) == (400, "invalid_grant")


# --- PowerOffice Go -------------------------------------------------------------------------


def go_source(sleeps: list[float]) -> PowerOfficeSource:
    settings = PowerOfficeSettings(
        application_key=go_fake.APP_KEY,
        client_key=go_fake.CLIENT_KEY,
        subscription_key=go_fake.SUBSCRIPTION_KEY,
        base_url=go_fake.BASE,
        token_url=go_fake.TOKEN_URL,
        http={"rate_limit_per_s": None, "backoff_initial": 0, "max_retries": 2},
    )
    context = ConnectorContext(name="ledger", today=TODAY, credentials=MemoryCredentialStore())
    return PowerOfficeSource(settings, context, sleep=sleeps.append)


def test_go_token_request_is_form_encoded_and_carries_the_keys(
    rsps: responses.RequestsMock,
) -> None:
    fake = go_fake.FakePowerOffice()
    fake.install(rsps)
    assert go_source([]).tokens.token()
    request = next(c.request for c in rsps.calls if c.request.url == go_fake.TOKEN_URL)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.body == "grant_type=client_credentials"
    assert request.headers["Authorization"].startswith("Basic ")
    assert request.headers["Ocp-Apim-Subscription-Key"] == go_fake.SUBSCRIPTION_KEY


def test_go_token_request_without_answer_is_asked_again(rsps: responses.RequestsMock) -> None:
    fake = go_fake.FakePowerOffice()
    rsps.add(responses.POST, go_fake.TOKEN_URL, body=requests.exceptions.ReadTimeout())
    rsps.add(responses.POST, go_fake.TOKEN_URL, status=503)
    fake.install(rsps)
    sleeps: list[float] = []
    assert go_source(sleeps).tokens.token()
    assert token_calls(rsps, go_fake.TOKEN_URL) == 3
    assert len(sleeps) == 2


def test_go_token_request_never_answered_is_unreachable(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, go_fake.TOKEN_URL, body=requests.exceptions.ReadTimeout())
    source = go_source([])
    with pytest.raises(UnreachableError, match="no answer") as caught:
        source.tokens.token()
    assert not isinstance(caught.value, OutcomeUnknownError)  # nothing to look up at Go
    assert token_calls(rsps, go_fake.TOKEN_URL) == 3
