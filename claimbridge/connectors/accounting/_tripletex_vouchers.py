"""Booking a journal voucher in Tripletex, once.

``POST /ledger/voucher`` takes the voucher with its postings. Postings name their account by
id, so account numbers are resolved first (``GET /ledger/account?number=``); each posting gets
a row number from 1 (row 0 is Tripletex's own) and only its gross amount, as Tripletex uses
only the gross amounts. Our reference goes into the voucher's own ``externalVoucherNumber``
(``cb:<ref>``, or ``cb#<hash>`` for a long one: the spec gives the field no length, so it is
kept short), which ``GET /ledger/voucher/>externalVoucherNumber`` searches, so a voucher is
looked up before it is posted and an answer lost after posting is resolved by the same lookup,
never by posting again. The POST itself is never retried by the HTTP client.

Tripletex's ``externalVoucherNumber`` is the only place our reference lives: a payment booked
with ``PUT /invoice/{id}/:payment`` has none, so :func:`find_voucher` finds vouchers only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from claimbridge.connectors.accounting._vouchers import (
    check_voucher,
    compact_reference,
    json_amount,
    one_line,
    refuse_foreign_currency,
)
from claimbridge.connectors.base import Voucher
from claimbridge.errors import ConnectorError, OutcomeUnknownError, ParseError

__all__ = ["ACCOUNT_NUMBER", "JsonCaller", "book_voucher", "find_voucher"]

ACCOUNT_NUMBER = re.compile(r"[1-9]\d{3,7}")  # Tripletex account numbers are whole numbers
SEARCH = "/ledger/voucher/>externalVoucherNumber"
_MAX_TEXT = 255
_CONNECTOR = "tripletex"


class JsonCaller(Protocol):
    def __call__(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        idempotent: bool | None = None,
        json: Any = None,
    ) -> dict[str, Any]: ...


def book_voucher(call: JsonCaller, voucher: Voucher, ledger_currency: str) -> str:
    """Post ``voucher`` unless it is there already; the id of the voucher in Tripletex."""
    check_voucher(voucher, connector=_CONNECTOR, account=ACCOUNT_NUMBER)
    refuse_foreign_currency(voucher, ledger_currency, connector=_CONNECTOR)
    existing = find_voucher(call, voucher.external_ref)
    if existing is not None:
        return existing
    accounts = _account_ids(call, {line.account for line in voucher.lines})
    day = voucher.date.isoformat()
    postings = [
        {
            "row": row,
            "date": day,
            "description": one_line(line.description or voucher.description, _MAX_TEXT),
            "account": {"id": accounts[line.account]},
            "amountGross": json_amount(line.amount),
            "amountGrossCurrency": json_amount(line.amount),
        }
        for row, line in enumerate(voucher.lines, start=1)
    ]
    body = {
        "date": day,
        "description": one_line(voucher.description, _MAX_TEXT),
        "externalVoucherNumber": compact_reference(voucher.external_ref),
        "postings": postings,
    }
    try:
        answer = call("POST", "/ledger/voucher", idempotent=False, json=body)
    except OutcomeUnknownError:
        found = find_voucher(call, voucher.external_ref)
        if found is None:
            raise
        return found
    value = answer.get("value")
    voucher_id = value.get("id") if isinstance(value, dict) else None
    if not isinstance(voucher_id, int) or isinstance(voucher_id, bool):
        raise ParseError("the created voucher has no id", file="/ledger/voucher", field="id")
    return str(voucher_id)


def find_voucher(call: JsonCaller, external_ref: str) -> str | None:
    """The id of the voucher booked under ``external_ref`` (the lowest, should there be more)."""
    number = compact_reference(external_ref)
    params = {"externalVoucherNumber": number, "fields": "id,externalVoucherNumber"}
    values = call("GET", SEARCH, params).get("values")
    items = values if isinstance(values, list) else []
    ids = [
        item["id"]
        for item in items
        if isinstance(item, dict)
        and item.get("externalVoucherNumber") == number
        and isinstance(item.get("id"), int)
    ]
    return str(min(ids)) if ids else None


def _account_ids(call: JsonCaller, numbers: Iterable[str]) -> dict[str, int]:
    """Account number → Tripletex's id for it; an unknown number is a clear error."""
    wanted = sorted(set(numbers))
    params: dict[str, str | int] = {
        "number": ",".join(wanted),
        "fields": "id,number",
        "count": len(wanted),
    }
    values = call("GET", "/ledger/account", params).get("values")
    found: dict[str, int] = {}
    for item in values if isinstance(values, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), int):
            found[str(item.get("number"))] = item["id"]
    missing = [n for n in wanted if n not in found]
    if missing:
        raise ConnectorError(
            f"account {', '.join(missing)} is not in the chart of accounts; set the booking "
            "accounts to accounts the company has",
            connector=_CONNECTOR,
        )
    return found
