"""Booking back into Fortnox: invoice payments, and vouchers in a voucher series.

A payment is registered on the invoice (``POST /3/invoicepayments``) and bookkept
(``PUT /3/invoicepayments/{Number}/bookkeep``). Fortnox payments carry no reference of ours, so
a payment registered earlier is recognized by invoice, date and amount and reused.

A voucher goes to ``POST /3/vouchers`` in the configured ``voucher_series`` and the financial
year of its date (``GET /3/financialyears?Date=``), with one row per line: ``Debit`` for a
positive amount, ``Credit`` for a negative one. Fortnox vouchers have no field for an external
reference, so the reference is written into the voucher's ``Description`` as a token
(``[cb:REF]``) and searched for in the series' vouchers of that financial year
(``GET /3/vouchers/sublist/{series}``): before posting, and after an answer lost on the way
back. A voucher is known by series, number and financial year, so its ledger id is
``<series>-<number>-<financial year id>``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from claimbridge.connectors.accounting._vouchers import (
    check_voucher,
    json_amount,
    one_line,
    reference_token,
    refuse_foreign_currency,
    text_with_token,
)
from claimbridge.connectors.base import Voucher
from claimbridge.errors import (
    ConnectorError,
    NotFoundError,
    OutcomeUnknownError,
    ParseError,
    RemoteError,
)
from claimbridge.schemas import Claim, Payment

if TYPE_CHECKING:
    from claimbridge.connectors.accounting.fortnox import FortnoxSource

__all__ = ["ACCOUNT", "book_payment", "book_voucher", "find_voucher"]

ACCOUNT = re.compile(r"[1-9]\d{3}")  # Fortnox accounts: 1000 to 9999
MAX_DESCRIPTION = 200
MAX_ROW_TEXT = 100
Year = tuple[int, dt.date, dt.date]  # financial year id, first and last day


# --- payments -------------------------------------------------------------------------------


def book_payment(source: FortnoxSource, payment: Payment, claim: Claim) -> str:
    """Register ``payment`` on the claim's invoice and book it; returns its Fortnox number."""
    if payment.currency != "SEK":
        raise ConnectorError(
            "registering a payment in another currency than SEK is not supported: Fortnox "
            "needs the SEK amount the bank received",
            connector=source.name,
        )
    if payment.amount <= 0 or payment.amount != payment.amount.quantize(Decimal("0.01")):
        raise ConnectorError(
            "only positive payments in whole öre can be registered", connector=source.name
        )
    number = claim.invoice_number
    if not number.isdigit() or len(number) > 9:
        raise NotFoundError(f"fortnox: invoice number {number[:20]!r} is not numeric")
    found = _find_payment(source, number, payment)
    if found is None:
        mode = source.config.mode_of_payment
        body = {
            "InvoicePayment": {
                "InvoiceNumber": int(number),
                "Amount": json_amount(payment.amount),
                "AmountCurrency": json_amount(payment.amount),
                "PaymentDate": payment.booking_date.isoformat(),
                **({"ModeOfPayment": mode} if mode else {}),
            }
        }
        try:
            response = source.call("POST", "/3/invoicepayments", json=body)
        except OutcomeUnknownError:
            found = _find_payment(source, number, payment)
            if found is None:
                raise
        else:
            created = source.json_of(response, "/3/invoicepayments").get("InvoicePayment")
            ident = created.get("Number") if isinstance(created, dict) else None
            if not isinstance(ident, str | int) or isinstance(ident, bool):
                raise RemoteError(
                    "Fortnox registered the payment but did not say its number",
                    connector=source.name,
                )
            found = (str(ident), False)
    ident, booked = found
    if source.config.bookkeep_payments and not booked:
        source.call("PUT", f"/3/invoicepayments/{quote(ident, safe='')}/bookkeep")
    return ident


def _find_payment(source: FortnoxSource, number: str, payment: Payment) -> tuple[str, bool] | None:
    """An earlier payment on the invoice with the same date and amount: (number, booked)."""
    params = {"invoicenumber": number}
    for item in source.list_items("/3/invoicepayments", "InvoicePayments", params):
        ident = item.get("Number")
        if (
            isinstance(ident, str | int)
            and str(item.get("InvoiceNumber")) == number
            and item.get("PaymentDate") == payment.booking_date.isoformat()
            and _same_amount(item.get("Amount"), payment.amount)
        ):
            return str(ident), item.get("Booked") is True
    return None


