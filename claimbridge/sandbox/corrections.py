"""The sandbox agency's rules for corrections: the shape an item must have, why the agency
refuses one, and the answer it gives (remembered with the key, so a replay gets the same)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from claimbridge.schemas import Case

__all__ = ["CORRECTION_KINDS", "CorrectionAnswer", "answer", "refusal", "shape_problem"]

CORRECTION_KINDS = ("payment", "reduce", "withdraw", "pause", "resume")
_ENDED = frozenset({"closed", "withdrawn", "returned"})


@dataclass(frozen=True, slots=True)
class CorrectionAnswer:
    """What the agency did with one correction. ``replayed``: the key had been seen before."""

    idempotency_key: str
    status: str  # accepted | rejected
    correction_id: str | None
    agency_ref: str
    kind: str
    reason: str | None
    effective_on: str | None
    replayed: bool = False

    def as_result(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "status": self.status,
            "correction_id": self.correction_id,
            "agency_ref": self.agency_ref,
            "kind": self.kind,
            "reason": self.reason,
            "effective_on": self.effective_on,
        }


_CORRECTION_FIELDS = frozenset(
    {
        "idempotency_key",
        "agency_ref",
        "kind",
        "invoice_number",
        "amount",
        "currency",
        "booking_date",
        "credit_note_number",
        "reason",
    }
)


def shape_problem(item: dict[str, Any], where: str) -> str | None:
    """What is wrong with a correction item's shape (the agency's rules come after)."""
    unknown = sorted(set(item) - _CORRECTION_FIELDS)
    if unknown:
        return f"{where}: unknown fields {unknown}"
    ref = item.get("agency_ref")
    if not isinstance(ref, str) or not 1 <= len(ref) <= 200:
        return f"{where}.agency_ref must be the case's agency reference"
    if item.get("kind") not in CORRECTION_KINDS:
        return f"{where}.kind must be one of {', '.join(CORRECTION_KINDS)}"
    for name in ("invoice_number", "credit_note_number", "reason", "currency"):
        value = item.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > 500):
            return f"{where}.{name} must be text"
    amount = item.get("amount")
    if amount is not None:
        try:
            number = Decimal(str(amount))
            exact = number.is_finite() and number == number.quantize(Decimal("0.01"))
        except ArithmeticError:
            exact = False
        if isinstance(amount, bool) or not exact:
            return f"{where}.amount must be a number with at most two decimals"
    booking = item.get("booking_date")
    if booking is not None:
        try:
            if not isinstance(booking, str) or len(booking) != 10:
                raise ValueError
            date.fromisoformat(booking)
        except ValueError:
            return f"{where}.booking_date must be a date, YYYY-MM-DD"
    return None


def answer(row: sqlite3.Row, *, replayed: bool = False) -> CorrectionAnswer:
    return CorrectionAnswer(
        idempotency_key=row["idempotency_key"],
        status=row["status"],
        correction_id=f"SBX-COR-{row['id']:06d}" if row["status"] == "accepted" else None,
        agency_ref=row["agency_ref"],
        kind=row["kind"],
        reason=row["reason"],
        effective_on=row["effective_on"],
        replayed=replayed,
    )


def refusal(case: sqlite3.Row, body: dict[str, Any]) -> str | None:
    """The agency's rules for corrections; the reason one is refused, or None.

    Reasons name the rule, never the debtor's data.
    """
    kind = body["kind"]
    if case["status"] in _ENDED:
        return f"the case is {case['status']}: it takes no corrections"
    if case["status"] == "rejected":  # pragma: no cover - rejected deliveries have no case row
        return "the case was rejected"
    claims = {c.invoice_number for c in Case.model_validate_json(case["case_json"]).claims}
    invoice = body.get("invoice_number")
    if invoice is not None and invoice not in claims:
        return "the case holds no claim with this invoice number"
    if kind in ("payment", "reduce"):
        try:
            amount = Decimal(str(body.get("amount")))
        except (InvalidOperation, ValueError):
            return "the amount is not a number"
        if not amount.is_finite() or amount <= 0:
            return "the amount must be positive"
        if body.get("currency") != case["currency"]:
            return f"the case is in {case['currency']}"
        if kind == "payment" and not body.get("booking_date"):
            return "a direct payment needs its booking date"
    if kind == "pause" and case["status"] == "paused":
        return "the case is paused already"
    if kind == "resume" and case["status"] != "paused":
        return "the case is not paused"
    return None
