"""The case lifecycle: every transition, illegal ones kept out with a reason, and replays that
give one status for one set of reports whatever their order or repetition."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimbridge.reconcile.lifecycle import (
    TERMINAL,
    TRANSITIONS,
    StatusReport,
    Verdict,
    can_move,
    replay,
)
from claimbridge.schemas import CaseStatus

S = CaseStatus
T0 = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def at(days: int) -> dt.datetime:
    return T0 + dt.timedelta(days=days)


def report(uid: str, status: CaseStatus, days: int | None = 0) -> StatusReport:
    return StatusReport(uid, status, None if days is None else at(days))


EXPECTED_MOVES = {
    (S.SENT, S.ACCEPTED),
    (S.SENT, S.REJECTED),
    (S.ACCEPTED, S.ACTIVE),
    (S.ACCEPTED, S.PAUSED),
    (S.ACCEPTED, S.PAID),
    (S.ACCEPTED, S.CLOSED),
    (S.ACCEPTED, S.WITHDRAWN),
    (S.ACCEPTED, S.RETURNED),
    (S.ACTIVE, S.PAUSED),
    (S.ACTIVE, S.PAID),
    (S.ACTIVE, S.CLOSED),
    (S.ACTIVE, S.WITHDRAWN),
    (S.ACTIVE, S.RETURNED),
    (S.PAUSED, S.ACTIVE),
    (S.PAUSED, S.PAID),
    (S.PAUSED, S.CLOSED),
    (S.PAUSED, S.WITHDRAWN),
    (S.PAUSED, S.RETURNED),
    (S.PAID, S.CLOSED),
}
AGENCY_STATUSES = [S.ACCEPTED, S.REJECTED, S.ACTIVE, S.PAUSED, S.PAID, S.CLOSED, S.WITHDRAWN]
AGENCY_STATUSES.append(S.RETURNED)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (c, n)
        for c, n in itertools.product(
            [S.ACCEPTED, S.ACTIVE, S.PAUSED, S.PAID, S.CLOSED, S.WITHDRAWN, S.RETURNED, S.REJECTED],
            AGENCY_STATUSES,
        )
        if c != n
    ],
)
def test_every_move_between_agency_statuses(current: CaseStatus, new: CaseStatus) -> None:
    """The table is exactly the lifecycle drawn in the module docstring."""
    assert can_move(current, new) == ((current, new) in EXPECTED_MOVES)
    result = replay(current, [report("u1", new, 1)])
    legal = (current, new) in EXPECTED_MOVES
    assert result.status == (new if legal else current)
    (step,) = result.steps
    assert step.verdict is (Verdict.APPLIED if legal else Verdict.ILLEGAL)
    if not legal:
        assert step.reason == f"a case that is {current.value} cannot become {new.value}"


@pytest.mark.parametrize("new", [s for s in AGENCY_STATUSES if s is not S.ACCEPTED])
def test_a_sent_case_can_be_moved_by_any_report(new: CaseStatus) -> None:
    """A file drop's case may be worked before its receipt arrives: the agency has it."""
    assert replay(S.SENT, [report("u", new, 3)]).status == new


@pytest.mark.parametrize("start", [S.QUEUED, S.PENDING_APPROVAL])
def test_a_case_whose_delivery_outcome_was_lost_follows_the_agency(start: CaseStatus) -> None:
    assert replay(start, [report("u", S.ACCEPTED, None)]).status == S.ACCEPTED
    assert replay(start, [report("u", S.ACTIVE, 2)]).status == S.ACTIVE


def test_terminal_statuses_have_no_way_out() -> None:
    for status in TERMINAL:
        assert TRANSITIONS[status] == frozenset()


def test_the_same_status_again_is_unchanged_not_illegal() -> None:
    result = replay(S.ACTIVE, [report("u1", S.ACTIVE, 1), report("u2", S.ACTIVE, 2)])
    assert result.status == S.ACTIVE
    assert [s.verdict for s in result.steps] == [Verdict.UNCHANGED, Verdict.UNCHANGED]


def test_a_receipt_for_a_case_already_worked_changes_nothing() -> None:
    reports = [report("r", S.ACCEPTED, None), report("p", S.PAID, 5)]
    result = replay(S.PAID, reports)
    assert result.status == S.PAID
    assert result.illegal == ()


def test_receipts_come_before_everything_the_agency_did_with_the_case() -> None:
    result = replay(S.SENT, [report("p", S.PAUSED, 4), report("r", S.ACCEPTED, None)])
    assert [s.report.update_id for s in result.steps] == ["r", "p"]
    assert result.status == S.PAUSED


def test_a_rejected_delivery_stays_rejected_and_later_reports_are_illegal() -> None:
    result = replay(S.SENT, [report("r", S.REJECTED, None), report("a", S.ACTIVE, 2)])
    assert result.status == S.REJECTED
    [illegal] = result.illegal
    assert illegal.report.update_id == "a"
    assert illegal.before == S.REJECTED


def test_illegal_reports_are_kept_out_and_the_fold_goes_on() -> None:
    reports = [
        report("1", S.CLOSED, 1),
        report("2", S.ACTIVE, 2),  # a closed case does not come back
        report("3", S.PAID, 3),
    ]
    result = replay(S.ACCEPTED, reports)
    assert result.status == S.CLOSED
    assert [s.report.update_id for s in result.illegal] == ["2", "3"]


def test_same_time_reports_order_by_lifecycle_then_by_id_numbers() -> None:
    """Paid and closed on the same day: paid first. Ids compare by their numbers."""
    result = replay(S.ACTIVE, [report("evt-17", S.CLOSED, 1), report("evt-9", S.PAID, 1)])
    assert result.status == S.CLOSED
    assert result.illegal == ()
    result = replay(S.ACTIVE, [report("evt-17", S.ACTIVE, 1), report("evt-9", S.PAUSED, 1)])
    assert [s.report.update_id for s in result.steps] == ["evt-9", "evt-17"]


def test_naive_times_are_read_as_utc() -> None:
    naive = StatusReport("n", S.PAID, dt.datetime(2026, 12, 2, 9))
    aware = StatusReport("a", S.ACTIVE, dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC))
    assert replay(S.ACCEPTED, [naive, aware]).status == S.PAID


reports_strategy = st.lists(
    st.builds(
        StatusReport,
        update_id=st.from_regex(r"evt-[0-9]{1,4}", fullmatch=True),
        status=st.sampled_from(AGENCY_STATUSES),
        at=st.one_of(st.none(), st.integers(0, 60).map(at)),
    ),
    max_size=12,
    unique_by=lambda r: r.update_id,
)


@given(
    st.sampled_from([S.SENT, S.ACCEPTED, S.QUEUED]),
    reports_strategy,
    st.randoms(use_true_random=False),
)
@settings(max_examples=300, deadline=None)
def test_any_order_and_any_repetition_gives_the_same_status(
    start: CaseStatus, reports: list[StatusReport], rnd: random.Random
) -> None:
    expected = replay(start, reports)
    shuffled = list(reports) + rnd.sample(reports, k=len(reports) // 2)
    rnd.shuffle(shuffled)
    again = replay(start, shuffled)
    assert again.status == expected.status
    assert [s.verdict for s in again.steps] == [s.verdict for s in expected.steps]
    # applying a replay's outcome as the start of the same reports changes nothing more
    assert replay(expected.status, []).status == expected.status
