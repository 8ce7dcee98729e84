"""Reading the state and the files: the reports, and what a file yields (inspect)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from claimbridge.cli._context import Ctx, echo_json, parse_optional_date, pass_ctx
from claimbridge.errors import EXIT_PARTIAL, UsageError


@click.command()
@click.argument(
    "which",
    type=click.Choice(["status", "aging", "recovery", "cashflow", "resolution", "all"]),
    default="all",
)
@click.option("--pipeline", "-p", help="Only this pipeline (default: all in the state store).")
@click.option(
    "--as-of", callback=parse_optional_date, help="Aging and resolution on this day [today]."
)
@click.option(
    "--since", callback=parse_optional_date, help="Settlements, payments, hand-overs from this day"
)
@click.option("--until", callback=parse_optional_date, help="…up to and including this day.")
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
        echo_json(report_json(reports, filters, as_of=as_of, edges=edges))
    elif html_path is not None:
        click.echo(f"wrote {html_path}")
    else:
        print_reports(reports)


@click.command()
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
