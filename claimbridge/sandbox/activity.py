"""Simulated debtor activity for the sandbox agency, so ``claimbridge demo`` shows the whole loop.

Each accepted case gets one lifecycle, drawn from a random generator seeded by its agency
reference: paid in full, paid in instalments over several months, disputed (then withdrawn or
resumed and paid), or returned as uncollectable after some months. Interest accrues on the
outstanding principal at a configurable annual rate and collection fees are added at
configurable steps; every payment covers fees first, then interest, then principal (the order
Norwegian law prescribes). What a month (or, with ``settlement_interval = "weekly"``, a week)
collected is paid out in a settlement on a fixed day after it, itemized per case and claim, less
the agency's commission.

:func:`plan_case` is a pure function of the case, the settings and the creditor's corrections
that returns the case's whole lifecycle; :func:`simulate` records the part of every plan that
falls on or before a date. The plans never depend on when or how often the simulator runs, so
simulating to D twice, or to D1 and then D, yields the same events.

Corrections (a direct payment or credit note reducing a claim, a withdrawal, a pause and a
resume) take effect the day after the sandbox's clock received them. Everything already
recorded lies on or before that clock, so a correction only changes the part of a plan that has
not happened yet: the debtor's behaviour is drawn first (:func:`_behaviour`), then played
against the balances with the corrections in between.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from claimbridge.schemas import Case, CaseStatus, Settlement, SettlementLine

if TYPE_CHECKING:
    from claimbridge.sandbox.store import SandboxStore

__all__ = [
    "ActivitySettings",
    "CaseInput",
    "CorrectionInput",
    "FeeStep",
    "PlannedEvent",
    "plan_case",
    "simulate",
]

_CENT = Decimal("0.01")


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


class FeeStep(BaseModel):
    """A collection fee added when a case is still open ``after_days`` after acceptance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after_days: int = Field(ge=0)
    amount: Decimal = Field(ge=0)


class ActivitySettings(BaseModel):
    """How the simulated agency charges and pays out.

    The defaults are illustrative. ``annual_interest_percent`` stands for Norway's statutory
    late-payment interest (forsinkelsesrente), which the Ministry of Finance sets every half
    year; the fee steps stand for the regulated collection fee levels. Set both to the levels
    in force when realism matters.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    annual_interest_percent: Decimal = Field(default=Decimal("12.50"), ge=0, le=100)
    fee_steps: tuple[FeeStep, ...] = (
        FeeStep(after_days=0, amount=Decimal("70.00")),
        FeeStep(after_days=30, amount=Decimal("210.00")),
    )
    commission_percent: Decimal = Field(default=Decimal("10"), ge=0, le=100)
    settlement_interval: Literal["monthly", "weekly"] = "monthly"
    settlement_day: int = Field(default=5, ge=1, le=28)  # monthly: day of the next month
    settlement_weekday: int = Field(default=2, ge=0, le=6)  # weekly: 0 = the next Monday
    return_after_months: int = Field(default=6, ge=1, le=60)
    agency: str = "sandbox"


@dataclass(frozen=True, slots=True)
class CaseInput:
    """What the simulator needs to know about one accepted case."""

    agency_ref: str
    case_key: str
    currency: str
    accepted_on: date
    claims: tuple[tuple[str, Decimal], ...]  # (invoice number, principal), oldest first

    @classmethod
    def from_case(cls, agency_ref: str, case: Case, accepted_on: date) -> CaseInput:
        ordered = sorted(case.claims, key=lambda c: (c.due_date, c.invoice_number))
        claims = tuple((c.invoice_number, c.remaining_principal) for c in ordered)
        return cls(agency_ref, case.case_key, case.currency, accepted_on, claims)


@dataclass(frozen=True, slots=True)
class CorrectionInput:
    """A correction the creditor sent, as the simulation needs it."""

    effective_on: date
    kind: str  # payment | reduce | withdraw | pause | resume
    invoice_number: str | None = None
    amount: Decimal = Decimal("0")


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """One thing that happens to a case on a day. ``seq`` orders a case's events."""

    on: date
    seq: int
    kind: str  # status | settlement
    status: CaseStatus | None
    message: str
    data: dict[str, Any] | None = None


