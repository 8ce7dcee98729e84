"""The command line's surface: the console script's names and the commands it offers."""

from __future__ import annotations

import click

import claimbridge.cli
from claimbridge.cli import cli, main

COMMANDS = {
    "cases": {"approve", "list", "show", "why"},
    "check": None,
    "demo": None,
    "init": None,
    "inspect": None,
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
