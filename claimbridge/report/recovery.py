"""What came back: recovery, cash flow, and resolution by the claim's age at hand-off.

Built on the settlement lines reconciliation records (``settlements_seen``: principal,
interest, fees and the agency's commission per line, dated by the agency's settlement date) and
the money reconciliation saw reach the creditor after a hand-over (``payments_seen``: direct
payments, and credit notes, which lower a claim but are no money). Every line the agency paid
out is recovered, whatever its booking status; what the ledger holds of it is shown apart as
booked. Amounts are never added up across currencies.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, true

from claimbridge.report.common import (
    EVERYTHING,
    FINISHED_CASE_STATUSES,
    NOT_HANDED_OVER_CASE_STATUSES,
    Filters,
    claim_recoveries,
    direct_money,
    ratio,
    settlement_lines,
)
from claimbridge.report.sql import (
    DEFAULT_AGE_EDGES,
    age_buckets,
    bucket_by_days,
    cents,
    days_between,
    money,
    month_of,
)
from claimbridge.schemas.case import CaseStatus
from claimbridge.state.engine import read_connection
from claimbridge.state.store import StateStore
from claimbridge.state.tables import cases, claims, payments_seen

__all__ = [
    "OUTCOMES",
    "Amounts",
    "CashflowReport",
    "DirectPayments",
    "Payouts",
    "RecoveryMonth",
    "RecoveryReport",
    "RecoveryTotal",
    "ResolutionReport",
    "ResolutionRow",
    "ResolutionSummary",
    "cashflow_report",
    "recovery_report",
    "resolution_report",
]

Key = tuple[str, str, str]  # pipeline, agency, currency
PARTS = ("principal", "interest", "fees", "commission")


@dataclass(frozen=True, slots=True)
class Amounts:
    """Settlement lines summed: collected ``total`` = principal + interest + fees, and the
    ``net`` paid out = total − the agency's commission."""

    lines: int
    principal: Decimal
    interest: Decimal
    fees: Decimal
    commission: Decimal
    total: Decimal
    net: Decimal

    @classmethod
    def of(cls, lines: int, principal: Any, interest: Any, fees: Any, commission: Any) -> Amounts:
        """From sums of cents as the database returns them."""
        parts = money(principal), money(interest), money(fees), money(commission)
        total = parts[0] + parts[1] + parts[2]
        return cls(int(lines or 0), *parts, total, total - parts[3])

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(
            self.lines + other.lines,
            self.principal + other.principal,
            self.interest + other.interest,
            self.fees + other.fees,
            self.commission + other.commission,
            self.total + other.total,
            self.net + other.net,
        )


