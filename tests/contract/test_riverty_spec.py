"""The Riverty fake and the connector, held to the documented shapes.

``tests/fixtures/riverty/collection-api.schema.json`` states what docs.riverty.com/back_in_flow
documents: field names, types, lengths, enums. Every request the connector sends in a whole
collection (handover, search, transactions, corrections, recall, token) and every answer the
fake gives is validated against it. What the schema marks ``x-assumed`` is not in Riverty's
public reference; each such field must be listed in the connector's documentation as such.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses

from claimbridge.connectors.agencies.riverty import RivertyAgency, RivertySettings
from claimbridge.connectors.base import ConnectorContext, Correction, CorrectionKind, Delivery
from claimbridge.grouping import idempotency_key
from claimbridge.schemas import CreditNote, Payment, SourceRef
from tests.contract.agency_suite import make_cases
from tests.fakes.riverty import (
    AUDIENCE,
    BASE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN_URL,
    Exchange,
    RivertyFake,
    load_schema,
    validator,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "connectors" / "riverty.md"
NAME = "riverty-spec"
SOURCE = SourceRef(system="files", company="1", record_id="r-1")

REQUESTS = {
    ("POST", r"/v1/claims"): "ClaimRequest",
    ("POST", r"/v1/claims/[^/]+/payments"): "Payment",
    ("POST", r"/v1/claims/[^/]+/creditWaivers"): "CreditWaiver",
    ("POST", r"/v1/claims/[^/]+/recalls"): "Recall",
}
ANSWERS = {
    ("POST", r"/v1/claims(/[^/]+/(payments|creditWaivers|recalls))?"): "RequestAccepted",
    ("GET", r"/v1/claims/search"): "ClaimSearchPage",
    ("GET", r"/v1/claims/[^/]+/invoices"): "InvoicePage",
    ("GET", r"/v1/transactions"): "Transactions",
    ("POST", r"/oauth/token"): "TokenAnswer",
}


def definition(table: dict[tuple[str, str], str], exchange: Exchange) -> str | None:
    for (method, pattern), name in table.items():
        if exchange.method == method and re.fullmatch(pattern, exchange.path):
            return name
    return None


@pytest.fixture
def fake() -> Iterator[RivertyFake]:
    fake = RivertyFake(now=dt.datetime(2026, 3, 31, 9, 0, tzinfo=dt.UTC))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake


def a_whole_collection(fake: RivertyFake) -> None:
    """Hand over, look up, correct in every way, read back: the connector's every call."""
    settings = RivertySettings(
        url=BASE_URL,
        token_url=TOKEN_URL,
        audience=AUDIENCE,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        allocate_payments_to="PRINCIPAL_CLAIM",
        contact_person_type="CONTACT_PERSON",
    )
    agency = RivertyAgency(settings, ConnectorContext(name=NAME), clock=lambda: fake.now)
    cases = make_cases(3)
    sent = [Delivery(idempotency_key(NAME, c.case_key), c) for c in cases]
    agency.push(sent)
    fake.fail_next(400, detail="customer.type is not allowed")
    agency.push([Delivery(idempotency_key(NAME, "x"), make_cases(1, start=9)[0])])
    agency.lookup(sent[0].idempotency_key)
    fake.process(reject={sent[2].idempotency_key: "missing data"})
    claim = next(
        c.number for c in fake.claims.values() if sent[0].idempotency_key in c.contract_numbers
    )
    pay = Payment(
        payment_id="p-1",
        source=SOURCE,
        amount=Decimal("100.00"),
        currency="NOK",
        booking_date=dt.date(2026, 3, 30),
        invoice_number="70000",
    )
    note = CreditNote(
        credit_note_number="K-1",
        source=SOURCE,
        invoice_number="70000",
        amount=Decimal("50.00"),
        currency="NOK",
        issue_date=dt.date(2026, 3, 30),
    )
    case_key = sent[0].case.case_key

    def fix(kind: CorrectionKind, **fields: Any) -> Correction:
        key = idempotency_key(NAME, f"{case_key}:{kind.value}", kind.value)
        return Correction(key, kind, case_key, claim, **fields)

    agency.correct(
        [
            fix(CorrectionKind.PAYMENT, invoice_number="70000", payment=pay),
            fix(CorrectionKind.REDUCE, credit_note=note),
            fix(CorrectionKind.WITHDRAW, invoice_number="70000"),
        ]
    )
    fake.process()
    fake.collect(claim, "70000", Decimal("10.00"), interest=Decimal("1.00"))
    agency.correct([fix(CorrectionKind.WITHDRAW)])
    fake.process()
    fake.close(claim, "FULL_PAYMENT")
    fake.advance(minutes=5)
    list(agency.updates(None))
    assert agency.check().ok


