"""The collection policy: which claims go to the agency today, and why the others do not.

A decision is a pure function of a claim, the settings and a date. Two kinds of rule apply:

- **the law's** (``Reason.legal``): a claim not yet due, a disputed claim, a missing collection
  notice or one whose deadline has not passed. ``force`` never overrides these.
- **the creditor's own**: days past due, days after the last reminder, minimum amounts,
  exclusions, holds, contact-data quality and approval. ``force`` overrides them.

What the law says is data — a :class:`LegalPreset` per country with the date it took effect —
not constants sprinkled through the rules, so a change in the law is a new preset row.

Day counting: a deadline of *n* days counts from the day after the notice was sent and ends at
the end of day notice + *n*; the claim may be handed over from the day after that. A notice sent
on 2026-11-12 with 14 days ends on 2026-11-26, and the case goes on 2026-11-27.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from claimbridge.errors import ConfigError, PolicyError
from claimbridge.schemas._base import Currency
from claimbridge.schemas.claim import Claim
from claimbridge.schemas.decision import Decision, Outcome, Reason

__all__ = [
    "PRESETS",
    "LegalPreset",
    "PolicySettings",
    "add_years",
    "by_limitation",
    "check_lawful",
    "decide_claim",
    "explain",
    "group_key",
    "limitation_date",
    "resolve_preset",
]


@dataclass(frozen=True, slots=True)
class LegalPreset:
    """What one country's law requires of a hand-over, from ``effective_from`` on."""

    country: str
    effective_from: date
    notice_name: str  # what the notice is called in that country
    notice_days: int  # the notice's minimum deadline to pay
    reminder_fee_after_days: int | None  # a reminder fee is lawful this many days after due
    max_reminder_fees: int | None  # how many reminder fees count
    limitation_years: int  # the general limitation period, counted from the due date
    consumer_limitation_years: int | None  # shorter period for claims on consumers, if any
    law: str  # where the rules come from, for messages and docs


PRESETS: tuple[LegalPreset, ...] = (
    LegalPreset(
        country="NO",
        effective_from=date(1989, 1, 1),
        notice_name="collection notice (inkassovarsel)",
        notice_days=14,
        reminder_fee_after_days=14,
        max_reminder_fees=2,
        limitation_years=3,
        consumer_limitation_years=None,
        law="inkassoloven § 9, inkassoforskriften, foreldelsesloven § 2",
    ),
    LegalPreset(
        country="SE",
        effective_from=date(1981, 7, 1),
        notice_name="collection demand (inkassokrav)",
        notice_days=8,
        reminder_fee_after_days=None,
        max_reminder_fees=None,
        limitation_years=10,
        consumer_limitation_years=3,
        law="inkassolagen 5 §, preskriptionslagen 2 §",
    ),
)
"""The built-in presets. Several per country may exist; the one in force on a date applies."""


