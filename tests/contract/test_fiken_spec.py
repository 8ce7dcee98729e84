"""The Fiken source and the Fiken fake, checked against Fiken's own OpenAPI document.

Every API request the connector sends in a full scenario (full and incremental sync of every
stream, fetch by id, booking a payment, booking a journal entry twice and once with its answer
lost, finding it, check, token refresh after a 401) and every answer the fake gives (but the
one lost on purpose) are validated with openapi-core against ``vendor-specs/fiken-openapi.yaml``,
read in place: path, method, query parameters, request body, status, headers and body.
The spec documents no error bodies for the API; the fake's errors follow the only shape it
does document (OAuth's ``error``/``error_description``), which is checked instead.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.exceptions import OpenAPIError

from claimbridge.schemas import Payment, SourceRef
from tests.fakes.fiken import BASE_URL, TOKEN_URL, FikenFake
from tests.unit.test_fiken import TODAY, _claim_for, make_source, read_all, stream
from tests.unit.test_fiken_booking import voucher

pytestmark = pytest.mark.external

SPEC = "vendor-specs/fiken-openapi.yaml"


@pytest.fixture(scope="module")
def openapi(external_fixtures: Path) -> OpenAPI:
    text = (external_fixtures / SPEC).read_text(encoding="utf-8", errors="replace")
    # a JSON round trip makes YAML's integer status keys and bare dates plain strings
    spec = json.loads(json.dumps(yaml.safe_load(text), default=str))
    return OpenAPI.from_dict(spec)


@pytest.fixture(scope="module")
def calls(openapi: OpenAPI) -> list[Any]:
    """Run one scenario through the connector and return every call it made."""
    fake = FikenFake(today=TODAY)
    customer = fake.add_customer(
        "Fjord Bygg AS",
        organizationNumber="913312465",
        email="post@fjordbygg.example",
        contactPerson=[{"contactPersonId": 1, "name": "Ola", "email": "ola@x.example"}],
        lastModifiedDate=(TODAY - dt.timedelta(days=9)).isoformat(),
    )
    invoices = [
        fake.add_invoice(
            customer, 10000 + i, paid=500 * (i % 2), modified=TODAY - dt.timedelta(days=9)
        )
        for i in range(7)
    ]
    fake.add_credit_note(invoices[0], 1000)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        source = make_source(fake, page_size=3)
        cursors = {s.name: read_all(source, s.name)[1] for s in source.streams()}
        fake.touch(invoices[3])
        fake.expire_tokens()
        for name, cursor in cursors.items():
            read_all(source, name, cursor)
        list(source.fetch(stream(source, "invoices"), [str(invoices[1]["invoiceNumber"])]))
        list(source.fetch(stream(source, "customers"), [str(customer["contactId"]), "1"]))
        payment = Payment(
            payment_id="p1",
            source=SourceRef(system="agency", record_id="p1"),
            amount=Decimal("12.34"),
            currency="NOK",
            booking_date=TODAY,
        )
        claim = _claim_for(invoices[2], source)
        source.register_payment(payment, claim)
        source.register_payment(payment, claim)
        source.book_voucher(voucher())
        source.book_voucher(voucher())
        fake.lose_next_answer()
        source.book_voucher(voucher("settlement-9:line-3"))
        assert source.find_booking("settlement-9:line-3") is not None
        assert source.check().ok
        return list(mock.calls)


def api_calls(calls: list[Any]) -> Iterator[Any]:
    return (c for c in calls if c.request.url.startswith(BASE_URL))


def test_the_scenario_covers_every_operation(calls: list[Any]) -> None:
    seen = {
        (c.request.method, c.request.path_url.split("?")[0].split("/acme-as")[-1])
        for c in api_calls(calls)
    }
    paths = {p for _, p in seen}
    assert {"/contacts", "/invoices", "/creditNotes", ""} <= paths
    assert any(m == "POST" and p.endswith("/payments") for m, p in seen)
    assert {("POST", "/generalJournalEntries"), ("GET", "/journalEntries")} <= seen
    assert any(isinstance(c.response, Exception) for c in api_calls(calls))
    assert any(c.response.status_code == 401 for c in api_calls(calls))
    assert any(c.request.url == TOKEN_URL for c in calls)


def test_every_request_conforms(openapi: OpenAPI, calls: list[Any]) -> None:
    checked = 0
    for call in api_calls(calls):
        openapi.validate_request(RequestsOpenAPIRequest(call.request))
        checked += 1
    assert checked > 20


def test_every_answer_conforms(openapi: OpenAPI, calls: list[Any]) -> None:
    for call in api_calls(calls):
        if isinstance(call.response, Exception):
            continue  # the answer lost on purpose
        if call.response.status_code >= 400:
            body = json.loads(call.response.content)
            assert set(body) == {"error", "error_description"}
            continue
        openapi.validate_response(
            RequestsOpenAPIRequest(call.request), RequestsOpenAPIResponse(call.response)
        )


def test_list_answers_carry_the_paging_headers(calls: list[Any]) -> None:
    lists = [
        c
        for c in api_calls(calls)
        if "page=" in c.request.url and getattr(c.response, "status_code", 0) == 200
    ]
    assert lists
    for call in lists:
        for header in (
            "Fiken-Api-Page",
            "Fiken-Api-Page-Size",
            "Fiken-Api-Page-Count",
            "Fiken-Api-Result-Count",
        ):
            assert call.response.headers[header].isdigit()


def test_the_request_check_can_fail(openapi: OpenAPI) -> None:
    url = f"{BASE_URL}/companies/acme-as/generalJournalEntries"
    lines = [{"amount": "110.00", "debitAccount": "1920:10001", "creditAccount": "8050"}]
    entry = {"description": "x", "date": "2026-03-27", "lines": lines}
    bad = requests.Request("POST", url, json={"journalEntries": [entry]}).prepare()
    with pytest.raises(OpenAPIError):
        openapi.validate_request(RequestsOpenAPIRequest(bad))
    entry["lines"] = [{**lines[0], "amount": 11000}]
    good = requests.Request("POST", url, json={"journalEntries": [entry]}).prepare()
    openapi.validate_request(RequestsOpenAPIRequest(good))