def test_every_exchange_has_the_documented_shape(fake: RivertyFake) -> None:
    a_whole_collection(fake)
    seen_requests, seen_answers = set(), set()
    for exchange in fake.exchanges:
        request = definition(REQUESTS, exchange)
        if request is not None:
            validator(request).validate(exchange.body)
            seen_requests.add(request)
        if exchange.status is not None and exchange.status >= 400:
            validator("Problem").validate(exchange.answer)
            continue
        answer = definition(ANSWERS, exchange)
        assert answer is not None, f"an answer the schema does not cover: {exchange.path}"
        validator(answer).validate(exchange.answer)
        seen_answers.add(answer)
    assert seen_requests == set(REQUESTS.values())
    assert seen_answers == set(ANSWERS.values())
    kinds = {tx["type"] for _, tx in fake.transactions}
    assert kinds == {"CONFIRMATION", "REJECTION", "ACCOUNTING_DOCUMENT", "CLOSING"}
    assert 400 in {e.status for e in fake.exchanges}


def test_the_schema_refuses_what_the_documentation_does_not_allow() -> None:
    claim = {
        "customer": {"customerNumber": "1", "type": "PRIVATE"},
        "contracts": [
            {
                "contractNumber": "c",
                "invoices": [
                    {
                        "invoiceNumber": "1",
                        "invoiceDate": "2026-01-05",
                        "remainingAmount": 0,
                        "currency": "NOK",
                    }
                ],
            }
        ],
    }
    assert not validator("ClaimRequest").is_valid(claim)  # zero is not allowed
    claim["contracts"][0]["invoices"][0]["remainingAmount"] = 10  # type: ignore[index]
    assert validator("ClaimRequest").is_valid(claim)
    assert not validator("ClaimRequest").is_valid({**claim, "debtor": {}})  # unknown field
    assert not validator("Payment").is_valid(
        {"paymentNumber": "p" * 41, "date": "2026-03-30", "amount": 1, "currency": "NOK"}
    )
    assert not validator("Payment").is_valid(
        {
            "paymentNumber": "p",
            "date": "2026-03-30",
            "amount": 1,
            "currency": "NOK",
            "allocateTo": "FEES_FIRST",
        }
    )


def assumed(node: Any, path: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("x-assumed"):
            yield path.rsplit(".", 1)[-1]
        for key, value in node.items():
            yield from assumed(value, f"{path}.{key}")
    elif isinstance(node, list):
        for value in node:
            yield from assumed(value, path)


def test_every_assumed_field_is_documented_as_not_public() -> None:
    section = DOC.read_text(encoding="utf-8").split("## What is not public", 1)[1]
    section = section.split("\n## ", 1)[0]
    names = set(assumed(load_schema()["$defs"]))
    assert names == {
        "careOf",
        "ssn",
        "companyName",
        "additionalProperties",
        "items",
        "pagination",
        "Problem",
    }
    for name in names - {"Problem"}:
        assert f"`{name}`" in section, f"{name} is assumed but not listed as not public"
    assert "RFC 7807" in section  # the assumed error body
