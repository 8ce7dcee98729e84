"""Money that reached the creditor after a hand-over, into ``payments_seen``: the source's
``payments`` and ``credit_notes`` streams (own cursors) and the pipeline's bank payment feeds
(matched to claims by :mod:`claimbridge.matching`).

A payment is tied to its claim by the invoice the ledger allocated it to, else by a KID naming
exactly one claim; a bank payment through matching. Only money on handed-over claims concerns
the agency: it is recorded as ``to_report`` (deduplicated on source and id) for
:mod:`claimbridge.reconcile.corrections` to turn into corrections. The agency's own pay-outs
are recorded as ``ignored`` (``agency_settlement``) and never reported: recognized by
``Payment.kind``, the configured payer accounts and reference prefixes, a reference that is
what the debtor pays the agency with (``claims.agency_payment_ref``: Amili Sweden's OCR), or an
id / reference equal to a ledger id that reconciliation booked for a settlement line, or to the
line id.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import Connection

from claimbridge.connectors.base import RawRecord, StreamSpec
from claimbridge.errors import RecordError
from claimbridge.matching import match_payments, reference_keys, source_key
from claimbridge.reconcile.context import RunContext
from claimbridge.schemas import CreditNote, Payment, PaymentKind
from claimbridge.state import payments as pq
from claimbridge.state import reconciliation as rq
from claimbridge.state.reconciliation import ClaimRow, utcnow

__all__ = ["CREDIT_NOTE_PREFIX", "feed_stream", "ledger_stream", "read_feeds", "read_ledger"]

FEED_CHUNK = 1000
CREDIT_NOTE_PREFIX = "credit-note:"
_M = TypeVar("_M", Payment, CreditNote)


def ledger_stream(name: str) -> str:
    return f"reconcile:{name}"


def read_ledger(ctx: RunContext) -> None:
    """The source's payments and credit notes since reconciliation's own cursors."""
    settings = ctx.spec.settings
    wanted = {
        "payments": settings.report_direct_payments,
        "credit_notes": settings.report_credit_notes,
    }
    source = ctx.spec.source
    for stream in source.streams():
        if not wanted.get(stream.name):
            continue
        cursor_name = ledger_stream(stream.name)
        cursor = ctx.store.get_cursor(ctx.pipeline, cursor_name)
        for page in source.read(stream, cursor):
            payments, notes, rejected = _normalize(ctx, stream, page.records)
            with ctx.store.begin() as conn:
                _ingest_payments(ctx, conn, payments)
                _ingest_credit_notes(ctx, conn, notes)
                if rejected:
                    ctx.store.quarantine(
                        conn,
                        [{"pipeline": ctx.pipeline, "run_id": ctx.run_id, **r} for r in rejected],
                    )
                if page.cursor is not None:
                    ctx.store.set_cursor(conn, ctx.pipeline, cursor_name, page.cursor)
            ctx.stats.quarantined += len(rejected)
            ctx.progress(stream.name, len(page.records))


def _normalize(
    ctx: RunContext, stream: StreamSpec, records: Sequence[RawRecord]
) -> tuple[list[Payment], list[CreditNote], list[dict[str, Any]]]:
    payments: list[Payment] = []
    notes: list[CreditNote] = []
    rejected: list[dict[str, Any]] = []
    for record in records:
        try:
            models = ctx.spec.source.normalize(stream, record)
        except RecordError as exc:
            rejected.append(_quarantine(stream, record, exc.reasons, exc.record_id))
            continue
        except ValidationError as exc:
            reasons = [
                f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            ]
            rejected.append(_quarantine(stream, record, reasons, ""))
            continue
        for model in models:
            if isinstance(model, Payment):
                payments.append(model)
            elif isinstance(model, CreditNote):
                notes.append(model)
    if stream.name == "payments":
        ctx.stats.ledger_payments_read += len(payments)
    else:
        ctx.stats.credit_notes_read += len(notes)
    return payments, notes, rejected


def _quarantine(
    stream: StreamSpec, record: RawRecord, reasons: list[str], record_id: str
) -> dict[str, Any]:
    raw_id = record.data.get(stream.primary_key) if record.data else None
    return {
        "stream": stream.name,
        "location": record.location,
        "record_id": record_id or (str(raw_id) if raw_id not in (None, "") else None),
        "reasons": reasons,
    }


def _ingest_payments(ctx: RunContext, conn: Connection, payments: Sequence[Payment]) -> None:
    """Ledger payments on handed-over claims become ``to_report``; the agency's are ignored."""
    fresh = _fresh(conn, [(source_key(p), p.payment_id, p) for p in payments])
    if not fresh:
        return
    echoes = _agency_payments(ctx, conn, fresh)
    claims = _claims_of(ctx, conn, fresh)
    rows = []
    for payment in fresh:
        claim = claims.get(payment.payment_id)
        if payment.payment_id in echoes:
            ctx.stats.agency_payments_ignored += 1
            rows.append(_row(ctx, payment, claim, "ignored", "agency_settlement"))
        elif claim is None or claim.case_key is None:
            continue  # not a claim the agency holds: the ledger's own business
        elif payment.amount <= 0:
            rows.append(_row(ctx, payment, claim, "ignored", "not_a_credit"))
        else:
            rows.append(_row(ctx, payment, claim, "to_report", None))
    pq.insert_payments(conn, rows)


