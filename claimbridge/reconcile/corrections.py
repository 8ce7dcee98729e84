"""Direct payments and credit notes on handed-over claims, told to the agency exactly once.

:mod:`claimbridge.reconcile.payments` records what reached the creditor after a hand-over as
``to_report``; here each becomes a correction in the outbox: a payment is reported with its real
booking date; a credit note reduces the claim, or withdraws it when it covers all the agency
still collects of it. The same debtor payment seen both in the bank file and in the ledger is
one payment, told once (:mod:`claimbridge.reconcile.twins`).

Corrections travel through the outbox exactly like cases (:func:`claimbridge.delivery.
deliver_channel`): the idempotency key is stored before the first send, and an outcome left
unknown (a lost answer, a crash mid-call) is resolved by ``Agency.lookup``. When lookup does
not find the correction, it is sent again only if its kind is one the agency may be sent twice
(:func:`resendable`: it finds every correction of that kind it took, or processes a repeat
once); otherwise it stays ``unknown`` and the case's log asks a person to check with the
agency. Never a blind resend.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, select

from claimbridge.connectors.banks.feed import FORMATS as BANK_FORMATS
from claimbridge.connectors.base import (
    Agency,
    AgencyCapabilities,
    Correction,
    CorrectionKind,
    PushOutcome,
    PushStatus,
)
from claimbridge.delivery import deliver_channel, without_personal_data
from claimbridge.errors import (
    AuthError,
    ClaimbridgeError,
    RateLimitedError,
    UnreachableError,
)
from claimbridge.grouping import idempotency_key
from claimbridge.reconcile.context import ReconcileStats, RunContext
from claimbridge.reconcile.payments import CREDIT_NOTE_PREFIX
from claimbridge.reconcile.twins import TWIN_REASON, TWIN_WINDOW_DAYS, Twins
from claimbridge.schemas import (
    CaseStatus,
    CreditNote,
    Direction,
    EventKind,
    Payment,
    PaymentKind,
    SourceRef,
)
from claimbridge.state import OutboxItem, StateStore
from claimbridge.state import payments as pq
from claimbridge.state import reconciliation as rq
from claimbridge.state.payments import PaymentRow
from claimbridge.state.reconciliation import CaseRow, ClaimRow
from claimbridge.state.tables import outbox

__all__ = [
    "CORRECTION_KINDS",
    "REASONS",
    "TWIN_WINDOW_DAYS",
    "ChannelRun",
    "CorrectionChannel",
    "correction_from_json",
    "correction_json",
    "deliver_corrections",
    "describe",
    "report_corrections",
    "resendable",
]

log = logging.getLogger("claimbridge.reconcile")

CORRECTION_KINDS: tuple[str, ...] = tuple(k.value for k in CorrectionKind)
REPORT_CHUNK = 200
_CLOSED = frozenset({"closed", "withdrawn", "returned", "rejected"})

REASONS: dict[str, str] = {
    "agency_settlement": "the agency's own settlement payment: never reported back",
    "before_hand_over": "booked before the claim was handed over (the agency got the rest)",
    "case_closed": "the case is closed at the agency",
    TWIN_REASON: "the same payment as one the bank feed (or the ledger) recorded: told once",
    "reporting_off": "reporting is turned off in [pipelines.<name>.reconcile]",
    "agency_cannot_report": "the agency takes no such correction through claimbridge",
    "not_a_credit": "the amount is zero or negative (a reversal)",
    "no_case": "the claim or its case is no longer in the state store",
}
"""Why ``payments_seen`` rows were left unreported (listed in docs/reconciliation.md)."""

_EVENT_KIND = {
    CorrectionKind.PAYMENT: EventKind.PAYMENT_REPORTED,
    CorrectionKind.REDUCE: EventKind.CORRECTION,
    CorrectionKind.WITHDRAW: EventKind.WITHDRAWAL,
    CorrectionKind.PAUSE: EventKind.CORRECTION,
    CorrectionKind.RESUME: EventKind.CORRECTION,
}


# --- the outbox payload -----------------------------------------------------------------------


def correction_json(correction: Correction) -> str:
    return json.dumps(
        {
            "idempotency_key": correction.idempotency_key,
            "kind": correction.kind.value,
            "case_key": correction.case_key,
            "agency_ref": correction.agency_ref,
            "invoice_number": correction.invoice_number,
            "payment": correction.payment.model_dump(mode="json") if correction.payment else None,
            "credit_note": (
                correction.credit_note.model_dump(mode="json") if correction.credit_note else None
            ),
            "reason": correction.reason,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def correction_from_json(text: str) -> Correction:
    data = json.loads(text)
    return Correction(
        idempotency_key=data["idempotency_key"],
        kind=CorrectionKind(data["kind"]),
        case_key=data["case_key"],
        agency_ref=data["agency_ref"],
        invoice_number=data.get("invoice_number"),
        payment=Payment.model_validate(data["payment"]) if data.get("payment") else None,
        credit_note=(
            CreditNote.model_validate(data["credit_note"]) if data.get("credit_note") else None
        ),
        reason=data.get("reason"),
    )


def describe(correction: Correction) -> str:
    """Plain words for the communication log (amounts, dates and invoice numbers only)."""
    invoice = f" on invoice {correction.invoice_number}" if correction.invoice_number else ""
    if correction.payment is not None:
        p = correction.payment
        return f"direct payment of {p.amount} {p.currency} booked {p.booking_date}{invoice}"
    if correction.credit_note is not None:
        c = correction.credit_note
        verb = "withdrawal" if correction.kind is CorrectionKind.WITHDRAW else "reduction"
        return f"{verb} by credit note {c.credit_note_number} of {c.amount} {c.currency}{invoice}"
    return f"{correction.kind.value}{invoice}" + (
        f" ({correction.reason})" if correction.reason else ""
    )


# --- delivering ---------------------------------------------------------------------------------


def resendable(agency: Agency) -> frozenset[CorrectionKind]:
    """Correction kinds that may be sent again when ``lookup`` does not find them (see
    ``Agency.resendable_corrections``): every kind where the agency honours our keys."""
    if agency.capabilities.idempotency_keys:
        return frozenset(CorrectionKind)
    return agency.resendable_corrections


class ChannelRun(Protocol):
    """What :class:`CorrectionChannel` needs of the run it records for: a reconcile run's
    :class:`RunContext`, or a person recording an outcome by hand."""

    @property
    def pipeline(self) -> str: ...
    @property
    def store(self) -> StateStore: ...
    @property
    def run_id(self) -> str: ...
    @property
    def stats(self) -> ReconcileStats: ...
    @property
    def unknown_counted(self) -> set[str]: ...
    def now(self) -> dt.datetime: ...


class CorrectionChannel:
    """Corrections through :func:`deliver_channel`: sent with ``Agency.correct``; outcomes go
    into the case's communication log and the audit trail."""

    kinds: tuple[str, ...] = CORRECTION_KINDS
    reads_payloads = False  # corrections are small: the batch arrives with them

    def __init__(self, ctx: ChannelRun):
        self.pipeline = ctx.pipeline
        self.store = ctx.store
        self.run_id = ctx.run_id
        self.stats = ctx.stats
        self.now = ctx.now
        self._unknown_counted = ctx.unknown_counted  # a run resolves twice (first, last step)
        self._for_a_person: dict[str, str] = {}  # key → what a person must check

    def send(self, agency: Agency, items: Sequence[OutboxItem]) -> list[PushOutcome]:
        corrections: list[Correction] = []
        refused: list[PushOutcome] = []
        for item in items:
            if item.payload is None:  # pragma: no cover - pending rows keep their payload
                raise ClaimbridgeError(f"correction {item.idempotency_key} lost its payload")
            correction = correction_from_json(item.payload)
            if supports(agency.capabilities, correction.kind):
                corrections.append(correction)
            else:
                reason = f"the agency takes no {correction.kind.value} corrections"
                refused.append(
                    PushOutcome(item.idempotency_key, PushStatus.REJECTED, reason=reason)
                )
        if not corrections:
            return refused
        by_key = {c.idempotency_key: c for c in corrections}
        try:
            answered = without_personal_data(
                agency.correct(corrections),
                lambda key: by_key[key].personal_values() if key in by_key else (),
            )
            return [*refused, *answered]
        except (AuthError, RateLimitedError, UnreachableError):
            raise  # the delivery loop checkpoints these
        except ClaimbridgeError as exc:  # sent, but the answer is unusable: resolve by lookup
            log.warning("correction answer unusable: %s", exc)
            return [
                *refused,
                *(
                    PushOutcome(c.idempotency_key, PushStatus.UNKNOWN, reason=str(exc))
                    for c in corrections
                ),
            ]

    def apply(
        self,
        conn: Connection,
        items: Mapping[str, OutboxItem],
        outcomes: Sequence[PushOutcome],
        recovering: bool,
    ) -> None:
        rows = conn.execute(
            select(outbox.c.idempotency_key, outbox.c.kind, outbox.c.payload).where(
                outbox.c.idempotency_key.in_([o.idempotency_key for o in outcomes])
            )
        ).all()
        kinds = {row[0]: CorrectionKind(row[1]) for row in rows}
        payloads = {row[0]: row[2] for row in rows if row[2]}
        now = self.now()
        events: list[dict[str, Any]] = []
        for outcome in outcomes:
            item = items[outcome.idempotency_key]
            self._count(outcome, recovering)
            person = self._for_a_person.pop(outcome.idempotency_key, None)
            if person is not None and outcome.status is PushStatus.UNKNOWN:
                events.append(_person_event(item.case_key, outcome.idempotency_key, person, now))
            words = _outcome_words(outcome)
            if words is None:
                continue
            payload = payloads.get(outcome.idempotency_key)
            correction = correction_from_json(payload) if payload else None
            kind = kinds[outcome.idempotency_key]
            what = describe(correction) if correction else kind.value
            events.append(
                {
                    "event_id": f"{outcome.idempotency_key}:{outcome.status.value}",
                    "case_key": item.case_key,
                    "at": now,
                    "kind": _EVENT_KIND[kind].value,
                    "direction": Direction.OUT.value,
                    "status": None,
                    "agency_ref": outcome.agency_ref,
                    "message": f"{what}: {words}",
                }
            )
        self.store.add_events(conn, events)
        if events:
            self.store.audit(
                conn,
                pipeline=self.pipeline,
                run_id=self.run_id,
                action="corrections.delivered",
                subject=self.run_id,
                detail={o.idempotency_key: o.status.value for o in outcomes},
            )

    def not_found(self, agency: Agency, item: OutboxItem) -> PushOutcome:
        """Sent again only where that cannot do it twice; else unknown, for a person."""
        key = item.idempotency_key
        correction = correction_from_json(item.payload) if item.payload else None
        if correction is not None and correction.kind in resendable(agency):
            return PushOutcome(key, PushStatus.RETRYABLE)
        what = describe(correction) if correction else "the correction"
        self._for_a_person[key] = what
        reason = (
            "the agency cannot tell whether it took this correction, and sending it again "
            "could apply it twice: a person must check with the agency"
        )
        return PushOutcome(key, PushStatus.UNKNOWN, reason=reason)

    def _count(self, outcome: PushOutcome, recovering: bool) -> None:
        stats = self.stats
        final = (PushStatus.ACCEPTED, PushStatus.SENT, PushStatus.REJECTED)
        if recovering and outcome.status in final:
            stats.recovered += 1
        if outcome.status in (PushStatus.ACCEPTED, PushStatus.SENT):
            stats.corrections_sent += 1
        elif outcome.status is PushStatus.REJECTED:
            stats.corrections_rejected += 1
        elif outcome.status is PushStatus.UNKNOWN:
            if outcome.idempotency_key not in self._unknown_counted:
                self._unknown_counted.add(outcome.idempotency_key)
                stats.corrections_unknown += 1
        elif not recovering:
            stats.corrections_retryable += 1

    def needs_person(self, item: OutboxItem) -> None:
        if item.idempotency_key not in self._unknown_counted:
            self._unknown_counted.add(item.idempotency_key)
            self.stats.corrections_unknown += 1

    def recovered(self, count: int) -> None:
        """Counted per outcome instead (:meth:`_count`): only those resolved for good."""


