"""The ``claimbridge`` command line.

Human output by default (tables, progress bars on long work); ``--json`` for schedulers.
Every error ends the program with its class's exit code and one line on stderr; a traceback
only with ``--debug``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn, cast

import click

from claimbridge import __version__
from claimbridge.errors import EXIT_INTERRUPTED, EXIT_PARTIAL, ClaimbridgeError, UsageError

DEFAULT_CONFIG = "claimbridge.toml"


@dataclass
class Ctx:
    config_path: Path
    json: bool
    debug: bool
    log_format: str | None
    log_level: str | None
    today: dt.date

    def load(self) -> Any:
        from claimbridge.config import load_config
        from claimbridge.logs import configure_logging

        config = load_config(self.config_path)
        log_format = cast(Literal["text", "json"], self.log_format or config.log.format)
        configure_logging(log_format, self.log_level or config.log.level)
        return config


pass_ctx = click.make_pass_decorator(Ctx)


def _parse_optional_date(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dt.date | None:
    return None if value is None else _parse_date(ctx, param, value)


def _parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=lambda: os.environ.get("CLAIMBRIDGE_CONFIG", DEFAULT_CONFIG),
    show_default="$CLAIMBRIDGE_CONFIG or ./claimbridge.toml",
    help="Config file.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="Log line format (stderr).")
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="Log level."
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option(
    "--today",
    callback=_parse_date,
    hidden=True,
    help="Decide as if today were this date (testing and what-if runs).",
)
@click.version_option(__version__, prog_name="claimbridge")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: Path,
    as_json: bool,
    log_format: str | None,
    log_level: str | None,
    debug: bool,
    today: dt.date,
) -> None:
    """Move overdue receivables from accounting systems to collection agencies."""
    ctx.obj = Ctx(config_path, as_json, debug, log_format, log_level, today)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, default=str, ensure_ascii=False))


# --- init, check, plugins, schema ---------------------------------------------------------


@cli.command()
@click.option("--source", default="files", show_default=True, help="Source type.")
@click.option(
    "--agency",
    default="sandbox",
    show_default=True,
    help="Agency type; a file drop with its profile: file_drop:indebted_csv.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG,
    show_default=True,
)
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def init(source: str, agency: str, output: Path, overwrite: bool) -> None:
    """Write a commented starter config for a source and an agency."""
    from claimbridge.init_template import render_config

    if output.exists() and not overwrite:
        raise UsageError(f"{output} exists; pass --overwrite to replace it")
    output.write_text(render_config(source, agency), encoding="utf-8")
    click.echo(f"wrote {output}; edit it, then run: claimbridge --config {output} check")


@cli.command()
@click.option("--pipeline", "-p", help="Only this pipeline's connectors.")
@pass_ctx
def check(obj: Ctx, pipeline: str | None) -> None:
    """Check every connection: config, auth and reachability, told apart."""
    from claimbridge import build
    from claimbridge.connectors.base import Connector

    config = obj.load()
    names = [config.pipeline(pipeline)] if pipeline else list(config.pipelines.values())
    wanted_sources = {p.source.name for p in names}
    wanted_agencies = {p.agency.name for p in names}
    results = []
    connectors: list[Connector] = [
        build.source(config, config.sources[n], obj.today) for n in sorted(wanted_sources)
    ]
    connectors += [
        build.agency(config, config.agencies[n], obj.today) for n in sorted(wanted_agencies)
    ]
    for conn in connectors:
        try:
            results.append(conn.check())
        finally:
            conn.close()
    store_ok = True
    try:
        build.open_store(config).close()
    except ClaimbridgeError as exc:
        store_ok = False
        store_message = str(exc)
    ok = all(r.ok for r in results) and store_ok
    if obj.json:
        _echo_json(
            {
                "ok": ok,
                "state": {"ok": store_ok},
                "connectors": [
                    {
                        "name": r.connector,
                        "ok": r.ok,
                        "checks": [
                            {"kind": i.kind.value, "ok": i.ok, "message": i.message}
                            for i in r.items
                        ],
                    }
                    for r in results
                ],
            }
        )
    else:
        for r in results:
            for item in r.items:
                mark = "ok  " if item.ok else "FAIL"
                click.echo(f"{mark} {r.connector:<16} {item.kind.value:<13} {item.message}")
        click.echo(
            "ok   state            database      opened and migrated"
            if store_ok
            else f"FAIL state            database      {store_message}"
        )
    if not ok:
        sys.exit(_first_failure_code(results))


def _first_failure_code(results: list[Any]) -> int:
    from claimbridge.connectors.base import CheckKind
    from claimbridge.errors import AuthError, ConfigError, UnreachableError

    codes = {
        CheckKind.CONFIG: ConfigError.exit_code,
        CheckKind.AUTH: AuthError.exit_code,
        CheckKind.REACHABILITY: UnreachableError.exit_code,
        CheckKind.PERMISSION: ConfigError.exit_code,
    }
    for r in results:
        for item in r.items:
            if not item.ok:
                return codes[item.kind]
    return 10  # only the state store failed


@cli.command()
@pass_ctx
def plugins(obj: Ctx) -> None:
    """List installed connectors, and any that failed to load with the reason."""
    from claimbridge.connectors.base import Connector
    from claimbridge.connectors.registry import load_registry

    registry = load_registry()
    groups: dict[str, Mapping[str, type[Connector]]] = {
        "sources": registry.sources,
        "agencies": registry.agencies,
        "payment_feeds": registry.payment_feeds,
    }
    if obj.json:
        _echo_json(
            {
                **{g: sorted(v) for g, v in groups.items()},
                "failures": [
                    {"group": f.group, "name": f.name, "reason": f.reason}
                    for f in registry.failures
                ],
            }
        )
        return
    for group, found in groups.items():
        for name, cls in sorted(found.items()):
            click.echo(f"{group:<14} {name:<14} {cls.__module__}.{cls.__qualname__}")
    for failure in registry.failures:
        click.echo(f"FAILED {failure.group:<7} {failure.name:<14} {failure.reason}")


@cli.group()
def schema() -> None:
    """The canonical JSON Schema files."""


@schema.command("export")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def schema_export(directory: Path) -> None:
    """Write the canonical models' JSON Schema files into DIRECTORY."""
    from claimbridge.schemas.export import export_schemas

    for path in export_schemas(directory):
        click.echo(str(path))


