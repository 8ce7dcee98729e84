"""What is outstanding, and where: the status and aging reports.

Both answer the creditor's first question — where is my money now? — from the state store
alone: claims (with the principal each had when decided or handed over), cases (at which
agency, in which status), the outbox and the quarantine. Amounts are never added up across
currencies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, func, not_, null, or_, select

from claimbridge.report.common import (
    EVERYTHING,
    FINISHED_CASE_STATUSES,
    NOT_HANDED_OVER_CASE_STATUSES,
    Filters,
    claim_recoveries,
)
from claimbridge.report.sql import (
    DEFAULT_AGE_EDGES,
    age_buckets,
    bucket_by_due_date,
    cents,
    money,
)
from claimbridge.state.engine import read_connection
from claimbridge.state.store import StateStore
from claimbridge.state.tables import cases, claims, outbox, quarantine, runs

__all__ = [
    "AgingReport",
    "AgingRow",
    "CaseCount",
    "ClaimCount",
    "DeliveryCount",
    "LastRun",
    "NotSentCount",
    "QuarantineCount",
    "StatusReport",
    "aging_report",
    "status_report",
]


@dataclass(frozen=True, slots=True)
class CaseCount:
    pipeline: str
    agency: str
    status: str
    currency: str
    cases: int
    claims: int
    principal: Decimal


@dataclass(frozen=True, slots=True)
class ClaimCount:
    pipeline: str
    agency: str | None  # None: never handed over
    status: str
    currency: str
    claims: int
    principal: Decimal


@dataclass(frozen=True, slots=True)
class NotSentCount:
    pipeline: str
    outcome: str  # the policy's last decision: wait, hold, pending_approval, skip, send
    currency: str
    claims: int
    principal: Decimal


@dataclass(frozen=True, slots=True)
class QuarantineCount:
    pipeline: str
    stream: str
    records: int


@dataclass(frozen=True, slots=True)
class DeliveryCount:
    pipeline: str
    agency: str
    kind: str
    status: str
    deliveries: int


@dataclass(frozen=True, slots=True)
class LastRun:
    pipeline: str
    kind: str  # sync | transfer | reconcile | …
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Cases and claims by status, what has not been sent and why, what is stuck."""

    cases: tuple[CaseCount, ...]
    claims: tuple[ClaimCount, ...]
    not_sent: tuple[NotSentCount, ...]
    quarantine: tuple[QuarantineCount, ...]
    outbox: tuple[DeliveryCount, ...]
    last_runs: tuple[LastRun, ...]


def status_report(store: StateStore, filters: Filters = EVERYTHING) -> StatusReport:
    """Where every case and claim stands now, per pipeline and agency.

    Why: the daily look at the integration — how many cases each agency holds in each status
    and for how much, which claims were not handed over and for which reason (waiting for the
    policy's date, held for a person, waiting for approval), and what needs a person (records
    in quarantine, deliveries pending or with an unknown outcome), and whether the scheduled
    runs still run (the last run of each kind per pipeline, and how it ended).
    """
    k, c, o, q = cases.c, claims.c, outbox.c, quarantine.c
    case_query = select(
        k.pipeline,
        k.agency,
        k.status,
        k.currency,
        func.count(),
        func.sum(k.claim_count),
        func.sum(cents(k.total_principal)),
    ).group_by(k.pipeline, k.agency, k.status, k.currency)
    claim_query = (
        select(
            c.pipeline,
            k.agency,
            c.status,
            c.currency,
            func.count(),
            func.sum(cents(c.remaining_principal)),
        )
        .select_from(claims.outerjoin(cases, k.case_key == c.case_key))
        .group_by(c.pipeline, k.agency, c.status, c.currency)
    )
    not_sent_query = (
        select(
            c.pipeline,
            c.outcome,
            c.currency,
            func.count(),
            func.sum(cents(c.remaining_principal)),
        )
        .where(c.case_key.is_(None))
        .group_by(c.pipeline, c.outcome, c.currency)
    )
    quarantine_query = (
        select(q.pipeline, q.stream, func.count())
        .where(q.resolved_at.is_(None))
        .group_by(q.pipeline, q.stream)
    )
    outbox_query = select(o.pipeline, o.agency, o.kind, o.status, func.count()).group_by(
        o.pipeline, o.agency, o.kind, o.status
    )
    pipeline = filters.pipeline
    if pipeline:
        case_query = case_query.where(k.pipeline == pipeline)
        claim_query = claim_query.where(c.pipeline == pipeline)
        not_sent_query = not_sent_query.where(c.pipeline == pipeline)
        quarantine_query = quarantine_query.where(q.pipeline == pipeline)
        outbox_query = outbox_query.where(o.pipeline == pipeline)
    with read_connection(store.engine) as conn:
        case_rows = [
            CaseCount(r[0], r[1], r[2], r[3], r[4], int(r[5] or 0), money(r[6]))
            for r in conn.execute(case_query.order_by(*case_query.selected_columns[:4]))
        ]
        claim_rows = [
            ClaimCount(r[0], r[1], r[2], r[3], r[4], money(r[5])) for r in conn.execute(claim_query)
        ]
        not_sent = [
            NotSentCount(r[0], r[1], r[2], r[3], money(r[4]))
            for r in conn.execute(not_sent_query.order_by(*not_sent_query.selected_columns[:3]))
        ]
        quarantined = [
            QuarantineCount(r[0], r[1], r[2])
            for r in conn.execute(quarantine_query.order_by(q.pipeline, q.stream))
        ]
        deliveries = [
            DeliveryCount(r[0], r[1], r[2], r[3], r[4])
            for r in conn.execute(outbox_query.order_by(o.pipeline, o.agency, o.kind, o.status))
        ]
        last_runs = [
            LastRun(r[0], r[1], r[2], _utc(r[3]), _utc(r[4]) if r[4] else None)
            for r in conn.execute(_last_runs_query(pipeline))
        ]
    claim_rows.sort(key=lambda r: (r.pipeline, r.agency or "", r.status, r.currency))
    return StatusReport(
        tuple(case_rows),
        tuple(claim_rows),
        tuple(not_sent),
        tuple(quarantined),
        tuple(deliveries),
        tuple(last_runs),
    )


