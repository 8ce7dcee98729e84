"""Long-running services and the demo: the sandbox agency, the webhook receiver."""

from __future__ import annotations

import os
from pathlib import Path

import click

from claimbridge.cli._context import Ctx, pass_ctx
from claimbridge.errors import UsageError


@click.command()
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


@click.group()
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


@click.command()
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