# --- sync and transfer --------------------------------------------------------------------


@cli.command()
@click.option("--pipeline", "-p", help="Pipeline name (default: the only one).")
@click.option("--dry-run", is_flag=True, help="Decide and report, send nothing, write nothing.")
@pass_ctx
def sync(obj: Ctx, pipeline: str | None, dry_run: bool) -> None:
    """Extract, normalize, wash, decide and deliver new cases."""
    _run_sync(obj, pipeline, dry_run=dry_run)


@cli.command()
@click.option("--pipeline", "-p", help="Pipeline name (default: the only one).")
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
        _echo_json({**stats.to_dict(), "not_sent": blocked} if only else stats.to_dict())
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


@cli.command()
@click.option("--pipeline", "-p", help="Pipeline name (default: the only one).")
@pass_ctx
def reconcile(obj: Ctx, pipeline: str | None) -> None:
    """Read what came back (receipts, statuses, settlements), book it in the ledger, and report
    direct payments and credit notes to the agency."""
    config = obj.load()
    stats = _reconcile(obj, config, pipeline)
    if obj.json:
        _echo_json(stats.to_dict())
    else:
        from claimbridge.output import print_reconcile_stats

        print_reconcile_stats(stats)
    code = _reconcile_exit_code(stats)
    if code:
        sys.exit(code)


@cli.command("run")
@click.option("--pipeline", "-p", help="Pipeline name (default: the only one).")
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
        _echo_json(result)
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


# --- cases and quarantine -----------------------------------------------------------------


