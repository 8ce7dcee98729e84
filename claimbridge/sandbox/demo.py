"""``claimbridge demo``: a sample ledger to the sandbox agency over HTTP, end to end.

Everything lives in one workspace directory: the generated ledger, a config file that a
person can read and reuse, the API token (a 0600 file, referenced from the config, never
written in it), the state database and the sandbox agency's own database. Running the demo
again reuses the workspace, so nothing is sent twice.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from claimbridge import build
from claimbridge.config import load_config
from claimbridge.errors import UsageError
from claimbridge.pipeline import SyncStats, sync
from claimbridge.sandbox.ledger import LedgerSummary, generate_sample_ledger
from claimbridge.sandbox.server import SandboxServer
from claimbridge.schemas import Decision

PREFERRED_PORT = 8765

CONFIG_TEMPLATE = """\
# claimbridge demo workspace, written by `claimbridge demo`.
# The sandbox agency's address changes when its preferred port is taken;
# the demo rewrites this file on every run.

[state]
url = "sqlite:///claimbridge.db"   # relative to this file

[creditor]
name = "Nordlys Energi AS"
organization_number = "923609016"
country = "NO"

[log]
format = "text"
level = "warning"

[sources.ledger]
type = "files"
customers = "ledger/customers.csv"
invoices = "ledger/invoices.csv"

[agencies.sandbox]
type = "sandbox"
url = "{url}"
token = "${{file:sandbox.token}}"   # a 0600 file beside this config

[pipelines.main]
source = "ledger"
agency = "sandbox"

[pipelines.main.policy]
country = "NO"
days_past_due = 14
grouping = "debtor"
"""


@dataclass(frozen=True)
class DemoResult:
    directory: Path
    config_path: Path
    ledger: LedgerSummary
    stats: SyncStats
    agency_cases: int


def run_demo(directory: Path, *, today: dt.date, as_json: bool = False) -> DemoResult:
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    ledger = generate_sample_ledger(directory / "ledger", today=today)
    token = _token(directory / "sandbox.token")
    with _sandbox(token, directory / "sandbox-agency.db") as server:
        config_path = directory / "claimbridge.toml"
        config_path.write_text(CONFIG_TEMPLATE.format(url=server.url), encoding="utf-8")
        config = load_config(config_path)
        spec = build.pipeline_spec(config, None, today=today)
        store = build.open_store(config)
        try:
            stats = sync(spec, store, today=today)
            sent_example, unsent_example = _examples(store, ledger)
        finally:
            spec.close()
            store.close()
        agency_cases = server.store.count_cases()
    result = DemoResult(directory, config_path, ledger, stats, agency_cases)
    _report(result, sent_example, unsent_example, as_json=as_json)
    return result


def _token(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    return token


def _sandbox(token: str, db_path: Path) -> SandboxServer:
    try:
        return SandboxServer(token, db_path=db_path, port=PREFERRED_PORT)
    except UsageError:  # the preferred port is taken: any free one will do
        return SandboxServer(token, db_path=db_path, port=0)


def _examples(store: Any, ledger: LedgerSummary) -> tuple[dict[str, str], dict[str, str]]:
    def explain(numbers: tuple[str, ...]) -> dict[str, str]:
        for number in numbers:
            row = store.claim("main", number)
            if row is not None:
                return {
                    "invoice": number,
                    "why": Decision.model_validate_json(row.decision).explain(),
                }
        return {}

    return explain(ledger.expected_due), explain(ledger.expected_not_due)


def _report(
    result: DemoResult, sent: dict[str, str], unsent: dict[str, str], *, as_json: bool
) -> None:
    stats = result.stats
    config = result.config_path
    if as_json:
        click.echo(
            json.dumps(
                {
                    "directory": str(result.directory),
                    "config": str(config),
                    **stats.to_dict(),
                    "agency_cases": result.agency_cases,
                    "examples": [e for e in (sent, unsent) if e],
                },
                default=str,
            )
        )
        return
    echo = click.echo
    echo(f"claimbridge demo in {result.directory}")
    echo(
        f"  ledger: {result.ledger.customer_count} customers, "
        f"{result.ledger.invoice_count} invoices (ledger/)"
    )
    echo(
        f"  this run: {stats.claims_seen} claims seen, {stats.cases_sent} case(s) with "
        f"{stats.claims_sent} claim(s) sent to the sandbox agency over HTTP"
    )
    echo(
        f"            {stats.waiting} waiting, {stats.held} held, "
        f"{stats.already_handed_over} already handed over, {stats.quarantined} quarantined, "
        f"{stats.rejected} rejected by the agency"
    )
    echo(f"  the sandbox agency now holds {result.agency_cases} case(s)")
    for label, example in (("sent", sent), ("not sent", unsent)):
        if example:
            echo(f"  why invoice {example['invoice']} ({label}): {example['why']}")
    echo("where to look next:")
    echo(f"  claimbridge -c {config} cases list")
    if sent:
        echo(f"  claimbridge -c {config} cases why {sent['invoice']}")
    echo(f"  claimbridge -c {config} quarantine")
    echo("run the demo again: nothing is sent twice.")
