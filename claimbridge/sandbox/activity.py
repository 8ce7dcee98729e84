"""Simulated debtor activity for the sandbox agency, so ``claimbridge demo`` shows the whole loop.

Each accepted case gets one lifecycle, drawn from a random generator seeded by its agency
reference: paid in full, paid in instalments over several months, disputed (then withdrawn or
resumed and paid), or returned as uncollectable after some months. Interest accrues on the
outstanding principal at a configurable annual rate and collection fees are added at
configurable steps; every payment covers fees first, then interest, then principal (the order
Norwegian law prescribes). What a month collected is paid out in a settlement on a fixed day of
the next month, itemized per case and claim, less the agency's commission.

:func:`plan_case` is a pure function of the case and the settings that returns the case's whole
lifecycle; :func:`simulate` records the part of every plan that falls on or before a date. The
plans never depend on when or how often the simulator runs, so simulating to D twice, or to D1
and then D, yields the same events.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from claimbridge.schemas import Case, CaseStatus, Settlement, SettlementLine

if TYPE_CHECKING:
    from claimbridge.sandbox.store import SandboxStore

__all__ = [
    "ActivitySettings",
    "CaseInput",
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
    settlement_day: int = Field(default=5, ge=1, le=28)
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
        month = self.collected.setdefault((on.year, on.month), {})
        for part in ("fees", "interest", "principal"):
            for claim in self.claims:
                take = min(remaining, getattr(claim, part))
                if take <= 0:
                    continue
                setattr(claim, part, getattr(claim, part) - take)
                remaining -= take
                parts = month.setdefault(claim.invoice_number, [Decimal("0")] * 3)
                parts[("principal", "interest", "fees").index(part)] += take


def _seed(agency_ref: str) -> int:
    return int.from_bytes(hashlib.sha256(agency_ref.encode()).digest()[:8], "big")


def _status(on: date, status: CaseStatus, message: str) -> tuple[date, str, CaseStatus, str]:
    return (on, "status", status, message)


def plan_case(case: CaseInput, settings: ActivitySettings) -> list[PlannedEvent]:
    """The whole simulated lifecycle of one case, in order. Pure and deterministic."""
    rng = random.Random(_seed(case.agency_ref))  # noqa: S311 - simulation, not security
    balances = [_ClaimBalance(number, principal) for number, principal in case.claims]
    ledger = _Ledger(settings, balances, case.accepted_on, case.accepted_on)
    ledger.advance(case.accepted_on)
    start = case.accepted_on
    statuses: list[tuple[date, str, CaseStatus, str]] = []
    paid_on: date | None = None

    outcome = rng.choices(("full", "parts", "dispute", "return"), weights=(35, 30, 15, 20))[0]
    if outcome == "full":
        paid_on = start + timedelta(days=rng.randint(10, 60))
        ledger.pay(paid_on, _owed_on(ledger, paid_on))
    elif outcome == "parts":
        count = rng.randint(2, 6)
        first = start + timedelta(days=rng.randint(15, 40))
        for index in range(count):
            on = _add_months(first, index)
            owed = _owed_on(ledger, on)
            left = count - index
            ledger.pay(on, owed if left == 1 else _money(owed / left))
        paid_on = _add_months(first, count - 1)
    elif outcome == "dispute":
        disputed = start + timedelta(days=rng.randint(5, 30))
        statuses.append(_status(disputed, CaseStatus.PAUSED, "the debtor disputes the claim"))
        decided = disputed + timedelta(days=rng.randint(20, 60))
        if rng.random() < 0.5:
            statuses.append(_status(decided, CaseStatus.WITHDRAWN, "withdrawn after a dispute"))
        else:
            statuses.append(_status(decided, CaseStatus.ACTIVE, "dispute resolved; resumed"))
            paid_on = decided + timedelta(days=rng.randint(10, 40))
            ledger.pay(paid_on, _owed_on(ledger, paid_on))
    else:
        returned = _add_months(start, settings.return_after_months)
        if rng.random() < 0.5:
            on = start + timedelta(days=rng.randint(20, 90))
            ledger.pay(on, _money(_owed_on(ledger, on) * Decimal(rng.randint(10, 40)) / 100))
        statuses.append(_status(returned, CaseStatus.RETURNED, "returned as uncollectable"))

    if paid_on is not None:
        statuses.append(_status(paid_on, CaseStatus.PAID, "paid in full"))
    planned: list[tuple[date, int, str, CaseStatus | None, str, dict[str, Any] | None]] = [
        (on, 0, kind, status, message, None) for on, kind, status, message in statuses
    ]
    last_settlement: date | None = None
    for (year, month), lines in sorted(ledger.collected.items()):
        on = _settlement_date(year, month, settings.settlement_day)
        settlement = _settlement(case, settings, year, month, on, lines)
        if settlement.lines:
            data = {"settlement": settlement.model_dump(mode="json")}
            planned.append((on, 1, "settlement", None, "monthly settlement", data))
            last_settlement = on
    if paid_on is not None:
        closed_on = max(paid_on, last_settlement or paid_on)
        planned.append((closed_on, 2, "status", CaseStatus.CLOSED, "settled and closed", None))
    planned.sort(key=lambda item: (item[0], item[1]))
    return [
        PlannedEvent(on, seq, kind, status, message, data)
        for seq, (on, _, kind, status, message, data) in enumerate(planned)
    ]


def simulate(store: SandboxStore, until: date, settings: ActivitySettings) -> int:
    """Record every planned event up to ``until`` that is not recorded yet; how many were new.

    Events are written in the order (day, case, step), so running to D in one go or in several
    steps leaves the same event log.
    """
    due: list[tuple[date, int, str, PlannedEvent]] = []
    for case_id, agency_ref, case, accepted_on in store.accepted_cases():
        plan = plan_case(CaseInput.from_case(agency_ref, case, accepted_on), settings)
        due.extend((e.on, case_id, agency_ref, e) for e in plan if e.on <= until)
    due.sort(key=lambda item: (item[0], item[1], item[3].seq))
    return store.record_simulated((ref, event) for _, _, ref, event in due)


def _owed_on(ledger: _Ledger, on: date) -> Decimal:
    ledger.advance(on)
    return ledger.owed


def _settlement(
    case: CaseInput,
    settings: ActivitySettings,
    year: int,
    month: int,
    on: date,
    lines: dict[str, list[Decimal]],
) -> Settlement:
    period = f"{year:04d}-{month:02d}"
    items = []
    for invoice_number, (principal, interest, fees) in lines.items():
        total = principal + interest + fees
        if total <= 0:
            continue
        commission = _money(total * settings.commission_percent / Decimal(100))
        items.append(
            SettlementLine(
                line_id=f"{case.agency_ref}:{period}:{invoice_number}",
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
        settlement_id=f"{case.agency_ref}:{period}",
        agency=settings.agency,
        settlement_date=on,
        currency=case.currency,
        lines=tuple(items),
    )


def _settlement_date(year: int, month: int, day: int) -> date:
    return _add_months(date(year, month, 1), 1).replace(day=day)


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
