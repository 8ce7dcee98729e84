"""State-store queries of reconciliation: cases and claims, agency updates, settlement lines
and their booking, and the totals reports need (payments and credit notes: ``payments.py``).

Functions take a connection so the caller decides the transaction: an update, the rows it
changes and the cursor after it are committed together. IN lists are chunked (SQLite limits
bound parameters per statement).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select, update

from claimbridge.state._sql import chunked, insert_ignore
from claimbridge.state.engine import read_connection
from claimbridge.state.tables import (
    cases,
    claims,
    outbox,
    settlements_seen,
    updates_seen,
)

__all__ = [
    "CaseRow",
    "ClaimRow",
    "LineRow",
    "Totals",
    "booked_ledger_refs",
    "booked_totals",
    "case_keys_by_delivery",
    "case_status_counts",
    "cases_by_agency_refs",
    "cases_by_keys",
    "claims_by_kids",
    "claims_by_numbers",
    "claims_by_payment_refs",
    "claims_of_case",
    "correction_deliveries",
    "insert_lines",
    "known_line_ids",
    "lines_to_book",
    "record_updates",
    "seen_update_ids",
    "sent_cases",
    "set_case_lifecycle",
    "set_claim_statuses",
    "set_line",
    "set_payment_refs",
    "status_reports",
]

CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    return Decimal(value if value is not None else 0).quantize(CENT)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- cases and claims -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseRow:
    case_key: str
    pipeline: str
    agency: str
    status: str
    delivery_status: str | None
    agency_ref: str | None
    currency: str


_CASE_COLUMNS = (
    cases.c.case_key,
    cases.c.pipeline,
    cases.c.agency,
    cases.c.status,
    cases.c.delivery_status,
    cases.c.agency_ref,
    cases.c.currency,
)


def cases_by_keys(conn: Connection, pipeline: str, keys: Iterable[str]) -> dict[str, CaseRow]:
    found: dict[str, CaseRow] = {}
    for chunk in chunked(sorted(set(keys))):
        query = select(*_CASE_COLUMNS).where(
            cases.c.pipeline == pipeline, cases.c.case_key.in_(chunk)
        )
        found.update((row[0], CaseRow(*row)) for row in conn.execute(query))
    return found


def cases_by_agency_refs(
    conn: Connection, pipeline: str, agency: str, refs: Iterable[str]
) -> dict[str, CaseRow]:
    found: dict[str, CaseRow] = {}
    for chunk in chunked(sorted(set(refs))):
        query = select(*_CASE_COLUMNS).where(
            cases.c.agency == agency, cases.c.agency_ref.in_(chunk), cases.c.pipeline == pipeline
        )
        found.update((row[5], CaseRow(*row)) for row in conn.execute(query))
    return found


def case_keys_by_delivery(conn: Connection, idempotency_keys: Iterable[str]) -> dict[str, str]:
    """Idempotency key → case key, for receipts of case deliveries."""
    found: dict[str, str] = {}
    for chunk in chunked(sorted(set(idempotency_keys))):
        query = select(outbox.c.idempotency_key, outbox.c.case_key).where(
            outbox.c.idempotency_key.in_(chunk), outbox.c.kind == "case"
        )
        found.update((row[0], row[1]) for row in conn.execute(query))
    return found


def correction_deliveries(
    conn: Connection, idempotency_keys: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """Idempotency key → (case key, kind) of corrections, for receipts of corrections."""
    found: dict[str, tuple[str, str]] = {}
    for chunk in chunked(sorted(set(idempotency_keys))):
        query = select(outbox.c.idempotency_key, outbox.c.case_key, outbox.c.kind).where(
            outbox.c.idempotency_key.in_(chunk), outbox.c.kind != "case"
        )
        found.update((row[0], (row[1], row[2])) for row in conn.execute(query))
    return found


def sent_cases(engine: Engine, pipeline: str, agency: str) -> list[tuple[str, str, str | None]]:
    """(case key, idempotency key, agency ref) of delivered cases still waiting for a receipt."""
    query = (
        select(cases.c.case_key, outbox.c.idempotency_key, cases.c.agency_ref)
        .select_from(cases.join(outbox, outbox.c.case_key == cases.c.case_key))
        .where(
            cases.c.pipeline == pipeline,
            cases.c.status == "sent",
            outbox.c.kind == "case",
            outbox.c.agency == agency,
        )
        .order_by(cases.c.case_key)
    )
    with read_connection(engine) as conn:
        return [(row[0], row[1], row[2]) for row in conn.execute(query)]


def set_case_lifecycle(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Each row: case_key, status, delivery_status, agency_ref (None keeps the stored one)."""
    if rows:
        conn.execute(
            update(cases)
            .where(cases.c.case_key == bindparam("b_key"))
            .values(
                status=bindparam("b_status"),
                delivery_status=bindparam("b_delivery"),
                agency_ref=func.coalesce(bindparam("b_ref"), cases.c.agency_ref),
                updated_at=utcnow(),
            ),
            [
                {
                    "b_key": r["case_key"],
                    "b_status": r["status"],
                    "b_delivery": r["delivery_status"],
                    "b_ref": r.get("agency_ref"),
                }
                for r in rows
            ],
        )


