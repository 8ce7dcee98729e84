"""Reading Riverty's answers: request ids, claim searches, invoice lists and transactions.

Every answer is guarded before it is used: its size, that it is JSON of the expected shape,
and each value's type. A body that fails raises :class:`~claimbridge.errors.ParseError`
naming the field, never a traceback of internals; the caller decides what that means (a
push records the delivery as unknown, an update poll stops without moving its cursor).

Transactions (``GET /v1/transactions``) become updates: the confirmation or rejection of a
claim is the receipt of the delivery its ``contractNumber`` names, the confirmation or
rejection of a direct payment or credit waiver the receipt of the correction its ``number``
names, a closing a status event, a payment the debtor made to Riverty (accounting document
``AGENCY_PAYMENTS``) a settlement itemized by its line items, anything else a message in the
case's log. Transactions name Riverty's claim number, not our case key: events and settlement
lines carry it as ``agency_ref`` and leave ``case_key`` empty for reconciliation to resolve.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

import requests
from pydantic import ValidationError

from claimbridge.connectors.base import AgencyUpdate, PushOutcome, PushStatus
from claimbridge.errors import ParseError
from claimbridge.schemas import CaseEvent, CaseStatus, Direction, EventKind, Settlement

__all__ = [
    "REQUEST_PREFIX",
    "ClaimFound",
    "InvoiceFound",
    "claims_page",
    "invoices_page",
    "iter_windows",
    "json_body",
    "request_id",
    "transaction_update",
    "transactions",
]

log = logging.getLogger("claimbridge.riverty")

REQUEST_PREFIX = "request:"  # an agency_ref that is a handover's request id, not a claim number
MAX_ID = 100
_MAX_NOTE = 500

_SEARCH_STATUS = {
    "IN_CREATION": PushStatus.SENT,
    "PROCESSING": PushStatus.ACCEPTED,
    "PAUSED": PushStatus.ACCEPTED,
    "CLOSED": PushStatus.ACCEPTED,
    "REJECTED": PushStatus.REJECTED,
}
_CLOSING_STATUS = {
    "FULL_PAYMENT": CaseStatus.PAID,
    "RECALLED_BY_CLIENT": CaseStatus.WITHDRAWN,
    "PARTIAL_SUCCESS": CaseStatus.CLOSED,
    "COMPLETED_BY_SETTLEMENT": CaseStatus.CLOSED,
    "COMPLETED_BY_CREDIT": CaseStatus.CLOSED,
    "PAYMENT_BEFORE_HANDOVER": CaseStatus.CLOSED,
}  # every other documented closing reason (insolvency, unknown address, …) returns the claim
_ALLOCATIONS = {  # accounting-document line items: lower camel case in the documented sample
    "principalclaim": "principal",
    "principal_claim": "principal",
    "clientinterests": "interest",
    "client_interests": "interest",
    "clientcosts": "fees",
    "client_costs": "fees",
}
_CORRECTION_TYPES = frozenset({"DIRECT_PAYMENT", "CREDIT_WAIVER"})


# --- bodies -------------------------------------------------------------------------------


def json_body(response: requests.Response, what: str, max_bytes: int) -> Any:
    """The parsed JSON of an answer no larger than ``max_bytes``."""
    size = len(response.content)
    if size > max_bytes:
        raise ParseError(f"Riverty's {what} is {size} bytes, over the {max_bytes}-byte limit")
    try:
        return response.json()
    except (ValueError, RecursionError):
        raise ParseError(f"Riverty's {what} is not JSON") from None


def request_id(data: Any) -> str:
    """The ``requestId`` of an accepted request."""
    if not isinstance(data, dict):
        raise ParseError("the answer is not a JSON object", field="requestId")
    return _text(data.get("requestId"), "requestId")


# --- claims and invoices ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimFound:
    claim_number: str
    status: str

    def outcome(self, key: str) -> PushOutcome:
        status = _SEARCH_STATUS.get(self.status, PushStatus.UNKNOWN)
        if status is PushStatus.REJECTED:
            reason = "Riverty rejected the claim (its REJECTION transaction says why)"
            return PushOutcome(key, status, agency_ref=self.claim_number, reason=reason)
        if status is PushStatus.UNKNOWN:
            reason = f"Riverty reports the claim in an unknown status {self.status[:30]!r}"
            return PushOutcome(key, status, agency_ref=self.claim_number, reason=reason)
        return PushOutcome(key, status, agency_ref=self.claim_number)


@dataclass(frozen=True, slots=True)
class InvoiceFound:
    invoice_number: str
    remaining: Decimal
    currency: str


def claims_page(data: Any) -> tuple[list[ClaimFound], bool]:
    """The claims of one ``/v1/claims/search`` page, and whether more pages follow."""
    items, more = _page(data, "claims")
    found = [
        ClaimFound(_text(item.get("claimNumber"), f"claims[{i}].claimNumber"), _status(item, i))
        for i, item in enumerate(items)
    ]
    return found, more


def invoices_page(data: Any) -> tuple[list[InvoiceFound], bool]:
    """The invoices of one ``/v1/claims/{claimNumber}/invoices`` page, and whether more follow."""
    items, more = _page(data, "invoices")
    found = [
        InvoiceFound(
            _text(item.get("invoiceNumber"), f"invoices[{i}].invoiceNumber"),
            _amount(item.get("remainingAmount"), f"invoices[{i}].remainingAmount"),
            _text(item.get("currency"), f"invoices[{i}].currency")[:3].upper(),
        )
        for i, item in enumerate(items)
    ]
    return found, more


def _page(data: Any, what: str) -> tuple[list[dict[str, Any]], bool]:
    """A paged list: a bare array, or an object holding one array of objects and an object
    with ``currentPage``/``totalPages`` (the public reference shows the parts, not their
    names, so any name is read)."""
    if isinstance(data, list):
        items: Any = data
        paging: Mapping[str, Any] = {}
    elif isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        pagings = [v for v in data.values() if isinstance(v, dict) and "totalPages" in v]
        if len(lists) != 1:
            raise ParseError(f"the answer holds {len(lists)} lists, expected one", field=what)
        items, paging = lists[0], (pagings[0] if pagings else {})
    else:
        raise ParseError("the answer is neither a list nor an object", field=what)
    bad = [i for i, item in enumerate(items) if not isinstance(item, dict)]
    if bad:
        raise ParseError("an entry is not a JSON object", field=f"{what}[{bad[0]}]")
    current, total = paging.get("currentPage"), paging.get("totalPages")
    more = _is_int(current) and _is_int(total) and current < total
    return items, bool(more)


def _status(item: Mapping[str, Any], index: int) -> str:
    value = item.get("status")
    if value is None:
        return ""
    return _text(value, f"claims[{index}].status").upper()


# --- transactions -------------------------------------------------------------------------


def transactions(data: Any) -> list[dict[str, Any]]:
    """The transactions of one answer, in Riverty's order (``sortNumber``)."""
    if not isinstance(data, list):
        raise ParseError("the answer is not a JSON array", field="transactions")
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ParseError("an entry is not a JSON object", field=f"transactions[{i}]")
    return sorted(data, key=_sort_number)


