"""Canonical cases and corrections → the bodies Amili Norway's Collection API takes.

Field names come from Amili's public AutoCollect documentation (``docs/connectors/amili.md``
lists which are documented and which were taken from Amili's own read schemas because the
create schema was not public). Money leaves as JSON numbers — Amili's examples use numbers —
converted from ``Decimal`` at this edge only, never computed in floating point.

Every invoice carries ``uniqueSourceInvoiceId`` = ``<delivery key>-<claim index>``: stable for
a delivery, so a lost answer is resolved by asking Amili for the invoice under that id instead
of sending the case again.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from claimbridge.connectors.base import Correction
from claimbridge.schemas import AddressState, Case, Claim, Party, PartyKind

__all__ = [
    "correction_body",
    "invoices_for",
    "money",
    "payment_body",
    "source_invoice_id",
]


def money(amount: Decimal) -> float | int:
    """A JSON number for an amount; whole amounts stay integers."""
    if amount == amount.to_integral_value():
        return int(amount)
    return float(str(amount.quantize(Decimal("0.01"))))


def source_invoice_id(delivery_key: str, index: int) -> str:
    return f"{delivery_key}-{index}"


def invoices_for(
    case: Case,
    delivery_key: str,
    *,
    invoice_type: str,
    vat: bool,
    fees: bool,
    send_national_id: bool,
) -> list[dict[str, Any]]:
    """One Amili invoice per claim; all carry the same debtor block."""
    debtor = _debtor(case.debtor, send_national_id=send_national_id)
    return [
        _invoice(claim, source_invoice_id(delivery_key, index), debtor, invoice_type, vat, fees)
        for index, claim in enumerate(case.claims)
    ]


def _invoice(
    claim: Claim,
    unique_id: str,
    debtor: dict[str, Any],
    invoice_type: str,
    vat: bool,
    fees: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": invoice_type,
        "invoiceNumber": claim.invoice_number,
        "vat": vat,
        "fees": fees,
        "originalInvoiceAmount": money(claim.original_amount),
        "remainingAmount": money(claim.remaining_principal),
        "currency": claim.currency,
        "invoiceDate": claim.invoice_date.isoformat(),
        "dueDate": claim.due_date.isoformat(),
        "collectionNoticeDate": _date(claim.collection_notice_date),
        "uniqueSourceInvoiceId": unique_id,
        "description": claim.description or f"Invoice {claim.invoice_number}",
        "debtor": debtor,
    }
    if claim.kid:
        body["kid"] = claim.kid
    if claim.agreement_ref:
        body["contractReference"] = claim.agreement_ref
    return body


def _debtor(party: Party, *, send_national_id: bool) -> dict[str, Any]:
    company = party.kind is PartyKind.COMPANY
    debtor: dict[str, Any] = {
        "type": "COMPANY" if company else "PRIVATE",
        "customerNumber": party.customer_number,
        "fullName": party.name,
    }
    if not company:
        debtor["firstName"] = party.first_name
        debtor["lastName"] = party.last_name
        if send_national_id and party.national_id:
            debtor["nationalIdentityNumber"] = party.national_id
        if party.date_of_birth:
            debtor["birthDate"] = party.date_of_birth.isoformat()
    elif party.organization_number:
        debtor["organizationNumber"] = party.organization_number
    addresses = [
        {
            "addressLine1": address.lines[0] if address.lines else None,
            "addressLine2": ", ".join(address.lines[1:]) or None,
            "careOf": address.care_of,
            "postalCode": address.postal_code,
            "city": address.city,
            "countryCode": address.country,
        }
        for address in party.addresses
        if address.state is AddressState.KNOWN  # protected and unknown addresses stay home
    ]
    if addresses:
        debtor["addresses"] = addresses
    emails = [e.address for e in party.emails if e.valid]
    phones = [p.number for p in party.phones if p.valid]
    if emails:
        debtor["email"] = emails[0]
    if phones:
        debtor["mobile"] = phones[0]
    if party.language:
        debtor["language"] = party.language
    return debtor


def payment_body(correction: Correction, invoice_id: str) -> dict[str, Any]:
    """A direct payment to the creditor, with its real booking date."""
    payment = correction.payment
    if payment is None:
        raise ValueError("a payment correction without its payment")
    return {
        "payments": [
            {
                "invoiceId": invoice_id,
                "type": "DIRECT_PAYMENT",
                "amount": money(payment.amount),
                "currency": payment.currency,
                "paymentDate": payment.booking_date.isoformat(),
                "reference": payment.payment_id,
            }
        ]
    }


def correction_body(correction: Correction, invoice_id: str) -> dict[str, Any]:
    """A credit note lowering a claim Amili holds."""
    note = correction.credit_note
    if note is None:
        raise ValueError("a reduce correction without its credit note")
    return {
        "corrections": [
            {
                "invoiceId": invoice_id,
                "type": "CREDIT_NOTE",
                "amount": money(note.amount),
                "currency": note.currency,
                "date": note.issue_date.isoformat(),
                "reference": note.credit_note_number,
            }
        ]
    }


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None