def _same_amount(value: Any, amount: Decimal) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float | str):
        return False
    try:
        return Decimal(str(value)) == amount
    except ArithmeticError:
        return False


# --- vouchers -------------------------------------------------------------------------------


def book_voucher(source: FortnoxSource, voucher: Voucher) -> str:
    """Post ``voucher`` in the configured series unless it is there already; its ledger id."""
    check_voucher(voucher, connector=source.name, account=ACCOUNT)
    refuse_foreign_currency(voucher, source.config.default_currency, connector=source.name)
    token = reference_token(voucher.external_ref)
    year = _year_of(source, voucher.date)
    existing = _find_in_year(source, token, year[0])
    if existing is not None:
        return existing
    series = source.config.voucher_series
    rows = [
        {
            "Account": int(line.account),
            "Debit": json_amount(max(line.amount, Decimal(0))),
            "Credit": json_amount(max(-line.amount, Decimal(0))),
            "TransactionInformation": one_line(line.description, MAX_ROW_TEXT),
        }
        for line in voucher.lines
    ]
    body = {
        "Voucher": {
            "Description": text_with_token(voucher.description, token, MAX_DESCRIPTION),
            "TransactionDate": voucher.date.isoformat(),
            "VoucherSeries": series,
            "Year": year[0],
            "VoucherRows": rows,
        }
    }
    try:
        response = source.call("POST", "/3/vouchers", params={"financialyear": year[0]}, json=body)
    except OutcomeUnknownError:
        found = _find_in_year(source, token, year[0])
        if found is None:
            raise
        return found
    created = source.json_of(response, "/3/vouchers").get("Voucher")
    ident = _ledger_id(created) if isinstance(created, dict) else None
    if ident is None:
        raise ParseError("the created voucher has no number", file="/3/vouchers", field="Voucher")
    return ident


def find_voucher(source: FortnoxSource, external_ref: str) -> str | None:
    """The voucher booked under ``external_ref`` in the configured series, in the financial
    years the last ``booking_search_days`` days fall in."""
    today = source.context.today
    since = today - dt.timedelta(days=source.config.booking_search_days)
    token = reference_token(external_ref)
    for year_id, first, last in _years(source, {}):
        if first <= today and last >= since:
            found = _find_in_year(source, token, year_id)
            if found is not None:
                return found
    return None


def _find_in_year(source: FortnoxSource, token: str, year_id: int) -> str | None:
    series = source.config.voucher_series
    path = f"/3/vouchers/sublist/{quote(series, safe='')}"
    for item in source.list_items(path, "Vouchers", {"financialyear": str(year_id)}):
        if token in str(item.get("Description", "")):
            return _ledger_id({"Year": year_id, **item})
    return None


def _ledger_id(voucher: dict[str, Any]) -> str | None:
    series, number, year = (voucher.get(k) for k in ("VoucherSeries", "VoucherNumber", "Year"))
    if isinstance(series, str) and isinstance(number, int) and isinstance(year, int):
        return f"{series}-{number}-{year}"
    return None


def _year_of(source: FortnoxSource, day: dt.date) -> Year:
    for year in _years(source, {"Date": day.isoformat()}):
        if year[1] <= day <= year[2]:
            return year
    raise ConnectorError(
        f"there is no financial year for {day.isoformat()} in Fortnox; create it first",
        connector=source.name,
    )


def _years(source: FortnoxSource, params: dict[str, str]) -> Iterator[Year]:
    body = source.json_of(source.call("GET", "/3/financialyears", params=params), "financialyears")
    items = body.get("FinancialYears")
    for item in items if isinstance(items, list) else []:
        try:
            year = (
                item["Id"],
                dt.date.fromisoformat(item["FromDate"]),
                dt.date.fromisoformat(item["ToDate"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ParseError(
                "a financial year without id or dates", file="/3/financialyears"
            ) from None
        if isinstance(year[0], int) and not isinstance(year[0], bool):
            yield year