def _sort_number(item: Mapping[str, Any]) -> int:
    number = item.get("sortNumber")
    return number if _is_int(number) else 0


def transaction_update(raw: Mapping[str, Any], agency: str, cursor: str) -> AgencyUpdate | None:
    """One transaction as an update (None for one that concerns nothing of ours)."""
    tx = _Transaction.read(raw)
    kind = tx.type
    if kind == "CONFIRMATION":
        return _confirmation(tx, cursor)
    if kind == "REJECTION":
        return _rejection(tx, cursor)
    if kind == "ACCOUNTING_DOCUMENT":
        return _accounting_document(tx, agency, cursor)
    if kind == "CLOSING":
        return _closing(tx, cursor)
    note = tx.body_type or kind.lower()
    return tx.event(EventKind.STATUS, cursor, f"Riverty: {kind.lower()} {note}".strip())


@dataclass(frozen=True, slots=True)
class _Transaction:
    id: str
    type: str
    claim_number: str | None
    body: Mapping[str, Any]
    body_type: str

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> _Transaction:
        tx_id = _text(raw.get("id"), "transactions.id")
        kind = _text(raw.get("type"), "transactions.type").upper()
        claim = raw.get("claimNumber")
        claim_number = _text(claim, "transactions.claimNumber") if claim is not None else None
        field = {
            "CONFIRMATION": "confirmation",
            "REJECTION": "rejection",
            "ACCOUNTING_DOCUMENT": "accountingDocument",
            "CLOSING": "closing",
            "STATUS": "status",
        }.get(kind, "")
        body = raw.get(field, {}) if field else {}
        if not isinstance(body, dict):
            raise ParseError("is not a JSON object", field=f"transactions.{field}")
        body_type = body.get("type")
        typed = _text(body_type, f"transactions.{field}.type").upper() if body_type else ""
        return cls(tx_id, kind, claim_number, body, typed)

    @property
    def update_id(self) -> str:
        return f"riverty:{self.id}"

    def day(self) -> dt.datetime:
        raw = self.body.get("date")
        if raw is None:
            return dt.datetime.now(dt.UTC)
        try:
            day = dt.date.fromisoformat(_text(raw, "date")[:10])
        except ValueError:
            where = f"transactions.{self.id}.date"
            raise ParseError("is not a yyyy-MM-dd date", field=where) from None
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)

    def event(
        self, kind: EventKind, cursor: str, message: str, status: CaseStatus | None = None
    ) -> AgencyUpdate:
        event = CaseEvent(
            event_id=self.update_id,
            case_key="",  # Riverty names its claim, not our case: agency_ref says which
            at=self.day(),
            kind=kind,
            direction=Direction.IN,
            status=status,
            agency_ref=self.claim_number,
            message=message[:_MAX_NOTE],
        )
        return AgencyUpdate(update_id=self.update_id, event=event, cursor=cursor)

    def receipt(
        self, key: str, status: PushStatus, cursor: str, reason: str | None
    ) -> AgencyUpdate:
        outcome = PushOutcome(key, status, agency_ref=self.claim_number, reason=reason)
        return AgencyUpdate(update_id=self.update_id, receipt=outcome, cursor=cursor)