def _person_event(case_key: str, key: str, what: str, now: dt.datetime) -> dict[str, Any]:
    """Once per correction (the id is fixed): the case's log says what a person must do."""
    return {
        "event_id": f"{key}:for-a-person",
        "case_key": case_key,
        "at": now,
        "kind": EventKind.MESSAGE.value,
        "direction": Direction.INTERNAL.value,
        "status": None,
        "agency_ref": None,
        "message": (
            f"{what}: the answer was lost and the agency cannot be asked whether it took it; "
            "claimbridge will not send it again. Check with the agency, then resolve it by hand: "
            f"claimbridge outbox resolve {key} --delivered, --not-delivered or --rejected REASON"
        ),
    }


def _outcome_words(outcome: PushOutcome) -> str | None:
    if outcome.status is PushStatus.ACCEPTED:
        return "accepted by the agency"
    if outcome.status is PushStatus.SENT:
        return "delivered to the agency"
    if outcome.status is PushStatus.REJECTED:
        return f"rejected by the agency: {outcome.reason or 'no reason given'}"
    return None  # not final yet: nothing to log


def supports(caps: AgencyCapabilities, kind: CorrectionKind) -> bool:
    return {
        CorrectionKind.PAYMENT: caps.report_payments,
        CorrectionKind.REDUCE: caps.reduce,
        CorrectionKind.WITHDRAW: caps.withdraw,
        CorrectionKind.PAUSE: caps.pause,
        CorrectionKind.RESUME: caps.pause,
    }[kind]


