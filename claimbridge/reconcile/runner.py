"""One reconcile run: finish what an earlier run left, read what came back, book it, report
what the agency must hear, and deliver that.

The steps, in order (docs/reconciliation.md has the picture):

1. deliver corrections left ``pending``/``sending``/``unknown`` by an earlier run;
2. book settlement lines left ``seen``/``booking``;
3. ask the agency about deliveries still waiting for their receipt (async acceptance);
4. read the agency's updates since its cursor (receipts, statuses, settlements);
5. book the new settlement lines;
6. read the source's payments and credit notes, and the bank payment feeds;
7. turn those on handed-over claims into corrections in the outbox;
8. deliver the corrections.

Every step commits its work together with the cursor it advances, so a run killed anywhere
is finished by the next one without doing anything twice. A connector that is unreachable, out
of rate limit, or sends something unreadable (a ``DataError`` naming where) stops only the steps
that need it; the run records the problem (the CLI exits with its code) and the other steps go
on. Anything else (config, credentials, the state store) ends the run.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from claimbridge.errors import DataError, RateLimitedError, UnreachableError
from claimbridge.reconcile import booking, corrections, payments, updates
from claimbridge.reconcile.context import Progress, ReconcileSpec, ReconcileStats, RunContext
from claimbridge.state import StateStore

__all__ = ["reconcile"]

log = logging.getLogger("claimbridge.reconcile")

Step = Callable[[RunContext], None]
STEPS: tuple[tuple[str, str, Step], ...] = (
    ("deliver corrections left by an earlier run", "agency", corrections.deliver_corrections),
    ("book settlement lines left by an earlier run", "source", booking.book_lines),
    ("receipts of deliveries still waiting", "agency", updates.resolve_sent),
    ("agency updates", "agency", updates.read_updates),
    ("book settlement lines", "source", booking.book_lines),
    ("ledger payments and credit notes", "source", payments.read_ledger),
    ("bank payment feeds", "feeds", payments.read_feeds),
    ("report direct payments and credit notes", "state", corrections.report_corrections),
    ("deliver corrections", "agency", corrections.deliver_corrections),
)


def reconcile(
    spec: ReconcileSpec,
    store: StateStore,
    *,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> ReconcileStats:
    """Reconcile one pipeline once. Raises LeaseHeldError at once when another run of the
    same pipeline (sync or reconcile) is working."""
    run_id = store.start_run(spec.name, "reconcile")
    stats = ReconcileStats(run_id=run_id)
    ctx = RunContext(spec, store, run_id, today or dt.date.today(), stats)
    if progress is not None:
        ctx.progress = progress
    try:
        with store.lease(spec.name, holder=run_id):
            _run_steps(ctx)
    except BaseException as exc:
        store.finish_run(run_id, "failed", stats.to_dict(), error=type(exc).__name__)
        raise
    store.finish_run(run_id, "succeeded" if not stats.problems else "partial", stats.to_dict())
    return stats


def _run_steps(ctx: RunContext) -> None:
    down: set[str] = set()
    for name, needs, step in STEPS:
        if needs in down:
            continue
        try:
            step(ctx)
        except (UnreachableError, RateLimitedError, DataError) as exc:
            log.warning("%s: stopped, the next run goes on: %s", name, exc)
            ctx.stats.problems.append({"step": name, "error": str(exc), "exit_code": exc.exit_code})
            down.add(needs)
