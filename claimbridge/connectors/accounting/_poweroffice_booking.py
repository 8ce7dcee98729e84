"""Booking back into PowerOffice Go: payments as bank vouchers, vouchers as manual journals.

Both carry our reference in ``ExternalImportReference``, which Go keeps unique per client
("only one instance of the reference can exist on the client") and returns on every ledger
entry and account transaction of the voucher. A booking is therefore looked up before it is
posted, and a POST whose answer is lost, or that Go refuses because the reference exists, is
resolved by the same lookup, never by posting again.

- A payment is a bank voucher (``POST /Vouchers/BankJournals``): the bank account debited, the
  customer's sub-ledger credited on a line naming the invoice number and KID, so Go matches it
  to the invoice. It is looked up in the customer ledger of that customer on the booking date.
- A voucher is a manual journal (``POST /Vouchers/ManualJournals``) whose lines name general
  ledger accounts by id (resolved from the account numbers with ``GET /GeneralLedgerAccounts``).
  It is looked up in ``GET /AccountTransactions`` on the voucher's date.

``find_booking`` searches the account transactions of bank and manual journals dated in the last
``booking_search_days`` days, so it finds payments by payment id as well as vouchers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from claimbridge.connectors.accounting._poweroffice_json import json_object, jsonable
from claimbridge.connectors.accounting._vouchers import check_voucher, one_line
from claimbridge.connectors.base import StreamSpec, Voucher
from claimbridge.errors import (
    ConnectorError,
    OutcomeUnknownError,
    ParseError,
    RemoteError,
)
from claimbridge.schemas import Claim, Payment

if TYPE_CHECKING:
    from claimbridge.connectors.accounting.poweroffice import PowerOfficeSource

__all__ = ["ACCOUNT_NO", "book_manual_voucher", "book_payment", "find_booked", "go_reference"]

ACCOUNT_NO = re.compile(r"[1-9]\d{3,7}")
MAX_REFERENCE = 50  # what claimbridge has always kept its references within
PREFIX = "claimbridge-"
MAX_TEXT = 255
TRANSACTIONS = StreamSpec("account_transactions", "Id")
LEDGER = StreamSpec("customer_ledger", "Id")
_OURS = "ManualJournal,BankJournal"


def go_reference(external_ref: str) -> str:
    """Our ``ExternalImportReference``: ``claimbridge-<ref>``, or a hash of a long ``ref``."""
    plain = PREFIX + external_ref
    if len(plain) <= MAX_REFERENCE:
        return plain
    digest = hashlib.sha256(external_ref.encode("utf-8")).hexdigest()
    return f"{PREFIX}#{digest[: MAX_REFERENCE - len(PREFIX) - 1]}"


# --- payments -------------------------------------------------------------------------------


def book_payment(source: PowerOfficeSource, payment: Payment, claim: Claim) -> str:
    """Post a bank voucher paying ``claim``, unless one with this payment's reference exists."""
    account_id = source.options.bank_account_id
    if account_id is None:
        raise ConnectorError(
            "bank_account_id is not configured; it is needed to book payments",
            connector=source.type_name,
        )
    reference = go_reference(payment.payment_id)
    customer = source.customer_for(claim)
    day = payment.booking_date

    def lookup() -> str | None:
        return _find_in_customer_ledger(source, reference, customer, day)

    existing = lookup()
    if existing is not None:
        return existing
    posting = day.isoformat()
    common = {"PostingDate": posting, "VatId": None, "Description": "claimbridge"}
    body = {
        "CurrencyCode": payment.currency,
        "VoucherDate": posting,
        "Description": f"Payment of invoice {claim.invoice_number}",
        "ExternalImportReference": reference,
        "VoucherLines": [
            {**common, "AccountId": account_id, "CurrencyAmount": payment.amount},
            {
                **common,
                "AccountId": customer["SubledgerAccountId"],
                "CurrencyAmount": -payment.amount,
                "InvoiceNo": claim.invoice_number,
                "Cid": claim.kid,
            },
        ],
    }
    return _post(source, "/Vouchers/BankJournals", body, lookup)


