"""The Amili fakes answer in the shapes Amili documents (docs/connectors/amili.md has the pages).

The documented examples are restated here as the sets of field names they show; a fake that
drifts from them — or a connector that starts relying on a field the fake invented — fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from claimbridge.transport.signature import HmacScheme, verify_hmac
from tests.contract.test_amili_se_contract import PUBLIC_KEY
from tests.fakes import amili as no
from tests.fakes import amili_se as se

# Norway: example workflow (token), GetBatchById (batch), webhooks page (events, headers)
TOKEN_ANSWER = {"access_token", "token_type", "not_before", "expires_in", "expires_on", "resource"}
BATCH_DATA = {
    "batchId",
    "type",
    "status",
    "createdAt",
    "finishedAt",
    "organizationId",
    "createdBy",
    "succeeded",
    "failed",
}
SUCCEEDED_ITEM = {"invoiceId", "invoiceNumber", "caseId"}
EVENT = {"id", "source", "timeStamp", "data"}
EVENT_DATA = {
    "BATCH_COMPLETED": {"batchId", "organizationId", "status"},
    "SETTLEMENT_CREATED": {
        "settlementId",
        "organizationId",
        "settlementDate",
        "invoiceId",
        "invoiceNumber",
        "caseNumber",
    },
    "CASE": {"orgId", "caseId", "caseNumber", "type", "status", "invoices"},
    "CASE_UPDATED": {"orgId", "caseId", "caseNumber", "type", "status", "invoices", "fields"},
}
WEBHOOK_HEADERS = {"X-Amili-Event", "IdempotencyKey", "X-Amili-Request-Id", "X-Webhook-Signature"}
# Sweden: case registration and creditor payment pages
REGISTRATION_ANSWER = {
    "_updated",
    "_created",
    "_etag",
    "_id",
    "_status",
    "_cases",
    "_ocr_numbers",
    "_ocr_numbers_ocr",
}
PAYMENT_ANSWER = {"_updated", "_created", "_etag", "_id", "_status", "_payment_status"}


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _token(session: requests.Session) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": no.CLIENT_ID,
        "client_secret": no.CLIENT_SECRET,
    }
    answer = session.post(no.TOKEN_URL, data=form, timeout=5).json()
    assert set(answer) == TOKEN_ANSWER
    assert answer["token_type"] == "Bearer"
    return str(answer["access_token"])


def _invoice(number: str) -> dict[str, Any]:
    return {
        "type": "NOTICE",
        "invoiceNumber": number,
        "vat": True,
        "fees": True,
        "originalInvoiceAmount": 4500.0,
        "currency": "NOK",
        "invoiceDate": "2024-01-15T00:00:00Z",
        "dueDate": "2024-02-15T00:00:00Z",
        "collectionNoticeDate": None,
        "uniqueSourceInvoiceId": f"erp-order-{number}-0",
        "description": "Consulting",
    }


def test_the_norwegian_batch_flow_has_the_documented_shape(mocked: responses.RequestsMock) -> None:
    fake = no.FakeAmili(queued_requests=2)
    fake.refuse_invoice["2"] = ("INVALID", "bad invoice")
    fake.install(mocked)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_token(session)}"
    org = f"{no.API}/orgs/{no.ORG}"
    created = session.post(
        f"{org}/invoices", json={"invoices": [_invoice("1"), _invoice("2")]}, timeout=5
    )
    assert created.status_code == 202
    assert set(created.json()) == {"summary", "data"}
    assert set(created.json()["data"]) == BATCH_DATA
    assert created.json()["data"]["status"] == "QUEUED"
    batch_url = f"{org}/batches/{created.json()['data']['batchId']}"
    states = [session.get(batch_url, timeout=5).json()["data"]["status"] for _ in range(2)]
    assert states == ["QUEUED", "PARTIAL"]
    done = session.get(batch_url, timeout=5).json()
    assert done["summary"] == {"status": "PARTIAL"}
    assert all(set(item) >= SUCCEEDED_ITEM for item in done["data"]["succeeded"])
    assert set(no.BATCH_STATES) >= set(states)
    refused = session.post(f"{org}/invoices", json={"invoices": [{"type": "NOTICE"}]}, timeout=5)
    assert refused.status_code == 400
    assert {"type", "title", "status", "detail", "errors"} <= set(refused.json())
    assert (
        session.get(batch_url, headers={"Authorization": "Bearer nope"}, timeout=5).status_code
        == 401
    )


@pytest.mark.parametrize("kind", sorted(EVENT_DATA))
def test_norwegian_webhook_events_have_the_documented_shape(kind: str) -> None:
    fake = no.FakeAmili()
    documented = {
        "BATCH_COMPLETED": {"batchId": "b", "organizationId": no.ORG, "status": "SUCCESS"},
        "SETTLEMENT_CREATED": {
            "settlementId": "s",
            "organizationId": no.ORG,
            "settlementDate": "2025-08-15",
            "invoiceId": "i",
            "invoiceNumber": "1234567",
            "caseNumber": "1234567",
        },
        "CASE": {
            "orgId": no.ORG,
            "caseId": "c",
            "caseNumber": "5000001",
            "type": "COLLECTION_NOTICE",
            "status": "OPEN",
            "invoices": ["i"],
        },
    }
    documented["CASE_UPDATED"] = {**documented["CASE"], "fields": ["status"]}
    headers, body = fake.webhook(kind, documented[kind])
    assert set(headers) >= WEBHOOK_HEADERS
    event = json.loads(body)
    assert set(event) >= EVENT
    kind_field = "type" if kind in ("BATCH_COMPLETED", "SETTLEMENT_CREATED") else "eventType"
    assert event[kind_field] == kind
    assert set(event["data"]) == EVENT_DATA[kind]
    scheme = HmacScheme.model_validate({"secret": no.WEBHOOK_SECRET})
    verify_hmac(scheme, headers, body, connector="amili")


def test_the_swedish_registration_and_payment_have_the_documented_shape(
    mocked: responses.RequestsMock,
) -> None:
    fake = se.FakeAmiliSweden(public_key=PUBLIC_KEY)
    fake.install(mocked)
    session = requests.Session()
    token = session.post(
        f"{se.API}/authenticates/api-code", json={"api_code": se.API_CODE}, timeout=5
    ).json()["token"]
    session.headers["X-API-Key"] = token
    documented = {
        "account": se.ACCOUNT,
        "creditor": se.CREDITOR,
        "first_action": "debt_collection",
        "currency": "SEK",
        "customer": {
            "name": "Jane Doe",
            "id_number": "202501012385",
            "address": {
                "address_line_1": "Business Street 456",
                "zip_code": "54321",
                "city": "Gothenburg",
            },
            "mobile_number": "+46709876543",
            "email": "jane.doe@domain.se",
        },
        "debts": [
            {
                "invoice_number": "778899",
                "debt_description": "Consulting fee",
                "invoice_date": "Mon, 16 Jun 2025 00:00:00 GMT",
                "capital_to_claim": 250.0,
                "invoice_due_days_after_invoice_date": 10,
            }
        ],
    }
    assert set(documented) == se.REGISTRATION_FIELDS
    answer = session.post(f"{se.API}/case--registrations", json=documented, timeout=5)
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == REGISTRATION_ANSWER
    assert body["_status"] == "OK"
    assert len(body["_cases"]) == len(body["_ocr_numbers_ocr"]) == 1
    payment = {
        "account": se.ACCOUNT,
        "creditor": se.CREDITOR,
        "case": body["_cases"][0],
        "currency": "SEK",
        "amount": 100.0,
        "bank_transaction_date": "Fri, 04 Jul 2025 16:20:41 GMT",
        "creditor_payment_reference": "PAY-REF-001",
        "origin": "creditor_system",
    }
    assert set(payment) <= se.PAYMENT_FIELDS
    paid = session.post(f"{se.API}/creditor--payments", json=payment, timeout=5)
    assert paid.status_code == 201
    assert set(paid.json()) == PAYMENT_ANSWER
    assert paid.json()["_payment_status"] == "completed"
    wrong = session.post(f"{se.API}/creditor--payments", json={**payment, "origin": "x"}, timeout=5)
    assert wrong.status_code == 422
    assert wrong.json()["_status"] == "ERR"
    assert "origin" in wrong.json()["_issues"]