def _confirmation(tx: _Transaction, cursor: str) -> AgencyUpdate | None:
    if tx.body_type == "INVOICE":
        contract = _optional_text(tx.body.get("contractNumber"), "confirmation.contractNumber")
        if not contract:
            return None  # a claim handed over some other way: nothing of ours to confirm
        return tx.receipt(contract, PushStatus.ACCEPTED, cursor, None)
    if tx.body_type in _CORRECTION_TYPES:
        number = _optional_text(tx.body.get("number"), "confirmation.number")
        if not number:
            return None
        return tx.receipt(number, PushStatus.ACCEPTED, cursor, None)
    what = tx.body_type.lower().replace("_", " ") or "a request"
    return tx.event(EventKind.RECEIPT, cursor, f"Riverty confirmed {what}{_money(tx.body)}")


def _rejection(tx: _Transaction, cursor: str) -> AgencyUpdate | None:
    description = _optional_text(tx.body.get("description"), "rejection.description")
    reason = f"Riverty rejected it: {description}" if description else "Riverty rejected it"
    if tx.body_type == "INVOICE":
        contract = _optional_text(tx.body.get("contractNumber"), "rejection.contractNumber")
        if contract:
            return tx.receipt(contract, PushStatus.REJECTED, cursor, reason[:_MAX_NOTE])
        return None
    if tx.body_type in _CORRECTION_TYPES:
        number = _optional_text(tx.body.get("number"), "rejection.number")
        if number:
            return tx.receipt(number, PushStatus.REJECTED, cursor, reason[:_MAX_NOTE])
        return None
    what = tx.body_type.lower().replace("_", " ") or "a request"
    return tx.event(EventKind.MESSAGE, cursor, f"{reason} ({what})")


