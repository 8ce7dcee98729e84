"""The sandbox agency's simulated debtor activity: lifecycles, money arithmetic, determinism."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from claimbridge.sandbox.activity import (
    ActivitySettings,
    CaseInput,
    CorrectionInput,
    FeeStep,
    PlannedEvent,
    plan_case,
    simulate,
)
from claimbridge.sandbox.store import SandboxStore
from claimbridge.schemas import CaseStatus, Settlement
from tests.factories import make_case, make_claim

START = date(2026, 3, 2)
TERMINAL = {CaseStatus.CLOSED, CaseStatus.WITHDRAWN, CaseStatus.RETURNED}

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000000"), places=2)
case_inputs = st.builds(
    CaseInput,
    agency_ref=st.from_regex(r"SBX-[0-9]{6}", fullmatch=True),
    case_key=st.just("cb-" + "0" * 24),
    currency=st.just("NOK"),
    accepted_on=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    claims=st.lists(
        st.tuples(st.from_regex(r"[0-9]{3,8}", fullmatch=True), amounts),
        min_size=1,
        max_size=4,
        unique_by=lambda c: c[0],
    ).map(tuple),
)
activity_settings = st.builds(
    ActivitySettings,
    annual_interest_percent=st.decimals(min_value=0, max_value=30, places=2),
    commission_percent=st.decimals(min_value=0, max_value=50, places=1),
    fee_steps=st.lists(
        st.builds(
            FeeStep,
            after_days=st.integers(0, 120),
            amount=st.decimals(min_value=0, max_value=2000, places=2),
        ),
        max_size=3,
    ).map(lambda steps: tuple(sorted(steps, key=lambda s: s.after_days))),
)


def settlements(plan: list[PlannedEvent]) -> list[Settlement]:
    return [
        Settlement.model_validate(e.data["settlement"])
        for e in plan
        if e.kind == "settlement" and e.data
    ]


def case_input(ref: str, *principals: str) -> CaseInput:
    claims = tuple((f"{1000 + i}", Decimal(p)) for i, p in enumerate(principals))
    return CaseInput(ref, "cb-" + "a" * 24, "NOK", START, claims)


# --- properties -----------------------------------------------------------------------------


@given(case_inputs, activity_settings)
@settings(max_examples=150, deadline=None)
def test_every_line_adds_up_and_nothing_is_collected_beyond_what_accrued(
    case: CaseInput, config: ActivitySettings
) -> None:
    plan = plan_case(case, config)
    assert plan == sorted(plan, key=lambda e: (e.on, e.seq))
    assert [e.seq for e in plan] == list(range(len(plan)))
    assert all(e.on >= case.accepted_on for e in plan)
    lines = [line for s in settlements(plan) for line in s.lines]
    for line in lines:
        assert line.principal + line.interest + line.fees == line.total
        assert 0 <= line.commission <= line.total
    principal = sum((p for _, p in case.claims), Decimal(0))
    last_day = max((e.on for e in plan), default=case.accepted_on)
    days = (last_day - case.accepted_on).days
    rate = config.annual_interest_percent / 100
    # rounding adds at most half a cent per claim per accrual, and a plan accrues < 20 times
    interest_cap = principal * rate * days / 365 + Decimal("0.005") * len(case.claims) * 20
    fees_cap = sum((s.amount for s in config.fee_steps), Decimal(0))
    collected_principal = sum((line.principal for line in lines), Decimal(0))
    collected_interest = sum((line.interest for line in lines), Decimal(0))
    collected_fees = sum((line.fees for line in lines), Decimal(0))
    assert collected_principal <= principal
    assert collected_interest <= interest_cap
    assert collected_fees <= fees_cap
    for number, claim_principal in case.claims:
        assert sum((ln.principal for ln in lines if ln.invoice_number == number), Decimal(0)) <= (
            claim_principal
        )


@given(case_inputs)
@settings(max_examples=100, deadline=None)
def test_paid_cases_collect_the_whole_principal_and_close_last(case: CaseInput) -> None:
    plan = plan_case(case, ActivitySettings())
    statuses = [e.status for e in plan if e.status is not None]
    assert statuses[-1] in TERMINAL
    if CaseStatus.PAID in statuses:
        assert statuses[-1] is CaseStatus.CLOSED
        collected = sum((line.principal for s in settlements(plan) for line in s.lines), Decimal(0))
        assert collected == sum((p for _, p in case.claims), Decimal(0))
        assert plan[-1].status is CaseStatus.CLOSED


@given(case_inputs)
@settings(max_examples=50, deadline=None)
def test_plans_are_deterministic(case: CaseInput) -> None:
    assert plan_case(case, ActivitySettings()) == plan_case(case, ActivitySettings())


# --- examples -------------------------------------------------------------------------------


def test_the_outcomes_cover_the_whole_lifecycle() -> None:
    seen: Counter[str] = Counter()
    for number in range(200):
        plan = plan_case(case_input(f"SBX-{number:06d}", "1000.00"), ActivitySettings())
        statuses = [e.status for e in plan if e.status is not None]
        paid_months = len(settlements(plan))
        if CaseStatus.PAUSED in statuses:
            seen["disputed"] += 1
        if CaseStatus.RETURNED in statuses:
            seen["returned"] += 1
        if CaseStatus.PAID in statuses:
            seen["paid in parts" if paid_months > 1 else "paid in full"] += 1
        if CaseStatus.WITHDRAWN in statuses:
            seen["withdrawn"] += 1
    assert set(seen) == {"disputed", "returned", "paid in parts", "paid in full", "withdrawn"}


def test_settlements_split_interest_fees_and_commission() -> None:
    config = ActivitySettings(
        annual_interest_percent=Decimal("10"),
        fee_steps=(FeeStep(after_days=0, amount=Decimal("50")),),
        commission_percent=Decimal("20"),
    )
    paid = next(
        plan
        for n in range(100)
        if (plan := plan_case(case_input(f"SBX-{n:06d}", "3650.00", "365.00"), config))
        and any(e.status is CaseStatus.PAID for e in plan)
    )
    paid_on = next(e.on for e in paid if e.status is CaseStatus.PAID)
    lines = [line for s in settlements(paid) for line in s.lines]
    assert {line.invoice_number for line in lines} == {"1000", "1001"}
    assert sum((line.fees for line in lines), Decimal(0)) == Decimal("50")
    assert all(line.fees == 0 for line in lines if line.invoice_number == "1001")
    assert sum((line.principal for line in lines), Decimal(0)) == Decimal("4015.00")
    assert sum((line.interest for line in lines), Decimal(0)) > 0
    for line in lines:
        assert line.commission == (line.total * Decimal("0.2")).quantize(Decimal("0.01"))
        assert line.line_id.startswith(f"{line.agency_ref}:")
    for settlement in settlements(paid):
        assert settlement.settlement_date.day == config.settlement_day
        assert settlement.settlement_date > START
    assert paid[-1].status is CaseStatus.CLOSED
    assert paid[-1].on >= paid_on


def test_zero_interest_and_no_fees_collect_exactly_the_principal() -> None:
    config = ActivitySettings(annual_interest_percent=Decimal(0), fee_steps=())
    for n in range(50):
        plan = plan_case(case_input(f"SBX-{n:06d}", "999.99"), config)
        lines = [line for s in settlements(plan) for line in s.lines]
        assert all(line.interest == 0 and line.fees == 0 for line in lines)
        assert sum((line.total for line in lines), Decimal(0)) <= Decimal("999.99")


def test_returned_cases_are_returned_after_the_configured_months() -> None:
    config = ActivitySettings(return_after_months=3)
    returns = [
        e.on
        for n in range(100)
        for e in plan_case(case_input(f"SBX-{n:06d}", "500.00"), config)
        if e.status is CaseStatus.RETURNED
    ]
    assert returns
    assert set(returns) == {date(2026, 6, 2)}


# --- the store ------------------------------------------------------------------------------


def store_with_cases(count: int) -> SandboxStore:
    store = SandboxStore(now=lambda: datetime(2026, 3, 2, 9, tzinfo=UTC))
    for n in range(count):
        case = make_case(claims=(make_claim(f"{2000 + n}"),))
        store.submit(f"key-{n}", case, f"hash-{n}", min_principal=Decimal(0))
    return store


def event_log(store: SandboxStore) -> list[tuple[object, ...]]:
    return [
        (e["cursor"], e["agency_ref"], e["at"], e["kind"], e["status"], e["data"])
        for e in store.events(0, 500)
    ]


@given(st.lists(st.integers(0, 500), max_size=4))
@settings(max_examples=25, deadline=None)
def test_simulating_in_steps_gives_the_same_events_as_in_one_go(steps: list[int]) -> None:
    until = START + timedelta(days=400)
    one_go = store_with_cases(8)
    stepped = store_with_cases(8)
    try:
        simulate(one_go, until, ActivitySettings())
        simulate(one_go, until, ActivitySettings())
        for days in sorted(steps):
            simulate(stepped, min(START + timedelta(days=days), until), ActivitySettings())
        simulate(stepped, until, ActivitySettings())
        assert event_log(one_go) == event_log(stepped)
    finally:
        one_go.close()
        stepped.close()


def test_simulation_applies_statuses_and_writes_settlement_events() -> None:
    store = store_with_cases(12)
    try:
        assert simulate(store, START - timedelta(days=1), ActivitySettings()) == 0
        added = simulate(store, START + timedelta(days=730), ActivitySettings())
        assert added > 12
        assert simulate(store, START + timedelta(days=730), ActivitySettings()) == 0
        events = store.events(0, 500)
        kinds = Counter(e["kind"] for e in events)
        assert kinds["receipt"] == 12
        assert kinds["settlement"] > 0
        for event in events:
            if event["kind"] == "settlement":
                assert event["status"] is None
                Settlement.model_validate(event["data"]["settlement"])
        last_status = {e["agency_ref"]: e["status"] for e in events if e["status"] is not None}
        for ref, status in last_status.items():
            summary = store.by_ref(ref)
            assert summary is not None
            assert summary["status"] == status
            assert status in {s.value for s in TERMINAL}
    finally:
        store.close()


# --- corrections from the creditor -----------------------------------------------------------


def _principal_collected(plan: list[PlannedEvent], number: str | None = None) -> Decimal:
    return sum(
        (
            line.principal
            for s in settlements(plan)
            for line in s.lines
            if number is None or line.invoice_number == number
        ),
        Decimal(0),
    )


def _paid_in_full_plans(count: int = 100) -> list[tuple[CaseInput, list[PlannedEvent]]]:
    found = []
    for n in range(count):
        case = case_input(f"SBX-{n:06d}", "1000.00", "400.00")
        plan = plan_case(case, ActivitySettings())
        if any(e.status is CaseStatus.PAID for e in plan):
            found.append((case, plan))
    return found


def test_a_direct_payment_lowers_what_the_agency_collects() -> None:
    case, plan = _paid_in_full_plans()[0]
    assert _principal_collected(plan) == Decimal("1400.00")
    paid = CorrectionInput(START + timedelta(days=3), "payment", "1000", Decimal("250.00"))
    corrected = plan_case(case, ActivitySettings(), (paid,))
    assert _principal_collected(corrected, "1000") == Decimal("750.00")
    assert _principal_collected(corrected, "1001") == Decimal("400.00")
    assert corrected[-1].status is CaseStatus.CLOSED


def test_a_reduction_beyond_the_claim_stops_at_its_principal() -> None:
    case, _ = _paid_in_full_plans()[0]
    reduce = CorrectionInput(START + timedelta(days=1), "reduce", "1001", Decimal("9999.00"))
    corrected = plan_case(case, ActivitySettings(), (reduce,))
    assert _principal_collected(corrected, "1001") == Decimal("0")
    assert _principal_collected(corrected, "1000") == Decimal("1000.00")


def test_a_withdrawn_case_collects_nothing_after_the_withdrawal() -> None:
    case, _plan = _paid_in_full_plans()[0]
    withdrawn = CorrectionInput(START + timedelta(days=2), "withdraw")
    corrected = plan_case(case, ActivitySettings(), (withdrawn,))
    assert settlements(corrected) == []
    assert all(e.status is not CaseStatus.PAID for e in corrected)
    one_claim = CorrectionInput(START + timedelta(days=2), "withdraw", "1001")
    partly = plan_case(case, ActivitySettings(), (one_claim,))
    assert _principal_collected(partly, "1001") == 0
    assert _principal_collected(partly, "1000") == Decimal("1000.00")


def test_a_pause_holds_the_debtor_until_the_resume() -> None:
    case, plan = _paid_in_full_plans()[0]
    paid_on = next(e.on for e in plan if e.status is CaseStatus.PAID)
    pause = CorrectionInput(START + timedelta(days=2), "pause")
    resume = CorrectionInput(START + timedelta(days=32), "resume")
    held = plan_case(case, ActivitySettings(), (pause,))
    assert all(e.status is not CaseStatus.PAID for e in held)
    shifted = plan_case(case, ActivitySettings(), (pause, resume))
    assert next(e.on for e in shifted if e.status is CaseStatus.PAID) == paid_on + timedelta(30)


corrections_strategy = st.lists(
    st.builds(
        CorrectionInput,
        effective_on=st.integers(1, 200).map(lambda d: START + timedelta(days=d)),
        kind=st.sampled_from(["payment", "reduce", "withdraw", "pause", "resume"]),
        invoice_number=st.sampled_from([None, "1000", "1001"]),
        amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("3000"), places=2),
    ),
    max_size=4,
)


@given(st.integers(0, 10_000), corrections_strategy, activity_settings)
@settings(max_examples=150, deadline=None)
def test_a_correction_never_changes_what_happened_before_it(
    ref: int, corrections: list[CorrectionInput], config: ActivitySettings
) -> None:
    """What the agency already recorded stays true: the plan before the earliest correction
    is the plan without corrections, event for event."""
    case = case_input(f"SBX-{ref:06d}", "1000.00", "400.00")
    before = plan_case(case, config)
    after = plan_case(case, config, tuple(corrections))
    first = min((c.effective_on for c in corrections), default=date.max)
    assert [e for e in after if e.on < first] == [e for e in before if e.on < first]
    for line in (line for s in settlements(after) for line in s.lines):
        assert line.principal + line.interest + line.fees == line.total
    if all(c.kind in ("payment", "reduce", "withdraw") for c in corrections):
        assert _principal_collected(after) <= _principal_collected(before)


def test_weekly_settlements_pay_out_the_week_after() -> None:
    config = ActivitySettings(settlement_interval="weekly")
    case, _ = next(
        (c, p)
        for c, p in ((c, plan_case(c, config)) for c, _ in _paid_in_full_plans())
        if settlements(p)
    )
    plan = plan_case(case, config)
    for settlement in settlements(plan):
        assert settlement.settlement_date.weekday() == config.settlement_weekday
        assert "-W" in settlement.settlement_id
    assert _principal_collected(plan) == Decimal("1400.00")


def test_the_store_feeds_accepted_corrections_to_the_simulation() -> None:
    store = store_with_cases(1)
    try:
        assert store.clock() is None
        simulate(store, START, ActivitySettings())
        assert store.clock() == START
        [(_, ref, _case, _)] = list(store.accepted_cases())
        body = {"agency_ref": ref, "kind": "withdraw", "invoice_number": None}
        answer = store.correct("w-1", body, "h")
        assert answer.status == "accepted"
        assert answer.effective_on == (START + timedelta(days=1)).isoformat()
        assert store.correct("w-1", body, "h").replayed
        [withdrawn] = store.corrections_by_case()[ref]
        assert withdrawn.kind == "withdraw"
        simulate(store, START + timedelta(days=400), ActivitySettings())
        assert [e["kind"] for e in store.events(0, 100) if e["kind"] == "settlement"] == []
        assert store.by_ref(ref)["status"] == "withdrawn"  # type: ignore[index]
        again = store.correct("w-2", {**body, "kind": "pause"}, "h2")
        assert again.status == "rejected"
        assert again.reason == "the case is withdrawn: it takes no corrections"
    finally:
        store.close()
