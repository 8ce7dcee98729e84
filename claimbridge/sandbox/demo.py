"""``claimbridge demo``: a sample ledger to the sandbox agency over HTTP and back, end to end.

Everything lives in one workspace directory: the generated ledger, a config file that a
person can read and reuse, the API token (a 0600 file, referenced from the config, never
written in it), the state database, the bookings journal and the sandbox agency's own
database. Running the demo again reuses the workspace, so nothing is sent or booked twice.

The loop it shows: the due invoices are handed over today; then the sandbox's clock moves on
a week at a time for ``months`` months while its debtors pay (in full, in parts, not at all),
dispute and are returned, and each week ends with a reconcile, as a daily scheduler's ``run``
would: receipts and status changes land in the cases' logs, weekly settlements are booked into
the journal (principal as payments on the invoices, interest, fees and commission as
vouchers), and one debtor who pays the creditor directly three days after the hand-over shows
up in the ledger's payments export and is reported to the agency.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import click

from claimbridge import build
from claimbridge.config import load_config
from claimbridge.connectors.accounting.journal import BookingsJournal
from claimbridge.errors import UsageError
from claimbridge.pipeline import SyncStats, sync
from claimbridge.reconcile import ReconcileStats, reconcile
from claimbridge.sandbox.activity import ActivitySettings
from claimbridge.sandbox.ledger import LedgerSummary, generate_sample_ledger
from claimbridge.sandbox.server import SandboxServer
from claimbridge.schemas import Decision
from claimbridge.state import StateStore
from claimbridge.state import reconciliation as rq

PREFERRED_PORT = 8765
STEP_DAYS = 7
DIRECT_PAYMENT_AFTER_DAYS = 3
DIRECT_PAYMENT_ID = "DEMO-PAY-0001"
PAYMENT_COLUMNS = ("payment_id", "invoice_number", "payment_date", "amount", "currency", "message")
# the sandbox pays out weekly in the demo, so a month shows settlements being booked
DEMO_ACTIVITY = ActivitySettings(settlement_interval="weekly")

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
payments = "ledger/payments.csv"    # payments the creditor booked (direct payments)
journal = "bookings.csv"            # what reconciliation books, for the ledger to import

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

[pipelines.main.reconcile]          # illustrative NS 4102 accounts
bank_account = "1920"
interest_income_account = "8050"
fee_income_account = "3900"
commission_expense_account = "7790"
"""


@dataclass
class MonthResult:
    """What the simulated weeks brought back (all zero with ``months = 0``)."""

    until: dt.date
    runs: int = 0
    updates: int = 0
    settlement_lines: int = 0
    lines_booked: int = 0
    corrections_sent: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    direct_payment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoResult:
    directory: Path
    config_path: Path
    ledger: LedgerSummary
    stats: SyncStats
    agency_cases: int
    month: MonthResult
    booked: dict[str, rq.Totals]
    cases_by_status: dict[str, int]
    journal_bookings: int


def run_demo(
    directory: Path, *, today: dt.date, as_json: bool = False, months: int = 1
) -> DemoResult:
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    ledger = generate_sample_ledger(directory / "ledger", today=today)
    payments_path = directory / "ledger" / "payments.csv"
    _write_payments(payments_path, [])
    token = _token(directory / "sandbox.token")
    with _sandbox(token, directory / "sandbox-agency.db") as server:
        server.simulate(today)  # the agency's clock starts on the demo's day (never goes back)
        config_path = directory / "claimbridge.toml"
        config_path.write_text(CONFIG_TEMPLATE.format(url=server.url), encoding="utf-8")
        config = load_config(config_path)
        spec = build.reconcile_spec(config, None, today=today)
        store = build.open_store(config)
        try:
            stats = sync(spec.pipeline, store, today=today)
            sent_example, unsent_example = _examples(store, ledger)
            month = _simulate(server, spec, store, ledger, payments_path, today, months)
            booked = rq.booked_totals(store.engine, spec.name)
            by_status = rq.case_status_counts(store.engine, spec.name)
        finally:
            spec.close()
            store.close()
        agency_cases = server.store.count_cases()
    journal = BookingsJournal(directory / "bookings.csv")
    bookings = len({row.booking_id for row in journal.rows()})
    result = DemoResult(
        directory, config_path, ledger, stats, agency_cases, month, booked, by_status, bookings
    )
    _report(result, sent_example, unsent_example, as_json=as_json)
    return result


