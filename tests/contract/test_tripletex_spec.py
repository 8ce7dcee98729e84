"""Every request the Tripletex source sends, and every answer the fake gives, against the
vendor's own OpenAPI document (``vendor-specs/tripletex-openapi.json``).

A scenario drives the connector through everything it does (full and incremental sync of
every stream, fetch by id of every stream, booking a payment twice, booking a voucher twice and
once with its answer lost, ``check`` for the token's own company, a client company and a
company out of reach, an expired session, a vendor error); then each recorded call must name an
operation of the spec, send only parameters the operation declares (every required one, each of
its type) and a body that validates against the operation's request schema, and get an answer
that validates against the operation's response schema, or ``ApiError`` for an error. A call
whose answer the fake lost on purpose (status 0) has its request checked only.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses
from jsonschema import Draft7Validator

from claimbridge.errors import RemoteError
from tests.fakes.tripletex import Call, FakeTripletex
from tests.unit.test_tripletex import TODAY, _claim, _payment, make_source, seed
from tests.unit.test_tripletex_vouchers import voucher

SPEC_FILE = "vendor-specs/tripletex-openapi.json"


@pytest.fixture(scope="module")
def spec(external_fixtures: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((external_fixtures / SPEC_FILE).read_text("utf-8"))
    return document


@pytest.fixture(scope="module")
def recorded() -> list[Call]:
    """The calls of one scenario that touches every endpoint the connector uses."""
    fake = FakeTripletex(today=TODAY)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        seed(fake, invoices=5)
        fake.add_invoice(
            400,
            customer=1,
            invoiceDate="2026-03-30",
            reminders=[
                {"id": 1, "reminderDate": "2026-03-30", "type": "REMINDER", "charge": 35},
            ],
        )
        fake.add_invoice(
            300, customer=2, isCreditNote=True, creditedInvoice=102, amountCurrency=-100
        )
        fake.clients = {555: "Klient AS"}
        source = make_source()
        assert source.check().ok
        assert make_source(company_id=555).check().ok
        assert not make_source(company_id=4242).check().ok
        cursors = {s.name: list(source.read(s, None))[-1].cursor for s in source.streams()}
        fake.pay(101, "100.00", TODAY)
        for stream in source.streams():
            list(source.read(stream, cursors[stream.name]))
        list(source.fetch(source.streams()[0], ["1", "2"]))
        list(source.fetch(source.streams()[1], ["103"]))
        assert list(source.fetch(source.streams()[2], ["300", "101"]))
        postings = [str(p) for p in fake.postings]
        assert list(source.fetch(source.streams()[3], [*postings, "999999"]))
        source.register_payment(_payment("50.00"), _claim(104))
        source.register_payment(_payment("50.00"), _claim(104))
        source.book_voucher(voucher())
        source.book_voucher(voucher())
        fake.lose_next_answer()
        source.book_voucher(voucher("settlement-9:line-3"))
        assert source.find_booking("never-booked") is None
        fake.expire_sessions()
        fake.fail_next(422, 15000, "Validation failed")
        with pytest.raises(RemoteError):
            list(source.read(source.streams()[0], None))
        list(source.read(source.streams()[0], None))
    return fake.calls


def _operations(spec: dict[str, Any]) -> Iterator[tuple[re.Pattern[str], str, dict[str, Any]]]:
    """Literal paths first: ``/company/>withLoginAccess`` is not ``/company/{id}``."""
    for template, item in sorted(spec["paths"].items(), key=lambda pair: "{" in pair[0]):
        pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(template)) + "$")
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete"}:
                yield pattern, method.upper(), operation


def _operation(spec: dict[str, Any], call: Call) -> dict[str, Any]:
    for pattern, method, operation in _operations(spec):
        if method == call.method and pattern.match(call.path):
            return operation
    raise AssertionError(f"{call.method} {call.path} is not in the Tripletex spec")


def _schema_validator(spec: dict[str, Any], ref: str) -> Draft7Validator:
    return Draft7Validator({"$ref": ref, "components": spec["components"]})


def _check_value(name: str, value: str, schema: dict[str, Any]) -> None:
    kind = schema.get("type")
    if kind == "integer":
        assert re.fullmatch(r"-?\d+", value), f"{name}={value!r} is not an integer"
    elif kind == "number":
        Decimal(value)
    elif kind == "boolean":
        assert value in {"true", "false"}, f"{name}={value!r} is not a boolean"
    if "enum" in schema:
        assert value in schema["enum"], f"{name}={value!r} not in {schema['enum']}"


def test_scenario_touched_every_endpoint(recorded: list[Call]) -> None:
    seen = {(c.method, c.path.split("/")[1]) for c in recorded}
    assert {("PUT", "token"), ("GET", "customer"), ("GET", "invoice"), ("GET", "ledger")} <= seen
    assert any(c.path.endswith("/:payment") for c in recorded)
    assert {("POST", "/ledger/voucher"), ("GET", "/ledger/account")} <= {
        (c.method, c.path) for c in recorded
    }
    assert any(c.path == "/ledger/voucher/>externalVoucherNumber" for c in recorded)
    assert any(c.status == 0 and c.path == "/ledger/voucher" for c in recorded)
    paths = {c.path for c in recorded}
    assert {"/token/session/>whoAmI", "/company/>withLoginAccess"} <= paths
    assert any(p.startswith("/ledger/posting/") for p in paths)
    assert any(c.status == 404 and c.path.startswith("/ledger/posting/") for c in recorded)
    assert any(c.status == 401 for c in recorded)
    assert any(c.status == 422 for c in recorded)


def check_request(spec: dict[str, Any], call: Call) -> None:
    operation = _operation(spec, call)
    declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
    unknown = set(call.query) - set(declared)
    assert not unknown, f"{call.method} {call.path}: undeclared parameters {unknown}"
    for name, parameter in declared.items():
        if parameter.get("required"):
            assert name in call.query, f"{call.method} {call.path}: {name} missing"
        if name in call.query:
            _check_value(name, call.query[name], parameter.get("schema", {}))
    body = operation.get("requestBody")
    if call.sent is None:
        assert body is None or body.get("required") is not True
        return
    assert body is not None, f"{call.method} {call.path} takes no body"
    (media,) = body["content"].values()
    errors = list(_schema_validator(spec, media["schema"]["$ref"]).iter_errors(call.sent))
    assert not errors, f"{call.method} {call.path}: {errors[0].message} at {list(errors[0].path)}"


def test_every_request_matches_the_spec(spec: dict[str, Any], recorded: list[Call]) -> None:
    for call in recorded:
        check_request(spec, call)


def test_the_request_check_can_fail(spec: dict[str, Any]) -> None:
    postings = [{"row": "first", "account": {"id": 1}, "amountGross": 1}]
    bad = Call("POST", "/ledger/voucher", {}, 0, None, {"date": "2026-03-27", "postings": postings})
    with pytest.raises(AssertionError, match="'first' is not of type 'integer'"):
        check_request(spec, bad)
    with pytest.raises(AssertionError, match="takes no body"):
        check_request(spec, Call("GET", "/ledger/account", {}, 0, None, {"number": 1920}))


def test_every_answer_matches_the_spec(spec: dict[str, Any], recorded: list[Call]) -> None:
    error_validator = _schema_validator(spec, "#/components/schemas/ApiError")
    for call in recorded:
        if call.status == 0:
            continue  # the answer was lost on purpose
        if call.status >= 400:
            errors = list(error_validator.iter_errors(call.body))
        else:
            response = _operation(spec, call)["responses"]["default"]
            ref = response["content"]["application/json"]["schema"]["$ref"]
            errors = list(_schema_validator(spec, ref).iter_errors(call.body))
        assert not errors, f"{call.method} {call.path}: {errors[0].message} at {errors[0].path}"


def test_fake_envelope_is_the_documented_one(recorded: list[Call]) -> None:
    lists = [
        c for c in recorded if c.status == 200 and isinstance(c.body, dict) and "values" in c.body
    ]
    assert lists
    for call in lists:
        assert {"fullResultSize", "from", "count", "values"} <= set(call.body)
        assert call.body["count"] == len(call.body["values"])


def test_dates_sent_are_iso(recorded: list[Call]) -> None:
    for call in recorded:
        for name in ("invoiceDateFrom", "invoiceDateTo", "dateFrom", "dateTo", "paymentDate"):
            if name in call.query:
                dt.date.fromisoformat(call.query[name])
