"""Corrections at the sandbox agency over real HTTP: the documented shapes, the agency's rules,
idempotency by key, lookup of a lost answer, and what they do to the case and its events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from claimbridge.connectors.agencies.sandbox import SandboxAgency, SandboxSettings
from claimbridge.connectors.base import (
    ConnectorContext,
    Correction,
    CorrectionKind,
    Delivery,
    PushStatus,
)
from claimbridge.sandbox.server import SandboxServer
from claimbridge.schemas import CreditNote, Payment, SourceRef
from tests.factories import make_case, make_claim
from tests.integration.test_sandbox_server import openapi_validator

TOKEN = "corrections-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DAY = dt.date(2026, 11, 23)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(TOKEN, faults=True) as running:
        running.simulate(DAY)
        yield running


@pytest.fixture
def agency(server: SandboxServer) -> Iterator[SandboxAgency]:
    options = {"max_retries": 1, "backoff_initial": 0.01, "timeout_read": 0.5}
    connector = SandboxAgency(
        SandboxSettings(url=server.url, token=TOKEN, http=options),  # type: ignore[arg-type]
        ConnectorContext(name="sandbox"),
    )
    yield connector
    connector.close()


@pytest.fixture
def ref(agency: SandboxAgency) -> str:
    """An accepted case with two claims (1001: 1500.00, 1002: 1500.00 NOK)."""
    case = make_case(claims=(make_claim("1001"), make_claim("1002")))
    [outcome] = agency.push([Delivery("case-1", case)])
    assert outcome.status is PushStatus.ACCEPTED
    assert outcome.agency_ref is not None
    return outcome.agency_ref


def payment(amount: str = "100.00", **overrides: Any) -> Payment:
    fields: dict[str, Any] = {
        "payment_id": "P-1",
        "source": SourceRef(system="files", record_id="P-1"),
        "amount": Decimal(amount),
        "currency": "NOK",
        "booking_date": DAY + dt.timedelta(days=2),
        "invoice_number": "1001",
        **overrides,
    }
    return Payment(**fields)


def correction(key: str, kind: CorrectionKind, ref: str, **fields: Any) -> Correction:
    return Correction(
        key, kind, "cb-" + "0" * 24, ref, fields.pop("invoice_number", "1001"), **fields
    )


def items(server: SandboxServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    answer = requests.post(f"{server.url}/v1/corrections/batch", json=body, headers=AUTH, timeout=5)
    assert answer.status_code == 200, answer.text
    openapi_validator("CorrectionBatchResult").validate(answer.json())
    return list(answer.json()["results"])


def test_a_direct_payment_is_accepted_once_and_answers_the_same_again(
    server: SandboxServer, agency: SandboxAgency, ref: str
) -> None:
    paid = correction("c-1", CorrectionKind.PAYMENT, ref, payment=payment())
    [first] = agency.correct([paid])
    assert first.status is PushStatus.ACCEPTED
    assert first.agency_ref == "SBX-COR-000001"
    [again] = agency.correct([paid])
    assert again == first
    assert server.store.count_corrections() == 1
    found = agency.lookup("c-1")
    assert found == first
    answer = requests.get(f"{server.url}/v1/corrections/by-key/c-1", headers=AUTH, timeout=5)
    openapi_validator("CorrectionResult").validate(answer.json())
    assert answer.json()["effective_on"] == (DAY + dt.timedelta(days=1)).isoformat()
    events = requests.get(f"{server.url}/v1/events", headers=AUTH, timeout=5).json()
    openapi_validator("EventPage").validate(events)
    [message] = [e for e in events["events"] if e["kind"] == "message"]
    assert "direct payment of 100.00 NOK registered on invoice 1001" in message["message"]


def test_the_agency_refuses_what_it_cannot_apply(
    server: SandboxServer, agency: SandboxAgency, ref: str
) -> None:
    cases = [
        (correction("r-1", CorrectionKind.PAYMENT, ref, payment=payment(currency="SEK")), "in NOK"),
        (
            correction("r-2", CorrectionKind.PAYMENT, ref, invoice_number="9999",
                       payment=payment()),
            "no claim with this invoice number",
        ),
        (correction("r-3", CorrectionKind.RESUME, ref), "not paused"),
        (correction("r-4", CorrectionKind.WITHDRAW, "SBX-999999"), "no case with this agency"),
    ]  # fmt: skip
    outcomes = agency.correct([c for c, _ in cases])
    for outcome, (_, words) in zip(outcomes, cases, strict=True):
        assert outcome.status is PushStatus.REJECTED
        assert words in (outcome.reason or ""), outcome.reason
    assert server.store.count_corrections() == 0
    assert agency.lookup("r-4") is None  # nothing stored for an unknown case


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ({"kind": "payment", "amount": "1e999999", "currency": "NOK", "booking_date": "2026-11-25"},
         "amount"),
        ({"kind": "payment", "amount": "10.001", "currency": "NOK", "booking_date": "2026-11-25"},
         "two decimals"),
        ({"kind": "payment", "amount": True, "currency": "NOK", "booking_date": "2026-11-25"},
         "amount"),
        ({"kind": "payment", "amount": "10", "currency": "NOK", "booking_date": "25.11.2026"},
         "booking_date"),
        ({"kind": "payment", "amount": "-10", "currency": "NOK", "booking_date": "2026-11-25"},
         "positive"),
        ({"kind": "payment", "amount": "10", "currency": "NOK"}, "booking date"),
        ({"kind": "refund"}, "kind must be one of"),
        ({"kind": "pause", "debtor_name": "x"}, "unknown fields"),
        ({"kind": "pause", "reason": ["x"]}, "reason must be text"),
    ],
)  # fmt: skip
def test_malformed_items_are_rejected_alone_and_echo_no_data(
    server: SandboxServer, ref: str, item: dict[str, Any], words: str
) -> None:
    good = {"idempotency_key": "ok-1", "agency_ref": ref, "kind": "pause"}
    bad = {"idempotency_key": "bad-1", "agency_ref": ref, "invoice_number": "1001", **item}
    first, second = items(server, {"items": [bad, good]})
    assert first["status"] == "rejected"
    assert words in first["reason"]
    assert "x" not in first["reason"].replace("unknown fields", "").replace("text", "")
    assert second["status"] == "accepted"


def test_a_batch_needs_valid_keys_and_a_list(server: SandboxServer) -> None:
    url = f"{server.url}/v1/corrections/batch"
    assert requests.post(url, json={"items": {}}, headers=AUTH, timeout=5).status_code == 422
    no_key = {"items": [{"agency_ref": "SBX-1", "kind": "pause"}]}
    assert requests.post(url, json=no_key, headers=AUTH, timeout=5).status_code == 422
    many = {"items": [{"idempotency_key": f"k{i}", "kind": "pause"} for i in range(501)]}
    assert requests.post(url, json=many, headers=AUTH, timeout=5).status_code == 422
    assert requests.get(url, headers=AUTH, timeout=5).status_code == 405
    assert requests.post(url, json={"items": []}, timeout=5).status_code == 401
    missing = requests.get(f"{server.url}/v1/corrections/by-key/nope", headers=AUTH, timeout=5)
    assert missing.status_code == 404


def test_a_used_key_with_another_correction_is_refused(server: SandboxServer, ref: str) -> None:
    body = {"idempotency_key": "k-1", "agency_ref": ref, "kind": "pause"}
    [first] = items(server, {"items": [body]})
    [second] = items(server, {"items": [{**body, "reason": "something else"}]})
    assert first["status"] == "accepted"
    assert second["status"] == "rejected"
    assert "used for a different correction" in second["reason"]


def test_pause_resume_and_withdraw_change_the_case(
    server: SandboxServer, agency: SandboxAgency, ref: str
) -> None:
    outcomes = agency.correct(
        [
            correction("p-1", CorrectionKind.PAUSE, ref, invoice_number=None, reason="checking"),
            correction("p-2", CorrectionKind.PAUSE, ref, invoice_number=None),
        ]
    )
    assert [o.status for o in outcomes] == [PushStatus.ACCEPTED, PushStatus.REJECTED]
    assert server.store.by_ref(ref)["status"] == "paused"  # type: ignore[index]
    [resumed] = agency.correct([correction("p-3", CorrectionKind.RESUME, ref, invoice_number=None)])
    assert resumed.status is PushStatus.ACCEPTED
    assert server.store.by_ref(ref)["status"] == "active"  # type: ignore[index]
    note = CreditNote(
        credit_note_number="CN-1",
        source=SourceRef(system="files", record_id="CN-1"),
        invoice_number="1002",
        amount=Decimal("1500.00"),
        currency="NOK",
        issue_date=DAY,
    )
    [one] = agency.correct(
        [correction("w-1", CorrectionKind.WITHDRAW, ref, invoice_number="1002", credit_note=note)]
    )
    assert one.status is PushStatus.ACCEPTED
    assert server.store.by_ref(ref)["status"] == "active"  # one claim is left
    [whole] = agency.correct(
        [correction("w-2", CorrectionKind.WITHDRAW, ref, invoice_number="1001")]
    )
    assert whole.status is PushStatus.ACCEPTED
    assert server.store.by_ref(ref)["status"] == "withdrawn"  # type: ignore[index]
    [late] = agency.correct([correction("w-3", CorrectionKind.PAYMENT, ref, payment=payment())])
    assert late.status is PushStatus.REJECTED
    assert "withdrawn" in (late.reason or "")
    statuses = [
        e["status"]
        for e in requests.get(f"{server.url}/v1/events", headers=AUTH, timeout=5).json()["events"]
        if e["kind"] == "status"
    ]
    assert statuses == ["paused", "active", "withdrawn"]


def test_a_lost_answer_is_unknown_then_found_by_its_key(
    server: SandboxServer, agency: SandboxAgency, ref: str
) -> None:
    requests.post(
        f"{server.url}/_faults",
        json={"delay_s": 3, "after_commit": True, "count": 5, "path": "/v1/corrections/batch"},
        headers=AUTH,
        timeout=5,
    )
    [lost] = agency.correct([correction("l-1", CorrectionKind.PAYMENT, ref, payment=payment())])
    assert lost.status is PushStatus.UNKNOWN
    assert server.store.count_corrections() == 1  # the agency has it
    found = agency.lookup("l-1")
    assert found is not None
    assert found.status is PushStatus.ACCEPTED


def test_an_empty_batch_makes_no_call(server: SandboxServer, agency: SandboxAgency) -> None:
    requests.post(
        f"{server.url}/_faults", json={"status": 503, "count": 1}, headers=AUTH, timeout=5
    )
    assert agency.correct([]) == []
    assert agency.capabilities.report_payments
    assert agency.capabilities.reduce
    assert agency.capabilities.withdraw
    assert agency.capabilities.pause