class PolicySettings(BaseModel):
    """A pipeline's collection policy. Creditor rules; the law comes from the preset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: Literal["NO", "SE"] = "NO"
    days_past_due: int = Field(default=14, ge=0)
    days_after_reminder: int | None = Field(default=14, ge=0)
    min_amount: dict[Currency, Decimal] = Field(
        default_factory=lambda: {"NOK": Decimal(100), "SEK": Decimal(100), "EUR": Decimal(10)}
    )
    grouping: Literal["debtor", "invoice"] = "debtor"
    collection_notice: Literal["creditor", "agency"] = "creditor"
    min_quality_score: int = Field(default=0, ge=0, le=100)
    exclude_tags: frozenset[str] = frozenset()
    require_approval: bool = False
    limitation_warning_days: int = Field(default=180, ge=0)
    notice_days: int | None = Field(default=None, ge=1, description="overrides the preset")
    limitation_years: int | None = Field(default=None, ge=1, description="overrides the preset")


def resolve_preset(
    settings: PolicySettings, on: date, presets: tuple[LegalPreset, ...] | None = None
) -> LegalPreset:
    """The preset for ``settings.country`` in force on ``on``, with the settings' overrides.

    ``presets`` replaces the built-in :data:`PRESETS`. An override may lengthen the law's
    notice period, never shorten it.
    """
    args = (settings.country, on, settings.notice_days, settings.limitation_years)
    return _resolve_builtin(*args) if presets is None else _resolve(*args, presets)


def _resolve(
    country: str,
    on: date,
    notice_days: int | None,
    limitation_years: int | None,
    presets: tuple[LegalPreset, ...],
) -> LegalPreset:
    in_force = [p for p in presets if p.country == country and p.effective_from <= on]
    if not in_force:
        raise ConfigError(f"no legal preset for {country} is in force on {on}")
    preset = max(in_force, key=lambda p: p.effective_from)
    if notice_days is not None:
        if notice_days < preset.notice_days:
            raise ConfigError(
                f"notice_days {notice_days} is shorter than the {preset.notice_days} days "
                f"the law requires in {country}"
            )
        preset = dataclasses.replace(preset, notice_days=notice_days)
    if limitation_years is not None:
        preset = dataclasses.replace(
            preset, limitation_years=limitation_years, consumer_limitation_years=None
        )
    return preset


@lru_cache(maxsize=1024)
def _resolve_builtin(
    country: str, on: date, notice_days: int | None, limitation_years: int | None
) -> LegalPreset:
    return _resolve(country, on, notice_days, limitation_years, PRESETS)


def add_years(day: date, years: int) -> date:
    """``day`` plus whole years; 29 February becomes the last day of February when needed."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


def limitation_date(claim: Claim, preset: LegalPreset, *, consumer: bool | None = None) -> date:
    """The last day before the claim is time-barred, counted from its due date.

    ``consumer=None`` (not known) takes the shorter period, so the warning comes early.
    """
    years = preset.limitation_years
    if preset.consumer_limitation_years is not None and consumer is not False:
        years = preset.consumer_limitation_years
    return add_years(claim.due_date, years)


def by_limitation(
    claims: Iterable[Claim], *, settings: PolicySettings, today: date, consumer: bool | None = None
) -> list[Claim]:
    """``claims`` sorted so those nearest their limitation date come first."""
    preset = resolve_preset(settings, today)
    return sorted(claims, key=lambda c: (limitation_date(c, preset, consumer=consumer), c.due_date))


_RANK = {Outcome.SKIP: 0, Outcome.HOLD: 1, Outcome.WAIT: 2, Outcome.PENDING_APPROVAL: 3}


@dataclass(frozen=True, slots=True)
class _Block:
    outcome: Outcome
    reason: Reason
    overridable: bool


def _reason(code: str, message: str, *, legal: bool = False, until: date | None = None) -> Reason:
    return Reason(code=code, message=message, legal=legal, until=until)


_HOLD_WORDS = {
    "registry.bankrupt": "the debtor is bankrupt according to Enhetsregisteret",
    "registry.deleted": "the debtor is deleted from Enhetsregisteret",
    "registry.under_liquidation": "the debtor is under liquidation according to Enhetsregisteret",
    "registry.forced_liquidation": "the debtor is under forced liquidation or dissolution "
    "according to Enhetsregisteret",
    "registry.removed": "Enhetsregisteret has removed the debtor's entry",
}


