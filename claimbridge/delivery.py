"""Delivering the outbox to the agency, effectively once.

Every delivery's idempotency key is stored (status ``pending``) before the first send, and
marked ``sending`` in its own committed transaction just before the call. What a crash or a
timeout leaves in ``sending``/``unknown`` is resolved by asking the agency (``lookup``), or by
resending with the same key where the agency honours keys — never by blindly sending again.

Cases and corrections (direct payments, reductions, withdrawals…) travel the same way; a
:class:`Channel` says which outbox kinds it carries, how to send a batch of them and what an
outcome changes besides the outbox row. :func:`deliver` is the case channel;
``claimbridge.reconcile.corrections`` has the other.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, overload

from sqlalchemy import Connection

from claimbridge.connectors.base import Agency, Delivery, PushOutcome, PushStatus
from claimbridge.errors import (
    AuthError,
    ClaimbridgeError,
    RateLimitedError,
    UnreachableError,
)
from claimbridge.logs import value_pattern
from claimbridge.schemas import CaseStatus
from claimbridge.state import OutboxItem, StateStore, reconciliation

if TYPE_CHECKING:
    from claimbridge.pipeline import PipelineSpec, SyncStats

__all__ = [
    "OUTBOX_STATUS",
    "Channel",
    "case_channel",
    "deliver",
    "deliver_channel",
    "record_outcomes",
    "scrub",
    "without_personal_data",
]

log = logging.getLogger("claimbridge.delivery")

_CASE_STATUS = {
    PushStatus.ACCEPTED: CaseStatus.ACCEPTED,
    PushStatus.SENT: CaseStatus.SENT,
    PushStatus.REJECTED: CaseStatus.REJECTED,
}
OUTBOX_STATUS = {
    PushStatus.ACCEPTED: "accepted",
    PushStatus.SENT: "accepted",  # delivered; the agency's receipt comes later as an update
    PushStatus.REJECTED: "rejected",
    PushStatus.UNKNOWN: "unknown",
    PushStatus.RETRYABLE: "pending",
}


class Channel(Protocol):
    """One kind of traffic through the outbox: what it sends and what its outcomes change."""

    kinds: tuple[str, ...]  # the outbox kinds it carries
    # True: ``send`` gets the batch without payloads and reads them itself, a chunk at a time
    # (a 5,000-case file holds one chunk of payloads in memory, not 5,000)
    reads_payloads: bool

    def send(self, agency: Agency, items: Sequence[OutboxItem]) -> list[PushOutcome]:
        """One call (or the agency's own batching) for these pending items."""
        ...

    def apply(
        self,
        conn: Connection,
        items: Mapping[str, OutboxItem],
        outcomes: Sequence[PushOutcome],
        recovering: bool,
    ) -> None:
        """Write what the outcomes change besides the outbox rows (statuses, the log, the
        audit trail) in the same transaction, and count them."""
        ...

    def needs_person(self, item: OutboxItem) -> None:
        """An unknown outcome this agency can neither look up nor safely resend."""
        ...

    def not_found(self, agency: Agency, item: OutboxItem) -> PushOutcome:
        """What to do with an item ``lookup`` says the agency never saw: ``RETRYABLE`` sends
        it again; ``UNKNOWN`` keeps it for a person where a resend could do it twice."""
        ...

    def recovered(self, count: int) -> None: ...


def deliver(
    spec: PipelineSpec,
    store: StateStore,
    run_id: str,
    stats: SyncStats,
    progress: Callable[[str, int], None] | None = None,
) -> None:
    """Resolve unknown outcomes, then send every pending case once in this run."""
    deliver_channel(spec, store, _CaseChannel(spec.name, store, run_id, stats), progress)


def deliver_channel(
    spec: PipelineSpec,
    store: StateStore,
    channel: Channel,
    progress: Callable[[str, int], None] | None = None,
) -> None:
    """Resolve unknown outcomes, then send every pending item of ``channel`` once."""
    _resolve_unknown(spec, store, channel)
    agency = spec.agency
    batch_size = max(1, agency.capabilities.batch_size)
    after = 0
    while True:
        items = store.outbox_items(
            spec.name,
            spec.agency_name,
            ["pending"],
            limit=batch_size,
            after_id=after,
            kinds=channel.kinds,
            with_payload=not channel.reads_payloads,
        )
        if not items:
            return
        after = items[-1].delivery_id  # each delivery is tried at most once per run
        keys = [item.idempotency_key for item in items]
        store.mark_sending(keys)
        try:
            outcomes = channel.send(agency, items)
        except (RateLimitedError, UnreachableError) as exc:
            status = PushStatus.UNKNOWN if _outcome_unknown(exc) else PushStatus.RETRYABLE
            outcomes = [PushOutcome(key, status, reason=str(exc)) for key in keys]
            _record(store, channel, outcomes)
            log.warning("delivery stopped, will resume next run: %s", exc)
            return  # checkpoint: the rest stays pending
        except AuthError:
            _record(store, channel, [PushOutcome(key, PushStatus.RETRYABLE) for key in keys])
            raise
        _record(store, channel, _complete(keys, outcomes))
        if progress:
            progress("deliver", len(items))


def _resolve_unknown(spec: PipelineSpec, store: StateStore, channel: Channel) -> None:
    agency = spec.agency
    caps = agency.capabilities
    after = 0
    while True:
        items = store.outbox_items(
            spec.name,
            spec.agency_name,
            ["sending", "unknown"],
            limit=500,
            after_id=after,
            kinds=channel.kinds,
        )
        if not items:
            return
        after = items[-1].delivery_id
        resolved: list[PushOutcome] = []
        for item in items:
            if caps.lookup:
                try:
                    found = agency.lookup(item.idempotency_key)
                except ClaimbridgeError as exc:
                    log.warning("cannot resolve delivery %s yet: %s", item.idempotency_key, exc)
                    return
                resolved.append(found or channel.not_found(agency, item))
            elif caps.idempotency_keys:
                resolved.append(PushOutcome(item.idempotency_key, PushStatus.RETRYABLE))
            else:
                channel.needs_person(item)  # `claimbridge cases list --status unknown`
        if not resolved:
            continue
        channel.recovered(len(resolved))
        _record(store, channel, resolved, recovering=True)


class _CaseChannel:
    """Cases: pushed in batches; outcomes set the case status and its receipt in the log."""

    kinds: tuple[str, ...] = ("case",)
    reads_payloads = True

    def __init__(self, pipeline: str, store: StateStore, run_id: str, stats: SyncStats):
        self.pipeline = pipeline
        self.store = store
        self.run_id = run_id
        self.stats = stats

    def send(self, agency: Agency, items: Sequence[OutboxItem]) -> list[PushOutcome]:
        deliveries = _LazyDeliveries(items, _PayloadChunks(self.store, items))
        at = {item.idempotency_key: index for index, item in enumerate(items)}

        def debtor_values(key: str) -> Sequence[str]:
            index = at.get(key)
            return () if index is None else deliveries[index].case.debtor.personal_values()

        return without_personal_data(agency.push(deliveries), debtor_values)

    def apply(
        self,
        conn: Connection,
        items: Mapping[str, OutboxItem],
        outcomes: Sequence[PushOutcome],
        recovering: bool,
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        events: list[dict[str, Any]] = []
        case_updates: list[dict[str, Any]] = []
        payment_refs: list[tuple[str, str]] = []
        for outcome in outcomes:
            item = items[outcome.idempotency_key]
            case_status = _CASE_STATUS.get(outcome.status)
            if case_status is not None:
                case_updates.append(
                    {
                        "case_key": item.case_key,
                        "status": case_status.value,
                        "agency_ref": outcome.agency_ref,
                    }
                )
                events.append(_event(item.case_key, now, outcome, case_status))
            payment_refs.extend(outcome.payment_refs.items())
            _count(self.stats, outcome, item, recovering)
        store = self.store
        store.set_case_statuses(conn, case_updates)
        store.add_events(conn, events)
        if payment_refs:  # what the debtor now pays the agency with (Amili Sweden: OCR)
            reconciliation.set_payment_refs(conn, self.pipeline, payment_refs)
        if events:
            store.audit(
                conn,
                pipeline=self.pipeline,
                run_id=self.run_id,
                action="cases.delivered",
                subject=self.run_id,
                detail={e["case_key"]: e["status"] for e in events},
            )

    def needs_person(self, item: OutboxItem) -> None:
        self.stats.unknown += 1

    def not_found(self, agency: Agency, item: OutboxItem) -> PushOutcome:
        return PushOutcome(item.idempotency_key, PushStatus.RETRYABLE)  # the case never arrived

    def recovered(self, count: int) -> None:
        self.stats.recovered += count


def case_channel(pipeline: str, store: StateStore, run_id: str) -> Channel:
    """The case channel outside a sync (a person recording an outcome by hand); its counts
    are nobody's and dropped."""
    from claimbridge.pipeline import SyncStats

    return _CaseChannel(pipeline, store, run_id, SyncStats())


def record_outcomes(store: StateStore, channel: Channel, outcomes: Sequence[PushOutcome]) -> None:
    """Outcomes learned outside the delivery loop (a person who asked the agency), recorded
    exactly as the loop records the agency's answers."""
    _record(store, channel, outcomes)


PAYLOAD_CHUNK = 512


class _PayloadChunks:
    """The batch's payloads, read from the outbox one chunk at a time as the agency reaches
    them; only the current chunk is held."""

    def __init__(self, store: StateStore, items: Sequence[OutboxItem]) -> None:
        self._store = store
        self._items = items
        self._start = -1
        self._payloads: dict[str, str | None] = {}

    def payload(self, index: int) -> str:
        item = self._items[index]
        start = index - index % PAYLOAD_CHUNK
        if start != self._start:
            keys = [i.idempotency_key for i in self._items[start : start + PAYLOAD_CHUNK]]
            self._payloads = self._store.outbox_payloads(keys)
            self._start = start
        payload = self._payloads.get(item.idempotency_key)
        if payload is None:  # pragma: no cover - pending rows always keep their payload
            raise ClaimbridgeError(f"delivery {item.idempotency_key} lost its payload")
        return payload


class _LazyDeliveries(Sequence[Delivery]):
    """Deliveries whose cases are read from the outbox and parsed only when the agency reads
    them: an agency that answers per key never loads a payload."""

    def __init__(
        self, items: Sequence[OutboxItem], payloads: _PayloadChunks, offset: int = 0
    ) -> None:
        self._items = items
        self._payloads = payloads
        self._offset = offset

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Delivery: ...

    @overload
    def __getitem__(self, index: slice) -> _LazyDeliveries: ...

    def __getitem__(self, index: int | slice) -> Delivery | _LazyDeliveries:
        if isinstance(index, slice):
            start, _, step = index.indices(len(self._items))
            if step != 1:
                raise ValueError("deliveries slice with step 1 only")
            return _LazyDeliveries(self._items[index], self._payloads, self._offset + start)
        if index < 0:
            index += len(self._items)
        item = self._items[index]
        at = self._offset + index
        return Delivery.stored(
            item.idempotency_key, item.case_key, lambda: self._payloads.payload(at)
        )


REDACTED = "[debtor data]"


def without_personal_data(
    outcomes: Sequence[PushOutcome], values_of: Callable[[str], Sequence[str]]
) -> list[PushOutcome]:
    """An agency's refusal may quote what it refused (a name, an id number, a payer's account):
    the reason is stored, shown and logged, so the item's personal values
    (``values_of(idempotency_key)``, read only for outcomes that carry a reason) are taken out
    of it first. Every channel's ``send`` answers through here."""
    cleaned = []
    for outcome in outcomes:
        if outcome.reason:
            reason = scrub(outcome.reason, values_of(outcome.idempotency_key))
            if reason != outcome.reason:
                outcome = dataclasses.replace(outcome, reason=reason)
        cleaned.append(outcome)
    return cleaned


def scrub(text: str, values: Sequence[str]) -> str:
    """``text`` with every occurrence of ``values`` replaced, ignoring case (an agency may
    quote a name in capitals); a full name goes before the first name inside it."""
    if not values:
        return text
    return value_pattern(values, ignore_case=True).sub(REDACTED, text)


def _outcome_unknown(exc: ClaimbridgeError) -> bool:
    return bool(getattr(exc, "outcome_unknown", False))


def _complete(keys: Sequence[str], outcomes: Sequence[PushOutcome]) -> list[PushOutcome]:
    """An agency that forgets an item leaves it unknown, never silently 'done'."""
    by_key = {o.idempotency_key: o for o in outcomes}
    return [
        by_key.get(key) or PushOutcome(key, PushStatus.UNKNOWN, reason="no outcome returned")
        for key in keys
    ]


def _record(
    store: StateStore,
    channel: Channel,
    outcomes: Sequence[PushOutcome],
    *,
    recovering: bool = False,
) -> None:
    """The outbox rows and the channel's own effects, in one transaction."""
    keys = {
        i.idempotency_key: i for i in store.outbox_by_keys([o.idempotency_key for o in outcomes])
    }
    known = [o for o in outcomes if o.idempotency_key in keys]
    outbox_updates = [
        {
            "key": outcome.idempotency_key,
            "status": OUTBOX_STATUS[outcome.status],
            "agency_ref": outcome.agency_ref,
            "reason": outcome.reason,
        }
        for outcome in known
    ]
    with store.begin() as conn:
        channel.apply(conn, keys, known, recovering)  # first: it may read the payloads
        store.set_outbox(conn, outbox_updates)


def _count(stats: SyncStats, outcome: PushOutcome, item: OutboxItem, recovering: bool) -> None:
    if outcome.status in (PushStatus.ACCEPTED, PushStatus.SENT):
        stats.cases_sent += 1
        stats.claims_sent += item.claim_count
    elif outcome.status is PushStatus.REJECTED:
        stats.rejected += 1
    elif outcome.status is PushStatus.UNKNOWN:
        stats.unknown += 1
    elif outcome.status is PushStatus.RETRYABLE and not recovering:
        stats.retryable += 1


def _event(
    case_key: str, now: dt.datetime, outcome: PushOutcome, status: CaseStatus
) -> dict[str, Any]:
    words = {
        CaseStatus.ACCEPTED: f"accepted by the agency as {outcome.agency_ref}",
        CaseStatus.SENT: "delivered to the agency",
        CaseStatus.REJECTED: f"rejected by the agency: {outcome.reason}",
    }[status]
    return {
        "event_id": f"{case_key}:{status.value}:{uuid.uuid4().hex[:12]}",
        "case_key": case_key,
        "at": now,
        "kind": "receipt" if status is not CaseStatus.SENT else "sent",
        "direction": "in" if status is not CaseStatus.SENT else "out",
        "status": status.value,
        "agency_ref": outcome.agency_ref,
        "message": words,
    }
