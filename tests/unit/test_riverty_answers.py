"""Riverty's answers, malformed, hostile and huge: a clear ``ParseError`` naming the field, or a
usable value — never a traceback of internals, never a silently half-read answer."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimbridge.connectors.agencies._riverty_answers import (
    claims_page,
    invoices_page,
    json_body,
    request_id,
    transaction_update,
    transactions,
)
from claimbridge.connectors.agencies._riverty_auth import riverty_error_info
from claimbridge.connectors.base import PushStatus
from claimbridge.errors import ParseError
from claimbridge.schemas import CaseStatus, EventKind


def response(body: Any, status: int = 200) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return answer


def tx(kind: str, field: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "sortNumber": 0,
        "id": "t-1",
        "type": kind,
        "customerNumber": "400000535",
        "claimNumber": "DE-S242243324007",
        field: body,
        **extra,
    }


# --- bodies --------------------------------------------------------------------------------


def test_oversized_and_non_json_bodies_are_refused_unread() -> None:
    with pytest.raises(ParseError, match="over the 1000-byte limit"):
        json_body(response(b"[" + b"0," * 2000 + b"0]"), "transactions", 1000)
    with pytest.raises(ParseError, match="is not JSON"):
        json_body(response(b"<html>gateway</html>"), "transactions", 1000)
    with pytest.raises(ParseError, match="is not JSON"):
        json_body(response(b"[" * 100_000 + b"]" * 100_000), "transactions", 10**6)


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {},
        {"requestId": ""},
        {"requestId": 12.5},
        {"requestId": "x\x00y"},
        {"requestId": "r" * 101},
    ],
)
def test_a_request_id_must_be_a_short_printable_text(answer: Any) -> None:
    with pytest.raises(ParseError, match="requestId"):
        request_id(answer)
    assert request_id({"requestId": 42}) == "42"


def test_paged_answers_read_a_bare_list_or_one_named_list() -> None:
    claim = {"claimNumber": "NO-S1", "status": "processing"}
    assert claims_page([claim])[0][0].status == "PROCESSING"
    wrapped = {"data": [claim], "paging": {"currentPage": 1, "totalPages": 3}}
    found, more = claims_page(wrapped)
    assert (found[0].claim_number, more) == ("NO-S1", True)
    with pytest.raises(ParseError, match="holds 2 lists"):
        claims_page({"a": [claim], "b": []})
    with pytest.raises(ParseError, match=r"claims\[1\]"):
        claims_page([claim, "NO-S2"])
    with pytest.raises(ParseError, match=r"claims\[0\].claimNumber"):
        claims_page([{"claimNumber": None}])
    with pytest.raises(ParseError, match="neither a list nor an object"):
        claims_page("NO-S1")
    with pytest.raises(ParseError, match=r"invoices\[0\].remainingAmount"):
        invoices_page([{"invoiceNumber": "1", "remainingAmount": "12", "currency": "NOK"}])
    with pytest.raises(ParseError, match="usable amount"):
        invoices_page([{"invoiceNumber": "1", "remainingAmount": 1e300, "currency": "NOK"}])
    [invoice], _ = invoices_page(
        [{"invoiceNumber": "1", "remainingAmount": 9.5, "currency": "nok"}]
    )
    assert (invoice.remaining, invoice.currency) == (Decimal("9.50"), "NOK")


# --- transactions --------------------------------------------------------------------------


def test_transactions_come_in_riverty_s_order_and_only_as_objects() -> None:
    ordered = transactions([{"sortNumber": 2, "id": "b"}, {"sortNumber": 0, "id": "a"}])
    assert [t["id"] for t in ordered] == ["a", "b"]
    with pytest.raises(ParseError, match="not a JSON array"):
        transactions({"transactions": []})
    with pytest.raises(ParseError, match=r"transactions\[1\]"):
        transactions([{"id": "a"}, None])


def test_a_claim_confirmation_is_the_receipt_of_the_delivery_its_contract_names() -> None:
    body = {
        "date": "2024-05-22",
        "type": "INVOICE",
        "number": "318040697",
        "contractNumber": "cbk-0123456789abcdef0123456789abcdef",
        "amount": 160,
        "currency": "EUR",
        "additionalProperties": {},
    }
    update = transaction_update(tx("CONFIRMATION", "confirmation", body), "riverty", "c0")
    assert update is not None
    assert update.receipt is not None
    assert update.cursor == "c0"
    assert update.receipt.idempotency_key == body["contractNumber"]
    assert (update.receipt.status, update.receipt.agency_ref) == (
        PushStatus.ACCEPTED,
        "DE-S242243324007",
    )
    assert update.update_id == "riverty:t-1"
    costs = {**body, "type": "CLIENT_COSTS", "contractNumber": None}
    event = transaction_update(tx("CONFIRMATION", "confirmation", costs), "riverty", "c0")
    assert event is not None
    assert event.event is not None
    assert event.event.kind is EventKind.RECEIPT
    assert "160 EUR" in event.event.message
    foreign = {**body, "contractNumber": ""}  # a claim handed over some other way
    assert transaction_update(tx("CONFIRMATION", "confirmation", foreign), "riverty", "c0") is None


def test_rejections_carry_riverty_s_description() -> None:
    body = {
        "date": "2024-05-22",
        "type": "DIRECT_PAYMENT",
        "number": "cbk-pay-1",
        "description": "Payment exceeds the open amount",
    }
    update = transaction_update(tx("REJECTION", "rejection", body), "riverty", "c")
    assert update is not None
    assert update.receipt is not None
    assert update.receipt.status is PushStatus.REJECTED
    assert "exceeds the open amount" in (update.receipt.reason or "")


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("FULL_PAYMENT", CaseStatus.PAID),
        ("RECALLED_BY_CLIENT", CaseStatus.WITHDRAWN),
        ("INSOLVENCY", CaseStatus.RETURNED),
        ("PARTIAL_SUCCESS", CaseStatus.CLOSED),
    ],
)
def test_closings_are_status_events_of_the_claim(reason: str, status: CaseStatus) -> None:
    update = transaction_update(
        tx("CLOSING", "closing", {"date": "2024-08-07", "type": reason}), "riverty", "c"
    )
    assert update is not None
    assert update.event is not None
    assert (update.event.status, update.event.agency_ref) == (status, "DE-S242243324007")
    assert update.event.case_key == ""  # reconciliation finds the case by agency_ref
    assert update.event.at.isoformat() == "2024-08-07T00:00:00+00:00"


def test_an_agency_payment_is_a_settlement_and_unmapped_buckets_are_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {
        "date": "2023-11-23",
        "type": "AGENCY_PAYMENTS",
        "number": "PAY12345",
        "amount": -100,
        "currency": "EUR",
        "lineItems": [
            {
                "id": "13145326",
                "amount": -20,
                "allocateTo": "principalClaim",
                "invoiceNumber": "INV1234",
                "contractNumber": "V12345",
            },
            {
                "id": "13145327",
                "amount": -5.5,
                "allocateTo": "clientInterests",
                "invoiceNumber": "INV1234",
            },
            {"id": "9876543", "amount": -74.5, "allocateTo": "overPayment"},
        ],
    }
    update = transaction_update(tx("ACCOUNTING_DOCUMENT", "accountingDocument", body), "rv", "c")
    assert update is not None
    assert update.settlement is not None
    settlement = update.settlement
    assert (settlement.settlement_id, str(settlement.settlement_date)) == (
        "riverty:PAY12345",
        "2023-11-23",
    )
    assert [(line.principal, line.interest) for line in settlement.lines] == [
        (Decimal("20.00"), Decimal("0")),
        (Decimal("0"), Decimal("5.50")),
    ]
    assert "unmapped bucket" in caplog.text
    assert "INV1234" not in caplog.text
    only_unmapped = {**body, "lineItems": [body["lineItems"][2]]}
    message = transaction_update(
        tx("ACCOUNTING_DOCUMENT", "accountingDocument", only_unmapped), "rv", "c"
    )
    assert message is not None
    assert message.event is not None
    assert message.settlement is None
    direct = {**body, "type": "DIRECT_PAYMENT"}  # our own report, echoed: never a settlement
    echoed = transaction_update(tx("ACCOUNTING_DOCUMENT", "accountingDocument", direct), "rv", "c")
    assert echoed is not None
    assert echoed.settlement is None


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"type": "CLOSING"}, "transactions.id"),
        ({"id": "t", "type": None}, "transactions.type"),
        ({"id": "t", "type": "CLOSING", "closing": []}, "transactions.closing"),
        ({"id": "t", "type": "CLOSING", "closing": {"type": "X", "date": "22.05.2024"}}, "date"),
        (
            {
                "id": "t",
                "type": "ACCOUNTING_DOCUMENT",
                "accountingDocument": {
                    "type": "AGENCY_PAYMENTS",
                    "currency": "EUR",
                    "lineItems": {},
                },
            },
            "lineItems",
        ),
        (
            {
                "id": "t",
                "type": "ACCOUNTING_DOCUMENT",
                "accountingDocument": {
                    "type": "AGENCY_PAYMENTS",
                    "currency": "EURO",
                    "date": "2024-01-01",
                    "lineItems": [{"amount": 1, "allocateTo": "principalClaim"}],
                },
            },
            "currency",
        ),
        (
            {
                "id": "t",
                "type": "ACCOUNTING_DOCUMENT",
                "accountingDocument": {
                    "type": "AGENCY_PAYMENTS",
                    "lineItems": [{"amount": True, "allocateTo": "principalClaim"}],
                },
            },
            "amount",
        ),
    ],
)
def test_malformed_transactions_name_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ParseError, match=field):
        transaction_update(raw, "riverty", "c")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "type",
                    "claimNumber",
                    "confirmation",
                    "rejection",
                    "closing",
                    "accountingDocument",
                    "date",
                    "number",
                    "contractNumber",
                    "amount",
                    "currency",
                    "lineItems",
                    "allocateTo",
                    "description",
                    "sortNumber",
                    "status",
                    "INVOICE",
                    "CONFIRMATION",
                    "REJECTION",
                    "CLOSING",
                    "ACCOUNTING_DOCUMENT",
                    "AGENCY_PAYMENTS",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)
TYPED = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=12),
        "type": st.sampled_from(
            ["CONFIRMATION", "REJECTION", "CLOSING", "ACCOUNTING_DOCUMENT", "STATUS", "OTHER"]
        ),
    },
    optional={
        "claimNumber": JSON,
        "confirmation": JSON,
        "rejection": JSON,
        "closing": JSON,
        "accountingDocument": JSON,
        "status": JSON,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(JSON, st.lists(TYPED, max_size=4)))
def test_any_transactions_answer_reads_or_fails_clearly(answer: Any) -> None:
    try:
        for raw in transactions(answer):
            transaction_update(raw, "riverty", "c")
    except ParseError as exc:
        failure: str = str(exc)
        assert failure


@settings(max_examples=100, deadline=None)
@given(JSON)
def test_any_search_answer_reads_or_fails_clearly(answer: Any) -> None:
    for read in (claims_page, invoices_page):
        try:
            read(answer)
        except ParseError as exc:
            failure: str = str(exc)
            assert failure


# --- error bodies --------------------------------------------------------------------------


def test_error_bodies_give_the_reason_without_the_refused_values() -> None:
    info = riverty_error_info(
        response(
            {
                "type": "https://problems.riverty.example/validation",
                "title": "Validation failed",
                "status": 400,
                "detail": "One or more fields are invalid",
                "errors": {
                    "customer.lastName": ["'Testesen' is too long"],
                    "contracts[0].invoices[0].dueDate": ["bad"],
                },
            },
            400,
        )
    )
    assert info.message == (
        "Validation failed: One or more fields are invalid: "
        "fields: customer.lastName, contracts[0].invoices[0].dueDate"
    )
    assert "Testesen" not in (info.message or "")
    listed = riverty_error_info(
        response(
            [
                {
                    "type": "BusinessError",
                    "code": "400.005",
                    "message": "A string value exceeds maximum length",
                    "fieldReference": "customer.firstName",
                }
            ],
            400,
        )
    )
    assert (listed.code, listed.message) == (
        "400.005",
        "A string value exceeds maximum length (customer.firstName)",
    )
    oauth = riverty_error_info(
        response({"error": "access_denied", "error_description": "Unauthorized"}, 401)
    )
    assert (oauth.code, oauth.message) == ("access_denied", "Unauthorized")
    assert riverty_error_info(response(b"<html>502</html>", 502)).message is None
    assert riverty_error_info(response([1, 2], 400)).message is None
    huge = riverty_error_info(response({"title": "x" * 10_000, "detail": "\n\t y"}, 400))
    assert len(huge.message or "") <= 300
