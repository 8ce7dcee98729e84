"""What Amili Norway tells us, as :class:`AgencyUpdate`: webhook events and settlements.

Webhook events (documented): ``BATCH_COMPLETED``, ``SETTLEMENT_CREATED``, ``CASE`` and
``CASE_UPDATED``, each ``{"id", "type" | "eventType", "source", "timeStamp", "data"}``. A case
event names Amili's ``caseId``, not our case key: the update carries it as ``agency_ref`` (what
the core stored for the case) and leaves ``case_key`` empty for reconciliation to resolve.

Settlements come from ``GET /orgs/{org}/settlements`` as one record per settled invoice; the
record fields beyond ``caseNumber``, ``currency`` and ``customerReference`` were not public,
so their names are settings (:class:`SettlementFields`) with the defaults below.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from claimbridge.connectors.base import AgencyUpdate
from claimbridge.errors import ParseError
from claimbridge.schemas import (
    CaseEvent,
    CaseStatus,
    Direction,
    EventKind,
    Settlement,
    SettlementLine,
)

__all__ = [
    "SettlementFields",
    "UpdatesCursor",
    "json_body",
    "safe_id",
    "settlement_id_of",
    "settlements_from",
    "updates_from_event",
]

_SAFE = re.compile(r"[^A-Za-z0-9_.:-]")
_MAX_ID = 120
_MAX_TEXT = 200
_STATUSES = {
    "OPEN": CaseStatus.ACTIVE,
    "ACTIVE": CaseStatus.ACTIVE,
    "PAUSED": CaseStatus.PAUSED,
    "WITHDRAWN": CaseStatus.WITHDRAWN,
    "CLOSED": CaseStatus.CLOSED,
    "PAID": CaseStatus.PAID,
    "RETURNED": CaseStatus.RETURNED,
}


class SettlementFields(BaseModel):
    """The names of a settlement record's fields (not all of them are public)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    settlement_id: str = "settlementId"
    settlement_date: str = "settlementDate"
    currency: str = "currency"
    invoice_number: str = "invoiceNumber"
    case: str = "caseNumber"
    line_id: str = "id"
    principal: str = "principalAmount"
    interest: str = "interestAmount"
    fees: str = "feeAmount"
    commission: str = "commissionAmount"


def safe_id(value: str) -> str:
    """An id fit for file names and dedup keys: ``[A-Za-z0-9_.:-]``, at most 120 characters."""
    return _SAFE.sub("_", value.strip())[:_MAX_ID]


# --- webhook events -----------------------------------------------------------------------


def updates_from_event(event: Any, event_key: str) -> list[AgencyUpdate]:
    """The updates one verified event carries; ``event_key`` is its idempotency key."""
    if not isinstance(event, dict):
        raise ParseError("Amili's webhook body is not a JSON object")
    kind = _text(event.get("type")) or _text(event.get("eventType"))
    data = event.get("data")
    if kind is None or not isinstance(data, dict):
        raise ParseError("Amili's webhook event has no type or no data", field="type")
    update_id = f"amili:{safe_id(event_key)}"
    at = _moment(event.get("timeStamp"), "timeStamp")
    if kind in ("CASE", "CASE_UPDATED"):
        case_id = _text(data.get("caseId"))
        if case_id is None:
            raise ParseError("Amili's case event has no caseId", field="data.caseId")
        raw_status = (_text(data.get("status")) or "").upper()
        status = _STATUSES.get(raw_status)
        changed = data.get("fields")
        what = ", ".join(str(f)[:40] for f in changed[:10]) if isinstance(changed, list) else ""
        message = f"Amili case {raw_status or 'update'}" + (f" ({what})" if what else "")
        return [_event(update_id, at, EventKind.STATUS, case_id, status, message)]
    if kind == "SETTLEMENT_CREATED":
        settlement_id = _text(data.get("settlementId"))
        if settlement_id is None:
            raise ParseError("Amili's settlement event has no settlementId", field="data")
        ref = _text(data.get("caseNumber"))
        message = f"settlement {settlement_id} created"
        return [_event(update_id, at, EventKind.SETTLEMENT, ref, None, message)]
    if kind == "BATCH_COMPLETED":
        batch_id = _text(data.get("batchId"))
        if batch_id is None:
            raise ParseError("Amili's batch event has no batchId", field="data.batchId")
        status_text = _text(data.get("status")) or "?"
        message = f"batch {batch_id} completed: {status_text}"
        return [_event(update_id, at, EventKind.MESSAGE, f"batch/{batch_id}", None, message)]
    return []  # an event type Amili adds later: verified, kept in the spool, nothing to apply


def settlement_id_of(event: Any) -> str | None:
    """The settlement a ``SETTLEMENT_CREATED`` event announces, else None."""
    if not isinstance(event, dict) or event.get("type") != "SETTLEMENT_CREATED":
        return None
    data = event.get("data")
    return _text(data.get("settlementId")) if isinstance(data, dict) else None


