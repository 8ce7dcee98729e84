"""What every command shares: the global options (:class:`Ctx`), date options, JSON output."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import click

DEFAULT_CONFIG = "claimbridge.toml"


@dataclass
class Ctx:
    """The global options, handed to every command (``@pass_ctx``)."""

    config_path: Path
    json: bool
    debug: bool
    log_format: str | None
    log_level: str | None
    today: dt.date

    def load(self) -> Any:
        """The validated config; logging configured from it unless the options say otherwise."""
        from claimbridge.config import load_config
        from claimbridge.logs import configure_logging

        config = load_config(self.config_path)
        log_format = cast(Literal["text", "json"], self.log_format or config.log.format)
        configure_logging(log_format, self.log_level or config.log.level)
        return config

    def now(self) -> dt.datetime:
        """The time to write into the log: ``--today`` at the wall clock's time of day (as a
        run writes it)."""
        wall = dt.datetime.now(dt.UTC)
        return (
            wall
            if wall.date() == self.today
            else dt.datetime.combine(self.today, wall.time(), tzinfo=dt.UTC)
        )


pass_ctx = click.make_pass_decorator(Ctx)

pipeline_option = click.option("--pipeline", "-p", help="Pipeline name (default: the only one).")
"""The ``--pipeline/-p`` option of commands that work on one configured pipeline."""


def parse_optional_date(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> dt.date | None:
    return None if value is None else parse_date(ctx, param, value)


def parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date:
    """A YYYY-MM-DD option; today when not given."""
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def echo_json(data: Any) -> None:
    """One JSON document on stdout: decimals, dates and paths as strings, text unescaped."""
    click.echo(json.dumps(data, default=str, ensure_ascii=False))