def deliver_corrections(ctx: RunContext) -> None:
    channel = CorrectionChannel(ctx)
    deliver_channel(ctx.spec.pipeline, ctx.store, channel, ctx.progress)


# --- payments and credit notes → corrections ----------------------------------------------------


def report_corrections(ctx: RunContext, limit: int = 10_000) -> None:
    """Turn what waits in ``to_report`` into corrections in the outbox (one pass)."""
    rows = pq.payments_to_report(ctx.store.engine, ctx.pipeline, limit=limit)
    for start in range(0, len(rows), REPORT_CHUNK):
        with ctx.store.begin() as conn:
            _report_chunk(ctx, conn, rows[start : start + REPORT_CHUNK])


def _report_chunk(ctx: RunContext, conn: Connection, rows: Sequence[PaymentRow]) -> None:
    claims = rq.claims_by_numbers(conn, ctx.pipeline, [r.invoice_number or "" for r in rows])
    cases = rq.cases_by_keys(conn, ctx.pipeline, [r.case_key or "" for r in rows])
    twins = Twins(conn, ctx.pipeline, rows)
    queued: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for row in rows:
        claim = claims.get(row.invoice_number or "")
        case = cases.get(row.case_key or "")
        verdict = (
            ("ignored", "no_case", None)
            if claim is None or case is None
            else _decide(ctx, conn, row, claim, case, twins)
        )
        if verdict is None:
            continue  # the case is not accepted yet: next run
        status, reason, correction = verdict
        # written at once: the next row's outstanding principal counts this one
        pq.set_payment_statuses(conn, [_status(row, status, reason)])
        twins.decided(row, status, reason)
        if correction is not None:
            queued.append(
                {
                    "pipeline": ctx.pipeline,
                    "agency": ctx.agency,
                    "case_key": correction.case_key,
                    "idempotency_key": correction.idempotency_key,
                    "kind": correction.kind.value,
                    "payload": correction_json(correction),
                    "run_id": ctx.run_id,
                }
            )
        if status == "manual":
            events.append(_manual_event(ctx, row))
    ctx.store.enqueue(conn, queued)
    ctx.store.add_events(conn, events)
    ctx.stats.corrections_queued += len(queued)
    ctx.stats.corrections_manual += len(events)


