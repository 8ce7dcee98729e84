"""What several reports share: which case statuses mean what, settlement lines with their day
and currency, which payments are money paid straight to the creditor, and the principal
recovered per claim.

Everything here builds SQL; nothing reads rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    union_all,
)

from claimbridge.report.sql import cents, day_of, month_of
from claimbridge.schemas.case import CaseStatus
from claimbridge.state.tables import cases, claims, payments_seen, settlements_seen

__all__ = [
    "DIRECT_PAYMENT_IGNORED_REASONS",
    "DIRECT_PAYMENT_STATUSES",
    "EVERYTHING",
    "FINISHED_CASE_STATUSES",
    "LINE_ON_NO_CLAIM",
    "NOT_HANDED_OVER_CASE_STATUSES",
    "Filters",
    "claim_recoveries",
    "direct_money",
    "ratio",
    "settlement_lines",
    "shown_status",
]

FINISHED_CASE_STATUSES = tuple(
    s.value for s in (CaseStatus.PAID, CaseStatus.CLOSED, CaseStatus.WITHDRAWN, CaseStatus.RETURNED)
)
"""A case in these statuses is no longer outstanding at the agency."""

NOT_HANDED_OVER_CASE_STATUSES = tuple(
    s.value for s in (CaseStatus.REJECTED, CaseStatus.PENDING_APPROVAL)
)
"""A case in these statuses never reached the agency: its claims are still the creditor's."""

LINE_ON_NO_CLAIM = "unmatched"
"""The ``settlements_seen`` status of a line reconciliation could put on no claim (it names no
claim of its case, or its currency is not the claim's). The agency collected and paid it out,
so it counts in recovery and cash flow; it is not subtracted from any claim."""

DIRECT_PAYMENT_STATUSES = ("matched", "to_report", "reported", "manual")
"""``payments_seen`` statuses of money a debtor paid straight to the creditor on a handed-over
claim: matched by a bank feed (to be reported next), waiting to be reported, reported to the
agency, or left for a person to tell the agency (it takes no such correction)."""

DIRECT_PAYMENT_IGNORED_REASONS = ("reporting_off", "case_closed")
"""``ignored`` rows that are still money paid after hand-over: reporting is turned off, or the
case had ended at the agency. Every other reason is not: the agency's own pay-out (already its
settlement line), a payment before hand-over, a second record of one already reported, a
reversal, or a payment whose claim is no longer in the store."""

RATIO_STEP = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Filters:
    """What every report can be narrowed to. Days are inclusive; None means unbounded."""

    pipeline: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since {self.since} is after until {self.until}")

    def days(self, day: ColumnElement[str]) -> list[ColumnElement[bool]]:
        """Conditions keeping ``day`` (``YYYY-MM-DD`` text) within since..until."""
        found: list[ColumnElement[bool]] = []
        if self.since:
            found.append(day >= self.since.isoformat())
        if self.until:
            found.append(day <= self.until.isoformat())
        return found


EVERYTHING = Filters()
"""No narrowing: every pipeline, every day."""


def ratio(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """``part / whole`` to four places; None when there is no whole to divide by."""
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATIO_STEP)


def settlement_lines(pipeline: str | None) -> Subquery:
    """One row per settlement line, money in cents, dated by the agency's settlement date.

    Columns: pipeline, agency, settlement_id, invoice_number, status, day, month, currency,
    principal, interest, fees, commission, principal_booked, voucher_booked.

    Reconciliation writes every line with its settlement's date and currency. A line stored
    without them (the columns are nullable) is dated by the day claimbridge saw it and shown
    with an empty currency, never dropped and never left NULL for a report to trip over.
    """
    lines = settlements_seen.c
    query = select(
        lines.pipeline,
        lines.agency,
        lines.settlement_id,
        lines.invoice_number,
        lines.status,
        func.coalesce(day_of(lines.settlement_date), day_of(lines.seen_at)).label("day"),
        func.coalesce(month_of(lines.settlement_date), month_of(lines.seen_at)).label("month"),
        func.coalesce(lines.currency, literal("")).label("currency"),
        cents(lines.principal).label("principal"),
        cents(lines.interest).label("interest"),
        cents(lines.fees).label("fees"),
        cents(lines.commission).label("commission"),
        lines.ledger_ref.is_not(None).label("principal_booked"),
        lines.voucher_ref.is_not(None).label("voucher_booked"),
    )
    if pipeline:
        query = query.where(lines.pipeline == pipeline)
    return query.subquery("lines")