@dataclass(slots=True)
class _ClaimBalance:
    invoice_number: str
    principal: Decimal
    interest: Decimal = Decimal("0")
    fees: Decimal = Decimal("0")
    accrued_interest: Decimal = Decimal("0")
    accrued_fees: Decimal = Decimal("0")

    @property
    def owed(self) -> Decimal:
        return self.principal + self.interest + self.fees


@dataclass(slots=True)
class _Ledger:
    """A case's running balances; payments are recorded per month for the settlements."""

    settings: ActivitySettings
    claims: list[_ClaimBalance]
    accepted_on: date
    as_of: date
    fees_applied: int = 0
    collected: dict[tuple[int, int], dict[str, list[Decimal]]] = field(default_factory=dict)

    def advance(self, to: date) -> None:
        """Accrue simple daily interest and any fee step that falls due up to ``to``."""
        days = (to - self.as_of).days
        if days > 0:
            rate = self.settings.annual_interest_percent / Decimal(100)
            for claim in self.claims:
                accrued = _money(claim.principal * rate * days / Decimal(365))
                claim.interest += accrued
                claim.accrued_interest += accrued
            self.as_of = to
        steps = self.settings.fee_steps
        while self.fees_applied < len(steps) and self.owed > 0:
            step = steps[self.fees_applied]
            if self.accepted_on + timedelta(days=step.after_days) > to:
                break
            self.claims[0].fees += step.amount
            self.claims[0].accrued_fees += step.amount
            self.fees_applied += 1

    @property
    def owed(self) -> Decimal:
        return sum((c.owed for c in self.claims), Decimal("0"))

    def pay(self, on: date, amount: Decimal) -> None:
        """Cover fees, then interest, then principal, claims oldest first."""
        self.advance(on)
        remaining = min(_money(amount), self.owed)
        month = self.collected.setdefault(_period(self.settings, on), {})
        for part in ("fees", "interest", "principal"):
            for claim in self.claims:
                take = min(remaining, getattr(claim, part))
                if take <= 0:
                    continue
                setattr(claim, part, getattr(claim, part) - take)
                remaining -= take
                parts = month.setdefault(claim.invoice_number, [Decimal("0")] * 3)
                parts[("principal", "interest", "fees").index(part)] += take

    def reduce(self, on: date, invoice_number: str | None, amount: Decimal) -> None:
        """The creditor was paid (or credited) directly: the claim's principal goes down, the
        claims named first (all, oldest first, when none is named)."""
        self.advance(on)
        remaining = _money(amount)
        for claim in self.claims:
            if invoice_number is not None and claim.invoice_number != invoice_number:
                continue
            take = min(remaining, claim.principal)
            claim.principal -= take
            remaining -= take

    def withdraw(self, on: date, invoice_number: str) -> None:
        """One claim taken back: the agency stops collecting its principal and interest."""
        self.advance(on)
        for claim in self.claims:
            if claim.invoice_number == invoice_number:
                claim.principal = Decimal("0")
                claim.interest = Decimal("0")


def _seed(agency_ref: str) -> int:
    return int.from_bytes(hashlib.sha256(agency_ref.encode()).digest()[:8], "big")


# A debtor's behaviour, drawn before any balance is known: (day, order, action, argument).
# Actions: "pay" with "all", ("share", instalments left) or ("percent", p); "status" with
# (status, message).
_Action = tuple[date, int, str, Any]


