"""Booking a payment on a Tripletex invoice, once.

``PUT /invoice/{id}/:payment`` takes no idempotency key or external reference, so a payment is
identified by what it is: the invoice, the payment date and the amount in the invoice's
currency. Before booking, the invoice's own payment postings are read; a posting with the same
date and amount means an earlier attempt got through, and its id is returned instead of
booking twice. The booking itself is never retried by the HTTP client: an answer lost on the
way back is resolved by the same lookup on the next attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from claimbridge.errors import ConnectorError, ParseError
from claimbridge.schemas import Claim, Payment

__all__ = ["Caller", "register_payment"]

_INVOICE_FIELDS = "id,amount,amountCurrency,currency(code),postings(id,date,amountCurrency)"
_CENT = Decimal("0.01")


class Caller(Protocol):
    def __call__(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        idempotent: bool | None = None,
    ) -> dict[str, Any]: ...


def register_payment(call: Caller, payment: Payment, claim: Claim, payment_type_id: int) -> str:
    """Book ``payment`` on the invoice of ``claim``; the id of its payment posting."""
    invoice_id = claim.source.record_id
    if not invoice_id.isdigit():
        raise ConnectorError("the claim carries no Tripletex invoice id", connector="tripletex")
    if payment.amount <= 0:
        raise ConnectorError("only positive payments can be booked", connector="tripletex")
    path = f"/invoice/{invoice_id}"
    invoice = _invoice(call, path)
    currency = _currency(invoice)
    if currency is not None and currency != payment.currency:
        raise ConnectorError(
            f"payment in {payment.currency} cannot be booked on an invoice in {currency}",
            connector="tripletex",
        )
    before = _payment_postings(invoice)
    for posting_id, (date, amount) in before.items():
        if date == payment.booking_date.isoformat() and amount == -payment.amount:
            return posting_id
    params: dict[str, str | int] = {
        "paymentDate": payment.booking_date.isoformat(),
        "paymentTypeId": payment_type_id,
        "paidAmount": str(_company_amount(invoice, payment.amount)),
    }
    if params["paidAmount"] != str(payment.amount):
        params["paidAmountCurrency"] = str(payment.amount)
    call("PUT", f"{path}/:payment", params, idempotent=False)
    after = _payment_postings(_invoice(call, path))
    for posting_id, (date, amount) in after.items():
        fresh = posting_id not in before
        if fresh and date == payment.booking_date.isoformat() and amount == -payment.amount:
            return posting_id
    # Booked, but its posting is not visible yet: an id that is stable for this booking.
    return f"{invoice_id}:{payment.booking_date.isoformat()}:{payment.amount}"


def _invoice(call: Caller, path: str) -> Mapping[str, Any]:
    value = call("GET", path, {"fields": _INVOICE_FIELDS}).get("value")
    if not isinstance(value, dict):
        raise ParseError("the answer has no invoice 'value'", file=path)
    return value


def _currency(invoice: Mapping[str, Any]) -> str | None:
    currency = invoice.get("currency")
    code = currency.get("code") if isinstance(currency, dict) else None
    return code.upper() if isinstance(code, str) and code else None


def _payment_postings(invoice: Mapping[str, Any]) -> dict[str, tuple[str, Decimal]]:
    """The invoice's payment postings (the negative ones) by id: (date, amount)."""
    postings = invoice.get("postings")
    found: dict[str, tuple[str, Decimal]] = {}
    for posting in postings if isinstance(postings, list) else []:
        if not isinstance(posting, dict):
            continue
        amount = posting.get("amountCurrency")
        if isinstance(amount, bool) or not isinstance(amount, int | Decimal) or amount >= 0:
            continue
        found[str(posting.get("id"))] = (str(posting.get("date")), Decimal(amount))
    return found


def _company_amount(invoice: Mapping[str, Any], amount: Decimal) -> Decimal:
    """``paidAmount`` is in the company's currency: convert at the invoice's own rate."""
    company, foreign = invoice.get("amount"), invoice.get("amountCurrency")
    if (
        isinstance(company, int | Decimal)
        and isinstance(foreign, int | Decimal)
        and foreign
        and company != foreign
    ):
        return (amount * Decimal(company) / Decimal(foreign)).quantize(_CENT, ROUND_HALF_UP)
    return amount
