"""Booking back into Fiken: payments on sales, and general journal entries.

Payments go to ``POST /sales/{saleId}/payments``. Fiken's payments carry no reference of ours,
so an earlier booking of the same payment is recognized by date, amount and account on the
same sale, and reused instead of booked twice.

Vouchers become a general journal entry (``POST /generalJournalEntries``, Fiken's *fri
postering*). Its lines each move an amount from a credit account to a debit account, so the
voucher's lines are paired up (:func:`debit_credit_pairs`); amounts are in øre. Fiken's journal
entries have no field for an external reference, so the reference goes into the entry's
description as a token (``[cb:REF]``) and is searched for in ``GET /journalEntries``: on the
voucher's own date before posting and after an answer lost on the way back, and over the
entries created in the last ``booking_search_days`` days for :func:`find_journal_entry`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from claimbridge.connectors.accounting._vouchers import (
    check_voucher,
    debit_credit_pairs,
    reference_token,
    refuse_foreign_currency,
    text_with_token,
)
from claimbridge.connectors.base import Voucher
from claimbridge.errors import (
    ConfigError,
    ConfigProblem,
    ConnectorError,
    NotFoundError,
    OutcomeUnknownError,
    RemoteError,
)
from claimbridge.schemas import Claim, Payment

if TYPE_CHECKING:
    from claimbridge.connectors.accounting.fiken import FikenSource

__all__ = ["ACCOUNT_CODE", "book_journal_entry", "book_payment", "find_journal_entry"]

ACCOUNT_CODE = re.compile(r"\d{4}(:\d{5})?")  # 8050, or 1920:10001 for a bank account
MAX_DESCRIPTION = 200  # journalEntry.description and generalJournalEntryRequest.description
JOURNAL_ENTRIES = "/journalEntries"


# --- payments -------------------------------------------------------------------------------


def book_payment(source: FikenSource, payment: Payment, claim: Claim) -> str:
    """Book ``payment`` on the claim's invoice; an equal payment already there is reused."""
    account = source.config.payment_account
    if account is None:
        raise ConfigError(
            "fiken: payment_account is needed to book payments",
            [ConfigProblem("payment_account", "set the bank account code, e.g. 1920:10001")],
        )
    if payment.currency != "NOK":
        raise ConnectorError(
            "booking a payment in another currency than NOK is not supported: Fiken needs "
            "the NOK amount the bank received",
            connector=source.name,
        )
    amount = payment.amount * 100
    if amount <= 0 or amount != amount.to_integral_value():
        raise ConnectorError(
            "only positive payments in whole øre can be booked", connector=source.name
        )
    sale_id = _sale_id(source, claim.invoice_number)
    body = {"date": payment.booking_date.isoformat(), "account": account, "amount": int(amount)}
    path = f"/sales/{sale_id}/payments"
    existing = _find_payment(source, path, body)
    if existing is not None:
        return existing
    try:
        response = source.call("POST", path, json=body)
    except OutcomeUnknownError:
        found = _find_payment(source, path, body)
        if found is None:
            raise
        return found
    created = _id_from_location(response.headers.get("Location"))
    if created is not None:
        return created
    found = _find_payment(source, path, body)
    if found is None:
        raise RemoteError(
            "Fiken accepted the payment but it cannot be found on the sale",
            connector=source.name,
        )
    return found


def _sale_id(source: FikenSource, invoice_number: str) -> int:
    if not invoice_number.isdigit():
        raise NotFoundError(f"fiken: invoice number {invoice_number[:20]!r} is not numeric")
    params = {"invoiceNumber": invoice_number, "page": 0, "pageSize": 1}
    body = source.json_of(source.call("GET", "/invoices", params=params), "/invoices")
    invoice = body[0] if isinstance(body, list) and body else None
    sale = invoice.get("sale") if isinstance(invoice, dict) else None
    sale_id = sale.get("saleId") if isinstance(sale, dict) else None
    if invoice is None:
        raise NotFoundError(f"fiken: invoice {invoice_number} not found")
    if not isinstance(sale_id, int) or isinstance(sale_id, bool):
        raise RemoteError(
            f"invoice {invoice_number} has no sale to book the payment on",
            connector=source.name,
        )
    return sale_id


def _find_payment(source: FikenSource, path: str, wanted: Mapping[str, Any]) -> str | None:
    body = source.json_of(source.call("GET", path), path)
    for item in body if isinstance(body, list) else []:
        if (
            isinstance(item, dict)
            and all(item.get(key) == value for key, value in wanted.items())
            and isinstance(item.get("paymentId"), int)
        ):
            return str(item["paymentId"])
    return None


def _id_from_location(location: str | None) -> str | None:
    tail = (location or "").rstrip("/").rpartition("/")[2]
    return tail if tail.isdigit() else None


# --- general journal entries ----------------------------------------------------------------


def book_journal_entry(source: FikenSource, voucher: Voucher) -> str:
    """Post ``voucher`` as a general journal entry unless it is there already; its id."""
    check_voucher(voucher, connector=source.name, account=ACCOUNT_CODE)
    refuse_foreign_currency(voucher, "NOK", connector=source.name)
    token = reference_token(voucher.external_ref)
    on_the_day = {"date": voucher.date.isoformat()}
    existing = _find_entry(source, token, on_the_day)
    if existing is not None:
        return existing
    description = text_with_token(voucher.description, token, MAX_DESCRIPTION)
    lines = [
        {"amount": int(amount * 100), "debitAccount": debit, "creditAccount": credit}
        for debit, credit, amount in debit_credit_pairs(voucher.lines)
    ]
    body = {
        "description": description,
        "journalEntries": [
            {"description": description, "date": voucher.date.isoformat(), "lines": lines}
        ],
    }
    try:
        source.call("POST", "/generalJournalEntries", json=body)
    except OutcomeUnknownError:
        found = _find_entry(source, token, on_the_day)
        if found is None:
            raise
        return found
    found = _find_entry(source, token, on_the_day)
    if found is None:
        raise RemoteError(
            "Fiken accepted the journal entry but it cannot be found on its date",
            connector=source.name,
        )
    return found


def find_journal_entry(source: FikenSource, external_ref: str) -> str | None:
    """The journal entry booked under ``external_ref`` and created in the search window."""
    since = source.context.today - dt.timedelta(days=source.config.booking_search_days)
    return _find_entry(source, reference_token(external_ref), {"createdDateGe": since.isoformat()})


def _find_entry(source: FikenSource, token: str, filters: Mapping[str, str]) -> str | None:
    """The lowest id of a journal entry whose description carries ``token``."""
    ids = [
        entry["journalEntryId"]
        for entry in _entries(source, filters)
        if token in str(entry.get("description", ""))
        and isinstance(entry.get("journalEntryId"), int)
    ]
    return str(min(ids)) if ids else None


def _entries(source: FikenSource, filters: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    for _page, items in source.pages(JOURNAL_ENTRIES, filters):
        yield from (item for item in items if isinstance(item, dict))
