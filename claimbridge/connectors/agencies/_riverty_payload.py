"""What claimbridge sends Riverty: a case as a claim, corrections as payments, waivers, recalls.

One case is one Riverty claim (``POST /v1/claims``): the debtor is its ``customer`` and the
case's invoices sit in one ``contract`` whose ``contractNumber`` is the delivery's idempotency
key. That number is ours to choose, Riverty's claim search finds claims by it, and Riverty's
confirmations echo it — so a delivery whose answer was lost can be looked up by its key alone.
Scalar fields come from the mapping files (``riverty_*.toml``); the lists (addresses,
communication channels, invoices, costs) and the rules about what may be sent are here.

Money leaves as JSON numbers: a ``Decimal`` with at most two decimals is written through a float
only when the float prints back as the very same decimal, which holds for every amount below
10^15; anything else is refused rather than rounded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from claimbridge.errors import RecordError
from claimbridge.mappings import load_mapping
from claimbridge.schemas import (
    Address,
    AddressState,
    Case,
    Claim,
    CreditNote,
    Party,
    PartyKind,
    Payment,
    PhoneType,
)

__all__ = [
    "NationalIdRule",
    "PayloadRules",
    "claim_body",
    "correction_number",
    "credit_waiver_body",
    "jsonable",
    "payment_body",
    "recall_body",
]

NationalIdRule = Literal["never", "when_no_usable_address", "always"]
Allocation = Literal["PRINCIPAL_CLAIM", "CLIENT_COSTS", "CLIENT_INTERESTS"]

MAX_NUMBER = 40  # invoiceNumber, contractNumber, paymentNumber, creditWaiverNumber
MAX_DESCRIPTION = 256
_NUMBER_SAFE = re.compile(r"[A-Za-z0-9._:-]{1,40}")


class PayloadRules:
    """The settings that shape a claim: what to send, under which names and type values."""

    def __init__(
        self,
        *,
        person_type: str = "PRIVATE",
        company_type: str = "COMPANY",
        address_type: str = "BILLING",
        national_id: NationalIdRule = "when_no_usable_address",
        organization_number: bool = True,
        date_of_birth: bool = True,
        only_valid_contacts: bool = True,
        reminder_fees: bool = True,
        contact_person_type: str | None = None,
        person_mapping: str = "riverty_customer_person",
        company_mapping: str = "riverty_customer_company",
        address_mapping: str = "riverty_address",
        invoice_mapping: str = "riverty_invoice",
    ) -> None:
        self.person_type = person_type
        self.company_type = company_type
        self.address_type = address_type
        self.national_id = national_id
        self.organization_number = organization_number
        self.date_of_birth = date_of_birth
        self.only_valid_contacts = only_valid_contacts
        self.reminder_fees = reminder_fees
        self.contact_person_type = contact_person_type
        self.person_mapping = person_mapping
        self.company_mapping = company_mapping
        self.address_mapping = address_mapping
        self.invoice_mapping = invoice_mapping


# --- the claim ----------------------------------------------------------------------------


def claim_body(
    case: Case, contract_number: str, rules: PayloadRules, placement_date: dt.date
) -> dict[str, Any]:
    """The ``POST /v1/claims`` body for one case. ``RecordError`` lists every field that
    cannot be sent (the case is then rejected here, before any call)."""
    reasons: list[str] = []
    customer = _customer(case.debtor, rules, reasons)
    invoices = [_invoice(claim, rules, placement_date, reasons) for claim in case.claims]
    if len(contract_number) > MAX_NUMBER:
        reasons.append(f"contractNumber: longer than {MAX_NUMBER} characters")
    for claim in case.claims:
        if len(claim.invoice_number) > MAX_NUMBER:
            reasons.append(f"invoice {claim.invoice_number[:MAX_NUMBER]}…: number too long")
    if reasons:
        raise RecordError(reasons, record_id=case.case_key)
    body: dict[str, Any] = {
        "customer": customer,
        "contracts": [{"contractNumber": contract_number, "invoices": invoices}],
    }
    costs = _reminder_costs(case.claims) if rules.reminder_fees else []
    if costs:
        body["costs"] = costs
    contact = _contact_person(case.debtor, rules)
    if contact:
        body["referenceContacts"] = [contact]
    return _object(body)


def _customer(party: Party, rules: PayloadRules, reasons: list[str]) -> dict[str, Any]:
    addresses = [_address(a, rules, reasons) for a in _sendable_addresses(party)]
    company = party.kind is PartyKind.COMPANY
    variables = {
        "customer_type": rules.company_type if company else rules.person_type,
        "ssn": _identity_number(party, rules, has_address=bool(addresses)),
        "date_of_birth": party.date_of_birth if rules.date_of_birth and not company else None,
    }
    mapping = load_mapping(rules.company_mapping if company else rules.person_mapping)
    customer = _apply(mapping.apply, party, variables, "customer", reasons)
    unique = list({_key(a): a for a in addresses if a}.values())
    if unique:
        customer["addresses"] = unique
    channels = _channels(party, rules)
    if channels:
        customer["communicationChannels"] = channels
    return customer


def _sendable_addresses(party: Party) -> list[Address]:
    """Known addresses only: a protected address is never sent, an unknown one has nothing."""
    return [a for a in party.addresses if a.state is AddressState.KNOWN]


def _identity_number(party: Party, rules: PayloadRules, *, has_address: bool) -> str | None:
    """The organization number of a company (public, it identifies the debtor); a person's
    national id only as the rule allows — by default when the agency cannot reach the debtor
    by post (no address, or only a protected one), so it can find them in the registry."""
    if party.kind is PartyKind.COMPANY:
        return party.organization_number if rules.organization_number else None
    if rules.national_id == "always":
        return party.national_id
    if rules.national_id == "when_no_usable_address" and not has_address:
        return party.national_id
    return None


def _address(address: Address, rules: PayloadRules, reasons: list[str]) -> dict[str, Any]:
    variables = {
        "address_type": rules.address_type,
        "street": ", ".join(line for line in address.lines if line) or None,
    }
    mapping = load_mapping(rules.address_mapping)
    return _apply(mapping.apply, address, variables, "customer.addresses", reasons)


def _channels(party: Party, rules: PayloadRules) -> list[dict[str, str]]:
    channels: list[dict[str, str]] = []
    for phone in party.phones:
        if phone.valid or not rules.only_valid_contacts:
            kind = "MOBILE_PHONE" if phone.type is PhoneType.MOBILE else "PHONE"
            channels.append({"type": kind, "value": phone.number})
    for email in party.emails:
        if email.valid or not rules.only_valid_contacts:
            channels.append({"type": "EMAIL", "value": email.address})
    return list({(c["type"], c["value"]): c for c in channels}.values())


def _contact_person(party: Party, rules: PayloadRules) -> dict[str, Any] | None:
    """A company's contact person as a reference contact — only with a configured type: the
    reference contact types Riverty accepts are not public (its example shows ``SPOUSE``)."""
    person = party.contact_person
    if rules.contact_person_type is None or person is None or party.kind is not PartyKind.COMPANY:
        return None
    first, _, last = person.name.strip().rpartition(" ")
    contact: dict[str, Any] = {
        "type": rules.contact_person_type,
        "liable": False,
        "firstName": first or None,
        "lastName": last or person.name,
    }
    channels = [{"type": "PHONE", "value": p.number} for p in person.phones if p.valid]
    channels += [{"type": "EMAIL", "value": e.address} for e in person.emails if e.valid]
    if channels:
        contact["communicationChannels"] = channels
    return {k: v for k, v in contact.items() if v is not None}


def _invoice(
    claim: Claim, rules: PayloadRules, placement_date: dt.date, reasons: list[str]
) -> dict[str, Any]:
    mapping = load_mapping(rules.invoice_mapping)
    where = f"invoice {claim.invoice_number[:MAX_NUMBER]}"
    invoice = _apply(mapping.apply, claim, {"placement_date": placement_date}, where, reasons)
    if claim.remaining_principal <= 0:  # Riverty: "negative amounts or 0 are not allowed"
        reasons.append(f"{where}: nothing remains to collect (remaining principal is 0)")
    return invoice


def _reminder_costs(claims: Sequence[Claim]) -> list[dict[str, Any]]:
    """Each reminder with a fee as a ``REMINDER_FEE`` cost of its invoice: the fee is owed but
    kept apart from the principal, as the law wants."""
    return [
        {
            "type": "REMINDER_FEE",
            "invoiceNumber": claim.invoice_number,
            "date": reminder.sent_on,
            "originalAmount": reminder.fee,
            "remainingAmount": reminder.fee,
            "currency": claim.currency,
            "description": f"reminder {n}",
        }
        for claim in claims
        for n, reminder in enumerate(claim.reminders, start=1)
        if reminder.fee > 0
    ]


def _apply(
    apply: Any, record: Any, variables: Mapping[str, Any], where: str, reasons: list[str]
) -> dict[str, Any]:
    try:
        result: dict[str, Any] = apply(record, variables)
    except RecordError as exc:
        reasons.extend(f"{where}: {reason}" for reason in exc.reasons)
        return {}
    return result


def _key(value: Any) -> str:
    return repr(sorted(value.items())) if isinstance(value, dict) else repr(value)


# --- corrections --------------------------------------------------------------------------


def correction_number(idempotency_key: str) -> str:
    """The ``paymentNumber``/``creditWaiverNumber`` of a correction: its idempotency key when
    that fits Riverty's 40 characters (the core's keys do), else a digest of it. Deterministic,
    so a retry carries the same number and Riverty processes it once."""
    if _NUMBER_SAFE.fullmatch(idempotency_key):
        return idempotency_key
    return "cbn-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def payment_body(
    payment: Payment,
    *,
    number: str,
    invoice_number: str | None,
    contract_number: str,
    allocate_to: Allocation | None,
) -> dict[str, Any]:
    """A direct payment to the creditor, with its real booking date."""
    body: dict[str, Any] = {
        "invoiceNumber": invoice_number,
        "paymentNumber": number,
        "contractNumber": contract_number,
        "date": payment.booking_date,
        "description": _text(f"paid to the creditor directly (ref {payment.payment_id})"),
        "amount": payment.amount,
        "currency": payment.currency,
        "allocateTo": allocate_to,
    }
    return _object({k: v for k, v in body.items() if v is not None})


def credit_waiver_body(
    note: CreditNote, *, number: str, invoice_number: str | None, contract_number: str
) -> dict[str, Any]:
    """A credit note as a credit waiver: the debtor owes that much less."""
    body: dict[str, Any] = {
        "invoiceNumber": invoice_number,
        "creditWaiverNumber": number,
        "contractNumber": contract_number,
        "date": note.issue_date,
        "description": _text(f"credit note {note.credit_note_number}"),
        "amount": note.amount,
        "currency": note.currency,
    }
    return _object({k: v for k, v in body.items() if v is not None})


def recall_body(
    *,
    invoice_number: str,
    contract_number: str,
    amount: Decimal,
    currency: str,
    on: dt.date,
    reason: str | None,
    recall_type: str | None,
) -> dict[str, Any]:
    """A partial recall of one invoice (a total recall is the empty body)."""
    body: dict[str, Any] = {
        "invoiceNumber": invoice_number,
        "contractNumber": contract_number,
        "type": recall_type,
        "date": on,
        "description": _text(reason or "recalled by the creditor"),
        "amount": amount,
        "currency": currency,
    }
    return _object({k: v for k, v in body.items() if v is not None})


def _text(value: str) -> str:
    return " ".join(value.split())[:MAX_DESCRIPTION]


# --- JSON at the edge ---------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Dates as ``yyyy-MM-dd``, amounts as exact JSON numbers, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _object(value: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = jsonable(value)
    return result


def _number(amount: Decimal) -> float | int:
    if not amount.is_finite():
        raise ValueError("an amount is not a finite number")
    if amount == amount.to_integral_value():
        return int(amount)
    as_float = float(amount)
    if Decimal(repr(as_float)) != amount:
        raise ValueError("an amount cannot be written exactly as a JSON number")
    return as_float