def _closing(tx: _Transaction, cursor: str) -> AgencyUpdate:
    reason = tx.body_type or "UNKNOWN"
    status = _CLOSING_STATUS.get(reason, CaseStatus.RETURNED)
    message = f"Riverty closed the claim: {reason.lower().replace('_', ' ')}"
    return tx.event(EventKind.STATUS, cursor, message, status)


def _accounting_document(tx: _Transaction, agency: str, cursor: str) -> AgencyUpdate:
    kind = tx.body_type.replace("_", "").upper()
    if kind in ("AGENCYPAYMENTS", "AGENCYPAYMENT"):
        settlement = _settlement(tx, agency)
        if settlement is not None:
            return AgencyUpdate(update_id=tx.update_id, settlement=settlement, cursor=cursor)
    what = tx.body_type.lower().replace("_", " ") or "an accounting document"
    return tx.event(EventKind.MESSAGE, cursor, f"Riverty booked {what}{_money(tx.body)}")


def _settlement(tx: _Transaction, agency: str) -> Settlement | None:
    """A payment the debtor made to Riverty, itemized by what Riverty allocated it to."""
    items = tx.body.get("lineItems")
    if not isinstance(items, list):
        raise ParseError("is not a list", field="accountingDocument.lineItems")
    lines = []
    for i, item in enumerate(items):
        where = f"accountingDocument.lineItems[{i}]"
        if not isinstance(item, dict):
            raise ParseError("is not a JSON object", field=where)
        bucket = _ALLOCATIONS.get(str(item.get("allocateTo", "")).strip().lower())
        amount = abs(_amount(item.get("amount"), f"{where}.amount"))
        if bucket is None:
            log.warning(
                "Riverty transaction %s: line item %d allocated to an unmapped bucket; "
                "left out of the settlement",
                tx.id,
                i,
            )
            continue
        line_id = _optional_text(item.get("id"), f"{where}.id") or str(i)
        lines.append(
            {
                "line_id": f"riverty:{tx.id}:{line_id}",
                "agency_ref": tx.claim_number,
                "invoice_number": _optional_text(item.get("invoiceNumber"), f"{where}.invoice"),
                bucket: amount,
                "total": amount,
            }
        )
    if not lines:
        return None
    number = _optional_text(tx.body.get("number"), "accountingDocument.number")
    try:
        return Settlement.model_validate(
            {
                "settlement_id": f"riverty:{number or tx.id}",
                "agency": agency,
                "settlement_date": tx.day().date(),
                "currency": _text(tx.body.get("currency"), "accountingDocument.currency"),
                "lines": lines,
            }
        )
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ParseError(first["msg"], field=f"accountingDocument ({where})") from None


def _money(body: Mapping[str, Any]) -> str:
    amount, currency = body.get("amount"), body.get("currency")
    if _is_number(amount) and isinstance(currency, str) and len(currency) == 3:
        return f" of {abs(Decimal(str(amount)))} {currency.upper()}"
    return ""


# --- values -------------------------------------------------------------------------------


def _text(value: Any, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ParseError("missing or not text", field=field)
    text = value.strip()
    if len(text) > MAX_ID or not text.isprintable():
        raise ParseError("too long or holds control characters", field=field)
    return text


def _optional_text(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    return _text(value, field)


def _amount(value: Any, field: str) -> Decimal:
    if not _is_number(value):
        raise ParseError("missing or not a number", field=field)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ParseError("not a number", field=field) from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e15"):
        raise ParseError("not a usable amount", field=field)
    return amount.quantize(Decimal("0.01"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def iter_windows(
    start: dt.datetime, end: dt.datetime, size: dt.timedelta
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """``[start, end)`` cut into windows of at most ``size``."""
    while start < end:
        stop = min(start + size, end)
        yield start, stop
        start = stop