def set_claim_statuses(conn: Connection, pipeline: str, by_case: Mapping[str, str]) -> None:
    """The claims of each case take the case's (terminal) status: paid, closed, withdrawn…"""
    if by_case:
        conn.execute(
            update(claims)
            .where(claims.c.pipeline == pipeline, claims.c.case_key == bindparam("b_case"))
            .values(status=bindparam("b_status"), updated_at=utcnow()),
            [{"b_case": case, "b_status": status} for case, status in by_case.items()],
        )


def set_payment_refs(conn: Connection, pipeline: str, refs: Sequence[tuple[str, str]]) -> None:
    """(invoice number, reference the debtor now pays the agency with), from push outcomes."""
    if refs:
        conn.execute(
            update(claims)
            .where(claims.c.pipeline == pipeline, claims.c.invoice_number == bindparam("b_number"))
            .values(agency_payment_ref=bindparam("b_ref")),
            [{"b_number": number, "b_ref": ref[:60]} for number, ref in refs],
        )


@dataclass(frozen=True, slots=True)
class ClaimRow:
    invoice_number: str
    case_key: str | None
    currency: str
    original_amount: Decimal
    remaining_principal: Decimal
    handed_over_on: dt.date | None
    status: str
    source_system: str
    source_company: str
    source_record_id: str
    debtor_id: str
    invoice_date: dt.date
    due_date: dt.date
    kid: str | None


_CLAIM_COLUMNS = (
    claims.c.invoice_number,
    claims.c.case_key,
    claims.c.currency,
    claims.c.original_amount,
    claims.c.remaining_principal,
    claims.c.handed_over_on,
    claims.c.status,
    claims.c.source_system,
    claims.c.source_company,
    claims.c.source_record_id,
    claims.c.debtor_id,
    claims.c.invoice_date,
    claims.c.due_date,
    claims.c.kid,
)


def _claim(row: Sequence[Any]) -> ClaimRow:
    values = list(row)
    values[3], values[4] = money(values[3]), money(values[4])
    return ClaimRow(*values)


def _claims_where(
    conn: Connection, pipeline: str, column: Any, values: Iterable[str]
) -> Iterator[tuple[str, ClaimRow]]:
    for chunk in chunked(sorted(set(values))):
        query = select(column, *_CLAIM_COLUMNS).where(
            claims.c.pipeline == pipeline, column.in_(chunk)
        )
        for row in conn.execute(query):
            yield row[0], _claim(row[1:])


def claims_by_numbers(
    conn: Connection, pipeline: str, numbers: Iterable[str]
) -> dict[str, ClaimRow]:
    return dict(_claims_where(conn, pipeline, claims.c.invoice_number, numbers))


def claims_of_case(conn: Connection, pipeline: str, case_key: str) -> list[ClaimRow]:
    query = (
        select(*_CLAIM_COLUMNS)
        .where(claims.c.pipeline == pipeline, claims.c.case_key == case_key)
        .order_by(claims.c.invoice_number)
    )
    return [_claim(row) for row in conn.execute(query)]


def claims_by_payment_refs(
    conn: Connection, pipeline: str, refs: Iterable[str]
) -> dict[str, ClaimRow]:
    return dict(_claims_where(conn, pipeline, claims.c.agency_payment_ref, refs))


def claims_by_kids(
    conn: Connection, pipeline: str, kids: Iterable[str]
) -> dict[str, list[ClaimRow]]:
    found: dict[str, list[ClaimRow]] = {}
    for kid, claim in _claims_where(conn, pipeline, claims.c.kid, kids):
        found.setdefault(kid, []).append(claim)
    return found


# --- agency updates ---------------------------------------------------------------------------


