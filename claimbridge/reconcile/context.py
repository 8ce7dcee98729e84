"""What one reconcile run works with: the spec (connectors and settings), its counters, and
the run context every step shares."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from claimbridge.connectors.base import Agency, PaymentFeed, Source
from claimbridge.pipeline import PipelineSpec
from claimbridge.reconcile.settings import ReconcileSettings
from claimbridge.state import StateStore

__all__ = ["Progress", "ReconcileSpec", "ReconcileStats", "RunContext"]

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class ReconcileSpec:
    """A pipeline's connectors, its reconcile settings and its bank payment feeds."""

    pipeline: PipelineSpec
    settings: ReconcileSettings = field(default_factory=ReconcileSettings)
    payment_feeds: tuple[tuple[str, PaymentFeed], ...] = ()  # (configured name, feed)

    @property
    def name(self) -> str:
        return self.pipeline.name

    @property
    def source(self) -> Source:
        return self.pipeline.source

    @property
    def agency(self) -> Agency:
        return self.pipeline.agency

    @property
    def agency_name(self) -> str:
        return self.pipeline.agency_name

    def close(self) -> None:
        self.pipeline.close()
        for _, feed in self.payment_feeds:
            feed.close()


@dataclass
class ReconcileStats:
    """Counts of one run (``claimbridge reconcile --json`` prints them; see
    docs/reconciliation.md for each field)."""

    run_id: str = ""
    updates_read: int = 0
    updates_skipped: int = 0
    unknown_updates: int = 0
    receipts: int = 0
    status_changes: int = 0
    illegal_transitions: int = 0
    settlement_lines: int = 0
    lines_unmatched: int = 0
    lines_booked: int = 0
    lines_partly_booked: int = 0
    lines_failed: int = 0
    lines_manual: int = 0
    booked: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    ledger_payments_read: int = 0
    credit_notes_read: int = 0
    bank_payments_read: int = 0
    agency_payments_ignored: int = 0
    quarantined: int = 0
    corrections_queued: int = 0
    corrections_sent: int = 0
    corrections_rejected: int = 0
    corrections_unknown: int = 0
    corrections_retryable: int = 0
    corrections_manual: int = 0
    recovered: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    def add_booked(self, currency: str, part: str, amount: Decimal) -> None:
        parts = self.booked.setdefault(
            currency, {p: Decimal("0.00") for p in ("principal", "interest", "fees", "commission")}
        )
        parts[part] += amount

    @property
    def needs_attention(self) -> bool:
        """Something a person should look at: exit code 13 when nothing worse happened."""
        return bool(
            self.corrections_rejected
            or self.corrections_unknown
            or self.corrections_manual
            or self.lines_failed
            or self.lines_manual
            or self.lines_unmatched
            or self.illegal_transitions
            or self.quarantined
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["booked"] = {
            currency: {part: str(amount) for part, amount in parts.items()}
            for currency, parts in self.booked.items()
        }
        return data


@dataclass
class RunContext:
    """One run: the spec, the store, the run id, the day it runs as, the counters."""

    spec: ReconcileSpec
    store: StateStore
    run_id: str
    today: dt.date
    stats: ReconcileStats
    progress: Progress = field(default=lambda _stage, _n: None)
    unknown_counted: set[str] = field(default_factory=set)  # corrections counted unknown

    def now(self) -> dt.datetime:
        """The run's time for the communication log: the run's day (``--today`` in what-if
        runs and the demo), at the wall clock's time of day."""
        wall = dt.datetime.now(dt.UTC)
        if wall.date() == self.today:
            return wall
        return dt.datetime.combine(self.today, wall.time(), tzinfo=dt.UTC)

    @property
    def pipeline(self) -> str:
        return self.spec.name

    @property
    def agency(self) -> str:
        return self.spec.agency_name
