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


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, default=str, ensure_ascii=False))