def _behaviour(case: CaseInput, settings: ActivitySettings) -> list[_Action]:
    """What the debtor (and the agency's own case work) will do, seeded by the agency ref."""
    rng = random.Random(_seed(case.agency_ref))  # noqa: S311 - simulation, not security
    start = case.accepted_on
    actions: list[_Action] = []
    outcome = rng.choices(("full", "parts", "dispute", "return"), weights=(35, 30, 15, 20))[0]
    if outcome == "full":
        actions.append((start + timedelta(days=rng.randint(10, 60)), 0, "pay", "all"))
    elif outcome == "parts":
        count = rng.randint(2, 6)
        first = start + timedelta(days=rng.randint(15, 40))
        for index in range(count):
            left = count - index
            actions.append(
                (_add_months(first, index), 0, "pay", "all" if left == 1 else ("share", left))
            )
    elif outcome == "dispute":
        disputed = start + timedelta(days=rng.randint(5, 30))
        actions.append(
            (disputed, 0, "status", (CaseStatus.PAUSED, "the debtor disputes the claim"))
        )
        decided = disputed + timedelta(days=rng.randint(20, 60))
        if rng.random() < 0.5:
            actions.append(
                (decided, 0, "status", (CaseStatus.WITHDRAWN, "withdrawn after a dispute"))
            )
        else:
            actions.append((decided, 0, "status", (CaseStatus.ACTIVE, "dispute resolved; resumed")))
            actions.append((decided + timedelta(days=rng.randint(10, 40)), 1, "pay", "all"))
    else:
        returned = _add_months(start, settings.return_after_months)
        if rng.random() < 0.5:
            on = start + timedelta(days=rng.randint(20, 90))
            actions.append((on, 0, "pay", ("percent", rng.randint(10, 40))))
        message = "returned as uncollectable"
        actions.append((returned, 1, "status", (CaseStatus.RETURNED, message)))
    return actions


def _paused(actions: list[_Action], corrections: tuple[CorrectionInput, ...]) -> list[_Action]:
    """A creditor's pause holds everything after it until the resume (forever without one)."""
    timeline = sorted(
        (c.effective_on, c.kind) for c in corrections if c.kind in ("pause", "resume")
    )
    paused_on: date | None = None
    for on, kind in timeline:
        if kind == "pause" and paused_on is None:
            paused_on = on
        elif kind == "resume" and paused_on is not None:
            shift = on - paused_on
            actions = [(d + shift if d >= paused_on else d, *rest) for d, *rest in actions]
            paused_on = None
    if paused_on is not None:
        actions = [a for a in actions if a[0] < paused_on]
    return actions


def plan_case(
    case: CaseInput,
    settings: ActivitySettings,
    corrections: tuple[CorrectionInput, ...] = (),
) -> list[PlannedEvent]:
    """The whole simulated lifecycle of one case, in order. Pure and deterministic."""
    balances = [_ClaimBalance(number, principal) for number, principal in case.claims]
    ledger = _Ledger(settings, balances, case.accepted_on, case.accepted_on)
    ledger.advance(case.accepted_on)
    behaviour = _paused(_behaviour(case, settings), corrections)
    steps: list[tuple[date, int, int, str, Any]] = [
        (on, 1, order, kind, argument) for on, order, kind, argument in behaviour
    ]
    steps.extend((c.effective_on, 0, 0, "correction", c) for c in corrections)
    steps.sort(key=lambda step: step[:3])  # corrections first on their day; stable otherwise
    statuses: list[tuple[date, int, CaseStatus, str]] = []
    paid_on: date | None = None
    ended = False
    for on, _, _, kind, argument in steps:
        if ended:
            break
        if kind == "correction":
            ended = _correct(ledger, argument, statuses)
        elif kind == "status":
            status, message = argument
            statuses.append((on, 0, status, message))
            ended = status in (CaseStatus.WITHDRAWN, CaseStatus.RETURNED)
        elif ledger.owed > 0:
            ledger.pay(on, _amount(ledger, on, argument))
            if ledger.owed == 0:
                paid_on = on
                statuses.append((on, 0, CaseStatus.PAID, "paid in full"))
                ended = True
    planned: list[tuple[date, int, str, CaseStatus | None, str, dict[str, Any] | None]] = [
        (on, group, "status", status, message, None) for on, group, status, message in statuses
    ]
    last_settlement: date | None = None
    for period, lines in sorted(ledger.collected.items()):
        on = _settlement_date(settings, period)
        settlement = _settlement(case, settings, period, on, lines)
        if settlement.lines:
            data = {"settlement": settlement.model_dump(mode="json")}
            planned.append((on, 1, "settlement", None, "settlement", data))
            last_settlement = on
    if paid_on is not None:
        closed_on = max(paid_on, last_settlement or paid_on)
        planned.append((closed_on, 2, "status", CaseStatus.CLOSED, "settled and closed", None))
    planned.sort(key=lambda item: (item[0], item[1]))
    return [
        PlannedEvent(on, seq, kind, status, message, data)
        for seq, (on, _, kind, status, message, data) in enumerate(planned)
    ]


