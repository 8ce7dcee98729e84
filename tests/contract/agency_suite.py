"""The contract every agency connector must pass, generated per connector.

A connector's test module implements an :class:`AgencyHarness` (how to build the agency under
test, how to see what the agency side holds, how to make the agency misbehave) and subclasses
:class:`AgencyContract`; that is all. The checks are plain functions (``check_*``) so the
suite's own tests can run them against a deliberately broken toy agency and prove each one can
fail. ``docs/agency-contract-suite.md`` says what each check asserts and why.

Deliveries go through the real core where it matters: :func:`claimbridge.delivery.deliver`
over a :class:`~claimbridge.state.StateStore` on SQLite, so "effectively once" is checked as a
run sees it — outbox, ``sending``, recovery by ``lookup`` or by resending with the same key.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import select

from claimbridge.connectors.accounting.files import OpenItemsFileSource, OpenItemsSettings
from claimbridge.connectors.base import (
    Agency,
    CheckItem,
    CheckKind,
    CheckResult,
    ConnectorContext,
    Correction,
    CorrectionKind,
    Delivery,
    PushOutcome,
    PushStatus,
)
from claimbridge.delivery import deliver, deliver_channel
from claimbridge.grouping import idempotency_key
from claimbridge.pipeline import PipelineSpec, SyncStats
from claimbridge.reconcile import ReconcileSpec, ReconcileStats
from claimbridge.reconcile.context import RunContext
from claimbridge.reconcile.corrections import CorrectionChannel, correction_json, resendable
from claimbridge.schemas import Case, CaseStatus, CreditNote, Payment, SourceRef
from claimbridge.state import StateStore
from claimbridge.state.tables import outbox
from tests.factories import make_case, make_claim, make_creditor, make_party

__all__ = [
    "PIPELINE",
    "AgencyContract",
    "AgencyHarness",
    "Core",
    "Delivery",
    "check_4xx_is_terminal_with_reason",
    "check_check_semantics",
    "check_corrections_are_delivered_once",
    "check_empty_batch_makes_no_call",
    "check_outcomes_cover_every_delivery",
    "check_rate_limit_is_waited_out",
    "check_same_cases_again_creates_no_duplicate",
    "check_timeout_after_acceptance_makes_no_second_case",
    "make_cases",
]

PIPELINE = "agency-contract"
DELIVERED = (PushStatus.ACCEPTED, PushStatus.SENT)  # what a healthy push answers
FINAL_OUTBOX = {"accepted", "rejected"}


def make_cases(count: int, start: int = 0) -> list[Case]:
    """``count`` sendable cases, one debtor and one claim each, all distinct."""
    cases = []
    for i in range(start, start + count):
        number = f"{20001 + i}"
        claim = make_claim(
            f"7{i:04d}",
            debtor_id=number,
            original_amount=Decimal("1500.00") + i,
            remaining_principal=Decimal("1500.00") + i,
        )
        cases.append(make_case(debtor=make_party(number), claims=(claim,)))
    return cases


# --- the harness ---------------------------------------------------------------------------


class AgencyHarness(ABC):
    """What an agency's contract module provides: the agency under test and a window on the
    agency's side (what it holds, how often it was called, how to make it misbehave).

    ``agency()`` may be called many times; every connector it returns talks to the same agency
    side, as the connectors of successive runs do.
    """

    #: checks (named without ``check_``) that cannot apply to this agency, with the reason
    not_applicable: ClassVar[Mapping[str, str]] = {}
    #: seconds the injected 429 asks to wait; a harness makes waiting cost no real time
    retry_after: ClassVar[int] = 7

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    # --- what a connector module implements -------------------------------------------------

    def serving(self) -> contextlib.AbstractContextManager[object]:
        """The agency side, held for one check (a sandbox server); nothing for a directory."""
        return contextlib.nullcontext()

    @abstractmethod
    def agency(self) -> Agency:
        """A new connector to the agency side, ready to push."""

    @abstractmethod
    def broken_agency(self) -> Agency:
        """A connector whose config points at nothing usable (closed port, unusable path)."""

    @abstractmethod
    def held_cases(self) -> int:
        """How many cases the agency side holds; a case it holds twice counts twice."""

    def held_corrections(self) -> int:
        """How many corrections (direct payments, reductions…) the agency side took; one it
        took twice counts twice. Harnesses of agencies that take corrections implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot count corrections")

    @abstractmethod
    def calls(self) -> int:
        """Network calls (every attempt, retries included) or files written so far."""

    def sleeps(self) -> Sequence[float]:
        """The waits the connector asked for so far (its transport's injected sleep)."""
        return ()

    def rate_limit_next(self, retry_after: int) -> None:
        """The agency's next answer is 429 with ``Retry-After: retry_after``."""
        raise NotImplementedError(f"{type(self).__name__} cannot inject a rate limit")

    def reject_next(self) -> str:
        """The agency's next answer is a 4xx refusal; returns the reason the agency gives."""
        raise NotImplementedError(f"{type(self).__name__} cannot inject a rejection")

    @abstractmethod
    def lose_next_answer(self) -> None:
        """The agency stores the next push, but its answer never reaches the connector (a
        timeout or a dropped connection after the agency committed, on every retry)."""