def _event(
    update_id: str,
    at: dt.datetime,
    kind: EventKind,
    agency_ref: str | None,
    status: CaseStatus | None,
    message: str,
) -> AgencyUpdate:
    event = CaseEvent(
        event_id=update_id,
        case_key="",
        at=at,
        kind=kind,
        direction=Direction.IN,
        status=status,
        agency_ref=agency_ref,
        message=message,
    )
    return AgencyUpdate(update_id=update_id, event=event)


# --- settlements --------------------------------------------------------------------------


def settlements_from(
    records: Iterable[Any], fields: SettlementFields, agency: str
) -> list[Settlement]:
    """Settlement records grouped into settlements, in the order they first appear."""
    lines: dict[tuple[str, dt.date, str], list[dict[str, Any]]] = {}
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise ParseError("a settlement record is not a JSON object", field=f"data[{index}]")
        sid = _required(record, fields.settlement_id, index)
        day = _date(_required(record, fields.settlement_date, index), fields.settlement_date)
        currency = _required(record, fields.currency, index)
        group = lines.setdefault((sid, day, currency), [])
        group.append(_line(record, fields, sid, index, len(group)))
    settlements = []
    for (sid, day, currency), group in lines.items():
        try:
            settlements.append(
                Settlement(
                    settlement_id=f"amili:{safe_id(sid)}",
                    agency=agency,
                    settlement_date=day,
                    currency=currency,
                    lines=tuple(SettlementLine.model_validate(line) for line in group),
                )
            )
        except ValidationError as exc:
            raise ParseError(f"settlement {safe_id(sid)} is unusable: {_first(exc)}") from None
    return settlements


def _line(
    record: Mapping[str, Any], fields: SettlementFields, sid: str, index: int, position: int
) -> dict[str, Any]:
    invoice = _text(record.get(fields.invoice_number))
    case = _text(record.get(fields.case))
    own = _text(record.get(fields.line_id))
    line_id = own or f"{invoice or case or position}"
    parts = {
        name: _amount(record.get(getattr(fields, name)), f"data[{index}].{getattr(fields, name)}")
        for name in ("principal", "interest", "fees", "commission")
    }
    return {
        "line_id": f"amili:{safe_id(sid)}:{safe_id(line_id)}",
        "agency_ref": case,
        "invoice_number": invoice,
        "total": parts["principal"] + parts["interest"] + parts["fees"],
        **parts,
    }


def _required(record: Mapping[str, Any], name: str, index: int) -> str:
    value = _text(record.get(name))
    if value is None:
        raise ParseError(f"a settlement record has no {name}", field=f"data[{index}].{name}")
    return value


def _amount(value: Any, path: str) -> Decimal:
    if value is None:
        return Decimal("0")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ParseError("an amount is not a number", field=path)
    if isinstance(value, float) and not math.isfinite(value):
        raise ParseError("an amount is not a finite number", field=path)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ParseError("an amount is not a number", field=path) from None
    if not amount.is_finite() or abs(amount) > Decimal("1e12"):
        raise ParseError("an amount is out of range", field=path)
    if amount < 0:
        raise ParseError("a negative settlement amount (a reversal) needs a person", field=path)
    return amount.quantize(Decimal("0.01"))


def _date(value: str, path: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise ParseError("a date is not an ISO date", field=path) from None


def _moment(value: Any, path: str) -> dt.datetime:
    text = _text(value)
    if text is None:
        raise ParseError("Amili's event has no timestamp", field=path)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError("Amili's event timestamp is not ISO 8601", field=path) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _text(value: Any) -> str | None:
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:_MAX_TEXT]
    return None


def _first(exc: ValidationError) -> str:
    error = exc.errors(include_input=False, include_url=False)[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"


# --- the updates cursor -------------------------------------------------------------------


class UpdatesCursor:
    """``{"spool": last spooled file read, "settled_from": date}`` as compact JSON. Settlements
    are re-read from the last settlement date seen; their ids make re-reads harmless."""

    def __init__(self, spool: str | None, settled_from: dt.date) -> None:
        self.spool = spool
        self.settled_from = settled_from

    @classmethod
    def parse(cls, text: str | None, default: dt.date) -> UpdatesCursor:
        if not text:
            return cls(None, default)
        try:
            data = json.loads(text)
            spool = data.get("spool")
            settled = dt.date.fromisoformat(str(data.get("settled_from") or default.isoformat()))
        except (ValueError, AttributeError, TypeError):
            raise ParseError("the stored Amili cursor is unreadable", field="cursor") from None
        return cls(spool if isinstance(spool, str) else None, settled)

    def with_spool(self, name: str) -> UpdatesCursor:
        return UpdatesCursor(name, self.settled_from)

    def with_settled(self, day: dt.date) -> UpdatesCursor:
        return UpdatesCursor(self.spool, day)

    def text(self) -> str:
        return json.dumps({"spool": self.spool, "settled_from": self.settled_from.isoformat()})


def json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ParseError("Amili's webhook body is not JSON") from None
