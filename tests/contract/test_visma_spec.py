"""The Visma source and the Visma fake, checked against Visma's own Swagger 2.0 document.

Every API request the connector sends in a full scenario (full and incremental sync of every
stream, fetch by id, booking a payment, booking a voucher twice and once with its answer lost,
check, token refresh after a 401) and every answer the fake gives (but the one lost on
purpose) are validated against ``vendor-specs/visma-eaccounting-swagger.json``, read in
place. openapi-core reads OpenAPI 3 only, so the Swagger 2.0 document is checked here with
``jsonschema`` (Draft 4, the dialect Swagger 2.0 uses): path template and method, every query
parameter declared or one of Visma's OData options, path parameters' formats, the request body
and the answer against the operation's schemas.

The spec lists no OData query options per operation; Visma's docs describe ``$page``,
``$pagesize``, ``$filter`` and ``$orderby`` for every list, so exactly those are allowed on GET
operations answering a ``PaginatedResponse``. It documents no error answers either; the fake's
follow Visma's documented ``{"ErrorCode", "DeveloperErrorMessage", "ErrorId"}``, checked instead.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from jsonschema import Draft4Validator

from claimbridge.schemas import Payment, SourceRef
from tests.fakes.visma import BASE_URL, TOKEN_URL, VismaFake
from tests.unit.test_visma import claim_for, make_source, read_all, stream
from tests.unit.test_visma_vouchers import voucher

pytestmark = pytest.mark.external

SPEC = "vendor-specs/visma-eaccounting-swagger.json"
ODATA = {"$page", "$pagesize", "$filter", "$orderby"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


@pytest.fixture(scope="module")
def spec(external_fixtures: Path) -> dict[str, Any]:
    text = (external_fixtures / SPEC).read_text(encoding="utf-8-sig")
    data = json.loads(text)
    assert data["swagger"] == "2.0"
    return data  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def calls() -> list[Any]:
    """Run one scenario through the connector and return every call it made."""
    fake = VismaFake()
    customer = fake.add_customer(
        "Fjäll Bygg AB",
        ContactPersonName="Olle",
        ContactPersonEmail="olle@fjall.example",
        DeliveryAddress1="Lagervägen 2",
        DeliveryCity="Umeå",
        DeliveryPostalCode="90326",
    )
    invoices = [fake.add_invoice(customer, f"{1000 + i}.50", paid="0") for i in range(7)]
    fake.add_invoice(customer, "100.00", credit_of=invoices[0])
    fake.tick()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        source = make_source(fake, page_size=3)
        cursors = {s.name: read_all(source, s.name)[1] for s in source.streams()}
        fake.tick()
        fake.pay(invoices[3], "10.00")
        fake.expire_tokens()
        for name, cursor in cursors.items():
            read_all(source, name, cursor)
        list(source.fetch(stream(source, "invoices"), [invoices[1]["Id"]]))
        list(source.fetch(stream(source, "customers"), [customer["Id"], invoices[1]["Id"]]))
        payment = Payment(
            payment_id="p1",
            source=SourceRef(system="agency", record_id="p1"),
            amount=Decimal("12.34"),
            currency="SEK",
            booking_date=dt.date(2026, 3, 30),
        )
        source.register_payment(payment, claim_for(invoices[2], source))
        source.book_voucher(voucher())
        source.book_voucher(voucher())
        fake.lose_next_answer()
        source.book_voucher(voucher("settlement-9:line-3"))
        assert source.check().ok
        return list(mock.calls)


def api_calls(calls: list[Any]) -> Iterator[Any]:
    return (c for c in calls if c.request.url.startswith(BASE_URL))


def operation(spec: dict[str, Any], method: str, path: str) -> tuple[dict[str, Any], str]:
    """The spec's operation for a concrete path, and the template it matched."""
    for template, ops in spec["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in ops:
            return ops[method.lower()], template
    raise AssertionError(f"{method} {path} is not in the spec")


def validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft4Validator:
    return Draft4Validator({**schema, "definitions": spec["definitions"]})


def test_the_scenario_covers_every_operation(calls: list[Any]) -> None:
    seen = {(c.request.method, urlsplit(c.request.url).path) for c in api_calls(calls)}
    paths = {UUID.sub("{id}", p) for _, p in seen}
    assert {
        "/v2/customers",
        "/v2/customers/{id}",
        "/v2/customerinvoices",
        "/v2/customerinvoices/{id}",
        "/v2/customerinvoices/{id}/payments",
        "/v2/companysettings",
        "/v2/vouchers",
    } <= paths
    assert any(isinstance(c.response, Exception) for c in api_calls(calls))
    assert any(getattr(c.response, "status_code", 0) == 401 for c in api_calls(calls))
    assert any(c.request.url == TOKEN_URL for c in calls)


def test_every_request_conforms(spec: dict[str, Any], calls: list[Any]) -> None:
    checked = 0
    for call in api_calls(calls):
        parts = urlsplit(call.request.url)
        op, template = operation(spec, call.request.method, parts.path)
        params = {p["name"]: p for p in op.get("parameters", [])}
        declared = {n for n, p in params.items() if p["in"] == "query"}
        paged = "PaginatedResponse" in json.dumps(op["responses"].get("200", {}))
        query = parse_qs(parts.query, keep_blank_values=True)
        extra = set(query) - declared - (ODATA if paged else set())
        assert not extra, f"{template}: undeclared query parameters {extra}"
        for name, values in query.items():
            param = params.get(name)
            if param is not None and param.get("format") == "date-time":
                dt.datetime.fromisoformat(values[-1].replace("Z", "+00:00"))
            if name in ("$page", "$pagesize"):
                assert values[-1].isdigit()
                assert int(values[-1]) >= 1
        template_parts, path_parts = template.split("/"), parts.path.split("/")
        for name, value in zip(template_parts, path_parts, strict=True):
            if name.startswith("{"):
                param = params[name.strip("{}")]
                if param.get("format") == "uuid":
                    assert UUID.fullmatch(value), f"{template}: {name} is not a uuid"
        body_param = next((p for p in params.values() if p["in"] == "body"), None)
        if body_param is not None:
            body = json.loads(call.request.body)
            errors = list(validator(spec, body_param["schema"]).iter_errors(body))
            assert not errors, f"{template}: {errors[0].message}"
        checked += 1
    assert checked > 15


def test_every_answer_conforms(spec: dict[str, Any], calls: list[Any]) -> None:
    for call in api_calls(calls):
        if isinstance(call.response, Exception):
            continue  # the answer lost on purpose
        body = json.loads(call.response.content)
        if call.response.status_code >= 400:
            assert set(body) == {"ErrorCode", "DeveloperErrorMessage", "ErrorId"}
            assert isinstance(body["ErrorCode"], int)
            continue
        op, template = operation(spec, call.request.method, urlsplit(call.request.url).path)
        answer = op["responses"].get(str(call.response.status_code))
        assert answer is not None, f"{template}: status {call.response.status_code} undocumented"
        errors = list(validator(spec, answer["schema"]).iter_errors(body))
        assert not errors, f"{template}: {errors[0].message} at {list(errors[0].path)}"


def test_list_answers_carry_the_paging_metadata(calls: list[Any]) -> None:
    lists = [
        c
        for c in api_calls(calls)
        if "%24page=" in c.request.url and getattr(c.response, "status_code", 0) == 200
    ]
    assert lists
    for call in lists:
        meta = json.loads(call.response.content)["Meta"]
        assert set(meta) == {
            "CurrentPage",
            "PageSize",
            "TotalNumberOfPages",
            "TotalNumberOfResults",
            "ServerTimeUtc",
        }


def test_the_voucher_body_check_can_fail(spec: dict[str, Any]) -> None:
    op, _template = operation(spec, "POST", "/v2/vouchers")
    schema = next(p for p in op["parameters"] if p["in"] == "body")["schema"]
    rows = [{"AccountNumber": 1930, "DebitAmount": 5}, {"CreditAmount": -5}]
    body = {"VoucherDate": "2026-03-27", "VoucherText": "x", "Rows": rows}
    messages = {e.message for e in validator(spec, schema).iter_errors(body)}
    assert "'AccountNumber' is a required property" in messages
    assert "-5 is less than the minimum of 0" in messages
