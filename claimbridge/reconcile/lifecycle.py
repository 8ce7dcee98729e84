"""The case lifecycle: which status changes a case can make, and the replay that turns what the
agency reported into one current status, whatever order the reports arrived in.

A case starts where delivery left it (``sent`` or ``accepted``, sometimes ``rejected``). From
then on only the agency moves it: receipts (accepted / rejected) and status changes (active,
paused, paid, closed, withdrawn, returned as uncollectable)::

    queued ─▶ sent ─▶ accepted ─▶ active ◀──▶ paused
                │         │          │           │
                │         │          ▼           ▼
                │         └──────▶ paid ──▶ closed          (terminal)
                │                  withdrawn, returned      (terminal, from any open status)
                └──▶ rejected                               (terminal)

Status reports carry the agency's own time. :func:`replay` sorts every report of a case by that
time (receipts first: a case is accepted before anything else happens to it) and folds them
through :data:`TRANSITIONS`; a report that is not a legal move from the status before it is
kept out of the status and comes back as an ``ILLEGAL`` step with the reason, so the caller can
write it into the communication log. Because the fold runs over the sorted set, the same reports
give the same status in any order of arrival, and applying a report twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from claimbridge.schemas import CaseStatus

__all__ = [
    "LIFECYCLE",
    "TERMINAL",
    "TRANSITIONS",
    "Replay",
    "StatusReport",
    "Step",
    "Verdict",
    "can_move",
    "replay",
]

S = CaseStatus
_OPEN_AT_AGENCY = frozenset({S.ACTIVE, S.PAUSED, S.PAID, S.CLOSED, S.WITHDRAWN, S.RETURNED})
TERMINAL = frozenset({S.REJECTED, S.CLOSED, S.WITHDRAWN, S.RETURNED})
LIFECYCLE = _OPEN_AT_AGENCY
"""The statuses only the agency gives a case (delivery gives the ones before them)."""

TRANSITIONS: Mapping[CaseStatus, frozenset[CaseStatus]] = {
    # delivery may not have recorded its outcome (a crash): the agency evidently has the case
    S.PENDING_APPROVAL: frozenset({S.SENT, S.ACCEPTED, S.REJECTED}) | _OPEN_AT_AGENCY,
    S.QUEUED: frozenset({S.SENT, S.ACCEPTED, S.REJECTED}) | _OPEN_AT_AGENCY,
    S.SENT: frozenset({S.ACCEPTED, S.REJECTED}) | _OPEN_AT_AGENCY,
    S.ACCEPTED: _OPEN_AT_AGENCY,
    S.ACTIVE: frozenset({S.PAUSED, S.PAID, S.CLOSED, S.WITHDRAWN, S.RETURNED}),
    S.PAUSED: frozenset({S.ACTIVE, S.PAID, S.CLOSED, S.WITHDRAWN, S.RETURNED}),
    S.PAID: frozenset({S.CLOSED}),
    S.REJECTED: frozenset(),
    S.CLOSED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.RETURNED: frozenset(),
}
"""Legal moves. Reporting the status a case already has is never a move and never illegal."""

_PAST_ACCEPTANCE = _OPEN_AT_AGENCY | {S.ACCEPTED}
_RANK = {  # same-time reports: a case is accepted, then worked, then paid, then ended
    S.ACCEPTED: 0,
    S.REJECTED: 0,
    S.SENT: 0,
    S.ACTIVE: 1,
    S.PAUSED: 1,
    S.PAID: 2,
    S.CLOSED: 3,
    S.WITHDRAWN: 3,
    S.RETURNED: 3,
}
_DIGITS = re.compile(r"(\d+)")


class Verdict(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # the case already had that status, or is past the receipt
    ILLEGAL = "illegal"  # not a move the case can make from where it was: kept out


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One thing the agency said about a case's status. ``at`` is the agency's own time;
    None for a receipt (acceptance or rejection of the delivery), which comes before all."""

    update_id: str
    status: CaseStatus
    at: dt.datetime | None = None

    @property
    def is_receipt(self) -> bool:
        return self.at is None


@dataclass(frozen=True, slots=True)
class Step:
    report: StatusReport
    before: CaseStatus
    verdict: Verdict
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Replay:
    status: CaseStatus
    steps: tuple[Step, ...]

    @property
    def illegal(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.verdict is Verdict.ILLEGAL)


def can_move(current: CaseStatus, new: CaseStatus) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def replay(start: CaseStatus, reports: Iterable[StatusReport]) -> Replay:
    """The status ``reports`` lead to from ``start``, and what became of each report."""
    status = start
    steps: list[Step] = []
    for report in sorted(set(reports), key=_order):
        verdict, reason = _judge(status, report)
        steps.append(Step(report, status, verdict, reason))
        if verdict is Verdict.APPLIED:
            status = report.status
    return Replay(status, tuple(steps))


def _judge(current: CaseStatus, report: StatusReport) -> tuple[Verdict, str | None]:
    new = report.status
    if new == current:
        return Verdict.UNCHANGED, None
    if report.is_receipt and new is S.ACCEPTED and current in _PAST_ACCEPTANCE:
        return Verdict.UNCHANGED, None
    if can_move(current, new):
        return Verdict.APPLIED, None
    return Verdict.ILLEGAL, f"a case that is {current.value} cannot become {new.value}"


def _order(report: StatusReport) -> tuple[int, dt.datetime, int, tuple[object, ...]]:
    at = _utc(report.at) if report.at is not None else dt.datetime.min.replace(tzinfo=dt.UTC)
    return (report.at is not None, at, _RANK.get(report.status, 1), _natural(report.update_id))


def _utc(value: dt.datetime) -> dt.datetime:
    """Stored times may come back naive (SQLite): they were written as UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _natural(text: str) -> tuple[object, ...]:
    """``evt-9`` before ``evt-17``: ids compared by their numbers, not as strings."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(text)
    )
