"""What the CLI shows: terminal tables for people, JSON for schedulers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from claimbridge.schemas import Decision

if TYPE_CHECKING:
    from claimbridge.pipeline import SyncStats
    from claimbridge.reconcile import ReconcileStats
    from claimbridge.state import StateStore


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _json(data: Any) -> None:
    click.echo(json.dumps(data, default=str, ensure_ascii=False))


def print_sync_stats(stats: SyncStats) -> None:
    verb = "would queue" if stats.dry_run else "sent"
    sent = stats.cases_queued if stats.dry_run else stats.cases_sent
    claims = stats.claims_queued if stats.dry_run else stats.claims_sent
    console = _console()
    console.print(
        f"[bold]{verb} {sent} case(s) with {claims} claim(s)[/bold] "
        f"from {stats.claims_seen} claim(s) seen"
    )
    rows = [
        ("waiting (not due yet)", stats.waiting),
        ("held for a person", stats.held),
        ("pending approval", stats.pending_approval),
        ("limitation date near", stats.limitation_near),
        ("already handed over", stats.already_handed_over),
        ("quarantined records", stats.quarantined),
        ("rejected by the agency", stats.rejected),
        ("outcome unknown", stats.unknown),
        ("to retry next run", stats.retryable),
        ("recovered from an earlier run", stats.recovered),
    ]
    for label, value in rows:
        if value:
            console.print(f"  {label:<32} {value}")
    if stats.quarantined:
        console.print("  see: claimbridge quarantine")
    if stats.unknown:
        console.print("  see: claimbridge outbox list --status unknown")


def _case_dict(row: Any) -> dict[str, Any]:
    return {
        "case_key": row.case_key,
        "pipeline": row.pipeline,
        "agency": row.agency,
        "status": row.status,
        "agency_ref": row.agency_ref,
        "claims": row.claim_count,
        "principal": str(row.total_principal),
        "currency": row.currency,
        "quality_score": row.quality_score,
        "created_at": row.created_at,
    }


def print_cases(rows: Sequence[Any], as_json: bool) -> None:
    if as_json:
        for row in rows:
            _json(_case_dict(row))
        return
    table = Table("case", "status", "agency ref", "claims", "principal", "quality")
    for row in rows:
        table.add_row(
            row.case_key,
            row.status,
            row.agency_ref or "",
            str(row.claim_count),
            f"{row.total_principal} {row.currency}",
            str(row.quality_score if row.quality_score is not None else ""),
        )
    _console().print(table)
    _console().print(f"{len(rows)} case(s)")


def print_held(rows: Sequence[Any], as_json: bool) -> None:
    if as_json:
        for row in rows:
            decision = Decision.model_validate_json(row.decision)
            _json(
                {
                    "invoice": row.invoice_number,
                    "due_date": row.due_date,
                    "limitation_on": row.limitation_on,
                    "why": decision.explain(),
                }
            )
        return
    table = Table("invoice", "due", "principal", "what to fix")
    for row in rows:
        decision = Decision.model_validate_json(row.decision)
        table.add_row(
            row.invoice_number,
            str(row.due_date),
            f"{row.remaining_principal} {row.currency}",
            decision.explain(),
        )
    _console().print(table)


def print_case(case: Any, claims: Sequence[Any], events: Sequence[Any], as_json: bool) -> None:
    if as_json:
        _json(
            {
                **_case_dict(case),
                "invoices": [c.invoice_number for c in claims],
                "events": [
                    {
                        "at": e.at,
                        "kind": e.kind,
                        "direction": e.direction,
                        "status": e.status,
                        "message": e.message,
                    }
                    for e in events
                ],
            }
        )
        return
    console = _console()
    console.print(f"[bold]{case.case_key}[/bold]  {case.status}  {case.agency_ref or ''}")
    console.print(
        f"  {case.claim_count} claim(s), {case.total_principal} {case.currency}, "
        f"agency {case.agency}, quality {case.quality_score}"
    )
    for claim in claims:
        console.print(
            f"  invoice {claim.invoice_number}  due {claim.due_date}  "
            f"{claim.remaining_principal} {claim.currency}"
        )
    console.print("  log:")
    for event in events:
        arrow = {"out": "→", "in": "←"}.get(event.direction, "·")
        console.print(f"    {event.at:%Y-%m-%d %H:%M} {arrow} {event.message}")


def print_why(rows: Sequence[Any], store: StateStore, as_json: bool) -> None:
    for row in rows:
        decision = Decision.model_validate_json(row.decision)
        case = store.case(row.case_key) if row.case_key else None
        if as_json:
            _json(
                {
                    "invoice": row.invoice_number,
                    "pipeline": row.pipeline,
                    "outcome": decision.outcome.value,
                    "decided_on": str(decision.decided_on),
                    "case_key": row.case_key,
                    "case_status": case.status if case else None,
                    "reasons": [r.model_dump(mode="json") for r in decision.reasons],
                    "warnings": [w.model_dump(mode="json") for w in decision.warnings],
                    "explanation": decision.explain(),
                }
            )
            continue
        head = f"invoice {row.invoice_number} ({row.pipeline}, decided {decision.decided_on})"
        click.echo(head)
        click.echo(f"  {decision.explain()}")
        if case is not None:
            ref = f", agency reference {case.agency_ref}" if case.agency_ref else ""
            click.echo(f"  case {case.case_key}: {case.status}{ref}")


def print_quarantine(rows: Sequence[Any], as_json: bool) -> None:
    if as_json:
        for row in rows:
            _json(
                {
                    "location": row.location,
                    "stream": row.stream,
                    "record_id": row.record_id,
                    "reasons": json.loads(row.reasons),
                    "created_at": row.created_at,
                }
            )
        return
    if not rows:
        click.echo("nothing in quarantine")
        return
    table = Table("where", "record", "why")
    for row in rows:
        table.add_row(row.location, row.record_id or "", "; ".join(json.loads(row.reasons)))
    _console().print(table)
    _console().print(f"{len(rows)} record(s); fix them in the source, the next run picks them up")


def print_reconcile_stats(stats: ReconcileStats) -> None:
    console = _console()
    console.print(
        f"[bold]reconciled: {stats.updates_read} agency update(s), "
        f"{stats.settlement_lines} settlement line(s), {stats.corrections_sent} correction(s) "
        "delivered[/bold]"
    )
    for currency, parts in sorted(stats.booked.items()):
        console.print(
            f"  booked {currency}: principal {parts['principal']}, interest {parts['interest']}, "
            f"fees {parts['fees']}, commission {parts['commission']}"
        )
    rows = [
        ("receipts", stats.receipts),
        ("status changes", stats.status_changes),
        ("reports not applied (illegal)", stats.illegal_transitions),
        ("updates about unknown cases", stats.unknown_updates),
        ("lines booked", stats.lines_booked),
        ("lines partly booked", stats.lines_partly_booked),
        ("lines the ledger refused", stats.lines_failed),
        ("lines naming no claim", stats.lines_unmatched),
        ("ledger payments read", stats.ledger_payments_read),
        ("credit notes read", stats.credit_notes_read),
        ("bank payments read", stats.bank_payments_read),
        ("agency payments not echoed", stats.agency_payments_ignored),
        ("corrections queued", stats.corrections_queued),
        ("corrections rejected", stats.corrections_rejected),
        ("corrections outcome unknown", stats.corrections_unknown),
        ("corrections to tell by hand", stats.corrections_manual),
        ("recovered from an earlier run", stats.recovered),
        ("quarantined records", stats.quarantined),
    ]
    for label, value in rows:
        if value:
            console.print(f"  {label:<32} {value}")
    for problem in stats.problems:
        console.print(f"  [bold]stopped[/bold] {problem['step']}: {problem['error']}")
    if stats.corrections_rejected or stats.corrections_manual or stats.illegal_transitions:
        console.print("  see: claimbridge cases show CASE_KEY (the communication log)")
    if stats.corrections_unknown:
        console.print("  see: claimbridge outbox list --status unknown (then outbox resolve)")
