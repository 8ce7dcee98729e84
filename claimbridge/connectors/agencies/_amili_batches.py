"""Amili Norway's asynchronous batches: reading them, and what each means for a delivery.

``POST /orgs/{org}/invoices`` answers 202 with a batch; the batch stays ``QUEUED`` until Amili
has processed it, then ends ``SUCCESS``, ``PARTIAL`` or ``FAILED`` with the invoices that
``succeeded`` (``invoiceId``, ``invoiceNumber``, ``caseId``) and those that ``failed``. One
batch carries many deliveries (cases), so its items are matched back to deliveries by invoice
number; a push never puts one invoice number in a batch twice.

A delivery whose batch is still queued when the connector stops waiting is ``SENT`` with a
handle, ``batch/<batchId>?inv=<invoice number>&…``, from which :func:`outcome_for` can tell
later what became of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from claimbridge.connectors.base import PushOutcome, PushStatus
from claimbridge.errors import ParseError

__all__ = [
    "Batch",
    "BatchItem",
    "batch_handle",
    "correction_outcome",
    "outcome_for",
    "parse_batch",
    "parse_handle",
]

_MAX_ITEMS = 100_000
_MAX_TEXT = 200
_MAX_REASONS = 5
TERMINAL = frozenset({"SUCCESS", "PARTIAL", "FAILED"})


@dataclass(frozen=True, slots=True)
class BatchItem:
    invoice_number: str
    invoice_id: str | None = None
    case_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    status: str
    succeeded: Mapping[str, BatchItem] = field(default_factory=dict)
    failed: Mapping[str, BatchItem] = field(default_factory=dict)

    def pending(self, pending_states: frozenset[str]) -> bool:
        return self.status in pending_states


def parse_batch(answer: Any, *, where: str = "batch") -> Batch:
    """A batch from Amili's ``{"summary": …, "data": {…}}`` (or the bare ``data`` object)."""
    data = answer.get("data", answer) if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        raise ParseError(f"Amili sent a {where} answer that is not a JSON object", field="data")
    batch_id = _text(data.get("batchId"))
    status = _text(data.get("status"))
    if batch_id is None:
        raise ParseError(f"Amili's {where} answer has no batchId", field="data.batchId")
    if status is None:
        raise ParseError(f"Amili's {where} answer has no status", field="data.status")
    return Batch(
        batch_id=batch_id,
        status=status.upper(),
        succeeded=_items(data.get("succeeded"), "data.succeeded"),
        failed=_items(data.get("failed"), "data.failed"),
    )


def _items(raw: Any, path: str) -> dict[str, BatchItem]:
    if raw is None:
        return {}
    if not isinstance(raw, list) or len(raw) > _MAX_ITEMS:
        raise ParseError("Amili's batch item list is not a list of a sane size", field=path)
    items: dict[str, BatchItem] = {}
    for index, entry in enumerate(raw):
        if entry is None:  # Amili's own example lists a null failure
            continue
        if not isinstance(entry, dict):
            raise ParseError("a batch item is not a JSON object", field=f"{path}[{index}]")
        number = _text(entry.get("invoiceNumber"))
        if number is None:
            raise ParseError("a batch item has no invoiceNumber", field=f"{path}[{index}]")
        items[number] = BatchItem(
            invoice_number=number,
            invoice_id=_text(entry.get("invoiceId")),
            case_id=_text(entry.get("caseId")),
            reason=_reason(entry),
        )
    return items


def _reason(entry: Mapping[str, Any]) -> str | None:
    """Amili's reason for a refused invoice, from the shapes its API uses for errors."""
    errors = entry.get("errors")
    if isinstance(errors, list):
        parts = []
        for error in errors[:_MAX_REASONS]:
            if isinstance(error, dict):
                code, message = _text(error.get("code")), _text(error.get("message"))
                parts.append(": ".join(p for p in (code, message) if p))
            elif _text(error):
                parts.append(str(_text(error)))
        if any(parts):
            return "; ".join(p for p in parts if p)
    for name in ("message", "reason", "error"):
        text = _text(entry.get(name))
        if text:
            return text
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, int | str) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:_MAX_TEXT]
    return None


def outcome_for(
    key: str, invoice_numbers: Sequence[str], batch: Batch, pending_states: frozenset[str]
) -> PushOutcome:
    """What a finished (or still queued) batch means for the delivery of these invoices."""
    if batch.pending(pending_states):
        return PushOutcome(
            key, PushStatus.SENT, agency_ref=batch_handle(batch.batch_id, invoice_numbers)
        )
    accepted = [batch.succeeded[n] for n in invoice_numbers if n in batch.succeeded]
    refused = [batch.failed[n] for n in invoice_numbers if n in batch.failed]
    missing = [n for n in invoice_numbers if n not in batch.succeeded and n not in batch.failed]
    refusals = "; ".join(f"invoice {i.invoice_number}: {i.reason or 'refused'}" for i in refused)
    if accepted:
        case_ids = list(dict.fromkeys(i.case_id or i.invoice_id or "" for i in accepted))
        if not all(case_ids):
            return PushOutcome(
                key, PushStatus.UNKNOWN, reason="Amili accepted it without a case id"
            )
        reason = None
        if refused or missing:
            reason = "partly accepted; " + (refusals or f"no answer for {', '.join(missing)}")
        return PushOutcome(key, PushStatus.ACCEPTED, agency_ref=",".join(case_ids), reason=reason)
    if refused:
        return PushOutcome(key, PushStatus.REJECTED, reason=f"Amili refused it: {refusals}")
    if batch.status == "FAILED":
        return PushOutcome(key, PushStatus.REJECTED, reason="Amili's batch failed as a whole")
    return PushOutcome(
        key, PushStatus.UNKNOWN, reason=f"missing from Amili's batch {batch.batch_id}"
    )


def correction_outcome(key: str, batch: Batch, pending_states: frozenset[str]) -> PushOutcome:
    """What became of a correction (a payment, a credit note) from its own batch: one
    correction per batch, so the batch's verdict is the correction's."""
    ref = f"batch/{batch.batch_id}"
    if batch.pending(pending_states):
        return PushOutcome(key, PushStatus.SENT, agency_ref=ref)
    if batch.succeeded:
        return PushOutcome(key, PushStatus.ACCEPTED, agency_ref=ref)
    if batch.failed or batch.status == "FAILED":
        reasons = "; ".join(i.reason or "refused" for i in batch.failed.values())
        return PushOutcome(
            key, PushStatus.REJECTED, reason=f"Amili refused it: {reasons or 'FAILED'}"
        )
    return PushOutcome(key, PushStatus.UNKNOWN, reason=f"Amili's batch {batch.batch_id} is empty")


def batch_handle(batch_id: str, invoice_numbers: Sequence[str]) -> str:
    return f"batch/{batch_id}?" + urlencode([("inv", n) for n in invoice_numbers])


def parse_handle(handle: str) -> tuple[str, list[str]] | None:
    """``(batch id, invoice numbers)`` from a SENT handle; None for anything else."""
    if not handle.startswith("batch/"):
        return None
    batch_id, _, query = handle[len("batch/") :].partition("?")
    numbers = [value for name, value in parse_qsl(query) if name == "inv"]
    if not batch_id or not numbers:
        return None
    return batch_id, numbers
