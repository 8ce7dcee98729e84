"""The refresh-token endpoint the Fiken, Fortnox and Visma fakes share answers as RFC 6749 and
each vendor's documentation say: granted answers, rotation, and the refusals a client meets."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.fakes.fiken import FikenFake
from tests.fakes.fortnox import FortnoxFake
from tests.fakes.token_endpoint import RefreshTokenEndpoint, basic_authorization
from tests.fakes.visma import VismaFake

FAKES: list[Any] = [FikenFake, FortnoxFake, VismaFake]


def token_request(
    fake: RefreshTokenEndpoint,
    *,
    refresh_token: str | None = None,
    secret: str | None = None,
    grant: str = "refresh_token",
    as_json: bool = False,
) -> tuple[int, dict[str, Any]]:
    fields = {"grant_type": grant, "refresh_token": refresh_token or fake.refresh_token}
    request = requests.Request(
        "POST",
        "https://auth.example.test/token",
        auth=(fake.client_id, secret or fake.client_secret),
        **({"json": fields} if as_json else {"data": fields}),  # type: ignore[arg-type]
    ).prepare()
    status, _, body = fake.token(request)
    return status, json.loads(body)


@pytest.mark.parametrize("make", FAKES)
def test_a_grant_issues_a_token_the_api_takes_and_rotates_the_refresh_token(make: Any) -> None:
    fake = make()
    status, answer = token_request(fake)
    assert status == 200
    assert {"access_token", "refresh_token", "token_type", "expires_in"} <= answer.keys()
    assert answer["token_type"].lower() == "bearer"
    assert answer["refresh_token"] == fake.refresh_token != "rt-0"
    api_call = requests.Request(
        "GET",
        "https://api.example.test/",
        headers={"Authorization": "Bearer " + answer["access_token"]},
    ).prepare()
    assert fake.authorized(api_call)
    fake.expire_tokens()
    assert not fake.authorized(api_call)
    assert token_request(fake, refresh_token="rt-0")[1]["error"] == "invalid_grant"
    assert fake.token_requests == 2


def test_fiken_may_keep_its_refresh_token() -> None:
    fake = FikenFake(rotate=False)
    assert token_request(fake)[1]["refresh_token"] == "rt-0" == fake.refresh_token


@pytest.mark.parametrize(
    ("make", "status"), [(FikenFake, 401), (FortnoxFake, 401), (VismaFake, 400)]
)
def test_a_wrong_client_secret_is_invalid_client(make: Any, status: int) -> None:
    fake = make()
    assert token_request(fake, secret="wrong")[0] == status
    assert token_request(fake, secret="wrong")[1]["error"] == "invalid_client"
    assert not fake.access_tokens


@pytest.mark.parametrize("make", FAKES)
def test_a_token_request_must_be_a_refresh_token_form(make: Any) -> None:
    fake = make()
    status, answer = token_request(fake, as_json=True)
    assert (status, answer["error"]) == (400, "invalid_request")
    status, answer = token_request(fake, grant="client_credentials")
    assert status == 400
    assert answer["error"] in ("unsupported_grant_type", "invalid_grant")  # Fortnox: the latter
    assert not fake.access_tokens


def test_basic_authorization_is_rfc_7617() -> None:
    assert basic_authorization("Aladdin", "open sesame") == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