def _creditor_blocks(
    claim: Claim,
    today: date,
    settings: PolicySettings,
    quality_score: int | None,
    debtor_tags: tuple[str, ...],
    limitation: date,
    approved_on: date | None,
) -> list[_Block]:
    blocks: list[_Block] = []
    if claim.on_hold:
        blocks.append(_Block(Outcome.HOLD, _reason("on_hold", "on hold in the ledger"), True))
    if claim.payment_plan:
        msg = "the debtor has a payment plan"
        blocks.append(_Block(Outcome.HOLD, _reason("payment_plan", msg), True))
    excluded = sorted(settings.exclude_tags.intersection(claim.tags + debtor_tags))
    if excluded:
        msg = "excluded by tag " + ", ".join(repr(t) for t in excluded)
        blocks.append(_Block(Outcome.SKIP, _reason("excluded_tag", msg), True))
    ready = claim.due_date + timedelta(days=settings.days_past_due)
    if claim.due_date < today < ready:
        msg = (
            f"due {claim.due_date}, {(today - claim.due_date).days} days past due; the policy "
            f"waits {settings.days_past_due} days (until {ready})"
        )
        blocks.append(_Block(Outcome.WAIT, _reason("days_past_due", msg, until=ready), True))
    last = claim.last_reminder_date
    if last is not None and settings.days_after_reminder is not None:
        after = last + timedelta(days=settings.days_after_reminder)
        if today < after:
            msg = (
                f"last reminder {last}; the policy waits {settings.days_after_reminder} days "
                f"after it (until {after})"
            )
            blocks.append(_Block(Outcome.WAIT, _reason("reminder_wait", msg, until=after), True))
    minimum = settings.min_amount.get(claim.currency)
    if minimum is not None and claim.remaining_principal < minimum:
        msg = (
            f"{claim.remaining_principal} {claim.currency} is below the minimum of "
            f"{minimum} {claim.currency}"
        )
        blocks.append(_Block(Outcome.SKIP, _reason("below_minimum", msg), True))
    if today > limitation:
        msg = f"limitation date {limitation} has passed; check whether it was interrupted"
        blocks.append(_Block(Outcome.HOLD, _reason("time_barred", msg), True))
    if quality_score is not None and quality_score < settings.min_quality_score:
        minimum_score = settings.min_quality_score
        msg = f"contact data quality {quality_score} is below the minimum {minimum_score}"
        blocks.append(_Block(Outcome.HOLD, _reason("low_quality", msg), True))
    if settings.require_approval and approved_on is None:
        msg = "waiting for approval: claimbridge cases approve " + claim.invoice_number
        blocks.append(_Block(Outcome.PENDING_APPROVAL, _reason("approval_required", msg), True))
    return blocks


def _legal_blocks(
    claim: Claim, today: date, settings: PolicySettings, preset: LegalPreset
) -> list[_Block]:
    blocks: list[_Block] = []
    if claim.disputed:
        msg = "disputed by the debtor; a disputed claim is not sent to collection"
        blocks.append(_Block(Outcome.HOLD, _reason("disputed", msg, legal=True), False))
    if today <= claim.due_date:
        until = claim.due_date + timedelta(days=1)
        msg = f"not yet due: due {claim.due_date}"
        blocks.append(
            _Block(Outcome.WAIT, _reason("not_yet_due", msg, legal=True, until=until), False)
        )
    if settings.collection_notice == "agency":
        return blocks
    notice = claim.collection_notice_date
    if notice is None:
        msg = (
            f"no {preset.notice_name} sent; the law requires one with at least "
            f"{preset.notice_days} days to pay"
        )
        blocks.append(_Block(Outcome.WAIT, _reason("notice_missing", msg, legal=True), False))
    elif notice <= claim.due_date:
        msg = (
            f"{preset.notice_name} sent {notice}, not after the due date {claim.due_date}; "
            "a new notice is needed"
        )
        blocks.append(_Block(Outcome.HOLD, _reason("notice_before_due", msg, legal=True), False))
    else:
        deadline = notice + timedelta(days=preset.notice_days)
        if today <= deadline:
            msg = (
                f"{preset.notice_name} sent {notice}, "
                f"{preset.notice_days}-day deadline ends {deadline}"
            )
            until = deadline + timedelta(days=1)
            blocks.append(
                _Block(
                    Outcome.WAIT, _reason("notice_deadline", msg, legal=True, until=until), False
                )
            )
    return blocks


def _warnings(
    claim: Claim, today: date, preset: LegalPreset, settings: PolicySettings, limitation: date
) -> tuple[Reason, ...]:
    warnings: list[Reason] = []
    if today <= limitation and (limitation - today).days <= settings.limitation_warning_days:
        msg = f"limitation date {limitation} (in {(limitation - today).days} days)"
        warnings.append(_reason("limitation_near", msg, until=limitation))
    fees = [r for r in claim.reminders if r.fee > 0]
    if preset.reminder_fee_after_days is not None:
        earliest = claim.due_date + timedelta(days=preset.reminder_fee_after_days)
        for reminder in fees:
            if reminder.sent_on < earliest:
                msg = (
                    f"reminder fee charged {reminder.sent_on}, before {earliest} "
                    f"({preset.reminder_fee_after_days} days after the due date)"
                )
                warnings.append(_reason("reminder_fee_early", msg, legal=True))
    if preset.max_reminder_fees is not None and len(fees) > preset.max_reminder_fees:
        msg = f"{len(fees)} reminder fees charged; at most {preset.max_reminder_fees} count"
        warnings.append(_reason("reminder_fees_over_limit", msg, legal=True))
    return tuple(warnings)