def _last_runs_query(pipeline: str | None) -> Select[Any]:
    """The newest run of each kind per pipeline."""
    latest = select(runs.c.pipeline, runs.c.kind, func.max(runs.c.started_at).label("at"))
    if pipeline:
        latest = latest.where(runs.c.pipeline == pipeline)
    newest = latest.group_by(runs.c.pipeline, runs.c.kind).subquery("newest")
    return (
        select(runs.c.pipeline, runs.c.kind, runs.c.status, runs.c.started_at, runs.c.finished_at)
        .join(
            newest,
            and_(
                newest.c.pipeline == runs.c.pipeline,
                newest.c.kind == runs.c.kind,
                newest.c.at == runs.c.started_at,
            ),
        )
        .order_by(runs.c.pipeline, runs.c.kind)
    )


def _utc(at: dt.datetime) -> dt.datetime:
    """SQLite gives back the stored UTC time without its zone; PostgreSQL with it."""
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class AgingRow:
    pipeline: str
    agency: str | None  # None: not handed over (never, rejected, or after as_of)
    currency: str
    bucket: str
    claims: int
    principal: Decimal


@dataclass(frozen=True, slots=True)
class AgingReport:
    """Outstanding principal by days past due on ``as_of``: at each agency, and not handed over."""

    as_of: dt.date
    buckets: tuple[str, ...]
    rows: tuple[AgingRow, ...]


def aging_report(
    store: StateStore,
    filters: Filters = EVERYTHING,
    *,
    as_of: dt.date,
    edges: Sequence[int] = DEFAULT_AGE_EDGES,
) -> AgingReport:
    """Outstanding principal by age (days past due on ``as_of``), per currency, split into
    what each agency holds and what has not been handed over.

    Why: collection is perishable. Old principal still at the creditor is money the policy
    should have sent (or a hold someone should lift); old principal at an agency is what is
    least likely to come back.

    At an agency, a claim's outstanding principal is its principal at hand-over less the
    principal the agency's settlements put on it, direct payments after hand-over and credit
    notes after hand-over, up to ``as_of``; cases that are paid, closed, withdrawn or returned
    hold nothing. Not handed over are open
    claims without a case, claims of cases the agency rejected, and claims handed over after
    ``as_of``. Case statuses are today's (the store keeps no status history).
    """
    buckets = age_buckets(edges)
    c, k = claims.c, cases.c
    pipeline = filters.pipeline
    recovered = claim_recoveries(pipeline, as_of)
    case_status = func.coalesce(k.status, "queued")
    handed_over = and_(
        c.case_key.is_not(None),
        c.handed_over_on <= as_of,
        case_status.not_in(NOT_HANDED_OVER_CASE_STATUSES),
    )
    at_agency = and_(handed_over, case_status.not_in(FINISHED_CASE_STATUSES))
    not_handed_over = or_(
        and_(c.case_key.is_(None), c.status == "open"),
        and_(c.case_key.is_not(None), not_(handed_over)),
    )
    principal = cents(c.remaining_principal)
    got = func.coalesce(recovered.c.recovered, 0) + func.coalesce(recovered.c.credited, 0)
    outstanding = case(
        (at_agency, case((principal > got, principal - got), else_=0)), else_=principal
    )
    per_claim = (
        select(
            c.pipeline.label("pipeline"),
            case((at_agency, k.agency), else_=null()).label("agency"),
            c.currency.label("currency"),
            bucket_by_due_date(c.due_date, as_of, buckets).label("bucket"),
            outstanding.label("outstanding"),
        )
        .select_from(
            claims.outerjoin(cases, k.case_key == c.case_key).outerjoin(
                recovered,
                and_(
                    recovered.c.pipeline == c.pipeline,
                    recovered.c.invoice_number == c.invoice_number,
                ),
            )
        )
        .where(
            or_(at_agency, not_handed_over),
            c.invoice_date <= as_of,
            c.remaining_principal > 0,
        )
    )
    if pipeline:
        per_claim = per_claim.where(c.pipeline == pipeline)
    inner = per_claim.subquery("aged")
    query = (
        select(
            inner.c.pipeline,
            inner.c.agency,
            inner.c.currency,
            inner.c.bucket,
            func.count(),
            func.sum(inner.c.outstanding),
        )
        .where(inner.c.outstanding > 0)
        .group_by(inner.c.pipeline, inner.c.agency, inner.c.currency, inner.c.bucket)
    )
    order = {bucket.label: index for index, bucket in enumerate(buckets)}
    with read_connection(store.engine) as conn:
        rows = [AgingRow(r[0], r[1], r[2], r[3], r[4], money(r[5])) for r in conn.execute(query)]
    rows.sort(key=lambda r: (r.pipeline, r.agency or "", r.currency, order[r.bucket]))
    return AgingReport(as_of, tuple(b.label for b in buckets), tuple(rows))