def direct_money(pipeline: str | None) -> Select[Any]:
    """Payments and credit notes on handed-over claims, booked on or after the hand-over day.

    Columns: pipeline, invoice_number, kind (``payment`` | ``credit_note``), status (as shown:
    ``to_report``, ``reported``, ``manual`` or ``not_reported``), currency, booking_date,
    amount (cents). Payments are money the debtor paid the creditor directly; credit notes
    lower what is owed but are no money. Rows of a rejected case are left out: it never
    reached the agency.
    """
    p, c, k = payments_seen.c, claims.c, cases.c
    query = (
        select(
            p.pipeline.label("pipeline"),
            p.invoice_number.label("invoice_number"),
            p.kind.label("kind"),
            shown_status(p.status).label("status"),
            p.currency.label("currency"),
            p.booking_date.label("booking_date"),
            cents(p.amount).label("amount"),
        )
        .select_from(
            payments_seen.join(
                claims, and_(c.pipeline == p.pipeline, c.invoice_number == p.invoice_number)
            ).join(cases, k.case_key == c.case_key)
        )
        .where(
            p.case_key.is_not(None),
            or_(
                p.status.in_(DIRECT_PAYMENT_STATUSES),
                and_(p.status == "ignored", p.reason.in_(DIRECT_PAYMENT_IGNORED_REASONS)),
            ),
            p.booking_date >= c.handed_over_on,
            k.status.not_in(NOT_HANDED_OVER_CASE_STATUSES),
        )
    )
    if pipeline:
        query = query.where(p.pipeline == pipeline)
    return query


def shown_status(status: ColumnElement[str]) -> ColumnElement[str]:
    """A counted payment's status as the reports show it: a bank payment ``matched`` to a
    handed-over claim becomes ``to_report`` in the same reconcile run, so it is shown as that;
    an ``ignored`` one that still counts (reporting off, the case had ended) is
    ``not_reported``."""
    return case(
        (status == "matched", "to_report"),
        (status == "ignored", "not_reported"),
        else_=status,
    )


def claim_recoveries(pipeline: str | None, until: dt.date | None) -> Subquery:
    """Per claim up to ``until``, in cents: the principal ``recovered`` (what the agency's
    settlement lines put on the claim, plus direct payments after hand-over) and what credit
    notes after hand-over took off it (``credited``: owed no more, but no money either).

    Columns: pipeline, invoice_number, recovered, credited.
    """
    lines = settlement_lines(pipeline)
    settled: Select[Any] = select(
        lines.c.pipeline,
        lines.c.invoice_number,
        lines.c.principal.label("recovered"),
        literal(0).label("credited"),
    ).where(lines.c.invoice_number.is_not(None), lines.c.status != LINE_ON_NO_CLAIM)
    if until:
        settled = settled.where(lines.c.day <= until.isoformat())
    counted = direct_money(pipeline)
    if until:
        counted = counted.where(payments_seen.c.booking_date <= until)
    direct = counted.subquery("direct")
    is_payment = direct.c.kind == "payment"
    direct_rows: Select[Any] = select(
        direct.c.pipeline,
        direct.c.invoice_number,
        case((is_payment, direct.c.amount), else_=0).label("recovered"),
        case((is_payment, 0), else_=direct.c.amount).label("credited"),
    )
    both = union_all(settled, direct_rows).subquery("money_in")
    return (
        select(
            both.c.pipeline,
            both.c.invoice_number,
            func.sum(both.c.recovered).label("recovered"),
            func.sum(both.c.credited).label("credited"),
        )
        .group_by(both.c.pipeline, both.c.invoice_number)
        .subquery("recovered")
    )