def _find_in_customer_ledger(
    source: PowerOfficeSource, reference: str, customer: Mapping[str, Any], day: dt.date
) -> str | None:
    params: dict[str, str | int] = {
        "fromDate": day.isoformat(),
        "toDate": day.isoformat(),
        "voucherTypes": "BankJournal",
    }
    if isinstance(customer.get("Number"), int):
        params["customerNos"] = str(customer["Number"])
    for page in source.pages("/Customerledger/Statement", params, LEDGER):
        for record in page:
            if record.data.get("ExternalImportReference") == reference:
                return str(record.data.get("VoucherId"))
    return None


# --- manual journals ------------------------------------------------------------------------


def book_manual_voucher(source: PowerOfficeSource, voucher: Voucher) -> str:
    """Post ``voucher`` as a manual journal unless its reference is in the ledger already."""
    check_voucher(voucher, connector=source.type_name, account=ACCOUNT_NO)
    reference = go_reference(voucher.external_ref)
    day = voucher.date

    def lookup() -> str | None:
        return _find_transaction(source, reference, day, day)

    existing = lookup()
    if existing is not None:
        return existing
    accounts = _account_ids(source, {line.account for line in voucher.lines})
    description = one_line(voucher.description, MAX_TEXT)
    body = {
        "CurrencyCode": voucher.currency,
        "VoucherDate": day.isoformat(),
        "Description": description,
        "ExternalImportReference": reference,
        "VoucherLines": [
            {
                "AccountId": accounts[line.account],
                "PostingDate": day.isoformat(),
                "VatId": None,
                "CurrencyAmount": line.amount,
                "Description": one_line(line.description, MAX_TEXT) or description,
            }
            for line in voucher.lines
        ],
    }
    return _post(source, "/Vouchers/ManualJournals", body, lookup)


def find_booked(source: PowerOfficeSource, external_ref: str) -> str | None:
    """The voucher (payment or manual journal) booked under ``external_ref`` and dated in the
    last ``booking_search_days`` days."""
    today = source.context.today
    since = today - dt.timedelta(days=source.options.booking_search_days)
    return _find_transaction(source, go_reference(external_ref), since, today)


def _find_transaction(
    source: PowerOfficeSource, reference: str, since: dt.date, until: dt.date
) -> str | None:
    params: dict[str, str | int] = {
        "fromDate": since.isoformat(),
        "toDate": until.isoformat(),
        "voucherTypes": _OURS,
    }
    for page in source.pages("/AccountTransactions", params, TRANSACTIONS):
        for record in page:
            if record.data.get("ExternalImportReference") == reference:
                return str(record.data.get("VoucherId"))
    return None


def _account_ids(source: PowerOfficeSource, numbers: Iterable[str]) -> dict[str, int]:
    """Account number → Go's general ledger account id; unknown or inactive ones refused."""
    wanted = sorted(set(numbers))
    found: dict[str, int] = {}
    inactive: list[str] = []
    params = {"accountNos": ",".join(wanted)}
    for page in source.pages("/GeneralLedgerAccounts", params, TRANSACTIONS):
        for record in page:
            number, account_id = str(record.data.get("AccountNo")), record.data.get("Id")
            if number in wanted and isinstance(account_id, int):
                found[number] = account_id
                if record.data.get("IsActive") is False:
                    inactive.append(number)
    missing = [n for n in wanted if n not in found]
    if missing or inactive:
        what = f"account {', '.join(missing)} is not in the chart of accounts" if missing else ""
        off = f"account {', '.join(inactive)} is inactive" if inactive else ""
        raise ConnectorError("; ".join(p for p in (what, off) if p), connector=source.type_name)
    return found


# --- posting --------------------------------------------------------------------------------


def _post(
    source: PowerOfficeSource,
    path: str,
    body: Mapping[str, Any],
    lookup: Callable[[], str | None],
) -> str:
    """POST a voucher; a lost answer, or Go refusing the reference as taken, is resolved by
    ``lookup`` (our voucher is there, or the original error stands)."""
    try:
        response = source.client.post(path, json=jsonable(body))
    except (OutcomeUnknownError, RemoteError) as exc:
        if isinstance(exc, RemoteError) and exc.status != 400:
            raise
        found = lookup()
        if found is None:
            raise
        return found
    created = json_object(response, path)
    voucher_id = created.get("Id") if created else None
    if not isinstance(voucher_id, str) or not voucher_id:
        raise ParseError("the created voucher has no id", file=f"poweroffice:{path}", field="Id")
    return voucher_id
