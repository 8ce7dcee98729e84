"""State-store queries of the money that reached the creditor after a hand-over: ledger
payments, credit notes and bank payments in ``payments_seen``, on their way to the agency as
corrections (see ``claimbridge.reconcile.payments`` and ``.corrections``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from claimbridge.state._sql import chunked, insert_ignore
from claimbridge.state.engine import read_connection
from claimbridge.state.reconciliation import ClaimRow, money
from claimbridge.state.tables import payments_seen, settlements_seen

__all__ = [
    "PaymentRecord",
    "PaymentRow",
    "insert_payments",
    "outstanding_principal",
    "payments_to_report",
    "promote_matched",
    "records_of_invoices",
    "seen_payment_keys",
    "set_payment_statuses",
]


@dataclass(frozen=True, slots=True)
class PaymentRow:
    source: str
    payment_id: str
    kind: str  # payment | credit_note
    amount: Decimal
    currency: str
    booking_date: dt.date
    reference: str | None
    case_key: str | None
    invoice_number: str | None


@dataclass(slots=True)
class PaymentRecord:
    """A ``payments_seen`` row as twin detection sees it; its status changes as a reconcile
    run decides the rows of a chunk."""

    source: str
    payment_id: str
    kind: str
    invoice_number: str
    amount: Decimal
    booking_date: dt.date
    status: str
    reason: str | None


def seen_payment_keys(conn: Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Keys already in ``payments_seen``, looked up per source so the primary key is used."""
    by_source: dict[str, list[str]] = {}
    for source, payment_id in set(keys):
        by_source.setdefault(source, []).append(payment_id)
    found: set[tuple[str, str]] = set()
    for source, ids in by_source.items():
        for chunk in chunked(sorted(ids)):
            query = select(payments_seen.c.payment_id).where(
                payments_seen.c.source == source, payments_seen.c.payment_id.in_(chunk)
            )
            found.update((source, pid) for pid in conn.execute(query).scalars())
    return found


def insert_payments(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_ignore(conn, payments_seen, rows)


def promote_matched(conn: Connection, keys: Iterable[tuple[str, str]]) -> int:
    """Bank payments just matched to a handed-over claim become ``to_report``."""
    promoted = 0
    by_source: dict[str, list[str]] = {}
    for source, payment_id in set(keys):
        by_source.setdefault(source, []).append(payment_id)
    for source, ids in by_source.items():
        for chunk in chunked(sorted(ids)):
            result = conn.execute(
                update(payments_seen)
                .where(
                    payments_seen.c.source == source,
                    payments_seen.c.payment_id.in_(chunk),
                    payments_seen.c.status == "matched",
                    payments_seen.c.case_key.is_not(None),
                )
                .values(status="to_report")
            )
            promoted += result.rowcount or 0
    return promoted


def payments_to_report(engine: Engine, pipeline: str, limit: int = 500) -> list[PaymentRow]:
    query = (
        select(
            payments_seen.c.source,
            payments_seen.c.payment_id,
            payments_seen.c.kind,
            payments_seen.c.amount,
            payments_seen.c.currency,
            payments_seen.c.booking_date,
            payments_seen.c.reference,
            payments_seen.c.case_key,
            payments_seen.c.invoice_number,
        )
        .where(payments_seen.c.pipeline == pipeline, payments_seen.c.status == "to_report")
        .order_by(payments_seen.c.booking_date, payments_seen.c.source, payments_seen.c.payment_id)
        .limit(limit)
    )
    with read_connection(engine) as conn:
        return [
            PaymentRow(r[0], r[1], r[2], money(r[3]), r[4], r[5], r[6], r[7], r[8])
            for r in conn.execute(query)
        ]


def set_payment_statuses(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Each row: source, payment_id, status, reason."""
    if rows:
        conn.execute(
            update(payments_seen)
            .where(
                payments_seen.c.source == bindparam("b_source"),
                payments_seen.c.payment_id == bindparam("b_id"),
            )
            .values(status=bindparam("b_status"), reason=bindparam("b_reason")),
            [
                {
                    "b_source": r["source"],
                    "b_id": r["payment_id"],
                    "b_status": r["status"],
                    "b_reason": r.get("reason"),
                }
                for r in rows
            ],
        )


def records_of_invoices(
    conn: Connection, pipeline: str, invoice_numbers: Iterable[str]
) -> list[PaymentRecord]:
    """Every payment and credit note recorded on these invoices, except those no claim was
    matched to: what tells one debtor payment recorded twice (bank and ledger) apart."""
    found: list[PaymentRecord] = []
    for chunk in chunked(sorted(set(invoice_numbers))):
        query = select(
            payments_seen.c.source,
            payments_seen.c.payment_id,
            payments_seen.c.kind,
            payments_seen.c.invoice_number,
            payments_seen.c.amount,
            payments_seen.c.booking_date,
            payments_seen.c.status,
            payments_seen.c.reason,
        ).where(
            payments_seen.c.pipeline == pipeline,
            payments_seen.c.invoice_number.in_(chunk),
            payments_seen.c.status != "unmatched",
        )
        found.extend(
            PaymentRecord(r[0], r[1], r[2], r[3], money(r[4]), r[5], r[6], r[7])
            for r in conn.execute(query)
        )
    return found


def outstanding_principal(conn: Connection, pipeline: str, claim: ClaimRow) -> Decimal:
    """What the agency still collects of a claim's principal as far as we know: what was handed
    over, less settled principal and the direct payments and credit notes already reported."""
    settled = conn.execute(
        select(func.coalesce(func.sum(settlements_seen.c.principal), 0)).where(
            settlements_seen.c.pipeline == pipeline,
            settlements_seen.c.invoice_number == claim.invoice_number,
        )
    ).scalar()
    reported = conn.execute(
        select(func.coalesce(func.sum(payments_seen.c.amount), 0)).where(
            payments_seen.c.pipeline == pipeline,
            payments_seen.c.invoice_number == claim.invoice_number,
            payments_seen.c.status == "reported",
        )
    ).scalar()
    return max(Decimal("0.00"), claim.remaining_principal - money(settled) - money(reported))