def seen_update_ids(conn: Connection, pipeline: str, agency: str, ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunked(sorted(set(ids))):
        query = select(updates_seen.c.update_id).where(
            updates_seen.c.pipeline == pipeline,
            updates_seen.c.agency == agency,
            updates_seen.c.update_id.in_(chunk),
        )
        found.update(conn.execute(query).scalars())
    return found


def record_updates(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_ignore(conn, updates_seen, rows)


def status_reports(
    conn: Connection, pipeline: str, case_keys: Iterable[str]
) -> dict[str, list[tuple[str, str, dt.datetime | None]]]:
    """Case key → every (update id, status, agency time) the agency reported about it."""
    found: dict[str, list[tuple[str, str, dt.datetime | None]]] = {}
    for chunk in chunked(sorted(set(case_keys))):
        query = select(
            updates_seen.c.case_key,
            updates_seen.c.update_id,
            updates_seen.c.status,
            updates_seen.c.at,
        ).where(
            updates_seen.c.pipeline == pipeline,
            updates_seen.c.case_key.in_(chunk),
            updates_seen.c.status.is_not(None),
        )
        for row in conn.execute(query):
            found.setdefault(row[0], []).append((row[1], row[2], row[3]))
    return found


# --- settlement lines -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineRow:
    agency: str
    line_id: str
    settlement_id: str
    case_key: str | None
    invoice_number: str | None
    principal: Decimal
    interest: Decimal
    fees: Decimal
    commission: Decimal
    status: str
    ledger_ref: str | None
    voucher_ref: str | None
    currency: str | None
    settlement_date: dt.date | None
    agency_ref: str | None
    not_booked: str | None


_LINE_COLUMNS = (
    settlements_seen.c.agency,
    settlements_seen.c.line_id,
    settlements_seen.c.settlement_id,
    settlements_seen.c.case_key,
    settlements_seen.c.invoice_number,
    settlements_seen.c.principal,
    settlements_seen.c.interest,
    settlements_seen.c.fees,
    settlements_seen.c.commission,
    settlements_seen.c.status,
    settlements_seen.c.ledger_ref,
    settlements_seen.c.voucher_ref,
    settlements_seen.c.currency,
    settlements_seen.c.settlement_date,
    settlements_seen.c.agency_ref,
    settlements_seen.c.not_booked,
)


def _line(row: Sequence[Any]) -> LineRow:
    values = list(row)
    for index in (5, 6, 7, 8):
        values[index] = money(values[index])
    return LineRow(*values)


def known_line_ids(conn: Connection, agency: str, ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunked(sorted(set(ids))):
        query = select(settlements_seen.c.line_id).where(
            settlements_seen.c.agency == agency, settlements_seen.c.line_id.in_(chunk)
        )
        found.update(conn.execute(query).scalars())
    return found


def insert_lines(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_ignore(conn, settlements_seen, rows)


def lines_to_book(
    engine: Engine, pipeline: str, *, after: tuple[str, str] = ("", ""), limit: int = 200
) -> list[LineRow]:
    """Lines not yet booked (``seen``, or ``booking`` left by an earlier run), in (line id,
    agency) order after ``after``, so one pass visits each once."""
    line_id, agency = after
    query = (
        select(*_LINE_COLUMNS)
        .where(
            settlements_seen.c.pipeline == pipeline,
            settlements_seen.c.status.in_(["seen", "booking"]),
            or_(
                settlements_seen.c.line_id > line_id,
                and_(settlements_seen.c.line_id == line_id, settlements_seen.c.agency > agency),
            ),
        )
        .order_by(settlements_seen.c.line_id, settlements_seen.c.agency)
        .limit(limit)
    )
    with read_connection(engine) as conn:
        return [_line(row) for row in conn.execute(query)]


def set_line(conn: Connection, agency: str, line_id: str, **values: Any) -> None:
    conn.execute(
        update(settlements_seen)
        .where(settlements_seen.c.agency == agency, settlements_seen.c.line_id == line_id)
        .values(**values)
    )


def booked_ledger_refs(conn: Connection, refs: Iterable[str]) -> set[str]:
    """Which of ``refs`` are the ledger ids of settlement principal booked by reconciliation."""
    found: set[str] = set()
    for chunk in chunked(sorted({r for r in refs if r})):
        query = select(settlements_seen.c.ledger_ref).where(
            settlements_seen.c.ledger_ref.in_(chunk)
        )
        found.update(conn.execute(query).scalars())
    return found


# --- totals (reports) -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Totals:
    """Booked amounts of one currency: what the ledger was told by reconciliation."""

    lines: int
    principal: Decimal
    interest: Decimal
    fees: Decimal
    commission: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "principal": str(self.principal),
            "interest": str(self.interest),
            "fees": str(self.fees),
            "commission": str(self.commission),
        }


def booked_totals(engine: Engine, pipeline: str) -> dict[str, Totals]:
    """Per currency, what the ledger holds from reconciliation: principal booked as payments;
    interest, fees and commission booked in vouchers. Parts not booked are not counted."""
    c = settlements_seen.c
    in_voucher = c.voucher_ref.is_not(None)
    query = (
        select(
            c.currency,
            func.count(),
            func.sum(c.principal).filter(c.ledger_ref.is_not(None)),
            func.sum(c.interest).filter(in_voucher),
            func.sum(c.fees).filter(in_voucher),
            func.sum(c.commission).filter(in_voucher),
        )
        .where(c.pipeline == pipeline, or_(c.ledger_ref.is_not(None), in_voucher))
        .group_by(c.currency)
    )
    with read_connection(engine) as conn:
        return {row[0]: Totals(row[1], *(money(v) for v in row[2:])) for row in conn.execute(query)}


def case_status_counts(engine: Engine, pipeline: str) -> dict[str, int]:
    query = (
        select(cases.c.status, func.count())
        .where(cases.c.pipeline == pipeline)
        .group_by(cases.c.status)
    )
    with read_connection(engine) as conn:
        return {row[0]: row[1] for row in conn.execute(query)}
