"""The agency contract suite tested on itself: a sound toy agency passes every check, and toy
agencies with one planted flaw each are caught by the check meant for that flaw.

The toy's "remote" is a plain object in this process: a list of the cases it holds, a call
counter, and a queue of misbehaviours. Its connector waits out a 429 through an injected
``sleep``, as the HTTP transport does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from claimbridge.connectors.base import (
    Agency,
    AgencyCapabilities,
    CheckItem,
    CheckKind,
    CheckResult,
    ConnectorContext,
    ConnectorSettings,
    Correction,
    CorrectionKind,
    Delivery,
    PushOutcome,
    PushStatus,
)
from claimbridge.errors import UnreachableError
from tests.contract import agency_suite as suite
from tests.contract.agency_suite import AgencyHarness


@dataclass
class ToyRemote:
    """What the toy agency holds: (idempotency key, agency reference) per case it took."""

    cases: list[tuple[str, str]] = field(default_factory=list)
    corrections: list[tuple[str, str]] = field(default_factory=list)
    calls: int = 0
    faults: list[str] = field(default_factory=list)  # "429" | "422" | "lost", in order
    refs: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def take(self, key: str, dedupe: bool) -> str:
        if dedupe:
            for held, ref in self.cases:
                if held == key:
                    return ref
        ref = f"T-{next(self.refs)}"
        self.cases.append((key, ref))
        return ref


class ToySettings(ConnectorSettings):
    reachable: bool = True


RETRY_AFTER = 7


class ToyAgency(Agency):
    """A batch agency over a :class:`ToyRemote`, with optional flaws."""

    type_name: ClassVar[str] = "toy-agency"
    Settings: ClassVar[type[ConnectorSettings]] = ToySettings

    def __init__(
        self,
        remote: ToyRemote,
        flaws: frozenset[str],
        sleep: Callable[[float], None],
        reachable: bool = True,
    ) -> None:
        super().__init__(ToySettings(reachable=reachable), ConnectorContext(name="toy-agency"))
        self.remote = remote
        self.flaws = flaws
        self.sleep = sleep

    @property
    def capabilities(self) -> AgencyCapabilities:  # type: ignore[override]
        honest_without_keys = "no_keys" in self.flaws
        return AgencyCapabilities(
            idempotency_keys=not honest_without_keys,
            lookup="no_lookup" not in self.flaws,
            report_payments=True,
            reduce=True,
            withdraw=True,
        )

    @property
    def resendable_corrections(self) -> frozenset[CorrectionKind]:
        """Every kind, where lookup finds corrections (or the toy claims so anyway)."""
        if "blind_to_corrections" in self.flaws and "claims_resendable" not in self.flaws:
            return frozenset()
        return frozenset(CorrectionKind)

    def correct(self, corrections: Sequence[Correction]) -> list[PushOutcome]:
        if not corrections:
            return []
        self.remote.calls += 1
        outcomes = []
        for correction in corrections:
            key = correction.idempotency_key
            held = dict(self.remote.corrections)
            if key in held and "correction_ignores_keys" not in self.flaws:
                ref = held[key]
            else:
                ref = f"C-{next(self.remote.refs)}"
                self.remote.corrections.append((key, ref))
            outcomes.append(PushOutcome(key, PushStatus.ACCEPTED, agency_ref=ref))
        return outcomes

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        if not deliveries and "calls_on_empty" not in self.flaws:
            return []
        self.remote.calls += 1
        fault = self.remote.faults.pop(0) if self.remote.faults else None
        if fault == "429":
            self.sleep(0.5 if "ignores_retry_after" in self.flaws else RETRY_AFTER)
            self.remote.calls += 1
            fault = None
        if fault == "422":
            if "rejection_retryable" in self.flaws:
                return [PushOutcome(d.idempotency_key, PushStatus.RETRYABLE) for d in deliveries]
            reason = None if "rejection_without_reason" in self.flaws else "422: debtor unknown"
            return [
                PushOutcome(d.idempotency_key, PushStatus.REJECTED, reason=reason)
                for d in deliveries
            ]
        dedupe = not ({"ignores_keys", "no_keys"} & self.flaws)
        refs = [self.remote.take(d.idempotency_key, dedupe) for d in deliveries]
        if fault == "lost":
            if "timeout_is_retryable" in self.flaws:
                raise UnreachableError("timed out", connector=self.type_name)
            return [PushOutcome(d.idempotency_key, PushStatus.UNKNOWN) for d in deliveries]
        outcomes = [
            PushOutcome(d.idempotency_key, PushStatus.ACCEPTED, agency_ref=ref)
            for d, ref in zip(deliveries, refs, strict=True)
        ]
        return outcomes[:-1] if "drops_outcome" in self.flaws else outcomes

    def lookup(self, idempotency_key: str, agency_ref: str | None = None) -> PushOutcome | None:
        self.remote.calls += 1
        corrections = [] if "blind_to_corrections" in self.flaws else self.remote.corrections
        for key, ref in [*self.remote.cases, *corrections]:
            if key == idempotency_key:
                return PushOutcome(key, PushStatus.ACCEPTED, agency_ref=ref)
        return None

    def check(self) -> CheckResult:
        if not self.settings.reachable:  # type: ignore[attr-defined]
            if "check_raises" in self.flaws:
                raise UnreachableError("toy agency is down", connector=self.type_name)
            items = (CheckItem(CheckKind.REACHABILITY, False, "toy agency is down"),)
        else:
            items = (CheckItem(CheckKind.REACHABILITY, True, "toy agency answers"),)
        return CheckResult(connector="toy-agency", items=items)


class ToyHarness(AgencyHarness):
    retry_after: ClassVar[int] = RETRY_AFTER

    def __init__(self, root: Path, flaws: frozenset[str] = frozenset()) -> None:
        super().__init__(root)
        self.remote = ToyRemote()
        self.flaws = flaws
        self.waited: list[float] = []

    def agency(self) -> Agency:
        return ToyAgency(self.remote, self.flaws, self.waited.append)

    def broken_agency(self) -> Agency:
        return ToyAgency(self.remote, self.flaws, self.waited.append, reachable=False)

    def held_cases(self) -> int:
        return len(self.remote.cases)

    def held_corrections(self) -> int:
        return len(self.remote.corrections)

    def calls(self) -> int:
        return self.remote.calls

    def sleeps(self) -> Sequence[float]:
        return self.waited

    def rate_limit_next(self, retry_after: int) -> None:
        assert retry_after == RETRY_AFTER
        self.remote.faults.append("429")

    def reject_next(self) -> str:
        self.remote.faults.append("422")
        return "debtor unknown"

    def lose_next_answer(self) -> None:
        self.remote.faults.append("lost")


Check = Callable[[AgencyHarness, Path], None]


def _plain(check: Callable[[AgencyHarness], None]) -> Check:
    def run(harness: AgencyHarness, _workdir: Path) -> None:
        check(harness)

    run.__name__ = check.__name__
    return run


CHECKS: list[Check] = [
    suite.check_empty_batch_makes_no_call,
    _plain(suite.check_outcomes_cover_every_delivery),
    suite.check_same_cases_again_creates_no_duplicate,
    _plain(suite.check_rate_limit_is_waited_out),
    suite.check_4xx_is_terminal_with_reason,
    suite.check_timeout_after_acceptance_makes_no_second_case,
    _plain(suite.check_check_semantics),
    suite.check_corrections_are_delivered_once,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_a_sound_agency_passes(check: Check, tmp_path: Path) -> None:
    check(ToyHarness(tmp_path / "agency"), tmp_path / "core")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_an_honest_agency_without_keys_passes_by_lookup(check: Check, tmp_path: Path) -> None:
    """No idempotency keys, but lookup: what a file drop does."""
    check(ToyHarness(tmp_path / "agency", frozenset({"no_keys"})), tmp_path / "core")


def test_an_agency_that_cannot_find_corrections_leaves_lost_ones_for_a_person(
    tmp_path: Path,
) -> None:
    """No keys, a lookup that finds cases only, and a resend that would apply twice: honest
    about it (no resendable kinds), every lost correction waits for a person, none twice."""
    flaws = frozenset({"no_keys", "blind_to_corrections", "correction_ignores_keys"})
    suite.check_corrections_are_delivered_once(ToyHarness(tmp_path / "agency", flaws), tmp_path)


FLAWED: list[tuple[frozenset[str], Check, str]] = [
    (frozenset({"calls_on_empty"}), suite.check_empty_batch_makes_no_call, "network call"),
    (frozenset({"drops_outcome"}), _plain(suite.check_outcomes_cover_every_delivery), "order"),
    (frozenset({"ignores_keys"}), suite.check_same_cases_again_creates_no_duplicate, "duplicat"),
    (
        frozenset({"ignores_keys", "no_lookup"}),
        suite.check_same_cases_again_creates_no_duplicate,
        "duplicat",
    ),
    (
        frozenset({"no_keys", "no_lookup"}),
        suite.check_same_cases_again_creates_no_duplicate,
        "not resolved",
    ),
    (frozenset({"ignores_retry_after"}), _plain(suite.check_rate_limit_is_waited_out), "honoured"),
    (
        frozenset({"rejection_retryable"}),
        suite.check_4xx_is_terminal_with_reason,
        "not a terminal rejection",
    ),
    (
        frozenset({"rejection_without_reason"}),
        suite.check_4xx_is_terminal_with_reason,
        "reason",
    ),
    (
        frozenset({"no_keys", "timeout_is_retryable"}),
        suite.check_timeout_after_acceptance_makes_no_second_case,
        "not sent|sent twice",
    ),
    (
        frozenset({"ignores_keys", "no_lookup"}),
        suite.check_timeout_after_acceptance_makes_no_second_case,
        "sent twice",
    ),
    (frozenset({"check_raises"}), _plain(suite.check_check_semantics), "raised UnreachableError"),
    (
        frozenset({"correction_ignores_keys", "no_lookup"}),
        suite.check_corrections_are_delivered_once,
        "a lost answer made a second report",
    ),
    (  # says a correction it cannot find may be sent again, and takes it twice
        frozenset(
            {"no_keys", "blind_to_corrections", "correction_ignores_keys", "claims_resendable"}
        ),
        suite.check_corrections_are_delivered_once,
        "a lost answer made a second report",
    ),
]


@pytest.mark.parametrize(
    ("flaws", "check", "message"),
    FLAWED,
    ids=[f"{'+'.join(sorted(f))}-{c.__name__}" for f, c, _ in FLAWED],
)
def test_a_flawed_agency_is_caught(
    flaws: frozenset[str], check: Check, message: str, tmp_path: Path
) -> None:
    with pytest.raises(AssertionError, match=message):
        check(ToyHarness(tmp_path / "agency", flaws), tmp_path / "core")


def test_a_declared_exemption_skips_with_its_reason(tmp_path: Path) -> None:
    harness = ToyHarness(tmp_path / "agency")
    harness.not_applicable = {"rate_limit_is_waited_out": "the toy has no rate limit"}  # type: ignore[misc]
    with pytest.raises(pytest.skip.Exception, match="the toy has no rate limit"):
        suite.check_rate_limit_is_waited_out(harness)


def test_cases_are_distinct_and_sendable() -> None:
    cases = suite.make_cases(5)
    assert len({c.case_key for c in cases}) == 5
    assert len({c.debtor.debtor_key() for c in cases}) == 5
    assert suite.make_cases(2, start=3)[0].case_key == cases[3].case_key
