"""The REST agencies' shared ``check()``: config, a fresh token, the API — told apart, one try.

Through Amili Norway's real connector over its fake (``responses``): the steps and their kinds,
what is said when a step before failed, and that a check tries each request once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from pydantic import BaseModel, Field, ValidationError

from claimbridge.connectors.agencies._checks import check_token_api, config_failed, first_line
from claimbridge.connectors.agencies.amili import AmiliAgency
from claimbridge.connectors.base import CheckItem, CheckKind, ConnectorContext
from claimbridge.errors import ConfigError
from claimbridge.transport.http import HttpOptions
from tests.contract.test_amili_contract import amili_settings
from tests.fakes.amili import API, ORG, TOKEN_URL, FakeAmili


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def agency(root: Path, **extra: Any) -> AmiliAgency:
    return AmiliAgency(
        amili_settings(**extra),
        ConnectorContext(name="checked", workdir=root),
        sleep=lambda _: None,
    )


def kinds(items: tuple[CheckItem, ...]) -> list[tuple[CheckKind, bool]]:
    return [(i.kind, i.ok) for i in items]


def test_a_good_config_is_config_auth_reachability(
    tmp_path: Path, rsps: responses.RequestsMock
) -> None:
    fake = FakeAmili()
    fake.install(rsps)
    result = agency(tmp_path).check()
    assert [(i.kind, i.ok, i.message) for i in result.items] == [
        (CheckKind.CONFIG, True, f"organization {ORG}"),
        (CheckKind.AUTH, True, "client credentials accepted"),
        (CheckKind.REACHABILITY, True, "Collection API answered"),
    ]
    assert fake.token_requests == 1


def test_refused_credentials_are_auth_and_the_api_is_not_asked(
    tmp_path: Path, rsps: responses.RequestsMock
) -> None:
    fake = FakeAmili()
    fake.install(rsps)
    result = agency(tmp_path, client_secret="wrong-secret").check()
    assert kinds(result.items) == [(CheckKind.CONFIG, True), (CheckKind.AUTH, False)]
    assert "wrong-secret" not in str(result)
    assert fake.requests == fake.token_requests == 1


def test_an_unreachable_token_endpoint_is_tried_once_and_auth_not_checked(
    tmp_path: Path, rsps: responses.RequestsMock
) -> None:
    rsps.add(responses.POST, TOKEN_URL, body=requests.exceptions.ConnectTimeout("no route"))
    result = agency(tmp_path).check()  # the settings allow 2 retries; a check uses none
    assert [(i.kind, i.ok) for i in result.items] == [
        (CheckKind.CONFIG, True),
        (CheckKind.REACHABILITY, False),
        (CheckKind.AUTH, False),
    ]
    assert result.items[1].message.startswith("token endpoint: ")
    assert result.items[2].message == "not checked: no token endpoint"
    assert len(rsps.calls) == 1


def test_a_token_the_api_refuses_is_permission(
    tmp_path: Path, rsps: responses.RequestsMock
) -> None:
    rsps.add(responses.GET, f"{API}/orgs/{ORG}/batches", status=403, json={"title": "Forbidden"})
    FakeAmili().install(rsps)  # after: the first route that matches answers
    result = agency(tmp_path).check()
    assert kinds(result.items)[-1] == (CheckKind.PERMISSION, False)


def test_an_api_that_fails_is_reachability(tmp_path: Path, rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, f"{API}/orgs/{ORG}/batches", status=503)
    FakeAmili().install(rsps)
    result = agency(tmp_path).check()
    assert kinds(result.items)[-1] == (CheckKind.REACHABILITY, False)
    assert sum(1 for c in rsps.calls if "/batches" in str(c.request.url)) == 1


# --- settings that make no client ------------------------------------------------------------


class _Strict(BaseModel):
    port: int = Field(ge=1, le=65535)


def test_a_settings_error_is_one_line_without_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        _Strict(port="secret-looking-input")  # type: ignore[arg-type]
    line = first_line(caught.value)
    assert line.startswith("port: ")
    assert "secret-looking-input" not in line
    assert "\n" not in line
    assert first_line(ConfigError("first\nsecond")) == "first"
    assert first_line(ValueError()) == "ValueError"


@pytest.mark.parametrize("error", [ValueError("bad URL\ndetail"), ConfigError("no key")])
def test_settings_that_make_no_client_are_config(error: Exception) -> None:
    def connect(options: HttpOptions) -> Any:
        assert options.max_retries == 0
        raise error

    config = CheckItem(CheckKind.CONFIG, True, "never shown")
    result = check_token_api("agency", connect, HttpOptions(), config, issued="-", api=lambda _: ())
    assert result == config_failed("agency", error)
    assert kinds(result.items) == [(CheckKind.CONFIG, False)]
    assert "\n" not in result.items[0].message
