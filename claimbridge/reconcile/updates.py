"""Agency updates into the state store: receipts, status changes, messages and settlements.

Updates are read from the agency's cursor in chunks; each chunk is one transaction holding the
``updates_seen`` rows (the dedup keys and the lifecycle inputs), the communication log entries,
the settlement lines to book, the cases' new statuses and the cursor after the chunk. A crash
loses at most a chunk that was never committed, and rereading it changes nothing: an update id
already seen is skipped, and a case's status is always replayed from every report about it
(:mod:`claimbridge.reconcile.lifecycle`), so neither repetition nor arrival order matters.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from claimbridge.connectors.base import AgencyUpdate, PushOutcome, PushStatus
from claimbridge.errors import ClaimbridgeError
from claimbridge.reconcile.context import RunContext
from claimbridge.reconcile.lifecycle import LIFECYCLE, StatusReport, replay
from claimbridge.schemas import CaseEvent, CaseStatus, Direction, EventKind, Settlement
from claimbridge.schemas.settlement import SettlementLine
from claimbridge.state import reconciliation as rq
from claimbridge.state.reconciliation import CaseRow, ClaimRow, utcnow

__all__ = ["UPDATES_CHUNK", "apply_updates", "read_updates", "resolve_sent", "updates_stream"]

log = logging.getLogger("claimbridge.reconcile")

UPDATES_CHUNK = 200
_RECEIPT_STATUS = {
    PushStatus.ACCEPTED: CaseStatus.ACCEPTED,
    PushStatus.REJECTED: CaseStatus.REJECTED,
}
_CLAIM_STATUS = {  # a case's end becomes its claims' status (matching treats them as closed)
    CaseStatus.PAID: "paid",
    CaseStatus.CLOSED: "closed",
    CaseStatus.WITHDRAWN: "withdrawn",
    CaseStatus.RETURNED: "returned",
}


def updates_stream(agency: str) -> str:
    """The cursor's stream name: per agency, so a pipeline moved to another agency starts over."""
    return f"reconcile:updates:{agency}"


def read_updates(ctx: RunContext) -> None:
    """Everything the agency reported since the stored cursor."""
    stream = updates_stream(ctx.agency)
    since = ctx.store.get_cursor(ctx.pipeline, stream)
    chunk: list[AgencyUpdate] = []
    try:
        for update in ctx.spec.agency.updates(since):
            chunk.append(update)
            if len(chunk) >= UPDATES_CHUNK:
                done, chunk = chunk, []
                apply_updates(ctx, done, cursor_stream=stream)
                ctx.progress("updates", len(done))
    except ClaimbridgeError:
        if chunk:  # what was read before the failure is good: keep it, the cursor after it
            apply_updates(ctx, chunk, cursor_stream=stream)
        raise
    if chunk:
        apply_updates(ctx, chunk, cursor_stream=stream)
        ctx.progress("updates", len(chunk))


def resolve_sent(ctx: RunContext) -> None:
    """Ask the agency about deliveries still waiting for their receipt (async acceptance)."""
    agency = ctx.spec.agency
    if not agency.capabilities.lookup:
        return
    waiting = rq.sent_cases(ctx.store.engine, ctx.pipeline, ctx.agency)
    for start in range(0, len(waiting), UPDATES_CHUNK):
        receipts: list[AgencyUpdate] = []
        for _case, key, agency_ref in waiting[start : start + UPDATES_CHUNK]:
            outcome = agency.lookup(key, agency_ref)
            if outcome is not None and outcome.status in _RECEIPT_STATUS:
                receipts.append(AgencyUpdate(update_id=f"lookup:{key}", receipt=outcome))
        if receipts:
            apply_updates(ctx, receipts)


def apply_updates(
    ctx: RunContext, updates: Sequence[AgencyUpdate], *, cursor_stream: str | None = None
) -> None:
    """Apply one chunk of updates (and store the cursor after it) in one transaction."""
    store = ctx.store
    with store.begin() as conn:
        seen = rq.seen_update_ids(conn, ctx.pipeline, ctx.agency, [u.update_id for u in updates])
        fresh: dict[str, AgencyUpdate] = {}
        for update in updates:
            if update.update_id not in seen:
                fresh.setdefault(update.update_id, update)
        ctx.stats.updates_skipped += len(updates) - len(fresh)
        ctx.stats.updates_read += len(fresh)
        chunk = _Chunk(ctx, conn, list(fresh.values()))
        chunk.collect()
        chunk.write()
        cursor = next((u.cursor for u in reversed(updates) if u.cursor is not None), None)
        if cursor_stream is not None and cursor is not None:
            store.set_cursor(conn, ctx.pipeline, cursor_stream, cursor)