def _send_reason(claim: Claim, today: date, preset: LegalPreset) -> Reason:
    parts = [f"due {claim.due_date}, {(today - claim.due_date).days} days past due"]
    notice = claim.collection_notice_date
    if notice is not None:
        deadline = notice + timedelta(days=preset.notice_days)
        parts.append(f"{preset.notice_name} {notice}, deadline passed {deadline}")
    return _reason("due_for_collection", "; ".join(parts))


def decide_claim(
    claim: Claim,
    *,
    today: date,
    settings: PolicySettings,
    quality_score: int | None = None,
    handed_over_case: str | None = None,
    force: bool = False,
    debtor_tags: tuple[str, ...] = (),
    consumer: bool | None = None,
    approved_on: date | None = None,
    debtor_holds: tuple[str, ...] = (),
) -> Decision:
    """Decide whether ``claim`` goes to collection on ``today``, with every reason why (not).

    ``force`` overrides the creditor's own rules, never the law's. ``consumer`` picks the
    limitation period where the law has one for consumers (None: the shorter).
    """
    if handed_over_case is not None:
        reason = _reason("already_handed_over", f"already sent in case {handed_over_case}")
        return Decision(outcome=Outcome.SKIP, decided_on=today, reasons=(reason,), warnings=())
    if claim.remaining_principal == 0:
        reason = _reason("paid", "paid: nothing remains of the principal")
        return Decision(outcome=Outcome.SKIP, decided_on=today, reasons=(reason,), warnings=())

    preset = resolve_preset(settings, today)
    limitation = limitation_date(claim, preset, consumer=consumer)
    blocks = _legal_blocks(claim, today, settings, preset)
    blocks += _creditor_blocks(
        claim, today, settings, quality_score, debtor_tags, limitation, approved_on
    )
    blocks += [
        _Block(Outcome.HOLD, _reason("registry_" + code.split(".")[-1], _HOLD_WORDS[code]), True)
        for code in debtor_holds
        if code in _HOLD_WORDS
    ]
    warnings = _warnings(claim, today, preset, settings, limitation)
    overridden: list[str] = []
    if force:
        overridden = [b.reason.code for b in blocks if b.overridable]
        blocks = [b for b in blocks if not b.overridable]
    if blocks:
        outcome = min((b.outcome for b in blocks), key=_RANK.__getitem__)
        reasons = tuple(b.reason for b in blocks)
    else:
        outcome = Outcome.SEND
        reasons = (_send_reason(claim, today, preset),)
        if overridden:
            msg = "forced past the creditor's rules: " + ", ".join(overridden)
            reasons += (_reason("forced", msg),)
    return Decision(outcome=outcome, decided_on=today, reasons=reasons, warnings=warnings)


def check_lawful(decision: Decision) -> None:
    """Raise :class:`PolicyError` if the law stands in the way (for a forced hand-over)."""
    legal = [r.message for r in decision.reasons if r.legal]
    if legal:
        raise PolicyError("the law does not allow this hand-over: " + "; ".join(legal))


def group_key(claim: Claim, debtor_key: str, settings: PolicySettings) -> str:
    """The case a claim belongs to: one per debtor and currency, or one per invoice."""
    key = f"{debtor_key}|{claim.currency}"
    if settings.grouping == "invoice":
        ref = claim.source
        key = f"{key}|{ref.system}:{ref.company}:{ref.record_id}"
    return key


def explain(decision: Decision) -> str:
    """The decision in plain words, with the earliest date a waiting claim can go."""
    text = decision.explain()
    if decision.outcome is Outcome.WAIT:
        dates = [r.until for r in decision.reasons if r.until is not None]
        if dates and len(dates) == len(decision.reasons):
            text += f" (earliest {max(dates)})"
    return text
