"""The command line's surface: the console script's names and the commands it offers."""

from __future__ import annotations

import click

import claimbridge.cli
from claimbridge.cli import cli, main
from claimbridge.cli import outbox as outbox_commands
from claimbridge.connectors.base import CorrectionKind
from claimbridge.state import outbox_admin

COMMANDS = {
    "cases": {"approve", "list", "show", "why"},
    "check": None,
    "demo": None,
    "init": None,
    "inspect": None,
    "outbox": {"list", "resolve"},
    "payments": {"unmatched"},
    "plugins": None,
    "postal": {"refresh"},
    "quarantine": None,
    "reconcile": None,
    "report": None,
    "run": None,
    "sandbox": None,
    "schema": {"export"},
    "sync": None,
    "transfer": None,
    "webhooks": {"serve"},
}


def test_curated_exports() -> None:
    assert claimbridge.cli.__all__ == ["cli", "main"]
    assert callable(main)
    assert isinstance(cli, click.Group)


def test_every_command_is_registered_under_its_name() -> None:
    ctx = click.Context(cli)
    found: dict[str, set[str] | None] = {}
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        found[name] = set(command.list_commands(ctx)) if isinstance(command, click.Group) else None
    assert found == COMMANDS


def test_outbox_choices_are_the_stores_statuses_and_kinds() -> None:
    """Spelled out in the command (no state-store import at start-up), checked here."""
    assert outbox_commands.STATUSES == outbox_admin.OUTBOX_STATUSES
    assert ("case", *(k.value for k in CorrectionKind)) == outbox_commands.KINDS