def _decide(
    ctx: RunContext,
    conn: Connection,
    row: PaymentRow,
    claim: ClaimRow,
    case: CaseRow,
    twins: Twins,
) -> tuple[str, str | None, Correction | None] | None:
    settings = ctx.spec.settings
    case_status, agency_ref = case.status, case.agency_ref
    if twins.is_twin(row):  # first: a second record of one payment is never told nor counted
        return "ignored", TWIN_REASON, None
    if case_status in _CLOSED:
        return "ignored", "case_closed", None
    if claim.handed_over_on is not None and row.booking_date < claim.handed_over_on:
        return "ignored", "before_hand_over", None
    if agency_ref is None or case_status in (CaseStatus.QUEUED, CaseStatus.SENT):
        return None  # the agency has not accepted the case yet
    if row.booking_date > ctx.today:
        return None  # booked ahead of time in the ledger: reported once the day comes
    is_payment = row.kind == "payment"
    if not (settings.report_direct_payments if is_payment else settings.report_credit_notes):
        return "ignored", "reporting_off", None
    if is_payment:
        kind = CorrectionKind.PAYMENT
    else:
        outstanding = pq.outstanding_principal(conn, ctx.pipeline, claim)
        kind = CorrectionKind.WITHDRAW if row.amount >= outstanding else CorrectionKind.REDUCE
    if not supports(ctx.spec.agency.capabilities, kind):
        return "manual", "agency_cannot_report", None
    return "reported", None, _correction(ctx, row, claim, kind, agency_ref)


