"""Every request claimbridge sends to Fortnox, and every answer the fake gives, against
Fortnox's own OpenAPI document (``vendor-specs/fortnox-openapi.json``).

Two things live Fortnox does that its spec does not say, both visible in the recorded answers
(``fortnox-recorded/*.yml``), are allowed here and nowhere else: ``null`` for unset fields, and
``CurrencyRate`` as a decimal string in invoice list rows. The paging parameters ``page`` and
``limit`` are documented in Fortnox's guides, not per operation, and are allowed on every list.
The token endpoint lives on another host and is not part of this document.
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

import jsonschema
import pytest
import requests
import responses
import yaml
from pydantic import SecretStr
from referencing import Registry, Resource

from claimbridge.connectors.accounting.fortnox import FortnoxSettings, FortnoxSource, make_cursor
from claimbridge.connectors.base import ConnectorContext
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.errors import RemoteError
from claimbridge.schemas import Claim, Payment, SourceRef
from claimbridge.transport.http import HttpOptions
from tests.fakes.fortnox import BASE_URL, FortnoxFake
from tests.unit.test_fortnox_booking import voucher

SPEC_URI = "urn:fortnox-openapi"
PAGING = {"page", "limit"}
NOW = dt.datetime(2026, 3, 31, 9, 0)


class Spec:
    """The OpenAPI document, with a validator for any of its schemas."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, Resource.opaque(document))
        # literal segments first: /3/vouchers/sublist/A is not /3/vouchers/{series}/{number}
        self.routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in sorted(document["paths"], key=lambda p: p.count("{"))
        ]

    def operation(self, method: str, path: str) -> dict[str, Any]:
        for pattern, template in self.routes:
            if pattern.match(path):
                operations = self.document["paths"][template]
                assert method.lower() in operations, f"{method} {template} is not in the spec"
                return dict(operations[method.lower()])
        raise AssertionError(f"{path} is not in the spec")

    def validate(self, schema: dict[str, Any], instance: Any) -> None:
        wrapped = {"$ref": SPEC_URI + schema["$ref"]} if "$ref" in schema else schema
        validator = jsonschema.Draft7Validator(wrapped, registry=self.registry)
        validator.validate(instance)


@pytest.fixture(scope="module")
def spec(external_fixtures: Path) -> Spec:
    document = json.loads(
        (external_fixtures / "vendor-specs/fortnox-openapi.json").read_text(encoding="utf-8")
    )
    return Spec(document)


