"""State-store queries for a person looking after the outbox (``claimbridge outbox``): what
waits, and one delivery by its key.

No personal data comes out of here. A case's payload (the debtor) is never read: its invoices
come from ``claims``. A correction's payload holds amounts, dates and invoice numbers only; its
invoice number is read from it while the payload is kept (until the outcome is final).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, case, select

from claimbridge.state._sql import chunked
from claimbridge.state.engine import read_connection
from claimbridge.state.tables import claims, outbox

__all__ = ["OUTBOX_STATUSES", "WAITING", "OutboxEntry", "entries", "entry"]

OUTBOX_STATUSES = ("pending", "sending", "unknown", "accepted", "rejected")
WAITING = ("pending", "sending", "unknown")
"""What ``claimbridge outbox list`` shows unless told otherwise: not finished yet."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One delivery as a person sees it: what, for which case and invoices, how it stands."""

    key: str
    pipeline: str
    agency: str
    kind: str  # case | payment | reduce | withdraw | pause | resume
    case_key: str
    status: str
    attempts: int
    reason: str | None
    agency_ref: str | None
    invoices: tuple[str, ...]
    created_at: dt.datetime
    updated_at: dt.datetime

    def age(self, now: dt.datetime) -> dt.timedelta:
        """How long it has been in the outbox."""
        return max(dt.timedelta(0), now - self.created_at)


_COLUMNS = (
    outbox.c.idempotency_key,
    outbox.c.pipeline,
    outbox.c.agency,
    outbox.c.kind,
    outbox.c.case_key,
    outbox.c.status,
    outbox.c.attempts,
    outbox.c.reason,
    outbox.c.agency_ref,
    outbox.c.created_at,
    outbox.c.updated_at,
    # a correction's payload (no personal data) for its invoice; never a case's (the debtor)
    case((outbox.c.kind != "case", outbox.c.payload), else_=None).label("correction"),
)


def entries(
    engine: Engine,
    *,
    pipeline: str | None = None,
    statuses: Sequence[str] = WAITING,
    kinds: Sequence[str] | None = None,
    limit: int = 1000,
) -> list[OutboxEntry]:
    """Deliveries in ``statuses`` (of ``kinds``: all when None), oldest first."""
    query = (
        select(*_COLUMNS)
        .where(outbox.c.status.in_(list(statuses)))
        .order_by(outbox.c.delivery_id)
        .limit(limit)
    )
    if pipeline is not None:
        query = query.where(outbox.c.pipeline == pipeline)
    if kinds is not None:
        query = query.where(outbox.c.kind.in_(list(kinds)))
    with read_connection(engine) as conn:
        rows = list(conn.execute(query))
        invoices = _case_invoices(
            conn, [(r.pipeline, r.case_key) for r in rows if r.kind == "case"]
        )
    return [_entry(row, invoices) for row in rows]


def entry(engine: Engine, key: str) -> OutboxEntry | None:
    """The delivery with this idempotency key, if there is one."""
    with read_connection(engine) as conn:
        row = conn.execute(select(*_COLUMNS).where(outbox.c.idempotency_key == key)).first()
        if row is None:
            return None
        invoices = _case_invoices(
            conn, [(row.pipeline, row.case_key)] if row.kind == "case" else []
        )
    return _entry(row, invoices)


def _case_invoices(conn: Connection, cases: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Case key → its claims' invoice numbers, looked up along the (pipeline, case) index."""
    by_pipeline: dict[str, set[str]] = {}
    for pipeline, case_key in cases:
        by_pipeline.setdefault(pipeline, set()).add(case_key)
    found: dict[str, list[str]] = {}
    for pipeline, keys in by_pipeline.items():
        for chunk in chunked(sorted(keys)):
            query = (
                select(claims.c.case_key, claims.c.invoice_number)
                .where(claims.c.pipeline == pipeline, claims.c.case_key.in_(chunk))
                .order_by(claims.c.case_key, claims.c.invoice_number)
            )
            for case_key, number in conn.execute(query):
                found.setdefault(case_key, []).append(number)
    return found


def _entry(row: Any, case_invoices: dict[str, list[str]]) -> OutboxEntry:
    if row.kind == "case":
        invoices = tuple(case_invoices.get(row.case_key, ()))
    else:
        invoices = _correction_invoice(row.correction)
    return OutboxEntry(
        key=row.idempotency_key,
        pipeline=row.pipeline,
        agency=row.agency,
        kind=row.kind,
        case_key=row.case_key,
        status=row.status,
        attempts=row.attempts,
        reason=row.reason,
        agency_ref=row.agency_ref,
        invoices=invoices,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
    )


def _correction_invoice(payload: str | None) -> tuple[str, ...]:
    """The invoice a correction is about; unknown once its payload was dropped (final)."""
    if not payload:
        return ()
    try:
        number = json.loads(payload).get("invoice_number")
    except (ValueError, AttributeError):
        return ()
    return (str(number),) if number else ()


def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back without their zone; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