@dataclass
class _Chunk:
    """The rows one chunk of fresh updates writes."""

    ctx: RunContext
    conn: Connection
    updates: list[AgencyUpdate]
    seen_rows: list[dict[str, Any]] = field(default_factory=list)
    log_rows: list[dict[str, Any]] = field(default_factory=list)
    line_rows: list[dict[str, Any]] = field(default_factory=list)
    payment_refs: list[tuple[str, str]] = field(default_factory=list)
    agency_refs: dict[str, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    cases: dict[str, CaseRow] = field(default_factory=dict)  # by case key
    by_ref: dict[str, CaseRow] = field(default_factory=dict)  # by agency reference
    delivery_cases: dict[str, str] = field(default_factory=dict)  # idempotency key → case key
    corrections: dict[str, tuple[str, str]] = field(default_factory=dict)  # → (case, kind)
    outbox_rows: list[dict[str, Any]] = field(default_factory=list)  # corrections refused

    # --- reading the chunk ----------------------------------------------------------------

    def collect(self) -> None:
        self._load_cases()
        for update in self.updates:
            if update.receipt is not None:
                self._receipt(update, update.receipt)
            elif update.event is not None:
                self._event(update, update.event)
            elif update.settlement is not None:
                self._settlement(update, update.settlement)
            else:
                self._seen(update, "message", None)

    def _load_cases(self) -> None:
        """Every case the chunk names, by case key, agency reference or delivery key."""
        ctx, conn = self.ctx, self.conn
        keys: set[str] = set()
        refs: set[str] = set()
        deliveries: set[str] = set()
        for update in self.updates:
            if update.receipt is not None:
                deliveries.add(update.receipt.idempotency_key)
            if update.event is not None:
                keys.add(update.event.case_key)
                if update.event.agency_ref:
                    refs.add(update.event.agency_ref)
            if update.settlement is not None:
                for line in update.settlement.lines:
                    keys.update(k for k in (line.case_key,) if k)
                    refs.update(r for r in (line.agency_ref,) if r)
        self.delivery_cases = rq.case_keys_by_delivery(conn, deliveries)
        keys.update(self.delivery_cases.values())
        self.corrections = rq.correction_deliveries(conn, deliveries - set(self.delivery_cases))
        keys.update(case_key for case_key, _ in self.corrections.values())
        self.cases = rq.cases_by_keys(conn, ctx.pipeline, keys)
        self.by_ref = rq.cases_by_agency_refs(conn, ctx.pipeline, ctx.agency, refs)
        for case in self.by_ref.values():  # named by the agency's reference only (empty key)
            self.cases.setdefault(case.case_key, case)

    def _case(self, case_key: str | None, agency_ref: str | None) -> CaseRow | None:
        if case_key and case_key in self.cases:
            return self.cases[case_key]
        if agency_ref and agency_ref in self.by_ref:
            return self.by_ref[agency_ref]
        return None

    def _seen(
        self,
        update: AgencyUpdate,
        kind: str,
        case: CaseRow | None,
        status: CaseStatus | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        if case is None and kind != "message":
            self.ctx.stats.unknown_updates += 1
        self.seen_rows.append(
            {
                "pipeline": self.ctx.pipeline,
                "agency": self.ctx.agency,
                "update_id": update.update_id,
                "kind": kind,
                "case_key": case.case_key if case else None,
                "status": status.value if status else None,
                "at": at,
                "run_id": self.ctx.run_id,
                "seen_at": utcnow(),
            }
        )
        if case is not None and status is not None:
            self.touched.add(case.case_key)

    def _receipt(self, update: AgencyUpdate, receipt: PushOutcome) -> None:
        if receipt.idempotency_key in self.corrections:
            self._correction_receipt(update, receipt)
            return
        case_key = self.delivery_cases.get(receipt.idempotency_key)
        case = self._case(case_key, receipt.agency_ref)
        status = _RECEIPT_STATUS.get(receipt.status)
        self._seen(update, "receipt", case, status)
        if case is None or status is None:
            return  # still waiting (SENT), or not ours
        self.ctx.stats.receipts += 1
        if receipt.agency_ref:
            self.agency_refs[case.case_key] = receipt.agency_ref
        self.payment_refs.extend(receipt.payment_refs.items())
        words = (
            f"accepted by the agency as {receipt.agency_ref}"
            if status is CaseStatus.ACCEPTED
            else f"rejected by the agency: {receipt.reason or 'no reason given'}"
        )
        self._log(f"receipt:{update.update_id}", case, EventKind.RECEIPT, status, words)

    def _correction_receipt(self, update: AgencyUpdate, receipt: PushOutcome) -> None:
        """The agency's later verdict on a correction (a payment confirmed, a waiver refused):
        into the case's log; a refusal also into the outbox row, for a person to see."""
        case_key, kind = self.corrections[receipt.idempotency_key]
        case = self.cases.get(case_key)
        self._seen(update, "receipt", case)
        if case is None or receipt.status not in _RECEIPT_STATUS:
            return
        if receipt.status is PushStatus.REJECTED:
            reason = receipt.reason or "no reason given"
            self.ctx.stats.corrections_rejected += 1
            self.outbox_rows.append(
                {"key": receipt.idempotency_key, "status": "rejected", "reason": reason}
            )
            words = f"{kind} correction rejected by the agency: {reason}"
        else:
            words = f"{kind} correction confirmed by the agency"
        self._log(f"receipt:{update.update_id}", case, EventKind.RECEIPT, None, words)

    def _event(self, update: AgencyUpdate, event: CaseEvent) -> None:
        case = self._case(event.case_key, event.agency_ref)
        status = event.status
        kind = "receipt" if event.kind is EventKind.RECEIPT else "status"
        if status is None:
            kind = "message"
        at = None if kind == "receipt" else event.at
        self._seen(update, kind, case, status, at)
        if case is None:
            return
        if kind == "receipt":
            self.ctx.stats.receipts += 1
        if event.agency_ref and case.agency_ref is None:
            # an event names what it concerns (InDebted: one account of the case); it never
            # replaces the reference the case's delivery or receipt gave it
            self.agency_refs.setdefault(case.case_key, event.agency_ref)
        message = event.message or (f"status {status.value}" if status else "message")
        self.log_rows.append(
            {
                "event_id": f"{self.ctx.agency}:{event.event_id}"[:200],
                "case_key": case.case_key,
                "at": event.at,
                "kind": event.kind.value,
                "direction": Direction.IN.value,
                "status": status.value if status else None,
                "agency_ref": event.agency_ref,
                "message": message,
            }
        )

    def _settlement(self, update: AgencyUpdate, settlement: Settlement) -> None:
        numbers = [line.invoice_number for line in settlement.lines if line.invoice_number]
        by_number = rq.claims_by_numbers(self.conn, self.ctx.pipeline, numbers)
        missing = [n for n in numbers if n not in by_number]
        by_ref = rq.claims_by_payment_refs(self.conn, self.ctx.pipeline, missing)
        claim_cases = {c.case_key for c in (*by_number.values(), *by_ref.values()) if c.case_key}
        self.cases.update(
            rq.cases_by_keys(self.conn, self.ctx.pipeline, claim_cases - set(self.cases))
        )
        lone = self._lone_claims(settlement.lines)
        cases_of_update: set[str] = set()
        for line in settlement.lines:
            number = line.invoice_number
            claim = (by_number.get(number) or by_ref.get(number)) if number else None
            case = self._case(line.case_key, line.agency_ref)
            if claim is None and case is not None and number is None:
                claim = lone.get(case.case_key)
            if claim is not None and claim.case_key:
                case = self.cases.get(claim.case_key) or case
            if claim is None and case is None:
                continue  # another pipeline's line (or nobody's): not ours to book
            self._line(settlement, line, claim, case)
            if case is not None:
                cases_of_update.add(case.case_key)
        only = self.cases.get(next(iter(cases_of_update))) if len(cases_of_update) == 1 else None
        self._seen(update, "settlement", only)

    def _lone_claims(self, lines: Iterable[SettlementLine]) -> dict[str, ClaimRow]:
        """A line that names no invoice still belongs to a one-claim case's claim."""
        keys = {
            case.case_key
            for line in lines
            if line.invoice_number is None
            for case in [self._case(line.case_key, line.agency_ref)]
            if case is not None
        }
        found: dict[str, list[ClaimRow]] = {}
        for key in keys:
            found[key] = rq.claims_of_case(self.conn, self.ctx.pipeline, key)
        return {key: claims[0] for key, claims in found.items() if len(claims) == 1}

    def _line(
        self,
        settlement: Settlement,
        line: SettlementLine,
        claim: ClaimRow | None,
        case: CaseRow | None,
    ) -> None:
        problem = None
        if claim is None:
            problem = "the line names no claim of this case"
        elif claim.currency != settlement.currency:
            problem = f"the settlement is in {settlement.currency}, the claim in {claim.currency}"
        status = "seen" if problem is None else "unmatched"
        stats = self.ctx.stats
        stats.settlement_lines += 1
        if problem is not None:
            stats.lines_unmatched += 1
        self.line_rows.append(
            {
                "agency": self.ctx.agency,
                "line_id": line.line_id,
                "settlement_id": settlement.settlement_id,
                "pipeline": self.ctx.pipeline,
                "case_key": case.case_key if case else None,
                "invoice_number": claim.invoice_number if claim else line.invoice_number,
                "principal": line.principal,
                "interest": line.interest,
                "fees": line.fees,
                "commission": line.commission,
                "status": status,
                "ledger_ref": None,
                "currency": settlement.currency,
                "settlement_date": settlement.settlement_date,
                "agency_ref": line.agency_ref or (case.agency_ref if case else None),
                "voucher_ref": None,
                "not_booked": problem,
                "run_id": self.ctx.run_id,
                "seen_at": utcnow(),
                "booked_at": None,
            }
        )
        if case is not None:
            invoice = f" on invoice {claim.invoice_number}" if claim else ""
            words = (
                f"settlement {settlement.settlement_id}{invoice}: principal {line.principal}, "
                f"interest {line.interest}, fees {line.fees}, commission {line.commission} "
                f"{settlement.currency}"
            )
            if problem:
                words += f" — cannot be booked: {problem}"
            paid_out = dt.datetime.combine(settlement.settlement_date, dt.time(), tzinfo=dt.UTC)
            self._log(f"line:{line.line_id}", case, EventKind.SETTLEMENT, None, words, at=paid_out)

    def _log(
        self,
        suffix: str,
        case: CaseRow,
        kind: EventKind,
        status: CaseStatus | None,
        message: str,
        direction: Direction = Direction.IN,
        at: dt.datetime | None = None,
    ) -> None:
        self.log_rows.append(
            {
                "event_id": f"{self.ctx.agency}:{suffix}"[:200],
                "case_key": case.case_key,
                "at": at or self.ctx.now(),
                "kind": kind.value,
                "direction": direction.value,
                "status": status.value if status else None,
                "agency_ref": case.agency_ref,
                "message": message,
            }
        )

    # --- writing it -------------------------------------------------------------------------

    def write(self) -> None:
        ctx, conn, store = self.ctx, self.conn, self.ctx.store
        rq.record_updates(conn, self.seen_rows)
        known = rq.known_line_ids(conn, ctx.agency, [row["line_id"] for row in self.line_rows])
        fresh_lines = [row for row in self.line_rows if row["line_id"] not in known]
        rq.insert_lines(conn, fresh_lines)
        if self.payment_refs:
            rq.set_payment_refs(conn, ctx.pipeline, self.payment_refs)
        self._replay()
        store.add_events(conn, self.log_rows)
        store.set_outbox(conn, self.outbox_rows)
        if self.seen_rows:
            kinds: dict[str, int] = {}
            for row in self.seen_rows:
                kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
            store.audit(
                conn,
                pipeline=ctx.pipeline,
                run_id=ctx.run_id,
                action="agency.updates",
                subject=ctx.run_id,
                detail={"agency": ctx.agency, **kinds, "lines": len(fresh_lines)},
            )

    def _replay(self) -> None:
        """Every touched case's status from all the agency ever reported about it."""
        if not self.touched:
            return
        ctx, conn = self.ctx, self.conn
        reports = rq.status_reports(conn, ctx.pipeline, self.touched)
        fresh_ids = {u.update_id for u in self.updates}
        lifecycle: list[dict[str, Any]] = []
        ended: dict[str, str] = {}
        for case_key in sorted(self.touched):
            case = self.cases[case_key]
            start = _start(case)
            result = replay(
                start,
                (
                    StatusReport(uid, CaseStatus(status), at)
                    for uid, status, at in reports[case_key]
                ),
            )
            if result.status.value != case.status:
                ctx.stats.status_changes += 1
            lifecycle.append(
                {
                    "case_key": case_key,
                    "status": result.status.value,
                    "delivery_status": start.value,
                    "agency_ref": self.agency_refs.get(case_key),
                }
            )
            if result.status in _CLAIM_STATUS:
                ended[case_key] = _CLAIM_STATUS[result.status]
            for step in result.illegal:
                if step.report.update_id in fresh_ids:
                    ctx.stats.illegal_transitions += 1
                self._log(
                    f"{step.report.update_id}:not-applied",
                    case,
                    EventKind.STATUS,
                    None,
                    f"not applied: the agency reported {step.report.status.value}, but "
                    f"{step.reason}",
                    Direction.INTERNAL,
                )
        rq.set_case_lifecycle(conn, lifecycle)
        rq.set_claim_statuses(conn, ctx.pipeline, ended)


def _start(case: CaseRow) -> CaseStatus:
    """Where the replay starts: what delivery left (captured before the lifecycle took over)."""
    if case.delivery_status:
        return CaseStatus(case.delivery_status)
    status = CaseStatus(case.status)
    return CaseStatus.ACCEPTED if status in LIFECYCLE else status
