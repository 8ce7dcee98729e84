"""The outbox for a person: what waits to be delivered, and outcomes resolved by hand after
checking with the agency (``claimbridge.manual_outcomes``)."""

from __future__ import annotations

import datetime as dt
import getpass
import os
from typing import TYPE_CHECKING, Any

import click

from claimbridge.cli._context import Ctx, echo_json, pass_ctx
from claimbridge.errors import UsageError

if TYPE_CHECKING:
    from claimbridge.manual_outcomes import Resolved
    from claimbridge.state.outbox_admin import OutboxEntry

STATUSES = ("pending", "sending", "unknown", "accepted", "rejected")  # state.outbox_admin's
KINDS = ("case", "payment", "reduce", "withdraw", "pause", "resume")


@click.group()
def outbox() -> None:
    """Deliveries to the agency: what waits, and outcomes a person resolves by hand."""


@outbox.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only deliveries in this status (repeatable) [default: pending, sending, unknown].",
)
@click.option(
    "--kind", "kinds", multiple=True, type=click.Choice(KINDS), help="Only this kind (repeatable)."
)
@click.option("--pipeline", "-p", help="Only this pipeline (default: all in the state store).")
@click.option("--limit", default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per delivery.")
@pass_ctx
def outbox_list(
    obj: Ctx,
    statuses: tuple[str, ...],
    kinds: tuple[str, ...],
    pipeline: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """What waits in the outbox: key, kind, case, invoices, status, attempts, reason, age.

    No personal data: a case is shown by its key and its invoice numbers.
    """
    from claimbridge import build
    from claimbridge.state import outbox_admin

    config = obj.load()
    if pipeline:
        pipeline = config.pipeline(pipeline).name
    store = build.open_store(config)
    try:
        rows = outbox_admin.entries(
            store.engine,
            pipeline=pipeline,
            statuses=statuses or outbox_admin.WAITING,
            kinds=kinds or None,
            limit=limit,
        )
    finally:
        store.close()
    now = dt.datetime.now(dt.UTC)
    if obj.json or as_json:
        for row in rows:
            echo_json(_entry_json(row, now))
        return
    _print_entries(rows, now)


def _entry_json(row: OutboxEntry, now: dt.datetime) -> dict[str, Any]:
    return {
        "key": row.key,
        "pipeline": row.pipeline,
        "agency": row.agency,
        "kind": row.kind,
        "case_key": row.case_key,
        "invoices": list(row.invoices),
        "status": row.status,
        "attempts": row.attempts,
        "reason": row.reason,
        "agency_ref": row.agency_ref,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "age_seconds": int(row.age(now).total_seconds()),
    }


def _print_entries(rows: list[OutboxEntry], now: dt.datetime) -> None:
    """One line per delivery (the key whole, to copy into ``outbox resolve``), its reason
    indented below."""
    for row in rows:
        invoices = ", ".join(row.invoices) or "-"
        click.echo(
            f"{row.key}  {row.kind:<8} {row.status:<8} {row.attempts:>2} tries "
            f"{_age(row.age(now)):>8}  case {row.case_key}  invoice {invoices}"
        )
        if row.reason:
            click.echo(f"    {row.reason}")
    click.echo(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'}")
    if any(row.status in ("unknown", "sending") for row in rows):
        click.echo(
            "check with the agency, then: claimbridge outbox resolve KEY "
            "--delivered | --not-delivered | --rejected REASON"
        )


def _age(age: dt.timedelta) -> str:
    if age.days:
        return f"{age.days}d {age.seconds // 3600}h"
    if age.seconds >= 3600:
        return f"{age.seconds // 3600}h {age.seconds % 3600 // 60}m"
    return f"{age.seconds // 60}m"


@outbox.command("resolve")
@click.argument("key")
@click.option("--delivered", is_flag=True, help="The agency has it: record it as accepted.")
@click.option(
    "--not-delivered",
    is_flag=True,
    help="The agency never got it: the next run sends it again under the same key.",
)
@click.option("--rejected", metavar="REASON", help="The agency refused it, for this reason.")
@click.option(
    "--agency-ref",
    metavar="REF",
    help="With --delivered: the agency's reference for it (a case without one stays 'sent' "
    "until the agency's receipt).",
)
@click.option("--by", help="Who checked with the agency [default: your login name ($USER)].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@pass_ctx
def outbox_resolve(
    obj: Ctx,
    key: str,
    delivered: bool,
    not_delivered: bool,
    rejected: str | None,
    agency_ref: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Record what the agency says became of delivery KEY, after a person checked with it.

    Only a delivery whose outcome is unknown (or left sending by a run that died) can be
    resolved; anything else exits 14. The case's log says who resolved it, and the audit log
    keeps the resolution.
    """
    from claimbridge import build
    from claimbridge.manual_outcomes import Resolution, resolve

    chosen = [
        resolution
        for resolution, given in (
            (Resolution.DELIVERED, delivered),
            (Resolution.NOT_DELIVERED, not_delivered),
            (Resolution.REJECTED, rejected is not None),
        )
        if given
    ]
    if len(chosen) != 1:
        raise UsageError("say what the agency told you: --delivered, --not-delivered or --rejected")
    if agency_ref is not None and chosen[0] is not Resolution.DELIVERED:
        raise UsageError("--agency-ref goes with --delivered")
    store = build.open_store(obj.load())
    try:
        resolved = resolve(
            store,
            key,
            chosen[0],
            by=by if by is not None else _login_name(),
            agency_ref=agency_ref,
            reason=rejected,
            now=obj.now(),
        )
    finally:
        store.close()
    if obj.json or as_json:
        echo_json(resolved.to_dict())
        return
    click.echo(f"{resolved.key}: {_what(resolved)}")
    click.echo(f"  {_outcome_words(resolved)}; the case's log says {resolved.by} resolved it")


def _what(resolved: Resolved) -> str:
    invoices = f", invoice {', '.join(resolved.invoices)}" if resolved.invoices else ""
    if resolved.kind == "case":
        return f"the hand-over of case {resolved.case_key}{invoices}"
    return f"a {resolved.kind} correction on case {resolved.case_key}{invoices}"


def _outcome_words(resolved: Resolved) -> str:
    if resolved.resolution == "not_delivered":
        again = "sync" if resolved.kind == "case" else "reconcile"
        return f"not delivered: pending again, the next {again} sends it under the same key"
    if resolved.resolution == "rejected":
        return f"rejected by the agency: {resolved.reason}"
    if resolved.kind == "case" and resolved.agency_ref is None:
        return "delivered: the case is sent and waits for the agency's receipt"
    ref = f" as {resolved.agency_ref}" if resolved.agency_ref else ""
    return f"delivered: recorded as accepted by the agency{ref}"


def _login_name() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (OSError, KeyError):  # no $USER/$LOGNAME and no passwd entry (some containers)
        raise UsageError("cannot tell who you are: name yourself with --by") from None
