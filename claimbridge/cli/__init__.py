"""The ``claimbridge`` command line.

Human output by default (tables, progress bars on long work); ``--json`` for schedulers.
Every error ends the program with its class's exit code and one line on stderr; a traceback
only with ``--debug``.

The commands live in modules by concept (``setup``, ``runs``, ``cases``, ``outbox``,
``reporting``, ``services``); this module is the group, its global options and the entry point.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import click

from claimbridge import __version__
from claimbridge.cli import cases, outbox, reporting, runs, services, setup
from claimbridge.cli._context import DEFAULT_CONFIG, Ctx, parse_date
from claimbridge.errors import EXIT_INTERRUPTED, ClaimbridgeError

__all__ = ["cli", "main"]


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
    callback=parse_date,
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


for command in (
    setup.init,
    setup.check,
    setup.plugins,
    setup.schema,
    setup.postal,
    runs.sync,
    runs.transfer,
    runs.reconcile,
    runs.run_command,
    cases.cases,
    cases.quarantine,
    cases.payments,
    outbox.outbox,
    reporting.report,
    reporting.inspect,
    services.sandbox,
    services.webhooks,
    services.demo,
):
    cli.add_command(command)


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
