"""Cases assembled from staged JSON fragments are exactly what the Case model would dump."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from claimbridge.grouping import assemble_case_json, handed_over_claim_row, idempotency_key
from claimbridge.schemas import (
    Case,
    CaseStatus,
    Decision,
    Outcome,
    QualityReport,
    Reason,
    SourceRef,
    case_key,
)
from claimbridge.state import StagedClaim
from tests.factories import make_claim, make_creditor, make_party

TODAY = dt.date(2026, 11, 23)


def _staged(number: str, reason: str) -> StagedClaim:
    claim = make_claim(number)
    decision = Decision(
        outcome=Outcome.SEND,
        decided_on=TODAY,
        reasons=(Reason(code="due", message=reason),),
        warnings=(Reason(code="limitation", message="limitation 2029-01-19"),),
    )
    return StagedClaim(
        debtor_key="NO:12345678901",
        group_key="NO:12345678901|NOK",
        invoice_number=number,
        currency="NOK",
        remaining_principal=claim.remaining_principal,
        claim_json=claim.model_dump_json(),
        decision_json=decision.model_dump_json(),
        debtor_id="10001",
        party_json=make_party().model_dump_json(),
        quality_json=QualityReport(score=85).model_dump_json(),
        score=85,
    )


def test_assembled_json_is_a_valid_case_equal_to_the_model_built_one() -> None:
    items = [_staged("1001", "due 2026-01-19"), _staged("1002", "due 2026-01-20")]
    creditor = make_creditor()
    key = case_key(creditor.organization_number, items[0].debtor_key, ["1001", "1002"])
    assembled = Case.model_validate_json(
        assemble_case_json(key, creditor.model_dump_json(), items, TODAY)
    )
    expected = Case(
        case_key=key,
        creditor=creditor,
        debtor=make_party(),
        claims=(make_claim("1001"), make_claim("1002")),
        currency="NOK",
        decision=Decision(
            outcome=Outcome.SEND,
            decided_on=TODAY,
            reasons=(
                Reason(code="due", message="invoice 1001: due 2026-01-19"),
                Reason(code="due", message="invoice 1002: due 2026-01-20"),
            ),
            warnings=(
                Reason(code="limitation", message="invoice 1001: limitation 2029-01-19"),
                Reason(code="limitation", message="invoice 1002: limitation 2029-01-19"),
            ),
        ),
        quality=QualityReport(score=85),
        status=CaseStatus.QUEUED,
    )
    assert assembled == expected
    assert assembled.total_principal == Decimal("2500.00")


def test_keys_are_deterministic_and_distinct() -> None:
    a = case_key("923609016", "NO:1", ["2", "1"])
    assert a == case_key("923609016", "NO:1", ["1", "2"])
    assert a != case_key("923609016", "NO:1", ["1"])
    assert idempotency_key("sandbox", a) == idempotency_key("sandbox", a)
    assert idempotency_key("sandbox", a) != idempotency_key("other", a)
    assert idempotency_key("sandbox", a, "payment") != idempotency_key("sandbox", a)


def test_a_handed_over_claims_row_carries_the_claims_own_facts_and_its_case() -> None:
    claim = make_claim(
        "1003", kid="0000010036", source=SourceRef(system="files", company="7", record_id="r-1003")
    )
    decision = Decision(
        outcome=Outcome.SEND,
        decided_on=TODAY,
        warnings=(Reason(code="limitation_near", message="near", until=dt.date(2027, 1, 5)),),
    )
    item = StagedClaim(
        debtor_key="NO:12345678901",
        group_key="NO:12345678901|NOK",
        invoice_number="1003",
        currency="NOK",
        remaining_principal=claim.remaining_principal,
        claim_json=claim.model_dump_json(),
        decision_json=decision.model_dump_json(),
        debtor_id=claim.debtor_id,
        party_json=make_party().model_dump_json(),
        quality_json=QualityReport(score=85).model_dump_json(),
        score=85,
    )
    now = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
    row = handed_over_claim_row(
        item,
        json.loads(item.decision_json),
        pipeline="main",
        case="cb-1",
        run_id="run-1",
        today=TODAY,
        now=now,
    )
    assert row == {
        "pipeline": "main",
        "invoice_number": "1003",
        "source_system": "files",
        "source_company": "7",
        "source_record_id": "r-1003",
        "debtor_id": claim.debtor_id,
        "debtor_key": "NO:12345678901",
        "currency": "NOK",
        "original_amount": claim.original_amount,
        "remaining_principal": claim.remaining_principal,
        "invoice_date": claim.invoice_date,
        "due_date": claim.due_date,
        "kid": "0000010036",
        "outcome": "send",
        "decision": decision.model_dump_json(),
        "decided_on": TODAY,
        "review_on": None,
        "limitation_on": dt.date(2027, 1, 5),
        "case_key": "cb-1",
        "handed_over_on": TODAY,
        "status": "handed_over",
        "run_id": "run-1",
        "updated_at": now,
    }