def live_deviations(value: Any, key: str = "") -> Any:
    """The two documented differences of live Fortnox from its spec, undone."""
    if isinstance(value, dict):
        return {k: live_deviations(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [live_deviations(v) for v in value]
    if key == "CurrencyRate" and isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    return value


def check_request(spec: Spec, request: requests.PreparedRequest) -> dict[str, Any]:
    parts = urlsplit(request.url or "")
    operation = spec.operation(request.method or "", parts.path)
    declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    query = parse_qs(parts.query, keep_blank_values=True)
    for name, values in query.items():
        assert len(values) == 1, f"{name} sent twice"
        if name in PAGING:
            assert values[0].isdigit(), f"{name}={values[0]}"
            assert int(values[0]) >= 1, f"{name}={values[0]}"
            continue
        assert name in declared, f"{request.method} {parts.path}: undeclared parameter {name}"
        schema = declared[name].get("schema", {})
        value: Any = values[0]
        if schema.get("type") == "integer":
            assert value.isdigit(), f"{name} must be an integer"
            value = int(value)
        spec.validate(schema, value)
    if name_is_list(operation) and "lastmodified" in query:
        dt.datetime.strptime(query["lastmodified"][0], "%Y-%m-%d %H:%M")
    body = operation.get("requestBody")
    if request.body:
        assert body is not None, f"{request.method} {parts.path} takes no body"
        (media,) = body["content"].values()
        spec.validate(media["schema"], json.loads(request.body))
    return operation


def name_is_list(operation: dict[str, Any]) -> bool:
    return str(operation.get("operationId", "")).startswith("list")


def check_response(spec: Spec, operation: dict[str, Any], status: int, text: str) -> None:
    answers = operation["responses"]
    answer = answers.get(str(status), answers.get("default"))
    assert answer is not None, f"status {status} is not documented"
    content = answer.get("content")
    if content is None:
        assert not text
        return
    schema = content["application/json"]["schema"]
    spec.validate(schema, live_deviations(json.loads(text)))


def exchanges(fake: FortnoxFake) -> Iterator[tuple[requests.PreparedRequest, int, str]]:
    for request, (status, _headers, text) in fake.exchanges:
        if (request.url or "").startswith(BASE_URL):
            yield request, status, text


def _source(fake: FortnoxFake) -> FortnoxSource:
    settings = FortnoxSettings(
        client_id=fake.client_id,
        client_secret=SecretStr(fake.client_secret),
        refresh_token=SecretStr("rt-0"),
        page_size=2,
        mode_of_payment="BG",
        http=HttpOptions(rate_limit_per_s=None, backoff_initial=0),
    )
    context = ConnectorContext(name="ledger", today=NOW.date(), credentials=MemoryCredentialStore())
    return FortnoxSource(settings, context, sleep=lambda _: None, now=lambda: NOW)


def test_everything_sent_and_answered_conforms(spec: Spec) -> None:
    fake = FortnoxFake(now=NOW - dt.timedelta(days=1))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        customer = fake.add_customer("Dora Dahl AB", Type="COMPANY", Phone1="08-1")
        invoices = [fake.add_invoice(customer, f"{100 + i}.25") for i in range(5)]
        fake.add_payment(invoices[0], "10.00")
        fake.add_credit_invoice(invoices[1], "5.00")
        source = _source(fake)
        assert source.check().ok
        claims: list[Claim] = []
        for stream in source.streams():
            for page in source.read(stream, None):
                for record in page.records:
                    for model in source.normalize(stream, record):
                        if isinstance(model, Claim):
                            claims.append(model)
            list(source.read(stream, make_cursor(NOW - dt.timedelta(days=2))))
            list(source.fetch(stream, ["1", "1001", "1006", "1", "4040"]))
        payment = Payment(
            payment_id="p",
            source=SourceRef(system="agency", record_id="p"),
            amount=Decimal("12.34"),
            currency="SEK",
            booking_date=dt.date(2026, 3, 30),
        )
        source.register_payment(payment, claims[2])
        source.register_payment(payment, claims[2])
        source.book_voucher(voucher())
        source.book_voucher(voucher())
        fake.lose_next_answer()
        source.book_voucher(voucher("settlement-9:line-3"))
        assert source.find_booking("settlement-9:line-3") is not None
        fake.fail_next(429, 2000000, "Too many requests", {"Retry-After": "0"})
        source.register_payment(payment, claims[3])
        with pytest.raises(RemoteError):
            source.register_payment(payment, claims[3].model_copy(update={"invoice_number": "77"}))
    seen: set[str] = set()
    for request, status, text in exchanges(fake):
        operation = check_request(spec, request)
        if status != 0:  # 0: the answer was lost on purpose
            check_response(spec, operation, status, text)
        seen.add(str(operation["operationId"]))
    # list and get of customers, invoices and payments; create and bookkeep a payment
    assert {"list_15", "get_19", "list_20", "get_27", "list_19", "get_26", "create_22"} <= seen
    assert "bookkeep" in seen
    assert {"create_47", "listSeries", "getByDate"} <= seen  # vouchers and financial years


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("customer-find-id-1.yml", "/3/customers/1"),
        ("invoices-filter-hit.yml", "/3/invoices"),
        ("auth-expired-token.yml", "/3/customers"),
    ],
)
def test_recorded_answers_conform_with_the_known_deviations(
    spec: Spec, external_fixtures: Path, name: str, path: str
) -> None:
    """The deviations allowed above are exactly what live Fortnox does, and all it does."""
    cassette = yaml.safe_load((external_fixtures / "fortnox-recorded" / name).read_text())
    (interaction,) = cassette["http_interactions"]
    response = interaction["response"]
    operation = spec.operation("GET", path)
    check_response(spec, operation, response["status"]["code"], response["body"]["string"])
    raw = json.loads(response["body"]["string"])
    if response["status"]["code"] == 200:
        answers = operation["responses"]["200"]["content"]["application/json"]
        with pytest.raises(jsonschema.ValidationError):  # the spec alone refuses them
            spec.validate(answers["schema"], raw)


def test_the_checks_can_fail(spec: Spec) -> None:
    operation = spec.operation("GET", "/3/invoices")
    rows = {"Invoices": [{"Balance": "much", "DocumentNumber": "1"}]}
    with pytest.raises(jsonschema.ValidationError):
        check_response(spec, operation, 200, json.dumps(rows))
    bad = requests.Request("GET", BASE_URL + "/3/invoices?filter=open").prepare()
    with pytest.raises(jsonschema.ValidationError):
        check_request(spec, bad)
    unknown = requests.Request("GET", BASE_URL + "/3/invoices?settled=false").prepare()
    with pytest.raises(AssertionError, match="undeclared"):
        check_request(spec, unknown)
    rows = [{"Account": 19300, "Debit": 5}, {"Account": 8310, "Credit": 5}]
    entry = {"Description": "x", "TransactionDate": "2026-03-27", "VoucherSeries": "A", "Year": 2}
    post = requests.Request(
        "POST", BASE_URL + "/3/vouchers", json={"Voucher": {**entry, "VoucherRows": rows}}
    ).prepare()
    with pytest.raises(jsonschema.ValidationError, match="19300"):
        check_request(spec, post)
    body = {"InvoicePayment": {"Amount": 5}}  # InvoiceNumber is required
    post = requests.Request("POST", BASE_URL + "/3/invoicepayments", json=body).prepare()
    with pytest.raises(jsonschema.ValidationError):
        check_request(spec, post)