# --- driving the core ----------------------------------------------------------------------


@dataclass
class Core:
    """The outbox and :func:`deliver` on a SQLite state store, as a run uses them."""

    store: StateStore
    workdir: Path

    @classmethod
    @contextlib.contextmanager
    def open(cls, workdir: Path) -> Iterator[Core]:
        workdir.mkdir(parents=True, exist_ok=True)
        store = StateStore.open(f"sqlite:///{workdir / 'state.db'}")
        try:
            yield cls(store, workdir)
        finally:
            store.close()

    def enqueue(self, agency: Agency, cases: Sequence[Case]) -> list[str]:
        """Store cases and their deliveries as the pipeline does; returns the keys."""
        name = agency.context.name
        now = dt.datetime.now(dt.UTC)
        keys = [idempotency_key(name, case.case_key) for case in cases]
        with self.store.begin() as conn:
            self.store.insert_cases(
                conn,
                [
                    {
                        "case_key": case.case_key,
                        "pipeline": PIPELINE,
                        "agency": name,
                        "debtor_key": case.debtor.debtor_key(),
                        "currency": case.currency,
                        "total_principal": sum(c.remaining_principal for c in case.claims),
                        "claim_count": len(case.claims),
                        "status": CaseStatus.QUEUED.value,
                        "forced": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for case in cases
                ],
            )
            self.store.enqueue(
                conn,
                [
                    {
                        "pipeline": PIPELINE,
                        "agency": name,
                        "case_key": case.case_key,
                        "idempotency_key": key,
                        "payload": case.model_dump_json(),
                        "run_id": "contract-enqueue",
                    }
                    for key, case in zip(keys, cases, strict=True)
                ],
            )
        return keys

    def run(self, agency: Agency) -> SyncStats:
        """One delivery pass with a fresh connector, as one run of the pipeline makes."""
        source = OpenItemsFileSource(
            OpenItemsSettings(invoices=self.workdir / "unused.csv"),
            ConnectorContext(name="unused-source", workdir=self.workdir),
        )
        spec = PipelineSpec(PIPELINE, source=source, agency=agency, creditor=make_creditor())
        run_id = self.store.start_run(PIPELINE, "sync")
        stats = SyncStats(run_id=run_id)
        try:
            deliver(spec, self.store, run_id, stats)
        finally:
            agency.close()
        self.store.finish_run(run_id, "succeeded", stats.to_dict())
        return stats

    def statuses(self, keys: Sequence[str]) -> dict[str, str]:
        return {i.idempotency_key: i.status for i in self.store.outbox_by_keys(keys)}

    def reasons(self, keys: Sequence[str]) -> list[str]:
        query = select(outbox.c.reason).where(outbox.c.idempotency_key.in_(list(keys)))
        with self.store.begin() as conn:
            return [str(reason or "") for (reason,) in conn.execute(query)]


def _skip_unless_applies(harness: AgencyHarness, check: str) -> None:
    reason = harness.not_applicable.get(check)
    if reason is not None:
        pytest.skip(f"{type(harness).__name__}: {reason}")


# --- the checks ----------------------------------------------------------------------------


def check_empty_batch_makes_no_call(harness: AgencyHarness, workdir: Path) -> None:
    """An empty push answers ``[]`` without a call; a run with nothing pending calls nothing."""
    before = harness.calls()
    agency = harness.agency()
    try:
        assert agency.push([]) == [], "an empty batch must answer with no outcomes"
    finally:
        agency.close()
    assert harness.calls() == before, "an empty batch made a network call or wrote a file"
    with Core.open(workdir) as core:
        stats = core.run(harness.agency())
    assert harness.calls() == before, "a run with an empty outbox called the agency"
    assert stats.cases_sent == 0
    assert harness.held_cases() == 0


def check_outcomes_cover_every_delivery(harness: AgencyHarness) -> None:
    """One outcome per delivery, in order, by key; delivered ones, accepted with a reference
    (or sent, for agencies that accept later); the agency holds each case once."""
    cases = make_cases(7)  # more than one request for a small batch size
    deliveries = [Delivery(f"contract-cover-{i}", case) for i, case in enumerate(cases)]
    held = harness.held_cases()
    agency = harness.agency()
    try:
        outcomes = agency.push(deliveries)
    finally:
        agency.close()
    assert all(isinstance(o, PushOutcome) for o in outcomes)
    got = [o.idempotency_key for o in outcomes]
    assert got == [d.idempotency_key for d in deliveries], f"no outcome or out of order: {got}"
    wrong = [o for o in outcomes if o.status not in DELIVERED]
    assert not wrong, f"healthy deliveries were not delivered: {wrong[:2]}"
    accepted = [o for o in outcomes if o.status is PushStatus.ACCEPTED]
    assert all(o.agency_ref for o in accepted), "an accepted case has no agency reference"
    refs = [o.agency_ref for o in accepted]
    assert len(set(refs)) == len(refs), "two cases got the same agency reference"
    assert harness.held_cases() == held + len(cases)


def check_same_cases_again_creates_no_duplicate(harness: AgencyHarness, workdir: Path) -> None:
    """Delivering the same cases again — a rerun that enqueues them again, a core that lost
    what it recorded, a resend with the same key — leaves each case at the agency once."""
    cases = make_cases(4)
    with Core.open(workdir) as core:
        keys = core.enqueue(harness.agency(), cases)
        first = core.run(harness.agency())
        assert first.cases_sent == len(cases), first.to_dict()
        assert harness.held_cases() == len(cases)
        assert set(core.statuses(keys).values()) == {"accepted"}

        # a rerun of the pipeline: the same cases are enqueued again and delivered again
        calls = harness.calls()
        core.enqueue(harness.agency(), cases)
        again = core.run(harness.agency())
        assert again.cases_sent == 0, "a rerun sent the delivered cases again"
        assert harness.calls() == calls, "a rerun called the agency for delivered cases"

        # a crash between the send and recording its outcome: the rows stay 'sending'
        more = make_cases(3, start=len(cases))
        sent = core.enqueue(harness.agency(), more)
        core.store.mark_sending(sent)
        crashed = harness.agency()
        try:
            crashed.push([Delivery(k, c) for k, c in zip(sent, more, strict=True)])
        finally:
            crashed.close()  # its outcomes die with the process
        core.run(harness.agency())
        total = len(cases) + len(more)
        assert harness.held_cases() == total, "recovering sent deliveries duplicated cases"
        resolved = core.statuses(sent)
        assert set(resolved.values()) == {"accepted"}, f"crashed sends not resolved: {resolved}"

    agency = harness.agency()
    if agency.capabilities.idempotency_keys:  # the agency says resending with a key is safe
        deliveries = [Delivery(k, c) for k, c in zip(keys, cases, strict=True)]
        try:
            resent = agency.push(deliveries)
        finally:
            agency.close()
        assert all(o.status in DELIVERED for o in resent), [o.status for o in resent]
        assert harness.held_cases() == total, (
            "resending with the same idempotency keys created duplicate cases"
        )
    else:
        agency.close()
        assert agency.capabilities.lookup, (
            "an agency without idempotency keys needs lookup, or an unknown outcome can "
            "never be resolved without risking a duplicate"
        )


def check_rate_limit_is_waited_out(harness: AgencyHarness) -> None:
    """A 429 with ``Retry-After: N`` is waited out (N seconds, asked of the injected sleep,
    never really slept) and the same push then succeeds, without a duplicate."""
    _skip_unless_applies(harness, "rate_limit_is_waited_out")
    wait = harness.retry_after
    harness.rate_limit_next(wait)
    before, slept, held = harness.calls(), len(harness.sleeps()), harness.held_cases()
    deliveries = [Delivery(f"contract-429-{i}", c) for i, c in enumerate(make_cases(2, 20))]
    agency = harness.agency()
    try:
        outcomes = agency.push(deliveries)
    finally:
        agency.close()
    waits = list(harness.sleeps())[slept:]
    assert max(waits, default=0) >= wait, f"Retry-After {wait} s was not honoured: {waits}"
    assert all(o.status in DELIVERED for o in outcomes), (
        f"not delivered after the wait: {[o.status for o in outcomes]}"
    )
    assert harness.calls() - before >= 2, "the rate-limited call was not made again"
    assert harness.held_cases() == held + len(deliveries)


def check_4xx_is_terminal_with_reason(harness: AgencyHarness, workdir: Path) -> None:
    """A 4xx refusal rejects the delivery for good, with the agency's reason recorded; the
    next run does not send it again."""
    _skip_unless_applies(harness, "4xx_is_terminal_with_reason")
    cases = make_cases(1)
    with Core.open(workdir) as core:
        keys = core.enqueue(harness.agency(), cases)
        reason = harness.reject_next()
        stats = core.run(harness.agency())
        assert core.statuses(keys) == {keys[0]: "rejected"}, "a 4xx is not a terminal rejection"
        assert stats.rejected == 1, stats.to_dict()
        recorded = core.reasons(keys)
        assert any(reason in r for r in recorded), f"agency's reason {reason!r} lost: {recorded}"
        calls = harness.calls()
        core.run(harness.agency())
        assert harness.calls() == calls, "a rejected delivery was sent again"
        assert core.statuses(keys) == {keys[0]: "rejected"}
    assert harness.held_cases() == 0


def check_timeout_after_acceptance_makes_no_second_case(
    harness: AgencyHarness, workdir: Path
) -> None:
    """The agency stores a case but its answer is lost: the run records the outcome as unknown
    (never as not-sent), the next run resolves it by lookup or by resending with the same key,
    and the agency holds the case exactly once."""
    cases = make_cases(2)
    honours_keys = harness.agency().capabilities.idempotency_keys
    with Core.open(workdir) as core:
        keys = core.enqueue(harness.agency(), cases)
        harness.lose_next_answer()
        first = core.run(harness.agency())
        assert harness.held_cases() == len(cases), "the agency did not store the batch"
        statuses = core.statuses(keys)
        if not honours_keys:  # only a key-honouring agency may be sent the same case again
            assert "pending" not in statuses.values(), (
                f"a lost answer counted as not sent: {statuses}"
            )
        assert first.cases_sent + first.unknown + first.retryable == len(cases), first.to_dict()
        second = core.run(harness.agency())
        assert harness.held_cases() == len(cases), "a case whose answer was lost was sent twice"
        assert set(core.statuses(keys).values()) == {"accepted"}, core.statuses(keys)
        assert second.unknown == 0, second.to_dict()
        calls = harness.calls()
        core.run(harness.agency())
        assert harness.calls() == calls, "a third run called the agency for resolved cases"
    assert harness.held_cases() == len(cases)


class _Corrections:
    """One delivered case and corrections of it through the outbox and the correction loop,
    as reconcile runs them."""

    def __init__(self, harness: AgencyHarness, core: Core, workdir: Path) -> None:
        self.harness, self.core, self.workdir = harness, core, workdir
        self.case = make_cases(1, start=40)[0]
        [key] = core.enqueue(harness.agency(), [self.case])
        core.run(harness.agency())
        [item] = core.store.outbox_by_keys([key])
        assert item.status == "accepted", "the case was not delivered"
        row = core.store.case(self.case.case_key)
        assert row is not None
        assert row.agency_ref, "no agency reference to correct"
        self.agency_ref = str(row.agency_ref)
        probe = harness.agency()
        probe.close()
        self.name = probe.context.name
        caps = probe.capabilities
        self.kinds = {
            CorrectionKind.PAYMENT: caps.report_payments,
            CorrectionKind.REDUCE: caps.reduce,
            CorrectionKind.WITHDRAW: caps.withdraw,
        }
        self.resendable = resendable(probe)

    def correction(self, kind: CorrectionKind, number: int) -> Correction:
        claim = self.case.claims[0]
        ident = f"contract-{kind}-{number}"
        payment = note = None
        if kind is CorrectionKind.PAYMENT:
            payment = Payment(
                payment_id=ident,
                source=SourceRef(system="contract", record_id=ident),
                amount=Decimal("100.00") + number,
                currency=claim.currency,
                booking_date=dt.date(2026, 11, 20),
                invoice_number=claim.invoice_number,
            )
        elif kind is CorrectionKind.REDUCE:
            note = CreditNote(
                credit_note_number=ident,
                source=SourceRef(system="contract", record_id=ident, record_type="credit_note"),
                invoice_number=claim.invoice_number,
                amount=Decimal("50.00") + number,
                currency=claim.currency,
                issue_date=dt.date(2026, 11, 20),
            )
        return Correction(
            idempotency_key=idempotency_key(self.name, ident, kind.value),
            kind=kind,
            case_key=self.case.case_key,
            agency_ref=self.agency_ref,
            invoice_number=claim.invoice_number,
            payment=payment,
            credit_note=note,
            reason="credited in full" if kind is CorrectionKind.WITHDRAW else None,
        )

    def report(self, correction: Correction) -> str:
        with self.core.store.begin() as conn:
            self.core.store.enqueue(
                conn,
                [
                    {
                        "pipeline": PIPELINE,
                        "agency": self.name,
                        "case_key": correction.case_key,
                        "idempotency_key": correction.idempotency_key,
                        "kind": correction.kind.value,
                        "payload": correction_json(correction),
                        "run_id": "contract",
                    }
                ],
            )
        return correction.idempotency_key

    def run(self) -> ReconcileStats:
        agency = self.harness.agency()
        source = OpenItemsFileSource(
            OpenItemsSettings(invoices=self.workdir / "unused.csv"),
            ConnectorContext(name="unused-source", workdir=self.workdir),
        )
        spec = ReconcileSpec(PipelineSpec(PIPELINE, source, agency, make_creditor()))
        ctx = RunContext(spec, self.core.store, "contract", dt.date(2026, 11, 23), ReconcileStats())
        try:
            deliver_channel(spec.pipeline, self.core.store, CorrectionChannel(ctx))
        finally:
            agency.close()
        return ctx.stats

    def crash_after_sending(self, correction: Correction) -> str:
        """Reported and sent, but the run dies before it records the answer (row ``sending``)."""
        key = self.report(correction)
        self.core.store.mark_sending([key])
        crashed = self.harness.agency()
        try:
            crashed.correct([correction])
        finally:
            crashed.close()  # its outcome dies with the process
        return key

    def for_a_person(self, key: str) -> bool:
        return any(
            e.event_id == f"{key}:for-a-person"
            for e in self.core.store.case_events(self.case.case_key)
        )


def check_corrections_are_delivered_once(harness: AgencyHarness, workdir: Path) -> None:
    """Corrections reported through the outbox reach the agency once: a rerun calls nothing;
    one whose answer was lost after the send (for each kind the agency takes: a direct
    payment, a reduction, a withdrawal) is resolved without reaching the agency twice — by
    lookup, by a resend the agency processes once, or, where neither is possible, left
    ``unknown`` with a note for a person; one that never reached the agency is sent, once, if
    its kind may be sent again, else waits for that person too."""
    probe = harness.agency()
    probe.close()
    if not probe.capabilities.report_payments:
        pytest.skip(f"{type(harness).__name__}: the agency takes no direct-payment reports")
    try:
        before = harness.held_corrections()
    except NotImplementedError as exc:
        pytest.skip(str(exc))
    with Core.open(workdir) as core:
        rig = _Corrections(harness, core, workdir)

        first = rig.report(rig.correction(CorrectionKind.PAYMENT, 1))
        stats = rig.run()
        assert stats.corrections_sent == 1, stats.to_dict()
        assert core.statuses([first]) == {first: "accepted"}
        assert harness.held_corrections() == before + 1
        calls = harness.calls()
        rig.run()
        assert harness.calls() == calls, "a rerun called the agency for a delivered correction"

        # a crash before the send reached the agency: sent once, if its kind may be resent
        never = rig.report(rig.correction(CorrectionKind.PAYMENT, 2))
        core.store.mark_sending([never])
        rig.run()
        held = before + 1
        if CorrectionKind.PAYMENT in rig.resendable:
            held += 1
            assert core.statuses([never]) == {never: "accepted"}, "an unsent payment was lost"
        else:
            assert core.statuses([never]) == {never: "unknown"}
            assert rig.for_a_person(never), "an unknown correction has no note for a person"
        assert harness.held_corrections() == held

        # the answer is lost after the send, for each kind the agency takes
        for number, kind in enumerate(rig.kinds, start=3):
            if not rig.kinds[kind]:
                continue
            key = rig.crash_after_sending(rig.correction(kind, number))
            held += 1
            assert harness.held_corrections() == held, f"the agency did not take the {kind}"
            recovered = rig.run()
            status = core.statuses([key])[key]
            assert harness.held_corrections() == held, (
                f"a lost answer made a second report ({kind})"
            )
            if kind in rig.resendable:
                assert status == "accepted", (kind, recovered.to_dict())
            else:
                assert status in ("accepted", "unknown"), (kind, status)
            if status == "unknown":
                assert rig.for_a_person(key), f"an unknown {kind} has no note for a person"
            rig.run()
            assert harness.held_corrections() == held, f"a later run reported the {kind} again"


def check_check_semantics(harness: AgencyHarness) -> None:
    """``check()`` answers a :class:`CheckResult` of typed items, all ok on a good config; on a
    broken one it does not raise, and at least one item fails."""
    agency = harness.agency()
    try:
        good = agency.check()
    finally:
        agency.close()
    assert isinstance(good, CheckResult)
    assert good.items, "check() answered no items"
    assert all(isinstance(i, CheckItem) and isinstance(i.kind, CheckKind) for i in good.items)
    assert good.ok, [i.message for i in good.items if not i.ok]
    broken = harness.broken_agency()
    try:
        bad = broken.check()
    except Exception as exc:  # the check exists to turn failures into items
        raise AssertionError(f"check() on a broken config raised {type(exc).__name__}") from exc
    finally:
        broken.close()
    assert isinstance(bad, CheckResult)
    assert not bad.ok, "a broken config passed check()"
    assert all(i.message for i in bad.items), "a check item has no message"


# --- the generated pytest class ----------------------------------------------------------


class AgencyContract:
    """Subclass as ``TestXxxAgencyContract`` with ``harness_class`` set; pytest collects the
    rest. To mark one check as a known defect, override its method with
    ``@pytest.mark.xfail(strict=True, reason=…)`` and call ``super()``.
    """

    harness_class: ClassVar[type[AgencyHarness]]

    @pytest.fixture
    def harness(self, tmp_path: Path) -> Iterator[AgencyHarness]:
        harness = self.harness_class(tmp_path / "agency")
        with harness.serving():
            yield harness

    def test_empty_batch_makes_no_call(self, harness: AgencyHarness, tmp_path: Path) -> None:
        check_empty_batch_makes_no_call(harness, tmp_path / "core")

    def test_outcomes_cover_every_delivery(self, harness: AgencyHarness) -> None:
        check_outcomes_cover_every_delivery(harness)

    def test_same_cases_again_creates_no_duplicate(
        self, harness: AgencyHarness, tmp_path: Path
    ) -> None:
        check_same_cases_again_creates_no_duplicate(harness, tmp_path / "core")

    def test_rate_limit_is_waited_out(self, harness: AgencyHarness) -> None:
        check_rate_limit_is_waited_out(harness)

    def test_4xx_is_terminal_with_reason(self, harness: AgencyHarness, tmp_path: Path) -> None:
        check_4xx_is_terminal_with_reason(harness, tmp_path / "core")

    def test_timeout_after_acceptance_makes_no_second_case(
        self, harness: AgencyHarness, tmp_path: Path
    ) -> None:
        check_timeout_after_acceptance_makes_no_second_case(harness, tmp_path / "core")

    def test_check_semantics(self, harness: AgencyHarness) -> None:
        check_check_semantics(harness)

    def test_corrections_are_delivered_once(self, harness: AgencyHarness, tmp_path: Path) -> None:
        check_corrections_are_delivered_once(harness, tmp_path / "core")
