"""Booking a payment on a Visma eAccounting customer invoice.

``POST /v2/customerinvoices/{id}/payments`` takes an ``InvoicePaymentApi`` body: the bank
account, date, amount and currency of the payment, whether it completes the invoice, and a
free ``Reference`` (we put our payment id there, so a person can trace it in Visma).

Visma's API has no way to list an invoice's payments, so an earlier booking cannot be looked
up by that reference. What the API does allow is checked instead: the invoice is read first and
a payment larger than what remains on it is refused, so replaying a booking that settled the
invoice cannot pay it twice. The POST itself is never retried once it may have arrived (an
unanswered one ends in ``OutcomeUnknownError``: look in Visma before booking again).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from claimbridge.errors import ConnectorError, NotFoundError
from claimbridge.schemas import Claim, Payment

if TYPE_CHECKING:
    from claimbridge.connectors.accounting.visma import VismaSource

__all__ = ["COMPLETE_PAYMENT", "PARTIAL_PAYMENT", "book_payment", "ledger_id"]

PARTIAL_PAYMENT = 1  # InvoicePaymentApi.PaymentType: 1 = PartialPayment
COMPLETE_PAYMENT = 2  # 2 = CompletePayment
MAX_REFERENCE = 100  # InvoicePaymentApi.Reference maxLength


def ledger_id(invoice_id: str, reference: str) -> str:
    """Visma answers a booking without an id of its own: invoice and reference name it."""
    return f"{invoice_id}:{reference}"


def book_payment(source: VismaSource, payment: Payment, claim: Claim, account: str) -> str:
    """Book ``payment`` on the invoice ``claim`` came from; returns its ledger id."""
    from claimbridge.connectors.accounting.visma import UUID

    name = source.context.name or source.type_name
    invoice_id = claim.source.record_id
    if not UUID.fullmatch(invoice_id):
        raise NotFoundError(f"{name}: invoice id is not a Visma id")
    amount = payment.amount
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ConnectorError("only positive payments in whole cents can be booked", connector=name)
    path = f"/v2/customerinvoices/{invoice_id}"
    invoice = source.get_optional(path)
    if not isinstance(invoice, dict):
        raise NotFoundError(f"{name}: invoice {claim.invoice_number} not found in Visma")
    currency = invoice.get("CurrencyCode") or source.config.default_currency
    if payment.currency != currency:
        raise ConnectorError(
            f"the payment is in {payment.currency} but invoice {claim.invoice_number} is in "
            f"{str(currency)[:3]}; Visma books payments in the invoice's currency",
            connector=name,
        )
    remaining = _amount(invoice.get("RemainingAmountInvoiceCurrency"))
    if remaining is None:
        raise ConnectorError(
            f"invoice {claim.invoice_number} has no remaining amount in Visma", connector=name
        )
    if amount > remaining:
        raise ConnectorError(
            f"the payment ({amount}) exceeds what remains on invoice {claim.invoice_number} "
            f"({remaining}); it may have been booked already",
            connector=name,
        )
    reference = payment.payment_id[:MAX_REFERENCE]
    body: dict[str, Any] = {
        "CompanyBankAccountId": account,
        "PaymentDate": f"{payment.booking_date.isoformat()}T00:00:00",
        "PaymentAmount": _number(amount),
        "PaymentCurrency": payment.currency,
        "PaymentType": COMPLETE_PAYMENT if amount == remaining else PARTIAL_PAYMENT,
        "Reference": reference,
    }
    source.call("POST", f"{path}/payments", json=body, idempotent=False)
    return ledger_id(invoice_id, reference)


def _amount(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    return Decimal(value)


def _number(amount: Decimal) -> int | float:
    """A JSON number for ``amount``: a float of at most two decimals prints exactly as given."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)
