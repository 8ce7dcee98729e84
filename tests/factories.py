"""Valid canonical models for tests, built from the schema models themselves.

Every factory returns a model that passes validation; keyword arguments override fields, so a
test states only what it is about. The debtor data is invented.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from claimbridge.schemas import (
    Address,
    Case,
    Claim,
    Creditor,
    Decision,
    Email,
    Outcome,
    Party,
    PartyKind,
    Phone,
    PhoneType,
    QualityReport,
    Reason,
    SourceRef,
    case_key,
)

__all__ = ["make_case", "make_claim", "make_creditor", "make_party"]


def make_creditor(**overrides: Any) -> Creditor:
    fields: dict[str, Any] = {
        "name": "Eksempel Regnskap AS",
        "organization_number": "923609016",
        "country": "NO",
        "reference": "CR-1",
    }
    fields.update(overrides)
    return Creditor(**fields)


def make_party(customer_number: str = "10001", **overrides: Any) -> Party:
    fields: dict[str, Any] = {
        "source": SourceRef(system="files", company="1", record_id=customer_number),
        "kind": PartyKind.PERSON,
        "name": "Kari Testesen",
        "first_name": "Kari",
        "last_name": "Testesen",
        "customer_number": customer_number,
        "addresses": (Address(lines=("Testveien 1",), postal_code="0150", city="Oslo"),),
        "phones": (Phone(number="+4791234567", type=PhoneType.MOBILE, valid=True),),
        "emails": (Email(address="kari@example.com", valid=True),),
    }
    fields.update(overrides)
    return Party(**fields)


def make_claim(invoice_number: str = "1001", **overrides: Any) -> Claim:
    fields: dict[str, Any] = {
        "source": SourceRef(system="files", company="1", record_id=invoice_number),
        "debtor_id": "10001",
        "invoice_number": invoice_number,
        "invoice_date": date(2026, 1, 5),
        "due_date": date(2026, 1, 19),
        "currency": "NOK",
        "original_amount": Decimal("1250.00"),
        "remaining_principal": Decimal("1250.00"),
        "kid": "0000010016",
        "description": "Consulting, January",
    }
    fields.update(overrides)
    return Claim(**fields)


def make_case(
    *,
    debtor: Party | None = None,
    claims: tuple[Claim, ...] | None = None,
    creditor: Creditor | None = None,
    **overrides: Any,
) -> Case:
    """A sendable case; its ``case_key`` follows from creditor, debtor and invoice numbers."""
    creditor = creditor or make_creditor()
    debtor = debtor or make_party()
    claims = claims or (make_claim(debtor_id=debtor.customer_number),)
    fields: dict[str, Any] = {
        "case_key": case_key(
            creditor.organization_number,
            debtor.debtor_key(),
            (c.invoice_number for c in claims),
        ),
        "creditor": creditor,
        "debtor": debtor,
        "claims": claims,
        "currency": claims[0].currency,
        "decision": Decision(
            outcome=Outcome.SEND,
            decided_on=date(2026, 3, 1),
            reasons=(Reason(code="due", message="collection notice period has passed"),),
        ),
        "quality": QualityReport(score=90),
    }
    fields.update(overrides)
    return Case(**fields)