def _ingest_credit_notes(ctx: RunContext, conn: Connection, notes: Sequence[CreditNote]) -> None:
    keyed = [(_note_source(n), CREDIT_NOTE_PREFIX + n.credit_note_number, n) for n in notes]
    fresh = _fresh(conn, keyed)
    if not fresh:
        return
    numbers = [n.invoice_number for n in fresh if n.invoice_number]
    claims = rq.claims_by_numbers(conn, ctx.pipeline, numbers)
    rows = []
    for note in fresh:
        claim = claims.get(note.invoice_number or "")
        if claim is None or claim.case_key is None:
            continue
        rows.append(
            {
                "source": _note_source(note),
                "payment_id": CREDIT_NOTE_PREFIX + note.credit_note_number,
                "pipeline": ctx.pipeline,
                "amount": note.amount,
                "currency": note.currency,
                "booking_date": note.issue_date,
                "reference": None,
                "case_key": claim.case_key,
                "invoice_number": claim.invoice_number,
                "status": "to_report",
                "reason": None,
                "kind": "credit_note",
                "seen_at": utcnow(),
            }
        )
    pq.insert_payments(conn, rows)


def _note_source(note: CreditNote) -> str:
    ref = note.source
    return f"{ref.system}:{ref.company}" if ref.company else ref.system


def _fresh(conn: Connection, keyed: Sequence[tuple[str, str, _M]]) -> list[_M]:
    seen = pq.seen_payment_keys(conn, [(s, i) for s, i, _ in keyed])
    fresh: dict[tuple[str, str], _M] = {}
    for source, ident, model in keyed:
        if (source, ident) not in seen:
            fresh.setdefault((source, ident), model)
    return list(fresh.values())


def _agency_payments(ctx: RunContext, conn: Connection, payments: Sequence[Payment]) -> set[str]:
    """Ids of payments that are the agency's own pay-outs (never echoed back)."""
    settings = ctx.spec.settings
    accounts = settings.normalized_payer_accounts
    prefixes = settings.reference_prefixes
    handles = {p.payment_id for p in payments} | {p.reference for p in payments if p.reference}
    booked = rq.booked_ledger_refs(conn, handles) | rq.known_line_ids(conn, ctx.agency, handles)
    compact = {p.payment_id: "".join((p.reference or "").split()) for p in payments}
    # what a debtor pays the agency with (Amili Sweden's OCR numbers): the agency's money
    paid_to_agency = set(
        rq.claims_by_payment_refs(conn, ctx.pipeline, set(compact.values()) - {""})
    )
    found = set()
    for p in payments:
        reference = (p.reference or "").strip()
        if (
            p.kind is PaymentKind.SETTLEMENT
            or (p.payer_account and "".join(p.payer_account.split()) in accounts)
            or (reference and any(reference.upper().startswith(x) for x in prefixes))
            or p.payment_id in booked
            or (reference and reference in booked)
            or (compact[p.payment_id] and compact[p.payment_id] in paid_to_agency)
        ):
            found.add(p.payment_id)
    return found


def _claims_of(
    ctx: RunContext, conn: Connection, payments: Sequence[Payment]
) -> dict[str, ClaimRow]:
    """Payment id → its claim: the invoice the ledger allocated it to, else a KID naming one."""
    by_number = rq.claims_by_numbers(
        conn, ctx.pipeline, [p.invoice_number for p in payments if p.invoice_number]
    )
    kids = {p.payment_id: reference_keys(p.reference) for p in payments if not p.invoice_number}
    by_kid = rq.claims_by_kids(conn, ctx.pipeline, {k for ks in kids.values() for k in ks})
    found: dict[str, ClaimRow] = {}
    for p in payments:
        if p.invoice_number:
            claim = by_number.get(p.invoice_number)
            if claim is not None:
                found[p.payment_id] = claim
            continue
        candidates = [c for k in kids.get(p.payment_id, ()) for c in by_kid.get(k, ())]
        if len(candidates) == 1:
            found[p.payment_id] = candidates[0]
    return found


def _row(
    ctx: RunContext, payment: Payment, claim: ClaimRow | None, status: str, reason: str | None
) -> dict[str, Any]:
    return {
        "source": source_key(payment),
        "payment_id": payment.payment_id,
        "pipeline": ctx.pipeline,
        "amount": payment.amount,
        "currency": payment.currency,
        "booking_date": payment.booking_date,
        "reference": payment.reference[:140] if payment.reference else None,
        "case_key": claim.case_key if claim else None,
        "invoice_number": claim.invoice_number if claim else payment.invoice_number,
        "status": status,
        "reason": reason,
        "kind": "payment",
        "seen_at": utcnow(),
    }


def feed_stream(name: str) -> str:
    return f"reconcile:feed:{name}"


def read_feeds(ctx: RunContext) -> None:
    """Bank payments: matched to claims, the ones on handed-over claims to be reported."""
    settings = ctx.spec.settings
    for name, feed in ctx.spec.payment_feeds:
        cursor_name = feed_stream(name)
        stream = feed.payments(ctx.store.get_cursor(ctx.pipeline, cursor_name))
        while chunk := list(islice(stream, FEED_CHUNK)):
            payments = [payment for payment, _ in chunk]
            cursor = next((c for _, c in reversed(chunk) if c is not None), None)
            report = match_payments(
                ctx.store,
                ctx.pipeline,
                payments,
                agency_accounts=settings.agency_payer_accounts,
                agency_reference_prefixes=settings.agency_references,
            )
            with ctx.store.begin() as conn:
                pq.promote_matched(conn, [(source_key(p), p.payment_id) for p in payments])
                if cursor is not None:
                    ctx.store.set_cursor(conn, ctx.pipeline, cursor_name, cursor)
            ctx.stats.bank_payments_read += len(payments)
            ctx.stats.agency_payments_ignored += sum(report.ignored.values())
            ctx.progress(f"feed {name}", len(payments))
