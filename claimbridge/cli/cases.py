"""What a person looks at and decides: cases and why, approvals, quarantine, unmatched
payments."""

from __future__ import annotations

import datetime as dt
import decimal
import sys

import click

from claimbridge.cli._context import Ctx, echo_json, parse_optional_date, pass_ctx, pipeline_option
from claimbridge.errors import EXIT_PARTIAL, UsageError


@click.group()
def cases() -> None:
    """Cases handed over, and why a claim was or was not sent."""


@cases.command("list")
@click.option("--pipeline", "-p")
@click.option("--status", "statuses", multiple=True, help="Only cases in this status.")
@click.option("--held", is_flag=True, help="Claims held for a person (quality, disputes…).")
@click.option(
    "--limitation", is_flag=True, help="Claims not handed over whose limitation date is near."
)
@click.option("--limit", default=200, show_default=True)
@pass_ctx
def cases_list(
    obj: Ctx,
    pipeline: str | None,
    statuses: tuple[str, ...],
    held: bool,
    limitation: bool,
    limit: int,
) -> None:
    """List cases (or held claims)."""
    from claimbridge import build, output

    store = build.open_store(obj.load())
    try:
        if limitation:
            output.print_held(store.limitation_claims(pipeline, limit), as_json=obj.json)
        elif held:
            output.print_held(store.held_claims(pipeline, limit), as_json=obj.json)
        else:
            output.print_cases(store.list_cases(pipeline, statuses or None, limit), obj.json)
    finally:
        store.close()


@cases.command("show")
@click.argument("case_key")
@pass_ctx
def cases_show(obj: Ctx, case_key: str) -> None:
    """A case, its claims and its communication log."""
    from claimbridge import build, output
    from claimbridge.errors import NotFoundError

    store = build.open_store(obj.load())
    try:
        row = store.case(case_key)
        if row is None:
            raise NotFoundError(f"no case {case_key!r}")
        output.print_case(row, store.case_claims(case_key), store.case_events(case_key), obj.json)
    finally:
        store.close()


@cases.command("why")
@click.argument("invoice")
@click.option("--pipeline", "-p")
@pass_ctx
def cases_why(obj: Ctx, invoice: str, pipeline: str | None) -> None:
    """Why invoice INVOICE was or was not sent, in plain words."""
    from claimbridge import build, output
    from claimbridge.errors import NotFoundError

    store = build.open_store(obj.load())
    try:
        rows = store.find_claims(invoice)
        if pipeline:
            rows = [r for r in rows if r.pipeline == pipeline]
        if not rows:
            quarantined = [q for q in store.list_quarantine(pipeline) if q.record_id == invoice]
            if quarantined:
                output.print_quarantine(quarantined, obj.json)
                return
            raise NotFoundError(
                f"invoice {invoice} has not been seen by any sync (is it in the source?)"
            )
        output.print_why(rows, store, obj.json)
    finally:
        store.close()


@cases.command("approve")
@click.argument("invoices", nargs=-1)
@pipeline_option
@click.option("--all", "approve_all", is_flag=True, help="Every claim waiting for approval…")
@click.option("--max-amount", type=decimal.Decimal, help="…with at most this principal")
@click.option("--currency", help="…in this currency")
@click.option("--due-before", callback=parse_optional_date, help="…due before this date")
@pass_ctx
def cases_approve(
    obj: Ctx,
    invoices: tuple[str, ...],
    pipeline: str | None,
    approve_all: bool,
    max_amount: decimal.Decimal | None,
    currency: str | None,
    due_before: dt.date | None,
) -> None:
    """Approve claims waiting for approval; the next run hands them over."""
    import getpass

    from claimbridge import build

    if bool(invoices) == approve_all:
        raise UsageError("name invoices, or pass --all (with optional filters)")
    config = obj.load()
    name = config.pipeline(pipeline).name
    store = build.open_store(config)
    try:
        approved = store.approve(
            name,
            list(invoices) if invoices else None,
            by=getpass.getuser(),
            today=obj.today,
            max_amount=max_amount,
            currency=currency,
            due_before=due_before,
        )
    finally:
        store.close()
    if obj.json:
        echo_json({"approved": approved})
    else:
        click.echo(f"approved {len(approved)} claim(s); the next run hands them over")
    missing = set(invoices) - set(approved)
    if missing:
        click.echo(
            "not waiting for approval (see cases why): " + ", ".join(sorted(missing)), err=True
        )
        sys.exit(EXIT_PARTIAL)


@click.command()
@click.option("--pipeline", "-p")
@click.option("--all", "include_resolved", is_flag=True, help="Include resolved entries.")
@pass_ctx
def quarantine(obj: Ctx, pipeline: str | None, include_resolved: bool) -> None:
    """Records that failed validation, with where and why."""
    from claimbridge import build, output

    store = build.open_store(obj.load())
    try:
        rows = store.list_quarantine(pipeline, include_resolved=include_resolved)
        output.print_quarantine(rows, obj.json)
    finally:
        store.close()


@click.group()
def payments() -> None:
    """Payments from bank files and the ledger, and what they were matched to."""


@payments.command("unmatched")
@pipeline_option
@click.option("--limit", default=1000, show_default=True)
@pass_ctx
def payments_unmatched(obj: Ctx, pipeline: str | None, limit: int) -> None:
    """The review list: payments that named no claim clearly enough to be matched."""
    from claimbridge import build
    from claimbridge.matching import REASONS, unmatched

    config = obj.load()
    store = build.open_store(config)
    try:
        rows = unmatched(store, config.pipeline(pipeline).name, limit=limit)
    finally:
        store.close()
    if obj.json:
        for row in rows:
            echo_json(
                {
                    "source": row.source,
                    "payment_id": row.payment_id,
                    "amount": str(row.amount),
                    "currency": row.currency,
                    "booking_date": row.booking_date,
                    "reference": row.reference,
                    "reason": row.reason,
                }
            )
        return
    for row in rows:
        why = REASONS.get(row.reason, row.reason)
        click.echo(f"{row.booking_date}  {row.amount:>12} {row.currency}  {row.payment_id}  {why}")
    click.echo(f"{len(rows)} unmatched payment(s)")