NO_AMOUNTS = Amounts.of(0, 0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class RecoveryMonth:
    month: str  # YYYY-MM
    pipeline: str
    agency: str
    currency: str
    recovered: Amounts
    booked: Amounts  # what of it the creditor's ledger holds (see recovery_report)


@dataclass(frozen=True, slots=True)
class RecoveryTotal:
    pipeline: str
    agency: str
    currency: str
    recovered: Amounts  # in the period
    booked: Amounts  # in the period
    handed_over: Decimal  # principal handed over up to ``until`` (all time without one)
    recovered_to_date: Decimal  # principal settled up to ``until``
    recovery_rate: Decimal | None  # recovered_to_date / handed_over; None when nothing went


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    since: dt.date | None
    until: dt.date | None
    months: tuple[RecoveryMonth, ...]
    totals: tuple[RecoveryTotal, ...]


def recovery_report(store: StateStore, filters: Filters = EVERYTHING) -> RecoveryReport:
    """Principal, interest, fees, the agency's commission and the net, per month and in total,
    per agency and currency; and the recovery rate.

    Why: what collection actually brings in, what it costs, and how much of what was handed
    over each agency gets back. The rate (principal settled / principal handed over) counts
    both up to ``until``, not from ``since``: money comes back months after hand-over, so a
    period's settlements against the same period's hand-overs would mislead. Direct payments
    to the creditor are not the agency's recovery and are in the cash flow report instead.

    Every line counts as recovered whatever its booking status (the agency collected and paid
    it out); ``booked`` is what the ledger holds of it, part by part as reconciliation books
    it: the principal where its payment is booked, interest, fees and commission where their
    voucher is — the same rule as :func:`claimbridge.state.reconciliation.booked_totals`.
    """
    lines = settlement_lines(filters.pipeline)
    in_period = and_(true(), *filters.days(lines.c.day))
    principal_booked = and_(in_period, lines.c.principal_booked)
    voucher_booked = and_(in_period, lines.c.voucher_booked)
    anything_booked = and_(in_period, or_(lines.c.principal_booked, lines.c.voucher_booked))

    def total(condition: ColumnElement[bool], column: Any) -> Any:
        return func.sum(case((condition, column), else_=0))

    groups = (lines.c.month, lines.c.pipeline, lines.c.agency, lines.c.currency)
    query = (  # one pass: the period's amounts, what of them is booked, principal to date
        select(
            *groups,
            total(in_period, 1),
            *(total(in_period, lines.c[name]) for name in PARTS),
            total(anything_booked, 1),
            total(principal_booked, lines.c.principal),
            *(total(voucher_booked, lines.c[name]) for name in PARTS[1:]),
            func.sum(lines.c.principal),
        )
        .group_by(*groups)
        .order_by(*groups)
    )
    if filters.until:
        query = query.where(lines.c.day <= filters.until.isoformat())
    months: list[RecoveryMonth] = []
    to_date: dict[Key, int] = defaultdict(int)
    with read_connection(store.engine) as conn:
        for r in conn.execute(query):
            to_date[r[1], r[2], r[3]] += int(r[14] or 0)
            if r[4]:
                recovered, booked_part = Amounts.of(*r[4:9]), Amounts.of(*r[9:14])
                months.append(RecoveryMonth(r[0], r[1], r[2], r[3], recovered, booked_part))
        handed_over = _handed_over(conn, filters)
    in_period_sums: dict[Key, tuple[Amounts, Amounts]] = defaultdict(
        lambda: (NO_AMOUNTS, NO_AMOUNTS)
    )
    for month in months:
        key = (month.pipeline, month.agency, month.currency)
        recovered, booked_so_far = in_period_sums[key]
        in_period_sums[key] = (recovered + month.recovered, booked_so_far + month.booked)
    totals = []
    for key in sorted(set(in_period_sums) | set(handed_over) | set(to_date)):
        recovered, booked_amounts = in_period_sums[key]
        given, got = handed_over.get(key, money(0)), money(to_date.get(key, 0))
        totals.append(RecoveryTotal(*key, recovered, booked_amounts, given, got, ratio(got, given)))
    return RecoveryReport(filters.since, filters.until, tuple(months), tuple(totals))


def _handed_over(conn: Any, filters: Filters) -> dict[Key, Decimal]:
    """Principal handed over per (pipeline, agency, currency) up to ``until``."""
    c, k = claims.c, cases.c
    query = (
        select(c.pipeline, k.agency, c.currency, func.sum(cents(c.remaining_principal)))
        .select_from(claims.join(cases, k.case_key == c.case_key))
        .where(c.handed_over_on.is_not(None), k.status.not_in(NOT_HANDED_OVER_CASE_STATUSES))
        .group_by(c.pipeline, k.agency, c.currency)
    )
    if filters.pipeline:
        query = query.where(c.pipeline == filters.pipeline)
    if filters.until:
        query = query.where(c.handed_over_on <= filters.until)
    return {(r[0], r[1], r[2]): money(r[3]) for r in conn.execute(query)}


# --- cash flow ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Payouts:
    period: str  # YYYY-MM-DD (a settlement day) or YYYY-MM
    pipeline: str
    agency: str
    currency: str
    settlements: int
    lines: int
    total: Decimal  # collected
    commission: Decimal
    net: Decimal  # paid out to the creditor


@dataclass(frozen=True, slots=True)
class DirectPayments:
    month: str
    pipeline: str
    currency: str
    status: str  # to_report | reported | manual (a person tells the agency) | not_reported
    payments: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class CashflowReport:
    since: dt.date | None
    until: dt.date | None
    days: tuple[Payouts, ...]
    months: tuple[Payouts, ...]
    direct_payments: tuple[DirectPayments, ...]


def cashflow_report(store: StateStore, filters: Filters = EVERYTHING) -> CashflowReport:
    """Settlement pay-outs per settlement day and per month (net = collected − commission),
    and direct payments the debtors made to the creditor after hand-over, per month.

    Why: the money the creditor actually receives, and when — what treasury plans with, and
    what the bank account should show. Direct payments are listed by whether they have been
    reported to the agency yet (agencies require it). Credit notes are no money: not here.
    """
    lines = settlement_lines(filters.pipeline)
    with read_connection(store.engine) as conn:
        by_day = [
            Payouts(r[0], r[1], r[2], r[3], r[4], r[5], *_net(r[6], r[7]))
            for r in conn.execute(_payout_query(lines, filters))
        ]
        direct = [
            DirectPayments(r[0], r[1], r[2], r[3], r[4], money(r[5]))
            for r in conn.execute(_direct_payment_query(filters))
        ]
    return CashflowReport(
        filters.since,
        filters.until,
        tuple(by_day),
        _per_month(by_day),
        tuple(direct),
    )


def _payout_query(lines: Any, filters: Filters) -> Any:
    groups = (lines.c.day, lines.c.pipeline, lines.c.agency, lines.c.currency)
    return (
        select(
            *groups,
            func.count(lines.c.settlement_id.distinct()),
            func.count(),
            func.sum(lines.c.principal + lines.c.interest + lines.c.fees),
            func.sum(lines.c.commission),
        )
        .where(*filters.days(lines.c.day))
        .group_by(*groups)
        .order_by(*groups)
    )


def _per_month(days: Sequence[Payouts]) -> tuple[Payouts, ...]:
    """Days rolled up into months. A settlement's lines share its date, so it is counted once."""
    months: dict[tuple[str, str, str, str], Payouts] = {}
    for d in days:
        key = (d.period[:7], d.pipeline, d.agency, d.currency)
        seen = months.get(key)
        if seen is None:
            months[key] = dataclasses.replace(d, period=key[0])
        else:
            months[key] = dataclasses.replace(
                seen,
                settlements=seen.settlements + d.settlements,
                lines=seen.lines + d.lines,
                total=seen.total + d.total,
                commission=seen.commission + d.commission,
                net=seen.net + d.net,
            )
    return tuple(months[key] for key in sorted(months))


def _net(total_cents: Any, commission_cents: Any) -> tuple[Decimal, Decimal, Decimal]:
    total, commission = money(total_cents), money(commission_cents)
    return total, commission, total - commission


def _direct_payment_query(filters: Filters) -> Any:
    counted = direct_money(filters.pipeline).where(payments_seen.c.kind == "payment")
    if filters.since:
        counted = counted.where(payments_seen.c.booking_date >= filters.since)
    if filters.until:
        counted = counted.where(payments_seen.c.booking_date <= filters.until)
    paid = counted.subquery("paid")
    month = month_of(paid.c.booking_date)
    groups = (month, paid.c.pipeline, paid.c.currency, paid.c.status)
    return (
        select(*groups, func.count(), func.sum(paid.c.amount)).group_by(*groups).order_by(*groups)
    )


# --- resolution by age at hand-off --------------------------------------------------------

OUTCOMES = ("paid_in_full", "partly_paid", "returned", "open", "closed")
"""A handed-over claim's outcome so far: paid in full (its case is paid, or the money put on it
covers its principal less credit notes), partly paid (some principal back), returned as
uncollectable with nothing paid, still open at the agency, or closed/withdrawn with nothing
paid."""


@dataclass(frozen=True, slots=True)
class ResolutionRow:
    pipeline: str
    agency: str
    currency: str
    bucket: str  # days past due at hand-over
    claims: int
    outcomes: dict[str, int]
    shares: dict[str, Decimal | None]
    principal: Decimal  # handed over
    recovered: Decimal  # principal back so far (at most each claim's own principal)


@dataclass(frozen=True, slots=True)
class ResolutionSummary:
    """One age bucket over every pipeline, agency and currency: counts and shares only."""

    bucket: str
    claims: int
    outcomes: dict[str, int]
    shares: dict[str, Decimal | None]


@dataclass(frozen=True, slots=True)
class ResolutionReport:
    as_of: dt.date
    since: dt.date | None  # hand-over dates covered
    until: dt.date | None
    buckets: tuple[str, ...]
    by_age: tuple[ResolutionSummary, ...]
    rows: tuple[ResolutionRow, ...]


def resolution_report(
    store: StateStore,
    filters: Filters = EVERYTHING,
    *,
    as_of: dt.date,
    edges: Sequence[int] = DEFAULT_AGE_EDGES,
) -> ResolutionReport:
    """Of the claims handed over (between ``since`` and ``until``), the share paid in full,
    partly paid, returned as uncollectable, still open — by how many days past due each was
    when handed over.

    Why: the number that shows a creditor that speed pays. Claims handed over young are
    resolved far more often than old ones; this is the creditor's own evidence for handing
    over on the day the policy allows. Money counted is what the agency's settlements put on
    the claim or the debtor paid the creditor directly up to ``as_of``; a credit note lowers
    what there was to pay (a claim credited in full with nothing paid is not "paid"). Case
    statuses are today's.
    """
    buckets = age_buckets(edges)
    c, k = claims.c, cases.c
    recovered = claim_recoveries(filters.pipeline, as_of)
    principal = cents(c.remaining_principal)
    got = func.coalesce(recovered.c.recovered, 0)
    credited = func.coalesce(recovered.c.credited, 0)
    outcome = case(
        (k.status == CaseStatus.PAID.value, "paid_in_full"),
        (and_(got + credited >= principal, or_(got > 0, credited == 0)), "paid_in_full"),
        (got > 0, "partly_paid"),
        (k.status == CaseStatus.RETURNED.value, "returned"),
        (k.status.not_in(FINISHED_CASE_STATUSES), "open"),
        else_="closed",
    )
    per_claim = (
        select(
            c.pipeline.label("pipeline"),
            k.agency.label("agency"),
            c.currency.label("currency"),
            bucket_by_days(days_between(c.handed_over_on, c.due_date), buckets).label("bucket"),
            outcome.label("outcome"),
            principal.label("principal"),
            case((got > principal, principal), else_=got).label("recovered"),
        )
        .select_from(
            claims.join(cases, k.case_key == c.case_key).outerjoin(
                recovered,
                and_(
                    recovered.c.pipeline == c.pipeline,
                    recovered.c.invoice_number == c.invoice_number,
                ),
            )
        )
        .where(
            c.handed_over_on.is_not(None),
            c.handed_over_on <= as_of,
            k.status.not_in(NOT_HANDED_OVER_CASE_STATUSES),
        )
    )
    if filters.pipeline:
        per_claim = per_claim.where(c.pipeline == filters.pipeline)
    if filters.since:
        per_claim = per_claim.where(c.handed_over_on >= filters.since)
    if filters.until:
        per_claim = per_claim.where(c.handed_over_on <= filters.until)
    inner = per_claim.subquery("resolved")
    groups = (inner.c.pipeline, inner.c.agency, inner.c.currency, inner.c.bucket, inner.c.outcome)
    query = select(
        *groups, func.count(), func.sum(inner.c.principal), func.sum(inner.c.recovered)
    ).group_by(*groups)
    with read_connection(store.engine) as conn:
        grouped = [(tuple(r[:5]), r[5], r[6], r[7]) for r in conn.execute(query)]
    order = {bucket.label: index for index, bucket in enumerate(buckets)}
    rows = _resolution_rows(grouped, order)
    return ResolutionReport(
        as_of,
        filters.since,
        filters.until,
        tuple(b.label for b in buckets),
        _summaries(rows, order),
        rows,
    )


RowKey = tuple[str, str, str, str]  # pipeline, agency, currency, bucket


def _resolution_rows(
    grouped: Iterable[tuple[tuple[Any, ...], int, Any, Any]], order: dict[str, int]
) -> tuple[ResolutionRow, ...]:
    counts: dict[RowKey, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    principal: dict[RowKey, Decimal] = defaultdict(lambda: money(0))
    recovered: dict[RowKey, Decimal] = defaultdict(lambda: money(0))
    for (pipeline, agency, currency, bucket, outcome), count, given, got in grouped:
        key: RowKey = (pipeline, agency, currency, bucket)
        counts[key][outcome] += count
        principal[key] += money(given)
        recovered[key] += money(got)
    rows = [
        ResolutionRow(
            pipeline=key[0],
            agency=key[1],
            currency=key[2],
            bucket=key[3],
            claims=sum(counts[key].values()),
            outcomes=counts[key],
            shares=_shares(counts[key]),
            principal=principal[key],
            recovered=recovered[key],
        )
        for key in counts
    ]
    rows.sort(key=lambda r: (r.pipeline, r.agency, r.currency, order[r.bucket]))
    return tuple(rows)


def _summaries(
    rows: Sequence[ResolutionRow], order: dict[str, int]
) -> tuple[ResolutionSummary, ...]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for row in rows:
        for outcome, count in row.outcomes.items():
            counts[row.bucket][outcome] += count
    return tuple(
        ResolutionSummary(bucket, sum(found.values()), found, _shares(found))
        for bucket, found in sorted(counts.items(), key=lambda item: order[item[0]])
    )


def _shares(counts: dict[str, int]) -> dict[str, Decimal | None]:
    whole = sum(counts.values())
    return {outcome: ratio(count, whole) for outcome, count in counts.items()}
