"""Rows for the state store's own tables, with plain defaults, for tests that need a store in a
known state (reports, mainly) without running a sync to get there."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import count
from typing import Any

from sqlalchemy import Table

from claimbridge.state import StateStore
from claimbridge.state.tables import (
    cases,
    claims,
    outbox,
    payments_seen,
    quarantine,
    runs,
    settlements_seen,
)

PIPELINE = "main"
AGENCY = "sandbox"
AT = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
_serial = count(1)


def _money(value: str | Decimal) -> Decimal:
    return Decimal(value)


def claim(
    invoice_number: str,
    principal: str,
    *,
    due: dt.date,
    currency: str = "NOK",
    pipeline: str = PIPELINE,
    outcome: str = "wait",
    case_key: str | None = None,
    handed_over_on: dt.date | None = None,
    status: str | None = None,
    invoice_date: dt.date | None = None,
    debtor: str = "debtor-1",
    kid: str | None = None,
) -> dict[str, Any]:
    """A ``claims`` row; with ``case_key`` it is handed over (on ``handed_over_on``)."""
    if case_key is not None and handed_over_on is None:
        raise ValueError("a handed-over claim needs handed_over_on")
    return {
        "pipeline": pipeline,
        "invoice_number": invoice_number,
        "source_system": "files",
        "source_company": "",
        "source_record_id": f"rec-{invoice_number}",
        "debtor_id": debtor,
        "debtor_key": f"key-{debtor}",
        "currency": currency,
        "original_amount": _money(principal),
        "remaining_principal": _money(principal),
        "invoice_date": invoice_date or due - dt.timedelta(days=14),
        "due_date": due,
        "kid": kid,
        "outcome": "send" if case_key else outcome,
        "decision": "{}",
        "decided_on": handed_over_on or due,
        "case_key": case_key,
        "handed_over_on": handed_over_on,
        "status": status or ("handed_over" if case_key else "open"),
        "run_id": "run-1",
        "updated_at": AT,
    }


def case(
    case_key: str,
    claim_rows: Sequence[dict[str, Any]],
    *,
    status: str = "active",
    agency: str = AGENCY,
) -> dict[str, Any]:
    """A ``cases`` row over ``claim_rows`` (which must share pipeline and currency)."""
    first = claim_rows[0]
    return {
        "case_key": case_key,
        "pipeline": first["pipeline"],
        "agency": agency,
        "debtor_key": first["debtor_key"],
        "currency": first["currency"],
        "total_principal": sum((c["remaining_principal"] for c in claim_rows), Decimal(0)),
        "claim_count": len(claim_rows),
        "status": status,
        "agency_ref": f"ref-{case_key}",
        "quality_score": 90,
        "forced": False,
        "created_at": AT,
        "updated_at": AT,
    }


def settlement(
    settlement_id: str,
    *,
    on: dt.date,
    principal: str = "0",
    interest: str = "0",
    fees: str = "0",
    commission: str = "0",
    currency: str | None = "NOK",
    case_key: str | None = None,
    invoice_number: str | None = None,
    status: str = "seen",
    pipeline: str = PIPELINE,
    agency: str = AGENCY,
    **extra: Any,
) -> dict[str, Any]:
    """A ``settlements_seen`` line of a settlement dated ``on``, seen at noon UTC that day.

    Written the way reconciliation writes one: with its settlement's date and currency, and,
    once ``booked``, the ledger ids of the parts it has (the principal's payment, the voucher
    of interest, fees and commission).
    """
    line_id = f"line-{next(_serial)}"
    parts = [_money(x) for x in (interest, fees, commission)]
    booked = status == "booked"
    return {
        "agency": agency,
        "line_id": line_id,
        "settlement_id": settlement_id,
        "pipeline": pipeline,
        "case_key": case_key,
        "invoice_number": invoice_number,
        "principal": _money(principal),
        "interest": parts[0],
        "fees": parts[1],
        "commission": parts[2],
        "status": status,
        "currency": currency,
        "settlement_date": on,
        "agency_ref": None,
        "ledger_ref": f"pay-{line_id}" if booked and _money(principal) else None,
        "voucher_ref": f"{line_id}/voucher" if booked and any(parts) else None,
        "not_booked": None,
        "run_id": "run-1",
        "seen_at": dt.datetime.combine(on, dt.time(12), tzinfo=dt.UTC),
        "booked_at": AT if booked else None,
        **extra,
    }


def payment(
    amount: str,
    *,
    booked: dt.date,
    currency: str = "NOK",
    case_key: str | None = None,
    invoice_number: str | None = None,
    status: str = "to_report",
    kind: str = "payment",
    reason: str | None = None,
    pipeline: str = PIPELINE,
    reference: str | None = None,
) -> dict[str, Any]:
    """A ``payments_seen`` row: a payment, or a credit note (``kind="credit_note"``)."""
    return {
        "source": "bank",
        "payment_id": f"pay-{next(_serial)}",
        "pipeline": pipeline,
        "amount": _money(amount),
        "currency": currency,
        "booking_date": booked,
        "reference": reference,
        "case_key": case_key,
        "invoice_number": invoice_number,
        "status": status,
        "reason": reason,
        "kind": kind,
        "seen_at": AT,
    }


def quarantined(
    stream: str = "invoices", *, pipeline: str = PIPELINE, resolved: bool = False
) -> dict[str, Any]:
    return {
        "pipeline": pipeline,
        "run_id": "run-1",
        "stream": stream,
        "location": f"invoices.csv:{next(_serial)}",
        "record_id": None,
        "reasons": '["due_date: not a date"]',
        "created_at": AT,
        "resolved_at": AT if resolved else None,
    }


def delivery(
    case_key: str,
    status: str,
    *,
    kind: str = "case",
    pipeline: str = PIPELINE,
    agency: str = AGENCY,
) -> dict[str, Any]:
    return {
        "pipeline": pipeline,
        "agency": agency,
        "case_key": case_key,
        "idempotency_key": f"idem-{next(_serial)}",
        "kind": kind,
        "status": status,
        "payload": None,
        "attempts": 1,
        "agency_ref": None,
        "reason": None,
        "run_id": "run-1",
        "created_at": AT,
        "updated_at": AT,
    }


def run(
    kind: str,
    status: str,
    *,
    started: dt.datetime,
    finished: dt.datetime | None = None,
    pipeline: str = PIPELINE,
) -> dict[str, Any]:
    return {
        "run_id": f"run-{next(_serial)}",
        "pipeline": pipeline,
        "kind": kind,
        "status": status,
        "started_at": started,
        "finished_at": finished,
        "stats": "{}",
        "error": None,
    }


def insert(store: StateStore, table: Table, rows: Iterable[dict[str, Any]]) -> None:
    """Insert rows through the table, as the store itself writes them."""
    rows = list(rows)
    if rows:
        with store.begin() as conn:
            conn.execute(table.insert(), rows)


def add(
    store: StateStore,
    *,
    claim_rows: Iterable[dict[str, Any]] = (),
    case_rows: Iterable[dict[str, Any]] = (),
    settlement_rows: Iterable[dict[str, Any]] = (),
    payment_rows: Iterable[dict[str, Any]] = (),
    quarantine_rows: Iterable[dict[str, Any]] = (),
    outbox_rows: Iterable[dict[str, Any]] = (),
    run_rows: Iterable[dict[str, Any]] = (),
) -> None:
    insert(store, claims, claim_rows)
    insert(store, cases, case_rows)
    insert(store, settlements_seen, settlement_rows)
    insert(store, payments_seen, payment_rows)
    insert(store, quarantine, quarantine_rows)
    insert(store, outbox, outbox_rows)
    insert(store, runs, run_rows)
