"""Booking a voucher in Visma eAccounting, once.

``POST /v2/vouchers`` takes a ``VoucherApi``: the date, a ``VoucherText`` of at most 100
characters and ``Rows`` of ``AccountNumber`` with a ``DebitAmount`` or ``CreditAmount``. VAT is
kept out of it (``useAutomaticVatCalculation=false``, ``useDefaultVatCodes=false``): interest,
fees and commission are booked as the amounts reconciliation computed, nothing added.

``VoucherApi`` has no field for an external reference, so ours goes at the end of the
``VoucherText`` as a token (``[cb:REF]``) and is searched for in ``GET /v2/vouchers`` filtered by
``VoucherDate`` (the voucher's date give or take a day, so a time zone on Visma's side cannot
hide it): before posting, and after an answer lost on the way back. ``find_voucher`` searches the
vouchers dated in the last ``booking_search_days`` days.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import TYPE_CHECKING

from claimbridge.connectors.accounting._vouchers import (
    check_voucher,
    json_amount,
    one_line,
    reference_token,
    refuse_foreign_currency,
    text_with_token,
)
from claimbridge.connectors.base import Voucher
from claimbridge.errors import OutcomeUnknownError, ParseError

if TYPE_CHECKING:
    from claimbridge.connectors.accounting.visma import VismaSource

__all__ = ["ACCOUNT", "book_voucher", "find_voucher"]

ACCOUNT = re.compile(r"[1-9]\d{3,5}")
MAX_TEXT = 100  # VoucherApi.VoucherText
MAX_ROW_TEXT = 50  # VoucherRowApi.TransactionText
PATH = "/v2/vouchers"
_NO_VAT = {"useAutomaticVatCalculation": "false", "useDefaultVatCodes": "false"}


def book_voucher(source: VismaSource, voucher: Voucher) -> str:
    """Post ``voucher`` unless it is there already; Visma's id of the voucher."""
    name = source.context.name or source.type_name
    check_voucher(voucher, connector=name, account=ACCOUNT)
    refuse_foreign_currency(voucher, source.config.default_currency, connector=name)
    token = reference_token(voucher.external_ref)
    day = voucher.date
    existing = _find(source, token, day - dt.timedelta(days=1), day + dt.timedelta(days=1))
    if existing is not None:
        return existing
    body = {
        "VoucherDate": day.isoformat(),
        "VoucherText": text_with_token(voucher.description, token, MAX_TEXT),
        "Rows": [
            {
                "AccountNumber": int(line.account),
                "DebitAmount": json_amount(max(line.amount, Decimal(0))),
                "CreditAmount": json_amount(max(-line.amount, Decimal(0))),
                "TransactionText": one_line(line.description, MAX_ROW_TEXT),
            }
            for line in voucher.lines
        ],
    }
    try:
        response = source.call("POST", PATH, params=_NO_VAT, json=body, idempotent=False)
    except OutcomeUnknownError:
        found = _find(source, token, day - dt.timedelta(days=1), day + dt.timedelta(days=1))
        if found is None:
            raise
        return found
    created = source.json_of(response, PATH)
    voucher_id = created.get("Id") if isinstance(created, dict) else None
    if not isinstance(voucher_id, str) or not voucher_id:
        raise ParseError("the created voucher has no id", file=PATH, field="Id")
    return voucher_id


def find_voucher(source: VismaSource, external_ref: str) -> str | None:
    """The voucher booked under ``external_ref`` and dated in the last booking_search_days."""
    today = source.context.today
    since = today - dt.timedelta(days=source.config.booking_search_days)
    return _find(source, reference_token(external_ref), since, today + dt.timedelta(days=1))


def _find(source: VismaSource, token: str, since: dt.date, until: dt.date) -> str | None:
    """The id of a voucher dated from ``since`` to ``until`` whose text carries ``token``."""
    window = f"VoucherDate ge {since.isoformat()}T00:00:00Z"
    window += f" and VoucherDate le {until.isoformat()}T00:00:00Z"
    for _page, items, _meta in source.pages(PATH, {"$filter": window}):
        for item in items:
            if (
                isinstance(item, dict)
                and token in str(item.get("VoucherText", ""))
                and isinstance(item.get("Id"), str)
            ):
                return str(item["Id"])
    return None
