"""Every request claimbridge sends to the Go fake, and every answer, against Go's OpenAPI spec.

The spec (OpenAPI 3.0, ~1.6 MB) is loaded once per module. Schemas are turned into JSON Schema
(``nullable`` → a ``null`` type) and resolved with ``referencing``; query parameters are checked
against the operation's declared ones, with the ``resourceParameter`` object exploded into its
properties the way OpenAPI's default form style sends it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest
import responses
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from claimbridge.connectors.accounting.poweroffice import INVOICES, PAYMENTS
from claimbridge.connectors.base import RawRecord
from claimbridge.errors import RemoteError
from claimbridge.schemas import Claim, Payment, SourceRef
from tests.fakes.poweroffice import BANK_ACCOUNT_ID, Exchange, FakePowerOffice
from tests.unit.test_poweroffice import ledger, make_source, read_all
from tests.unit.test_poweroffice_booking import voucher

SPEC = "vendor-specs/poweroffice-go-v2-openapi.yaml"


def _json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k not in ("example", "nullable")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("nullable") and "$ref" in out:
        out = {"anyOf": [{"$ref": out["$ref"]}, {"type": "null"}]}
    return out


class Spec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = _json_schema(document)
        resource = Resource.from_contents(self.document, default_specification=_DRAFT)
        self.registry: Registry[Any] = Registry().with_resource("spec", resource)
        self.routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", r"[^/]+", path) + "$"), path)
            for path in self.document["paths"]
        ]

    def operation(self, method: str, path: str) -> dict[str, Any]:
        matches = [template for pattern, template in self.routes if pattern.match(path)]
        assert matches, f"{path} is not in the spec"
        exact = [m for m in matches if "{" not in m] or matches
        item = self.document["paths"][exact[0]]
        assert method.lower() in item, f"{method} {exact[0]} is not in the spec"
        return dict(item[method.lower()])

    def validate(self, schema: dict[str, Any], instance: Any) -> None:
        wrapped = {**schema, "components": self.document["components"]}
        validator = jsonschema.Draft7Validator(wrapped, registry=self.registry)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])

    def query_names(self, operation: dict[str, Any]) -> set[str]:
        names = set()
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            schema = parameter.get("schema", {})
            if "$ref" in schema:
                target = schema["$ref"].rsplit("/", 1)[-1]
                names.update(self.document["components"]["schemas"][target]["properties"])
            else:
                names.add(parameter["name"])
        return names


_DRAFT = DRAFT7


@pytest.fixture(scope="module")
def spec(external_fixtures: Path) -> Spec:
    with (external_fixtures / SPEC).open(encoding="utf-8") as fh:
        return Spec(yaml.safe_load(fh))


def check_exchange(spec: Spec, exchange: Exchange) -> None:
    operation = spec.operation(exchange.method, exchange.path)
    unknown = set(exchange.query) - spec.query_names(operation)
    assert not unknown, f"{exchange.path}: undeclared query parameters {unknown}"
    required = {
        p["name"]
        for p in operation.get("parameters", [])
        if p.get("required") and p["in"] == "query"
    }
    assert required <= set(exchange.query), f"{exchange.path}: missing {required}"
    if exchange.body is not None:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        spec.validate(schema, exchange.body)
    if exchange.status == 0:
        return  # the answer was lost on purpose: only the request is checked
    answer = operation["responses"].get(str(exchange.status))
    assert answer is not None, f"{exchange.path}: status {exchange.status} is not declared"
    content = answer.get("content", {}).get("application/json")
    if exchange.response is None:
        return
    assert content is not None, f"{exchange.path}: {exchange.status} declares no body"
    body = json.loads(json.dumps(exchange.response, default=_plain))
    spec.validate(content["schema"], body)


def _plain(value: object) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


def test_every_exchange_of_a_full_workout_matches_the_spec(spec: Spec) -> None:
    go = FakePowerOffice()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        go.install(rsps)
        invoices = ledger(go, customers=4)
        go.pay(invoices[0], "100.00")
        source = make_source(page_size=2)
        cursors = {s.name: read_all(source, s)[1] for s in source.streams()}
        go.add_contact_person(invoices[1]["CustomerId"])
        go.pay(invoices[2], "1.00")
        for stream in source.streams():
            read_all(source, stream, cursors[stream.name])
        list(source.fetch(INVOICES, [invoices[3]["Id"]]))
        payment_ids = [str(e["Id"]) for e in go.entries]
        assert len(list(source.fetch(PAYMENTS, payment_ids))) == len(payment_ids)
        assert source.check().ok
        claim = source.normalize(INVOICES, RawRecord(data=invoices[1], location="x"))[0]
        assert isinstance(claim, Claim)
        payment = Payment(
            payment_id="p-1",
            source=SourceRef(system="agency", record_id="1"),
            amount=Decimal("10.00"),
            currency="NOK",
            booking_date=dt.date(2026, 2, 3),
        )
        source.register_payment(payment, claim)
        source.book_voucher(voucher())
        source.book_voucher(voucher())
        go.lose_next_answer()
        source.book_voucher(voucher("settlement-9:line-3"))
        assert source.find_booking("p-1") is not None
        go.fail_next = (404, {"Title": "Object(s) not found", "Detail": "x", "Status": 404})
        with pytest.raises(RemoteError):
            list(source.fetch(INVOICES, [invoices[0]["Id"]]))
    paths = {e.path for e in go.exchanges}
    assert {"/Customers", "/OutgoingInvoices", "/Customerledger/Statement"} <= paths
    assert {"/Vouchers/BankJournals", "/ClientIntegrationInformation"} <= paths
    assert {"/Vouchers/ManualJournals", "/AccountTransactions", "/GeneralLedgerAccounts"} <= paths
    assert any(e.status == 0 for e in go.exchanges)
    assert f"/GeneralLedgerAccounts/{BANK_ACCOUNT_ID}" in paths
    for exchange in go.exchanges:
        check_exchange(spec, exchange)


def test_the_checker_catches_an_undeclared_parameter(spec: Spec) -> None:
    bad = Exchange("GET", "/OutgoingInvoices", {"$skip": "10"}, None, 204, None)
    with pytest.raises(AssertionError, match="undeclared"):
        check_exchange(spec, bad)


def test_the_checker_catches_a_wrong_body(spec: Spec) -> None:
    bad = Exchange("POST", "/Vouchers/BankJournals", {}, {"VoucherDate": 5}, 201, None)
    with pytest.raises(AssertionError):
        check_exchange(spec, bad)


def test_the_checker_catches_a_manual_journal_line_without_its_account(spec: Spec) -> None:
    line = {"PostingDate": "2026-02-27", "VatId": None, "CurrencyAmount": 5.0}
    body = {"CurrencyCode": "NOK", "VoucherDate": "2026-02-27", "VoucherLines": [line]}
    bad = Exchange("POST", "/Vouchers/ManualJournals", {}, body, 201, None)
    with pytest.raises(AssertionError, match="AccountId"):
        check_exchange(spec, bad)
