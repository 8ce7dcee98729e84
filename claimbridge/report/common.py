"""What several reports share: which case statuses mean what, settlement lines with their date
and currency, and the principal recovered per claim.

Everything here builds SQL; nothing reads rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, func, literal, select, union_all

from claimbridge.report.sql import cents, day_of, month_of, optional_column
from claimbridge.schemas.case import CaseStatus
from claimbridge.state.tables import cases, claims, payments_seen, settlements_seen

__all__ = [
    "DIRECT_PAYMENT_STATUSES",
    "EVERYTHING",
    "FINISHED_CASE_STATUSES",
    "NOT_HANDED_OVER_CASE_STATUSES",
    "SETTLEMENT_CURRENCY_COLUMNS",
    "SETTLEMENT_DATE_COLUMNS",
    "Filters",
    "claim_recoveries",
    "ratio",
    "settlement_dated_by",
    "settlement_lines",
]

FINISHED_CASE_STATUSES = tuple(
    s.value for s in (CaseStatus.PAID, CaseStatus.CLOSED, CaseStatus.WITHDRAWN, CaseStatus.RETURNED)
)
"""A case in these statuses is no longer outstanding at the agency."""

NOT_HANDED_OVER_CASE_STATUSES = tuple(
    s.value for s in (CaseStatus.REJECTED, CaseStatus.PENDING_APPROVAL)
)
"""A case in these statuses never reached the agency: its claims are still the creditor's."""

DIRECT_PAYMENT_STATUSES = ("matched", "reported")
"""``payments_seen`` statuses of a payment matched to a claim (reported to the agency or not)."""

SETTLEMENT_DATE_COLUMNS = ("settlement_date", "settled_on")
"""Columns of ``settlements_seen`` holding the agency's settlement date, if one exists; without
one, lines are dated by when claimbridge saw them (``seen_at``) and the reports say so."""

SETTLEMENT_CURRENCY_COLUMNS = ("currency",)
"""Columns of ``settlements_seen`` holding the line's currency, if one exists; without one the
currency is the case's (or the claim's) and a line naming neither shows an empty currency."""

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


def settlement_dated_by() -> str:
    """The column settlement lines are dated by: the agency's date when stored, else seen_at."""
    column = optional_column(settlements_seen, *SETTLEMENT_DATE_COLUMNS)
    return column.name if column is not None else "seen_at"


def settlement_lines(pipeline: str | None, *, with_currency: bool = True) -> Subquery:
    """One row per settlement line, money in cents, with its day, month and currency.

    Columns: pipeline, agency, settlement_id, invoice_number, status, day, month, currency,
    principal, interest, fees, commission.
    """
    lines = settlements_seen.c
    dated = optional_column(settlements_seen, *SETTLEMENT_DATE_COLUMNS)
    date_column: ColumnElement[Any] = dated if dated is not None else lines.seen_at
    currency: ColumnElement[Any]
    stored_currency = optional_column(settlements_seen, *SETTLEMENT_CURRENCY_COLUMNS)
    if not with_currency:
        currency = literal("")
    elif stored_currency is not None:
        currency = stored_currency
    else:
        # Scalar subqueries rather than joins: COALESCE stops at the first currency found,
        # so the claim is looked up only for a line whose case is unknown.
        of_case = select(cases.c.currency).where(cases.c.case_key == lines.case_key)
        of_claim = select(claims.c.currency).where(
            claims.c.pipeline == lines.pipeline, claims.c.invoice_number == lines.invoice_number
        )
        currency = func.coalesce(of_case.scalar_subquery(), of_claim.scalar_subquery(), "")
    query = select(
        lines.pipeline,
        lines.agency,
        lines.settlement_id,
        lines.invoice_number,
        lines.status,
        day_of(date_column).label("day"),
        month_of(date_column).label("month"),
        currency.label("currency"),
        cents(lines.principal).label("principal"),
        cents(lines.interest).label("interest"),
        cents(lines.fees).label("fees"),
        cents(lines.commission).label("commission"),
    )
    if pipeline:
        query = query.where(lines.pipeline == pipeline)
    return query.subquery("lines")


def claim_recoveries(pipeline: str | None, until: dt.date | None) -> Subquery:
    """Principal recovered per claim up to ``until``, in cents: what the agency's settlements
    itemized to the claim plus direct payments matched to it after hand-over.

    Columns: pipeline, invoice_number, recovered. Settlement lines that name only the case
    (no invoice number) cannot be put on a claim and are not counted here.
    """
    lines = settlement_lines(pipeline, with_currency=False)
    settled: Select[Any] = select(
        lines.c.pipeline, lines.c.invoice_number, lines.c.principal.label("amount")
    ).where(lines.c.invoice_number.is_not(None))
    if until:
        settled = settled.where(lines.c.day <= until.isoformat())
    paid = payments_seen.c
    direct: Select[Any] = select(
        paid.pipeline, paid.invoice_number, cents(paid.amount).label("amount")
    ).where(
        paid.case_key.is_not(None),
        paid.invoice_number.is_not(None),
        paid.status.in_(DIRECT_PAYMENT_STATUSES),
    )
    if until:
        direct = direct.where(paid.booking_date <= until)
    if pipeline:
        direct = direct.where(paid.pipeline == pipeline)
    both = union_all(settled, direct).subquery("money_in")
    return (
        select(
            both.c.pipeline,
            both.c.invoice_number,
            func.sum(both.c.amount).label("recovered"),
        )
        .group_by(both.c.pipeline, both.c.invoice_number)
        .subquery("recovered")
    )
