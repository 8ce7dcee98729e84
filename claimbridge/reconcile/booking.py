"""Booking settlement lines back into the ledger, every part exactly once.

A line's principal is booked by the source as a payment on the invoice
(:meth:`Source.register_payment`, ``payment_id`` = the line id, kind ``settlement``); its
interest, fees and commission as one balanced voucher (:meth:`Source.book_voucher`, external
reference ``<line id>/voucher``) to the accounts of ``[pipelines.<name>.reconcile]``, where the
source can book vouchers.

Crash safety is the outbox's, applied to the ledger: a line is marked ``booking`` (committed)
before the first call; each part's ledger id is committed as soon as the ledger answers; a line
found still ``booking`` by a later run (the process died between the ledger's answer and the
commit, or the answer was lost) is first looked up with :meth:`Source.find_booking`, and only
booked when the ledger has nothing under that reference and booking again is safe:

- vouchers are found by their external reference (every source that books them can);
- a principal payment the ledger cannot find by its id is registered again only where the
  source declares ``idempotent_payments`` (it recognizes the payment itself). Elsewhere (Visma)
  the line's principal goes to a person (``not_booked`` says what to check), never posted
  twice. For such sources each line is marked ``booking`` just before its own call, and a call
  that provably reached nothing (refused, rate limited, not connected) returns the line to
  ``seen``, so only a line the ledger may really hold waits for a person.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

from claimbridge.connectors.base import NotSupportedError, Source, Voucher, VoucherLine
from claimbridge.errors import (
    AuthError,
    ClaimbridgeError,
    ConnectorError,
    NotFoundError,
    OutcomeUnknownError,
    RateLimitedError,
    RemoteError,
    UnreachableError,
)
from claimbridge.reconcile.context import RunContext
from claimbridge.reconcile.settings import ReconcileSettings
from claimbridge.schemas import Claim, Direction, EventKind, Payment, PaymentKind, SourceRef
from claimbridge.state import reconciliation as rq
from claimbridge.state.reconciliation import ClaimRow, LineRow, utcnow

__all__ = ["book_lines", "plan_voucher", "settlement_payment", "voucher_ref"]

log = logging.getLogger("claimbridge.reconcile")

BATCH = 100
_ZERO = Decimal("0.00")


def voucher_ref(line_id: str) -> str:
    return f"{line_id}/voucher"


def settlement_payment(agency: str, line: LineRow) -> Payment:
    """The principal of a line as the payment the ledger books on the invoice."""
    assert line.currency is not None
    assert line.settlement_date is not None
    return Payment(
        payment_id=line.line_id,
        source=SourceRef(system=agency, record_id=line.line_id, record_type="settlement_line"),
        kind=PaymentKind.SETTLEMENT,
        amount=line.principal,
        currency=line.currency,
        booking_date=line.settlement_date,
        reference=line.agency_ref,
        invoice_number=line.invoice_number,
        message=f"settlement {line.settlement_id}"[:140],
    )


def plan_voucher(
    agency: str, line: LineRow, settings: ReconcileSettings, pipeline: str
) -> tuple[Voucher | None, str | None]:
    """The voucher for a line's interest, fees and commission, or why there is none.

    Debit the bank with what the agency paid beyond the principal, credit interest and fee
    income, debit the commission expense: the lines balance and the bank side equals the money.
    """
    interest, fees, commission = line.interest, line.fees, line.commission
    if interest == fees == commission == _ZERO:
        return None, None
    wanted = (
        ("bank_account", settings.bank_account, True),
        ("interest_income_account", settings.interest_income_account, bool(interest)),
        ("fee_income_account", settings.fee_income_account, bool(fees)),
        ("commission_expense_account", settings.commission_expense_account, bool(commission)),
    )
    missing = [name for name, account, needed in wanted if needed and account is None]
    if missing:
        return None, (
            "interest, fees and commission not booked: set "
            f"{', '.join(missing)} under [pipelines.{pipeline}.reconcile]"
        )
    assert settings.bank_account is not None
    assert line.currency
    assert line.settlement_date
    postings: list[VoucherLine] = []
    bank = interest + fees - commission
    what = f"{agency} settlement {line.settlement_id}, invoice {line.invoice_number}"
    if bank:
        postings.append(VoucherLine(settings.bank_account, bank, f"{what}: paid out"))
    if interest:
        assert settings.interest_income_account is not None
        postings.append(VoucherLine(settings.interest_income_account, -interest, "interest"))
    if fees:
        assert settings.fee_income_account is not None
        postings.append(VoucherLine(settings.fee_income_account, -fees, "collection fees"))
    if commission:
        assert settings.commission_expense_account is not None
        postings.append(VoucherLine(settings.commission_expense_account, commission, "commission"))
    voucher = Voucher(
        external_ref=voucher_ref(line.line_id),
        date=line.settlement_date,
        currency=line.currency,
        description=what[:200],
        lines=tuple(postings),
    )
    return voucher, None


def claim_model(row: ClaimRow) -> Claim:
    """The claim as the source gave it, rebuilt from the store (what booking needs of it)."""
    return Claim(
        source=SourceRef(
            system=row.source_system,
            company=row.source_company,
            record_id=row.source_record_id,
            record_type="invoice",
        ),
        debtor_id=row.debtor_id,
        invoice_number=row.invoice_number,
        invoice_date=row.invoice_date,
        due_date=row.due_date,
        currency=row.currency,
        original_amount=row.original_amount,
        remaining_principal=row.remaining_principal,
        kid=row.kid,
    )


def book_lines(ctx: RunContext) -> None:
    """Book every line not booked yet; an unreachable ledger stops the pass (next run goes on),
    a ledger that refuses one line leaves it for the next run with the reason."""
    idempotent = ctx.spec.source.capabilities.idempotent_payments
    after = ("", "")
    while lines := rq.lines_to_book(ctx.store.engine, ctx.pipeline, after=after, limit=BATCH):
        after = (lines[-1].line_id, lines[-1].agency)
        fresh = [line for line in lines if line.status == "seen"]
        with ctx.store.begin() as conn:  # committed before the ledger hears of them
            for line in fresh if idempotent else ():
                rq.set_line(conn, line.agency, line.line_id, status="booking")
            numbers = [line.invoice_number for line in lines if line.invoice_number]
            claims = rq.claims_by_numbers(conn, ctx.pipeline, numbers)
        for line in lines:
            claim = claims.get(line.invoice_number or "")
            if not idempotent and line.status == "seen":
                with ctx.store.begin() as conn:  # this line only: it alone may be interrupted
                    rq.set_line(conn, line.agency, line.line_id, status="booking")
            try:
                _book(ctx, line, claim, retrying=line.status == "booking")
            except (UnreachableError, RateLimitedError):
                raise
            except (ConnectorError, NotFoundError) as exc:  # the ledger refused this line
                ctx.stats.lines_failed += 1
                log.warning("settlement line %s not booked yet: %s", line.line_id, exc)
                with ctx.store.begin() as conn:
                    rq.set_line(conn, line.agency, line.line_id, not_booked=f"the ledger: {exc}")
        ctx.progress("book", len(lines))


def _book(ctx: RunContext, line: LineRow, claim: ClaimRow | None, *, retrying: bool) -> None:
    source = ctx.spec.source
    notes: list[str] = []
    ledger_ref = line.ledger_ref
    if line.principal > 0 and ledger_ref is None:
        if claim is None:
            notes.append("principal not booked: the claim is no longer in the state store")
        else:
            payment = settlement_payment(line.agency, line)
            ledger_ref = _found(source, payment.payment_id) if retrying else None
            if ledger_ref is None and retrying and not source.capabilities.idempotent_payments:
                notes.append(_for_a_person(ctx, line))
            else:
                try:
                    ledger_ref = ledger_ref or _register(ctx, line, payment, claim)
                except NotSupportedError as exc:
                    notes.append(f"principal not booked: {exc}")
            if ledger_ref is not None:
                with ctx.store.begin() as conn:
                    rq.set_line(conn, line.agency, line.line_id, ledger_ref=ledger_ref)
    voucher_id = line.voucher_ref
    voucher, reason = plan_voucher(line.agency, line, ctx.spec.settings, ctx.pipeline)
    if reason:
        notes.append(reason)
    elif voucher is not None and voucher_id is None:
        if not source.capabilities.can_book_vouchers:
            notes.append("interest, fees and commission not booked: the source books no vouchers")
        else:
            voucher_id = _found(source, voucher.external_ref) if retrying else None
            voucher_id = voucher_id or source.book_voucher(voucher)
            with ctx.store.begin() as conn:
                rq.set_line(conn, line.agency, line.line_id, voucher_ref=voucher_id)
    _finish(ctx, line, ledger_ref, voucher_id, notes)


def _register(ctx: RunContext, line: LineRow, payment: Payment, claim: ClaimRow) -> str:
    """The principal as a payment on the invoice. Where the source cannot recognize a payment
    booked before, a call that provably reached nothing leaves the line ``seen`` again."""
    source = ctx.spec.source
    try:
        return source.register_payment(payment, claim_model(claim))
    except ClaimbridgeError as exc:
        if not source.capabilities.idempotent_payments and _reached_nothing(exc):
            with ctx.store.begin() as conn:
                rq.set_line(conn, line.agency, line.line_id, status="seen")
        raise


def _reached_nothing(exc: ClaimbridgeError) -> bool:
    """The ledger cannot hold what this call tried to book: it was never sent (no connection)
    or refused as it arrived (credentials, rate limit, a 4xx other than a conflict). Anything
    else — no answer, a 5xx, an answer we could not read, the source's own doubts — may hide a
    booking."""
    if isinstance(exc, OutcomeUnknownError):
        return False
    if isinstance(exc, RemoteError):
        return exc.status is not None and 400 <= exc.status < 500 and exc.status != 409
    return isinstance(exc, AuthError | RateLimitedError | UnreachableError)


def _for_a_person(ctx: RunContext, line: LineRow) -> str:
    """Why an interrupted principal is not booked again, and what a person checks."""
    ctx.stats.lines_manual += 1
    name = ctx.spec.source.context.name or ctx.spec.source.type_name
    return (
        f"principal not booked: an earlier run was interrupted while booking it, and {name} "
        "can neither find a payment by its id nor take the same payment twice safely; check "
        f"invoice {line.invoice_number} in the ledger and book {line.principal} "
        f"{line.currency} dated {line.settlement_date} by hand if it is not there"
    )


def _found(source: Source, external_ref: str) -> str | None:
    """What the ledger already holds under ``external_ref`` (None where it cannot tell)."""
    try:
        return source.find_booking(external_ref)
    except NotSupportedError:
        return None  # register_payment is idempotent on the payment id by contract


def _finish(
    ctx: RunContext,
    line: LineRow,
    ledger_ref: str | None,
    voucher_id: str | None,
    notes: Sequence[str],
) -> None:
    booked_any = ledger_ref is not None or voucher_id is not None
    status = "booked" if not notes else "partly_booked" if booked_any else "not_booked"
    currency = line.currency or ""
    with ctx.store.begin() as conn:
        rq.set_line(
            conn,
            line.agency,
            line.line_id,
            status=status,
            booked_at=utcnow(),
            not_booked="; ".join(notes) or None,
        )
        if line.case_key:
            ctx.store.add_events(
                conn,
                [
                    {
                        "event_id": f"{line.agency}:line:{line.line_id}:booked"[:200],
                        "case_key": line.case_key,
                        "at": ctx.now(),
                        "kind": EventKind.SETTLEMENT.value,
                        "direction": Direction.INTERNAL.value,
                        "status": None,
                        "agency_ref": line.agency_ref,
                        "message": _words(line, ledger_ref, voucher_id, notes),
                    }
                ],
            )
        ctx.store.audit(
            conn,
            pipeline=ctx.pipeline,
            run_id=ctx.run_id,
            action="settlement.booked",
            subject=line.line_id,
            detail={"status": status, "payment": ledger_ref, "voucher": voucher_id},
        )
    stats = ctx.stats
    if status == "booked":
        stats.lines_booked += 1
    elif status == "partly_booked":
        stats.lines_booked += 1
        stats.lines_partly_booked += 1
    if ledger_ref is not None and line.ledger_ref is None:
        stats.add_booked(currency, "principal", line.principal)
    if voucher_id is not None and line.voucher_ref is None:
        for part in ("interest", "fees", "commission"):
            stats.add_booked(currency, part, getattr(line, part))


def _words(
    line: LineRow, ledger_ref: str | None, voucher_id: str | None, notes: Sequence[str]
) -> str:
    parts = []
    if ledger_ref is not None:
        parts.append(f"principal {line.principal} {line.currency} booked as payment {ledger_ref}")
    if voucher_id is not None:
        parts.append(
            f"interest {line.interest}, fees {line.fees}, commission {line.commission} "
            f"booked as voucher {voucher_id}"
        )
    parts.extend(notes)
    return f"settlement line {line.line_id}: " + "; ".join(parts or ["nothing to book"])