@cli.group()
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
@click.option("--pipeline", "-p", help="Pipeline name (default: the only one).")
@click.option("--all", "approve_all", is_flag=True, help="Every claim waiting for approval…")
@click.option("--max-amount", type=decimal.Decimal, help="…with at most this principal")
@click.option("--currency", help="…in this currency")
@click.option("--due-before", callback=_parse_optional_date, help="…due before this date")
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
        _echo_json({"approved": approved})
    else:
        click.echo(f"approved {len(approved)} claim(s); the next run hands them over")
    missing = set(invoices) - set(approved)
    if missing:
        click.echo(
            "not waiting for approval (see cases why): " + ", ".join(sorted(missing)), err=True
        )
        sys.exit(EXIT_PARTIAL)


@cli.command()
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


@cli.group()
def payments() -> None:
    """Payments from bank files and the ledger, and what they were matched to."""


@payments.command("unmatched")
@click.option("--pipeline", "-p", help="Pipeline name (default: the only one).")
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
            _echo_json(
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


@cli.group()
def postal() -> None:
    """The postal registers that addresses are checked against."""


@postal.command("refresh")
@click.argument("country", type=click.Choice(["NO", "SE", "DK"], case_sensitive=False))
@click.option("--url", help="Where to download from (default: the register's publisher).")
@pass_ctx
def postal_refresh(obj: Ctx, country: str, url: str | None) -> None:
    """Download COUNTRY's postal register and replace the shipped copy atomically."""
    from claimbridge.quality.postal import BRING_URL, refresh_register

    country = country.upper()
    if url is None:
        if country != "NO":
            raise UsageError(f"name the {country} register's download address with --url")
        url = BRING_URL
    result = refresh_register(country, url)
    if obj.json:
        _echo_json({"country": result.country, "path": str(result.path), "entries": result.entries})
    else:
        click.echo(f"{result.country}: {result.entries} postal codes written to {result.path}")


# --- reports ------------------------------------------------------------------------------


@cli.command()
@click.argument(
    "which",
    type=click.Choice(["status", "aging", "recovery", "cashflow", "resolution", "all"]),
    default="all",
)
@click.option("--pipeline", "-p", help="Only this pipeline (default: all in the state store).")
@click.option(
    "--as-of", callback=_parse_optional_date, help="Aging and resolution on this day [today]."
)
@click.option(
    "--since", callback=_parse_optional_date, help="Settlements, payments, hand-overs from this day"
)
@click.option("--until", callback=_parse_optional_date, help="…up to and including this day.")
@click.option(
    "--buckets",
    default="30,60,90,180,365",
    show_default=True,
    help="Upper edges of the age buckets, in days past due.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object (as the global --json).")
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a self-contained HTML report to this file.",
)
@pass_ctx
def report(
    obj: Ctx,
    which: str,
    pipeline: str | None,
    as_of: dt.date | None,
    since: dt.date | None,
    until: dt.date | None,
    buckets: str,
    as_json: bool,
    html_path: Path | None,
) -> None:
    """Status, aging, recovery, cash flow, and resolution by claim age at hand-off."""
    from claimbridge import build
    from claimbridge.report import REPORTS, Filters, build_reports
    from claimbridge.report.html import render_html, write_html
    from claimbridge.report.render import print_reports, report_json
    from claimbridge.report.sql import age_buckets

    config = obj.load()
    if pipeline:
        pipeline = config.pipeline(pipeline).name
    as_of = as_of or obj.today
    try:
        edges = tuple(int(edge) for edge in buckets.split(","))
    except ValueError:
        raise UsageError(f"--buckets {buckets}: give whole days, e.g. 30,60,90") from None
    try:
        age_buckets(edges)
    except ValueError as exc:
        raise UsageError(f"--buckets {buckets}: {exc}") from None
    try:
        filters = Filters(pipeline, since, until)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    store = build.open_store(config)
    try:
        names = REPORTS if which == "all" else (which,)
        reports = build_reports(store, names, filters, as_of=as_of, edges=edges)
    finally:
        store.close()
    if html_path is not None:
        document = render_html(reports, filters, as_of=as_of, generated_at=dt.datetime.now(dt.UTC))
        try:
            write_html(html_path, document)
        except OSError as exc:
            raise UsageError(f"cannot write {html_path}: {exc.strerror}") from None
    if obj.json or as_json:
        _echo_json(report_json(reports, filters, as_of=as_of, edges=edges))
    elif html_path is not None:
        click.echo(f"wrote {html_path}")
    else:
        print_reports(reports)


