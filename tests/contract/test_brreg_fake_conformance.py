"""The Enhetsregisteret fake and the client, checked against the registry's OpenAPI document.

Every request the client sends and every answer the fake gives in these scenarios is validated
with openapi-core against ``vendor-specs/brreg-enhetsregisteret-openapi.json`` (read in place):
path, parameters, ``Accept`` against the operation's media types, status codes and bodies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from claimbridge.quality.registry import LookupStatus, RegistryEnricher, RegistrySettings
from tests.fakes.brreg import API, FakeBrreg, address

pytestmark = pytest.mark.external

SPEC = "vendor-specs/brreg-enhetsregisteret-openapi.json"
FOUND, BANKRUPT, DELETED, GONE, MISSING = (
    "923609016",
    "923609024",
    "923609032",
    "923609040",
    "923609059",
)


@pytest.fixture(scope="module")
def spec(external_fixtures: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((external_fixtures / SPEC).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def openapi(spec: dict[str, Any]) -> OpenAPI:
    return OpenAPI.from_dict(spec)


@pytest.fixture
def fake() -> Iterator[tuple[FakeBrreg, responses.RequestsMock]]:
    registry = FakeBrreg()
    registry.add(FOUND, "Testgata Data AS", postadresse=address(["Postboks 1"], "0101", "OSLO"))
    registry.add(BANKRUPT, "Konkurs AS", konkurs=True, underAvvikling=True)
    registry.add(DELETED, "Slettet AS", slettedato="2024-11-30")
    registry.remove_for_legal_reasons(GONE)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        registry.install(rsps)
        yield registry, rsps


def media_types(spec: dict[str, Any], template: str) -> set[str]:
    return set(spec["paths"][template]["get"]["responses"]["200"]["content"])


def check_call(openapi: OpenAPI, spec: dict[str, Any], call: Any) -> None:
    """One exchange against the document: the request, its Accept header, the answer."""
    request, response = call.request, call.response
    assert request.method == "GET"
    assert request.body in (None, b"", "")
    assert "?" not in request.url, "the single-unit operation has no query parameters"
    wrapped = RequestsOpenAPIRequest(request)
    openapi.validate_request(wrapped)
    template = "/enheter/{organisasjonsnummer}"
    accepted = {item.split(";")[0].strip() for item in request.headers["Accept"].split(",")}
    assert accepted <= media_types(spec, template), accepted
    documented = spec["paths"][template]["get"]["responses"]
    status = str(response.status_code)
    assert status in documented or "default" in documented
    answer = documented.get(status, documented["default"])
    if response.status_code == 200:
        assert response.headers["Content-Type"].split(";")[0] in media_types(spec, template)
    else:
        assert "content" not in answer
        assert response.content == b""
    openapi.validate_response(wrapped, RequestsOpenAPIResponse(response))


def test_every_exchange_of_the_client_conforms(
    fake: tuple[FakeBrreg, responses.RequestsMock], openapi: OpenAPI, spec: dict[str, Any]
) -> None:
    _, rsps = fake
    with RegistryEnricher(RegistrySettings(), sleep=lambda _s: None) as enricher:
        statuses = [enricher.lookup(n).status for n in (FOUND, BANKRUPT, DELETED, GONE, MISSING)]
    assert statuses == [
        LookupStatus.FOUND,
        LookupStatus.FOUND,
        LookupStatus.FOUND,
        LookupStatus.REMOVED,
        LookupStatus.NOT_FOUND,
    ]
    assert len(rsps.calls) == 5
    for call in rsps.calls:
        check_call(openapi, spec, call)


def test_server_errors_conform_and_leave_the_client_unavailable(
    fake: tuple[FakeBrreg, responses.RequestsMock], openapi: OpenAPI, spec: dict[str, Any]
) -> None:
    registry, rsps = fake
    registry.fail("503", times=2)
    with RegistryEnricher(RegistrySettings(), sleep=lambda _s: None) as enricher:
        assert enricher.lookup(FOUND).status is LookupStatus.UNAVAILABLE
    assert [c.response.status_code for c in rsps.calls] == [503, 503]  # type: ignore[union-attr]
    for call in rsps.calls:
        check_call(openapi, spec, call)


def test_the_client_targets_the_documented_server_and_path(
    fake: tuple[FakeBrreg, responses.RequestsMock], spec: dict[str, Any]
) -> None:
    _, rsps = fake
    with RegistryEnricher(RegistrySettings(), sleep=lambda _s: None) as enricher:
        enricher.lookup(FOUND)
    (server,) = spec["servers"]
    assert rsps.calls[0].request.url == f"{server['url']}/enheter/{FOUND}"
    assert "/enheter/{organisasjonsnummer}" in spec["paths"]


@pytest.mark.parametrize(
    "accept", ["application/json", "application/vnd.enhetsregisteret.enhet.v1+json"]
)
def test_the_fake_answers_each_documented_media_type(
    fake: tuple[FakeBrreg, responses.RequestsMock],
    openapi: OpenAPI,
    spec: dict[str, Any],
    accept: str,
) -> None:
    _, rsps = fake
    response = requests.get(f"{API}/enheter/{FOUND}", headers={"Accept": accept}, timeout=5)
    assert response.headers["Content-Type"].split(";")[0] == accept
    check_call(openapi, spec, rsps.calls[-1])


def test_every_unit_in_the_fake_matches_the_enhet_schema(
    fake: tuple[FakeBrreg, responses.RequestsMock], openapi: OpenAPI, spec: dict[str, Any]
) -> None:
    registry, rsps = fake
    documented = set(spec["components"]["schemas"]["Enhet"]["properties"])
    for orgnr, unit in registry.enheter.items():
        requests.get(f"{API}/enheter/{orgnr}", headers={"Accept": "application/json"}, timeout=5)
        check_call(openapi, spec, rsps.calls[-1])
        assert unit["_links"]["self"]["href"] == f"{API}/enheter/{orgnr}"
        # Only the fields the live service adds beyond the (older) document may be extra.
        assert set(unit) - documented <= {"forretningsadresse", "postadresse", "slettedato"}


def test_removed_and_missing_units_answer_as_documented(
    fake: tuple[FakeBrreg, responses.RequestsMock], spec: dict[str, Any]
) -> None:
    documented = spec["paths"]["/enheter/{organisasjonsnummer}"]["get"]["responses"]
    assert "Enheten er fjernet" in documented["410"]["description"]
    assert requests.get(f"{API}/enheter/{GONE}", timeout=5).status_code == 410
    assert requests.get(f"{API}/enheter/{MISSING}", timeout=5).status_code == 404


def test_the_check_can_fail_a_body_the_document_forbids(
    fake: tuple[FakeBrreg, responses.RequestsMock], openapi: OpenAPI, spec: dict[str, Any]
) -> None:
    registry, rsps = fake
    registry.add(MISSING, "Feil AS", konkurs="nei", antallAnsatte="fire")
    requests.get(f"{API}/enheter/{MISSING}", headers={"Accept": "application/json"}, timeout=5)
    with pytest.raises(Exception, match="not valid"):
        check_call(openapi, spec, rsps.calls[-1])


def test_the_check_can_fail_an_undocumented_accept_header(
    fake: tuple[FakeBrreg, responses.RequestsMock], openapi: OpenAPI, spec: dict[str, Any]
) -> None:
    _, rsps = fake
    requests.get(f"{API}/enheter/{FOUND}", headers={"Accept": "*/*"}, timeout=5)
    with pytest.raises(AssertionError):
        check_call(openapi, spec, rsps.calls[-1])