def _amount(ledger: _Ledger, on: date, argument: Any) -> Decimal:
    owed = _owed_on(ledger, on)
    if argument == "all":
        return owed
    rule, value = argument
    if rule == "share":
        return _money(owed / value)
    return _money(owed * Decimal(value) / 100)  # percent


def _correct(
    ledger: _Ledger, correction: CorrectionInput, statuses: list[tuple[date, int, CaseStatus, str]]
) -> bool:
    """Apply one correction; True when the agency has nothing left to do with the case."""
    on = correction.effective_on
    if correction.kind in ("payment", "reduce"):
        ledger.reduce(on, correction.invoice_number, correction.amount)
    elif correction.kind == "withdraw":
        if correction.invoice_number is None:
            return True  # the store recorded the withdrawal itself
        ledger.withdraw(on, correction.invoice_number)
        if all(c.principal == 0 for c in ledger.claims):
            return True
    if ledger.owed == 0:
        statuses.append((on, 0, CaseStatus.CLOSED, "nothing left to collect"))
        return True
    return False


def simulate(store: SandboxStore, until: date, settings: ActivitySettings) -> int:
    """Record every planned event up to ``until`` that is not recorded yet; how many were new.
    The sandbox's clock moves on to ``until`` (never back).

    Events are written in the order (day, case, step), so running to D in one go or in several
    steps leaves the same event log.
    """
    corrections = store.corrections_by_case()
    due: list[tuple[date, int, str, PlannedEvent]] = []
    for case_id, agency_ref, case, accepted_on in store.accepted_cases():
        case_input = CaseInput.from_case(agency_ref, case, accepted_on)
        plan = plan_case(case_input, settings, corrections.get(agency_ref, ()))
        due.extend((e.on, case_id, agency_ref, e) for e in plan if e.on <= until)
    due.sort(key=lambda item: (item[0], item[1], item[3].seq))
    added = store.record_simulated((ref, event) for _, _, ref, event in due)
    store.advance_clock(until)
    return added


def _owed_on(ledger: _Ledger, on: date) -> Decimal:
    ledger.advance(on)
    return ledger.owed


def _period(settings: ActivitySettings, on: date) -> tuple[int, int]:
    """The settlement period a payment falls in: (year, month), or (ISO year, ISO week)."""
    if settings.settlement_interval == "weekly":
        iso = on.isocalendar()
        return iso.year, iso.week
    return on.year, on.month


def _period_label(settings: ActivitySettings, period: tuple[int, int]) -> str:
    year, number = period
    return (
        f"{year:04d}-W{number:02d}"
        if settings.settlement_interval == "weekly"
        else (f"{year:04d}-{number:02d}")
    )


def _settlement(
    case: CaseInput,
    settings: ActivitySettings,
    period: tuple[int, int],
    on: date,
    lines: dict[str, list[Decimal]],
) -> Settlement:
    label = _period_label(settings, period)
    items = []
    for invoice_number, (principal, interest, fees) in lines.items():
        total = principal + interest + fees
        if total <= 0:
            continue
        commission = _money(total * settings.commission_percent / Decimal(100))
        items.append(
            SettlementLine(
                line_id=f"{case.agency_ref}:{label}:{invoice_number}",
                case_key=case.case_key,
                agency_ref=case.agency_ref,
                invoice_number=invoice_number,
                principal=principal,
                interest=interest,
                fees=fees,
                total=total,
                commission=commission,
            )
        )
    return Settlement(
        settlement_id=f"{case.agency_ref}:{label}",
        agency=settings.agency,
        settlement_date=on,
        currency=case.currency,
        lines=tuple(items),
    )


def _settlement_date(settings: ActivitySettings, period: tuple[int, int]) -> date:
    """Monthly: ``settlement_day`` of the next month. Weekly: ``settlement_weekday`` of the
    next ISO week."""
    year, number = period
    if settings.settlement_interval == "weekly":
        monday = date.fromisocalendar(year, number, 1)
        return monday + timedelta(days=7 + settings.settlement_weekday)
    return _add_months(date(year, number, 1), 1).replace(day=settings.settlement_day)


def _add_months(start: date, months: int) -> date:
    """The same day ``months`` later, clipped to the month's last day."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for day in range(start.day, 27, -1):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return date(year, month, min(start.day, 28))