def _correction(
    ctx: RunContext, row: PaymentRow, claim: ClaimRow, kind: CorrectionKind, agency_ref: str
) -> Correction:
    assert claim.case_key is not None
    key = idempotency_key(ctx.agency, f"{row.source}\x00{row.payment_id}", kind.value)
    system, _, company = row.source.partition(":")
    if row.kind == "payment":
        from_bank = system in BANK_FORMATS
        payment = Payment(
            payment_id=row.payment_id,
            source=SourceRef(
                system=system, company=company, record_id=row.payment_id, record_type="payment"
            ),
            kind=PaymentKind.BANK if from_bank else PaymentKind.LEDGER,
            amount=row.amount,
            currency=row.currency,
            booking_date=row.booking_date,
            reference=row.reference,
            invoice_number=claim.invoice_number,
        )
        return Correction(key, kind, claim.case_key, agency_ref, claim.invoice_number, payment)
    number = row.payment_id.removeprefix(CREDIT_NOTE_PREFIX)
    note = CreditNote(
        credit_note_number=number,
        source=SourceRef(
            system=system, company=company, record_id=number, record_type="credit_note"
        ),
        invoice_number=claim.invoice_number,
        amount=row.amount,
        currency=row.currency,
        issue_date=row.booking_date,
    )
    reason = (
        f"credited in full by credit note {number}" if kind is CorrectionKind.WITHDRAW else None
    )
    return Correction(
        key, kind, claim.case_key, agency_ref, claim.invoice_number, credit_note=note, reason=reason
    )


def _status(row: PaymentRow, status: str, reason: str | None) -> dict[str, Any]:
    return {"source": row.source, "payment_id": row.payment_id, "status": status, "reason": reason}


def _manual_event(ctx: RunContext, row: PaymentRow) -> dict[str, Any]:
    what = "direct payment" if row.kind == "payment" else "credit note"
    return {
        "event_id": f"manual:{row.source}:{row.payment_id}"[:200],
        "case_key": row.case_key,
        "at": ctx.now(),
        "kind": EventKind.MESSAGE.value,
        "direction": Direction.INTERNAL.value,
        "status": None,
        "agency_ref": None,
        "message": (
            f"{what} of {row.amount} {row.currency} ({row.booking_date}) on invoice "
            f"{row.invoice_number} must be told to the agency by hand: it takes no such "
            "correction through claimbridge"
        ),
    }