# --- inspect, sandbox, demo ---------------------------------------------------------------


@cli.command()
@click.argument("path", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "csv", "jsonl", "saft", "ubl"]),
    default="auto",
    show_default=True,
)
@pass_ctx
def inspect(obj: Ctx, path: Path, fmt: str) -> None:
    """Print the canonical records a file yields, one JSON object per line."""
    from claimbridge.inspect import inspect_file

    problems = 0
    for line, is_problem in inspect_file(path, fmt):
        click.echo(line, err=is_problem)
        problems += is_problem
    if problems:
        sys.exit(EXIT_PARTIAL)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True)
@click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    default="sandbox-agency.db",
    show_default=True,
)
def sandbox(host: str, port: int, db: Path) -> None:
    """Serve the sandbox agency. The API token is read from $CLAIMBRIDGE_SANDBOX_TOKEN."""
    from claimbridge.sandbox.server import SandboxServer

    token = os.environ.get("CLAIMBRIDGE_SANDBOX_TOKEN")
    if not token:
        raise UsageError("set CLAIMBRIDGE_SANDBOX_TOKEN to the API token clients must send")
    server = SandboxServer(token, db_path=db, host=host, port=port)
    click.echo(f"sandbox agency listening on {server.url} (Ctrl-C to stop)", err=True)
    server.serve_forever()


@cli.group()
def webhooks() -> None:
    """Receive agencies' pushed events (verified, spooled for the next reconcile)."""


@webhooks.command("serve")
@click.option("--agency", "names", multiple=True, help="Only this agency (repeatable).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8780, show_default=True, type=click.IntRange(0, 65535))
@pass_ctx
def webhooks_serve(obj: Ctx, names: tuple[str, ...], host: str, port: int) -> None:
    """Serve POST /webhooks/<agency> for each configured agency that takes webhooks."""
    from claimbridge import build
    from claimbridge.webhooks import WebhookServer

    config = obj.load()
    unknown = sorted(set(names) - set(config.agencies))
    if unknown:
        raise UsageError(f"no agency named {', '.join(unknown)} in the config")
    chosen = {
        name: build.agency(config, config.agencies[name], obj.today)
        for name in sorted(names or config.agencies)
    }
    serving = {name: a for name, a in chosen.items() if a.capabilities.webhooks}
    if not serving:
        raise UsageError("none of the chosen agencies takes webhooks")
    server = WebhookServer(serving, config.directory, host=host, port=port)
    for name in serving:
        click.echo(f"{server.url}/webhooks/{name}", err=True)
    click.echo("listening (Ctrl-C to stop)", err=True)
    server.serve_forever()


@cli.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default="claimbridge-demo",
    show_default=True,
)
@click.option(
    "--months",
    type=click.IntRange(0, 24),
    default=1,
    show_default=True,
    help="Months of simulated collection after the hand-over (0: hand over only).",
)
@pass_ctx
def demo(obj: Ctx, directory: Path, months: int) -> None:
    """Sample ledger → sandbox agency over HTTP → settlements booked back, end to end."""
    from claimbridge.sandbox.demo import run_demo

    run_demo(directory, today=obj.today, as_json=obj.json, months=months)


# --- entry point --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: one line per error, the error's own exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="claimbridge", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ClaimbridgeError as exc:
        _fail(exc, exc.exit_code, debug)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        _fail(exc, 1, debug, internal=True)
    sys.exit(0)


def _fail(exc: BaseException, code: int, debug: bool, *, internal: bool = False) -> NoReturn:
    from claimbridge.logs import redact

    if debug:
        click.echo(redact("".join(traceback.format_exception(exc))), err=True)
    if internal:
        message = f"internal error ({type(exc).__name__}); run with --debug for details"
    else:
        message = redact(str(exc))
    click.echo(f"error: {message}", err=True)
    sys.exit(code)
