"""Setting claimbridge up: a starter config, connection checks, the installed connectors, the
canonical JSON Schema files and the postal registers."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from claimbridge.cli._context import DEFAULT_CONFIG, Ctx, echo_json, pass_ctx
from claimbridge.errors import ClaimbridgeError, UsageError


@click.command()
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


@click.command()
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
        echo_json(
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


@click.command()
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
        echo_json(
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


@click.group()
def schema() -> None:
    """The canonical JSON Schema files."""


@schema.command("export")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def schema_export(directory: Path) -> None:
    """Write the canonical models' JSON Schema files into DIRECTORY."""
    from claimbridge.schemas.export import export_schemas

    for path in export_schemas(directory):
        click.echo(str(path))


@click.group()
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
        echo_json({"country": result.country, "path": str(result.path), "entries": result.entries})
    else:
        click.echo(f"{result.country}: {result.entries} postal codes written to {result.path}")
