"""The runs: sync, a one-off transfer, reconcile, and run (sync then reconcile)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from claimbridge.cli._context import Ctx, echo_json, pass_ctx, pipeline_option
from claimbridge.errors import EXIT_PARTIAL, ClaimbridgeError, UsageError


@click.command()
@pipeline_option
@click.option("--dry-run", is_flag=True, help="Decide and report, send nothing, write nothing.")
@pass_ctx
def sync(obj: Ctx, pipeline: str | None, dry_run: bool) -> None:
    """Extract, normalize, wash, decide and deliver new cases."""
    _run_sync(obj, pipeline, dry_run=dry_run)


@click.command()
@pipeline_option
@click.option("--invoice", "-i", "invoices", multiple=True, help="Invoice number (repeatable).")
@click.option(
    "--file",
    "files",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Hand over this open-items file's invoices instead (same format as the files source).",
)
@click.option("--customers", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Override the creditor's own rules (never the law's).")
@click.option("--dry-run", is_flag=True)
@pass_ctx
def transfer(
    obj: Ctx,
    pipeline: str | None,
    invoices: tuple[str, ...],
    files: Path | None,
    customers: Path | None,
    force: bool,
    dry_run: bool,
) -> None:
    """One-off hand-over of chosen invoices, through the same policy and outbox."""
    if not invoices and files is None:
        raise UsageError("name invoices with --invoice, or a file with --file")
    _run_sync(
        obj,
        pipeline,
        dry_run=dry_run,
        force=force,
        only=invoices or None,
        transfer_file=(files, customers) if files else None,
    )


def _run_sync(
    obj: Ctx,
    pipeline: str | None,
    *,
    dry_run: bool,
    force: bool = False,
    only: tuple[str, ...] | None = None,
    transfer_file: tuple[Path, Path | None] | None = None,
) -> None:
    from claimbridge import build
    from claimbridge import pipeline as pipeline_mod

    config = obj.load()
    spec = build.pipeline_spec(config, pipeline, today=obj.today)
    if transfer_file is not None:
        spec = _with_file_source(spec, *transfer_file, today=obj.today)
    store = build.open_store(config)
    try:
        with _progress(enabled=not obj.json) as progress:
            stats = pipeline_mod.sync(
                spec,
                store,
                today=obj.today,
                dry_run=dry_run,
                force=force,
                only_invoices=only,
                kind="transfer" if (only or transfer_file) else "sync",
                progress=progress,
            )
        blocked = _transfer_blockers(store, spec.name, only) if only and not dry_run else []
    finally:
        spec.close()
        store.close()
    if obj.json:
        echo_json({**stats.to_dict(), "not_sent": blocked} if only else stats.to_dict())
    else:
        from claimbridge.output import print_sync_stats

        print_sync_stats(stats)
        for line in blocked:
            click.echo(f"{line['invoice']}: {line['why']}")
    if any(b["legal"] for b in blocked):
        from claimbridge.errors import PolicyError

        sys.exit(PolicyError.exit_code)
    if stats.rejected or stats.unknown or blocked:
        sys.exit(EXIT_PARTIAL)


def _transfer_blockers(store: Any, pipeline: str, numbers: tuple[str, ...]) -> list[dict[str, Any]]:
    """Named invoices that were not handed over, with why (and whether the law said no)."""
    from claimbridge.schemas import Decision

    blocked = []
    for number in numbers:
        row = store.claim(pipeline, number)
        if row is None:
            blocked.append({"invoice": number, "why": "not found in the source", "legal": False})
        elif row.case_key is None:
            decision = Decision.model_validate_json(row.decision)
            blocked.append(
                {
                    "invoice": number,
                    "why": decision.explain(),
                    "legal": any(r.legal for r in decision.reasons),
                }
            )
    return blocked


def _with_file_source(spec: Any, invoices: Path, customers: Path | None, today: dt.date) -> Any:
    from dataclasses import replace

    from claimbridge.connectors.accounting.files import OpenItemsFileSource
    from claimbridge.connectors.base import ConnectorContext

    settings = OpenItemsFileSource.Settings.model_validate(
        {"invoices": invoices.resolve(), "customers": customers.resolve() if customers else None}
    )
    source = OpenItemsFileSource(settings, ConnectorContext(name="transfer-file", today=today))
    return replace(spec, source=source)


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} records"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def advance(stage: str, n: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=None)
            bar.advance(tasks[stage], n)

        yield advance


# --- reconcile and run --------------------------------------------------------------------


@click.command()
@pipeline_option
@pass_ctx
def reconcile(obj: Ctx, pipeline: str | None) -> None:
    """Read what came back (receipts, statuses, settlements), book it in the ledger, and report
    direct payments and credit notes to the agency."""
    config = obj.load()
    stats = _reconcile(obj, config, pipeline)
    if obj.json:
        echo_json(stats.to_dict())
    else:
        from claimbridge.output import print_reconcile_stats

        print_reconcile_stats(stats)
    code = _reconcile_exit_code(stats)
    if code:
        sys.exit(code)


@click.command("run")
@pipeline_option
@pass_ctx
def run_command(obj: Ctx, pipeline: str | None) -> None:
    """Sync, then reconcile: the one command a scheduler calls.

    A source or agency that fails during the sync does not stop the reconcile (its agency
    updates and bookings are still due); the exit code is the first problem's.
    """
    from claimbridge import build
    from claimbridge import pipeline as pipeline_mod
    from claimbridge.errors import StateError, UserError

    config = obj.load()
    result: dict[str, Any] = {}
    codes: list[int] = []
    spec = build.pipeline_spec(config, pipeline, today=obj.today)
    store = build.open_store(config)
    try:
        with _progress(enabled=not obj.json) as progress:
            sync_stats = pipeline_mod.sync(spec, store, today=obj.today, progress=progress)
        result["sync"] = sync_stats.to_dict()
        if sync_stats.rejected or sync_stats.unknown:
            codes.append(EXIT_PARTIAL)
    except (UserError, StateError):
        raise
    except ClaimbridgeError as exc:
        result["sync"] = {"error": str(exc), "exit_code": exc.exit_code}
        codes.append(exc.exit_code)
        sync_stats = None
    finally:
        spec.close()
        store.close()
    stats = _reconcile(obj, config, pipeline)
    result["reconcile"] = stats.to_dict()
    codes.append(_reconcile_exit_code(stats))
    if obj.json:
        echo_json(result)
    else:
        from claimbridge.output import print_reconcile_stats, print_sync_stats

        if sync_stats is not None:
            print_sync_stats(sync_stats)
        else:
            click.echo(f"sync failed: {result['sync']['error']}", err=True)
        print_reconcile_stats(stats)
    code = next((c for c in codes if c and c != EXIT_PARTIAL), 0) or max(codes, default=0)
    if code:
        sys.exit(code)


def _reconcile(obj: Ctx, config: Any, pipeline: str | None) -> Any:
    from claimbridge import build
    from claimbridge.reconcile import reconcile as reconcile_pipeline

    spec = build.reconcile_spec(config, pipeline, today=obj.today)
    store = build.open_store(config)
    try:
        with _progress(enabled=not obj.json) as progress:
            return reconcile_pipeline(spec, store, today=obj.today, progress=progress)
    finally:
        spec.close()
        store.close()


def _reconcile_exit_code(stats: Any) -> int:
    """A connector that stopped a step: its code (7 unreachable, 8 rate limited, 9 unreadable);
    something a person should look at: 13; else 0."""
    if stats.problems:
        return int(stats.problems[0]["exit_code"])
    return EXIT_PARTIAL if stats.needs_attention else 0