def _simulate(
    server: SandboxServer,
    spec: Any,
    store: StateStore,
    ledger: LedgerSummary,
    payments_path: Path,
    today: dt.date,
    months: int,
) -> MonthResult:
    """Let the agency's weeks pass, reconciling after each, as a daily scheduler would."""
    until = _add_months(today, months)
    month = MonthResult(until)
    paid_on = today + dt.timedelta(days=DIRECT_PAYMENT_AFTER_DAYS)
    payment = _direct_payment(store, ledger, spec.name, paid_on) if months else None
    day = today
    while True:
        server.simulate(day)
        if payment is not None and day >= paid_on:
            _write_payments(payments_path, [payment])  # the creditor's ledger, exported again
            month.direct_payment = payment
        _count(month, reconcile(spec, store, today=day))
        if day >= until:
            return month
        day = min(day + dt.timedelta(days=STEP_DAYS), until)


def _count(month: MonthResult, stats: ReconcileStats) -> None:
    month.runs += 1
    month.updates += stats.updates_read
    month.settlement_lines += stats.settlement_lines
    month.lines_booked += stats.lines_booked
    month.corrections_sent += stats.corrections_sent
    month.problems.extend(stats.problems)


def _direct_payment(
    store: StateStore, ledger: LedgerSummary, pipeline: str, paid_on: dt.date
) -> dict[str, str] | None:
    """Half of the first handed-over invoice, paid straight to the creditor after hand-over."""
    for number in sorted(ledger.expected_due):
        row = store.claim(pipeline, number)
        if row is not None and row.case_key is not None:
            half = (Decimal(row.remaining_principal) / 2).quantize(Decimal("0.01"), ROUND_HALF_UP)
            return {
                "payment_id": DIRECT_PAYMENT_ID,
                "invoice_number": number,
                "payment_date": paid_on.isoformat(),
                "amount": str(half),
                "currency": row.currency,
                "message": "paid to our account after the hand-over",
            }
    return None


def _write_payments(path: Path, rows: list[dict[str, str]]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=PAYMENT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _add_months(start: dt.date, months: int) -> dt.date:
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    for day in range(start.day, 27, -1):
        try:
            return dt.date(year, month + 1, day)
        except ValueError:
            continue
    return dt.date(year, month + 1, min(start.day, 28))


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
        return SandboxServer(token, db_path=db_path, port=PREFERRED_PORT, activity=DEMO_ACTIVITY)
    except UsageError:  # the preferred port is taken: any free one will do
        return SandboxServer(token, db_path=db_path, port=0, activity=DEMO_ACTIVITY)


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
    month = result.month
    if as_json:
        click.echo(
            json.dumps(
                {
                    "directory": str(result.directory),
                    "config": str(config),
                    **stats.to_dict(),
                    "agency_cases": result.agency_cases,
                    "examples": [e for e in (sent, unsent) if e],
                    "simulated_until": month.until.isoformat(),
                    "reconcile_runs": month.runs,
                    "updates_read": month.updates,
                    "settlement_lines": month.settlement_lines,
                    "lines_booked": month.lines_booked,
                    "corrections_sent": month.corrections_sent,
                    "problems": month.problems,
                    "direct_payment": month.direct_payment or None,
                    "booked": {c: t.as_dict() for c, t in sorted(result.booked.items())},
                    "cases_by_status": result.cases_by_status,
                    "journal": str(result.directory / "bookings.csv"),
                    "journal_bookings": result.journal_bookings,
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
        f"  hand-over: {stats.claims_seen} claims seen, {stats.cases_sent} case(s) with "
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
    if month.runs:
        _report_month(result)
    echo("where to look next:")
    echo(f"  claimbridge -c {config} report   # cases by status, what was recovered and booked")
    echo(f"  claimbridge -c {config} cases list")
    if sent:
        echo(f"  claimbridge -c {config} cases why {sent['invoice']}")
    echo(f"  claimbridge -c {config} quarantine")
    echo("run the demo again: nothing is sent or booked twice.")


def _report_month(result: DemoResult) -> None:
    echo = click.echo
    month = result.month
    echo(f"  collection until {month.until} ({month.runs} reconcile runs, one a week):")
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(result.cases_by_status.items()))
    echo(f"    cases by status: {statuses}")
    echo(
        f"    {month.updates} agency update(s), {month.settlement_lines} settlement line(s), "
        f"{month.lines_booked} booked into bookings.csv ({result.journal_bookings} bookings)"
    )
    for currency, totals in sorted(result.booked.items()):
        echo(
            f"    recovered {currency}: principal {totals.principal}, interest "
            f"{totals.interest}, fees {totals.fees}; commission {totals.commission}"
        )
    payment = month.direct_payment
    if payment:
        echo(
            f"    direct payment of {payment['amount']} {payment['currency']} on invoice "
            f"{payment['invoice_number']} (booked {payment['payment_date']}) reported to "
            "the agency"
        )
    for problem in month.problems:
        echo(f"    stopped: {problem['step']}: {problem['error']}")
