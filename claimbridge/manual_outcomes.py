"""Outcomes a person records by hand, for deliveries the agency could not be asked about.

A delivery whose answer was lost stays ``unknown`` where the agency can neither be asked
(``lookup``) nor safely be sent it again — a Riverty recall, an Amili Norway withdrawal, a case
at an agency without lookup or idempotency keys — and a run that died mid-call leaves it
``sending``. Every later run exits 13 until a person has checked with the agency and said what
happened (``claimbridge outbox resolve``):

- **delivered**: recorded as the agency's acceptance (a case under the reference the person
  gives, or as delivered and waiting for the agency's receipt without one);
- **not delivered**: back to ``pending``; the next run sends it again under the same key;
- **rejected**: a final rejection with the person's reason.

The outcome is written by the delivery loop's own code (:func:`claimbridge.delivery.
record_outcomes` with the case or the correction channel), so the outbox row, the case status,
the communication log and the audit trail read exactly as if the agency had answered; in the
same transaction a line in the case's log and an audit entry say who resolved it by hand. The
pipeline's run lease is held throughout: while a run works, its ``sending`` rows are in flight,
not lost, and nothing is resolved.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from claimbridge.connectors.base import Agency, PushOutcome, PushStatus
from claimbridge.delivery import OUTBOX_STATUS, Channel, case_channel, record_outcomes
from claimbridge.errors import NotFoundError, NotResolvableError, UsageError
from claimbridge.reconcile.context import ReconcileStats
from claimbridge.reconcile.corrections import CorrectionChannel, correction_from_json, describe
from claimbridge.schemas import Direction, EventKind
from claimbridge.state import OutboxItem, StateStore, outbox_admin
from claimbridge.state.outbox_admin import OutboxEntry

__all__ = ["RESOLVABLE", "Resolution", "Resolved", "resolve"]

RESOLVABLE = ("unknown", "sending")
"""The outbox statuses a person may resolve: an answer lost, or a call a dead run left."""

MAX_BY = 120  # the events and audit columns hold it with room to spare


class Resolution(StrEnum):
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Resolved:
    """What was recorded (``claimbridge outbox resolve --json`` prints it)."""

    key: str
    pipeline: str
    kind: str
    case_key: str
    invoices: tuple[str, ...]
    previous_status: str
    status: str  # the outbox row's status now
    resolution: Resolution
    by: str
    agency_ref: str | None
    reason: str | None
    run_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "pipeline": self.pipeline,
            "kind": self.kind,
            "case_key": self.case_key,
            "invoices": list(self.invoices),
            "previous_status": self.previous_status,
            "status": self.status,
            "resolution": self.resolution.value,
            "by": self.by,
            "agency_ref": self.agency_ref,
            "reason": self.reason,
            "run_id": self.run_id,
        }


def resolve(
    store: StateStore,
    key: str,
    resolution: Resolution,
    *,
    by: str,
    agency_ref: str | None = None,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> Resolved:
    """Record what a person learned from the agency about the delivery ``key``.

    Raises NotFoundError for a key the outbox does not hold, NotResolvableError for a delivery
    that is not ``unknown``/``sending``, LeaseHeldError while a run of its pipeline works, and
    UsageError for an empty name or reason, or a reference without ``DELIVERED``. ``now`` dates
    a correction's log entries (a run's ``--today``); a case's log is in wall-clock time.
    """
    by, agency_ref, reason = _checked(resolution, by, agency_ref, reason)
    found = outbox_admin.entry(store.engine, key)
    if found is None:
        raise NotFoundError(f"no delivery {key!r} in the outbox (see: claimbridge outbox list)")
    _refuse_unless_resolvable(found)
    run_id = store.start_run(found.pipeline, "resolve")
    try:
        with store.lease(found.pipeline, holder=run_id):
            found = outbox_admin.entry(store.engine, key) or found
            _refuse_unless_resolvable(found)  # a run may have resolved it meanwhile
            outcome = _outcome(found, resolution, agency_ref, reason, by)
            # a case's log is in wall-clock time, as sync writes it; a correction's in the run's
            at = None if found.kind == "case" else now or dt.datetime.now(dt.UTC)
            inner = _channel(store, found, run_id, at)
            what = _what(store, found)
            record_outcomes(store, _ByHand(inner, store, found, run_id, by, at, what), [outcome])
    except BaseException as exc:
        store.finish_run(run_id, "failed", {"key": key}, error=type(exc).__name__)
        raise
    resolved = Resolved(
        key=key,
        pipeline=found.pipeline,
        kind=found.kind,
        case_key=found.case_key,
        invoices=found.invoices,
        previous_status=found.status,
        status=OUTBOX_STATUS[outcome.status],
        resolution=resolution,
        by=by,
        agency_ref=agency_ref,
        reason=reason,
        run_id=run_id,
    )
    store.finish_run(run_id, "succeeded", {"key": key, "resolution": resolution.value, "by": by})
    return resolved


def _checked(
    resolution: Resolution, by: str, agency_ref: str | None, reason: str | None
) -> tuple[str, str | None, str | None]:
    by = by.strip()
    if not by or len(by) > MAX_BY or not by.isprintable():
        raise UsageError(f"say who checked with the agency (a name of 1 to {MAX_BY} characters)")
    agency_ref = (agency_ref or "").strip() or None
    if agency_ref is not None and resolution is not Resolution.DELIVERED:
        raise UsageError("an agency reference belongs to a delivered outcome only")
    reason = (reason or "").strip() or None
    if resolution is Resolution.REJECTED and reason is None:
        raise UsageError("say why the agency refused it")
    if resolution is not Resolution.REJECTED:
        reason = None
    return by, agency_ref, reason


def _refuse_unless_resolvable(entry: OutboxEntry) -> None:
    if entry.status in RESOLVABLE:
        return
    why = {
        "pending": "it has not been sent yet; the next run sends it",
        "accepted": "the agency's answer is already recorded",
        "rejected": "the agency's answer is already recorded",
    }.get(entry.status, "its outcome is not waiting for a person")
    raise NotResolvableError(
        f"delivery {entry.key} is {entry.status}, not unknown: {why}. Only an outcome left "
        "unknown (or sending by a run that died) can be resolved by hand"
    )


def _outcome(
    entry: OutboxEntry,
    resolution: Resolution,
    agency_ref: str | None,
    reason: str | None,
    by: str,
) -> PushOutcome:
    key = entry.key
    if resolution is Resolution.REJECTED:
        return PushOutcome(key, PushStatus.REJECTED, reason=reason)
    if resolution is Resolution.NOT_DELIVERED:
        note = f"resolved by hand by {by}: the agency never got it; to be sent again"
        return PushOutcome(key, PushStatus.RETRYABLE, reason=note)
    if entry.kind == "case" and agency_ref is None:
        # delivered, its reference not known yet: the agency's receipt brings it, as for any
        # asynchronous delivery (and corrections wait for it, since they must name the case)
        return PushOutcome(key, PushStatus.SENT)
    return PushOutcome(key, PushStatus.ACCEPTED, agency_ref=agency_ref)


def _channel(store: StateStore, entry: OutboxEntry, run_id: str, at: dt.datetime | None) -> Channel:
    if at is None:
        return case_channel(entry.pipeline, store, run_id)
    return CorrectionChannel(_HandRun(entry.pipeline, store, run_id, at))


def _what(store: StateStore, entry: OutboxEntry) -> str:
    """The delivery in the words its own log entries use (amounts, dates, invoice numbers)."""
    if entry.kind == "case":
        return "the hand-over of this case"
    [item] = store.outbox_by_keys([entry.key], with_payload=True)
    if item.payload is None:  # pragma: no cover - unknown and sending rows keep their payload
        return f"the {entry.kind} correction"
    return describe(correction_from_json(item.payload))


@dataclass
class _HandRun:
    """The run a correction channel records for when a person is the one who answers."""

    pipeline: str
    store: StateStore
    run_id: str
    at: dt.datetime
    stats: ReconcileStats = field(default_factory=ReconcileStats)  # nobody's counts
    unknown_counted: set[str] = field(default_factory=set)

    def now(self) -> dt.datetime:
        return self.at


class _ByHand:
    """The delivery's own channel, plus who resolved it, in the same transaction."""

    def __init__(
        self,
        inner: Channel,
        store: StateStore,
        entry: OutboxEntry,
        run_id: str,
        by: str,
        at: dt.datetime | None,  # None: the wall clock when written (after the channel's entry)
        what: str,
    ) -> None:
        self.inner = inner
        self.kinds = inner.kinds
        self.reads_payloads = inner.reads_payloads
        self.store = store
        self.entry = entry
        self.run_id = run_id
        self.by = by
        self.at = at
        self.what = what

    def send(self, agency: Agency, items: Sequence[OutboxItem]) -> list[PushOutcome]:
        raise NotImplementedError("a person's outcome is recorded, never sent")

    def apply(
        self,
        conn: Connection,
        items: Mapping[str, OutboxItem],
        outcomes: Sequence[PushOutcome],
        recovering: bool,
    ) -> None:
        self.inner.apply(conn, items, outcomes, recovering)
        [outcome] = outcomes
        entry = self.entry
        self.store.add_events(conn, [self._event(outcome)])
        self.store.audit(
            conn,
            pipeline=entry.pipeline,
            run_id=self.run_id,
            action="outbox.resolved_by_hand",
            subject=entry.key,
            detail={
                "kind": entry.kind,
                "case_key": entry.case_key,
                "was": entry.status,
                "status": OUTBOX_STATUS[outcome.status],
                "by": self.by,
                "agency_ref": outcome.agency_ref,
            },
        )

    def _event(self, outcome: PushOutcome) -> dict[str, Any]:
        again = "sync" if self.entry.kind == "case" else "reconcile"
        found = {
            PushStatus.ACCEPTED: "it has it"
            + (f" as {outcome.agency_ref}" if outcome.agency_ref else ""),
            PushStatus.SENT: "it has it; its reference comes with its receipt",
            PushStatus.RETRYABLE: (
                f"it never arrived; the next {again} sends it again under the same key"
            ),
            PushStatus.REJECTED: f"it refused it: {outcome.reason}",
        }[outcome.status]
        return {
            "event_id": f"{self.entry.key}:by-hand:{uuid.uuid4().hex[:12]}",
            "case_key": self.entry.case_key,
            "at": self.at or dt.datetime.now(dt.UTC),
            "kind": EventKind.MESSAGE.value,
            "direction": Direction.INTERNAL.value,
            "status": None,
            "agency_ref": outcome.agency_ref,
            "message": (
                f"{self.what}: resolved by hand by {self.by}, who checked with the agency: {found}"
            ),
        }

    def needs_person(self, item: OutboxItem) -> None:
        self.inner.needs_person(item)

    def not_found(self, agency: Agency, item: OutboxItem) -> PushOutcome:
        return self.inner.not_found(agency, item)

    def recovered(self, count: int) -> None:
        self.inner.recovered(count)
