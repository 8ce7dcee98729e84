"""The collection policy, table-driven with frozen dates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from claimbridge.errors import ConfigError, PolicyError
from claimbridge.policy import (
    PolicySettings,
    add_years,
    by_limitation,
    check_lawful,
    decide_claim,
    explain,
    group_key,
    limitation_date,
    resolve_preset,
)
from claimbridge.schemas import SourceRef
from claimbridge.schemas.claim import Claim, Reminder
from claimbridge.schemas.decision import Outcome

DUE = date(2026, 10, 1)
NOTICE = date(2026, 11, 12)


def make_claim(**fields: object) -> Claim:
    base: dict[str, object] = {
        "source": SourceRef(system="test", company="c", record_id="inv-1"),
        "debtor_id": "d1",
        "invoice_number": "1",
        "invoice_date": date(2026, 9, 1),
        "due_date": DUE,
        "currency": "NOK",
        "original_amount": Decimal("1000"),
        "remaining_principal": Decimal("1000"),
        "collection_notice_date": NOTICE,
    }
    base.update(fields)
    return Claim.model_validate(base)


NO = PolicySettings()


def codes(decision: object) -> list[str]:
    return [r.code for r in decision.reasons]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("days_after_notice", "outcome"),
    [(13, Outcome.WAIT), (14, Outcome.WAIT), (15, Outcome.SEND)],
)
def test_notice_deadline_edge_days(days_after_notice: int, outcome: Outcome) -> None:
    today = NOTICE + timedelta(days=days_after_notice)
    decision = decide_claim(make_claim(), today=today, settings=NO)
    assert decision.outcome is outcome
    if outcome is Outcome.WAIT:
        (reason,) = decision.reasons
        assert reason.legal
        assert reason.until == date(2026, 11, 27)
        assert reason.message.endswith("sent 2026-11-12, 14-day deadline ends 2026-11-26")


def test_send_carries_a_positive_reason() -> None:
    decision = decide_claim(make_claim(), today=date(2026, 11, 27), settings=NO)
    assert decision.sendable
    assert decision.reasons[0].message == (
        "due 2026-10-01, 57 days past due; "
        "collection notice (inkassovarsel) 2026-11-12, deadline passed 2026-11-26"
    )


def test_swedish_demand_has_eight_days() -> None:
    se = PolicySettings(country="SE")
    claim = make_claim(currency="SEK")
    assert (
        decide_claim(claim, today=NOTICE + timedelta(days=8), settings=se).outcome is Outcome.WAIT
    )
    assert decide_claim(claim, today=NOTICE + timedelta(days=9), settings=se).sendable


LATE = date(2026, 12, 15)


@pytest.mark.parametrize(
    ("fields", "kwargs", "outcome", "code"),
    [
        ({}, {"handed_over_case": "cb-123"}, Outcome.SKIP, "already_handed_over"),
        ({"remaining_principal": Decimal("0")}, {}, Outcome.SKIP, "paid"),
        ({"disputed": True}, {}, Outcome.HOLD, "disputed"),
        ({"on_hold": True}, {}, Outcome.HOLD, "on_hold"),
        ({"payment_plan": True}, {}, Outcome.HOLD, "payment_plan"),
        ({"tags": ("vip",)}, {}, Outcome.SKIP, "excluded_tag"),
        ({}, {"debtor_tags": ("vip",)}, Outcome.SKIP, "excluded_tag"),
        ({"remaining_principal": Decimal("99.99")}, {}, Outcome.SKIP, "below_minimum"),
        ({}, {"quality_score": 10}, Outcome.HOLD, "low_quality"),
        ({"collection_notice_date": None}, {}, Outcome.WAIT, "notice_missing"),
        ({"collection_notice_date": DUE}, {}, Outcome.HOLD, "notice_before_due"),
    ],
)
def test_every_blocking_rule(
    fields: dict[str, object], kwargs: dict[str, object], outcome: Outcome, code: str
) -> None:
    settings = PolicySettings(exclude_tags=["vip"], min_quality_score=50)
    decision = decide_claim(make_claim(**fields), today=LATE, settings=settings, **kwargs)  # type: ignore[arg-type]
    assert decision.outcome is outcome
    assert code in codes(decision)


def test_already_handed_over_names_the_case() -> None:
    decision = decide_claim(make_claim(), today=LATE, settings=NO, handed_over_case="cb-42")
    assert explain(decision) == "not sent: already sent in case cb-42"


def test_not_yet_due_and_days_past_due() -> None:
    claim = make_claim(collection_notice_date=None)
    settings = PolicySettings(collection_notice="agency")
    before = decide_claim(claim, today=DUE, settings=settings)
    assert codes(before) == ["not_yet_due"]
    assert before.reasons[0].until == date(2026, 10, 2)
    early = decide_claim(claim, today=date(2026, 10, 14), settings=settings)
    assert codes(early) == ["days_past_due"]
    assert early.reasons[0].until == date(2026, 10, 15)
    assert decide_claim(claim, today=date(2026, 10, 15), settings=settings).sendable


def test_reminder_wait() -> None:
    claim = make_claim(reminders=(Reminder(sent_on=date(2026, 12, 10)),))
    decision = decide_claim(claim, today=date(2026, 12, 20), settings=NO)
    assert codes(decision) == ["reminder_wait"]
    assert decision.reasons[0].until == date(2026, 12, 24)
    unset = PolicySettings(days_after_reminder=None)
    assert decide_claim(claim, today=date(2026, 12, 20), settings=unset).sendable


def test_approval_required() -> None:
    settings = PolicySettings(require_approval=True)
    assert (
        decide_claim(make_claim(), today=LATE, settings=settings).outcome
        is Outcome.PENDING_APPROVAL
    )


@pytest.mark.parametrize(
    ("currency", "amount", "outcome"),
    [
        ("NOK", "99.99", Outcome.SKIP),
        ("NOK", "100", Outcome.SEND),
        ("SEK", "99", Outcome.SKIP),
        ("EUR", "9.99", Outcome.SKIP),
        ("EUR", "10", Outcome.SEND),
        ("USD", "0.01", Outcome.SEND),  # no minimum for a currency not listed
    ],
)
def test_per_currency_minimums(currency: str, amount: str, outcome: Outcome) -> None:
    claim = make_claim(currency=currency, remaining_principal=Decimal(amount))
    assert decide_claim(claim, today=LATE, settings=NO).outcome is outcome


def test_force_overrides_creditor_rules_but_not_the_law() -> None:
    settings = PolicySettings(require_approval=True, exclude_tags=["vip"], min_quality_score=90)
    claim = make_claim(tags=("vip",), on_hold=True, remaining_principal=Decimal("5"))
    forced = decide_claim(claim, today=LATE, settings=settings, quality_score=10, force=True)
    assert forced.sendable
    assert "forced" in codes(forced)
    check_lawful(forced)

    too_early = decide_claim(
        claim, today=NOTICE + timedelta(days=14), settings=settings, force=True
    )
    assert too_early.outcome is Outcome.WAIT
    assert codes(too_early) == ["notice_deadline"]
    with pytest.raises(PolicyError):
        check_lawful(too_early)
    disputed = decide_claim(make_claim(disputed=True), today=LATE, settings=NO, force=True)
    assert disputed.outcome is Outcome.HOLD


def test_worst_outcome_wins_and_all_reasons_are_given() -> None:
    claim = make_claim(remaining_principal=Decimal("5"), on_hold=True)
    decision = decide_claim(claim, today=NOTICE + timedelta(days=1), settings=NO)
    assert decision.outcome is Outcome.SKIP
    assert set(codes(decision)) == {"notice_deadline", "on_hold", "below_minimum"}


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        (date(2024, 2, 29), 3, date(2027, 2, 28)),
        (date(2024, 2, 29), 4, date(2028, 2, 29)),
        (date(2026, 1, 31), 3, date(2029, 1, 31)),
        (date(2026, 12, 31), 3, date(2029, 12, 31)),
    ],
)
def test_add_years(day: date, years: int, expected: date) -> None:
    assert add_years(day, years) == expected


def test_limitation_of_a_leap_day_claim() -> None:
    claim = make_claim(
        invoice_date=date(2024, 2, 1),
        due_date=date(2024, 2, 29),
        collection_notice_date=date(2024, 3, 5),
    )
    assert limitation_date(claim, resolve_preset(NO, date(2026, 1, 1))) == date(2027, 2, 28)
    near = decide_claim(claim, today=date(2026, 12, 1), settings=NO)
    assert near.sendable
    assert [w.code for w in near.warnings] == ["limitation_near"]
    assert near.warnings[0].until == date(2027, 2, 28)
    last_day = decide_claim(claim, today=date(2027, 2, 28), settings=NO)
    assert last_day.sendable
    barred = decide_claim(claim, today=date(2027, 3, 1), settings=NO)
    assert barred.outcome is Outcome.HOLD
    assert codes(barred) == ["time_barred"]


def test_leap_day_decision_date() -> None:
    claim = make_claim(
        due_date=date(2028, 2, 1),
        invoice_date=date(2028, 1, 1),
        collection_notice_date=date(2028, 2, 14),
    )
    assert decide_claim(claim, today=date(2028, 2, 28), settings=NO).outcome is Outcome.WAIT
    assert decide_claim(claim, today=date(2028, 2, 29), settings=NO).sendable


def test_month_end_deadline() -> None:
    claim = make_claim(collection_notice_date=date(2026, 12, 18))
    assert decide_claim(claim, today=date(2027, 1, 1), settings=NO).outcome is Outcome.WAIT
    assert decide_claim(claim, today=date(2027, 1, 2), settings=NO).sendable


def test_swedish_limitation_consumer_or_general() -> None:
    se = PolicySettings(country="SE")
    claim = make_claim(currency="SEK")
    preset = resolve_preset(se, LATE)
    assert limitation_date(claim, preset) == date(2029, 10, 1)
    assert limitation_date(claim, preset, consumer=False) == date(2036, 10, 1)


def test_reminder_fee_warnings() -> None:
    claim = make_claim(
        reminders=(
            Reminder(sent_on=date(2026, 10, 10), fee=Decimal("35")),
            Reminder(sent_on=date(2026, 10, 20), fee=Decimal("35")),
            Reminder(sent_on=date(2026, 10, 30), fee=Decimal("35")),
        )
    )
    decision = decide_claim(claim, today=LATE, settings=NO)
    assert [w.code for w in decision.warnings] == ["reminder_fee_early", "reminder_fees_over_limit"]
    assert "before 2026-10-15" in decision.warnings[0].message


def test_presets_resolve_by_date_and_overrides() -> None:
    assert resolve_preset(PolicySettings(notice_days=21), LATE).notice_days == 21
    with pytest.raises(ConfigError):
        resolve_preset(PolicySettings(notice_days=7), LATE)
    with pytest.raises(ConfigError):
        resolve_preset(NO, date(1900, 1, 1))


def test_settings_forbid_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        PolicySettings(days_pastdue=3)  # type: ignore[call-arg]


def test_group_key() -> None:
    claim = make_claim()
    assert group_key(claim, "NO:923609016", NO) == "NO:923609016|NOK"
    per_invoice = PolicySettings(grouping="invoice")
    assert group_key(claim, "NO:923609016", per_invoice) == "NO:923609016|NOK|test:c:inv-1"


def test_by_limitation_puts_oldest_first() -> None:
    newer = make_claim(invoice_number="2")
    older = make_claim(invoice_number="1", due_date=date(2024, 5, 1), invoice_date=date(2024, 4, 1))
    assert by_limitation([newer, older], settings=NO, today=LATE) == [older, newer]


def test_explain_gives_the_earliest_day() -> None:
    decision = decide_claim(make_claim(), today=NOTICE, settings=NO)
    assert explain(decision).endswith("(earliest 2026-11-27)")
