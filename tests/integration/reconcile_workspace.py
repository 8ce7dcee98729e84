"""A reconcile workspace for tests: the sample ledger (with payments, credit notes and a
bookings journal), the sandbox agency on loopback with weekly settlements, a SQLite state
store, and the pipeline built from a real config file — everything ``claimbridge run`` uses."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from claimbridge import build
from claimbridge.config import load_config
from claimbridge.connectors.accounting.journal import BookingsJournal, JournalRow
from claimbridge.pipeline import SyncStats, sync
from claimbridge.reconcile import ReconcileSpec, ReconcileStats, reconcile
from claimbridge.sandbox.activity import ActivitySettings
from claimbridge.sandbox.ledger import LedgerSummary, generate_sample_ledger
from claimbridge.sandbox.server import SandboxServer
from claimbridge.state import StateStore
from claimbridge.state import reconciliation as rq

TODAY = dt.date(2026, 11, 23)
TOKEN = "reconcile-test-token-0123456789"
PAYMENT_COLUMNS = (
    "payment_id",
    "invoice_number",
    "payment_date",
    "amount",
    "reference",
    "payer_account",
)
CREDIT_NOTE_COLUMNS = ("credit_note_number", "invoice_number", "issue_date", "amount")

CONFIG = """\
[state]
url = "{state_url}"

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
payments = "ledger/payments.csv"
credit_notes = "ledger/credit_notes.csv"
journal = "bookings.csv"

[agencies.sandbox]
type = "sandbox"
url = "{url}"
token = "${{file:sandbox.token}}"
batch_size = {batch_size}
{agency_extra}

[pipelines.main]
source = "ledger"
agency = "sandbox"
{pipeline_extra}

[pipelines.main.policy]
country = "NO"
days_past_due = 14
grouping = "debtor"

[pipelines.main.reconcile]
bank_account = "1920"
interest_income_account = "8050"
fee_income_account = "3900"
commission_expense_account = "7790"
agency_payer_accounts = ["1503 00 12345"]
{reconcile_extra}
"""

WEEKLY = ActivitySettings(settlement_interval="weekly")


@dataclass
class Workspace:
    directory: Path
    server: SandboxServer
    ledger: LedgerSummary
    config_path: Path

    @property
    def state_db(self) -> Path:
        return self.directory / "claimbridge.db"

    @property
    def journal(self) -> BookingsJournal:
        return BookingsJournal(self.directory / "bookings.csv")

    @contextmanager
    def opened(self, today: dt.date = TODAY) -> Iterator[tuple[ReconcileSpec, StateStore]]:
        config = load_config(self.config_path)
        spec = build.reconcile_spec(config, None, today=today)
        store = build.open_store(config)
        try:
            yield spec, store
        finally:
            spec.close()
            store.close()

    def sync(self, today: dt.date = TODAY) -> SyncStats:
        with self.opened(today) as (spec, store):
            return sync(spec.pipeline, store, today=today)

    def reconcile(self, today: dt.date = TODAY) -> ReconcileStats:
        with self.opened(today) as (spec, store):
            return reconcile(spec, store, today=today)

    def simulate(self, until: dt.date) -> int:
        return self.server.simulate(until)

    def write_payments(self, rows: Sequence[dict[str, str]]) -> None:
        _write(self.directory / "ledger" / "payments.csv", PAYMENT_COLUMNS, rows)

    def write_credit_notes(self, rows: Sequence[dict[str, str]]) -> None:
        _write(self.directory / "ledger" / "credit_notes.csv", CREDIT_NOTE_COLUMNS, rows)

    def store(self) -> StateStore:
        return StateStore.open(f"sqlite:///{self.state_db}")

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import sqlite3

        conn = sqlite3.connect(f"file:{self.state_db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def handed_over_in_store(self) -> list[tuple[str, str, Decimal]]:
        """As :meth:`handed_over`, through the state store (any database)."""
        from sqlalchemy import text

        with self.opened() as (_, store), store.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.invoice_number, c.case_key, c.remaining_principal FROM claims c"
                    " JOIN cases k ON k.case_key = c.case_key WHERE k.agency_ref IS NOT NULL"
                    " ORDER BY c.invoice_number"
                )
            ).all()
        return [(r[0], r[1], Decimal(str(r[2])).quantize(Decimal("0.01"))) for r in rows]

    def handed_over(self) -> list[tuple[str, str, Decimal]]:
        """(invoice, case key, principal) of claims whose case the agency accepted."""
        rows = self.query(
            "SELECT c.invoice_number, c.case_key, c.remaining_principal FROM claims c"
            " JOIN cases k ON k.case_key = c.case_key WHERE k.agency_ref IS NOT NULL"
            " ORDER BY c.invoice_number"
        )
        return [(r[0], r[1], Decimal(str(r[2])).quantize(Decimal("0.01"))) for r in rows]


def make_workspace(
    directory: Path,
    server: SandboxServer,
    *,
    batch_size: int = 200,
    agency_extra: str = "",
    pipeline_extra: str = "",
    reconcile_extra: str = "",
    state_url: str = "sqlite:///claimbridge.db",
) -> Workspace:
    directory.mkdir(parents=True, exist_ok=True)
    ledger = generate_sample_ledger(directory / "ledger", today=TODAY)
    token = directory / "sandbox.token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    config = directory / "claimbridge.toml"
    config.write_text(
        CONFIG.format(
            url=server.url,
            state_url=state_url,
            batch_size=batch_size,
            agency_extra=agency_extra,
            pipeline_extra=pipeline_extra,
            reconcile_extra=reconcile_extra,
        )
    )
    workspace = Workspace(directory, server, ledger, config)
    workspace.write_payments([])
    workspace.write_credit_notes([])
    server.simulate(TODAY)  # the agency's clock starts on the hand-over day
    return workspace


def _write(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def journal_totals(rows: Sequence[JournalRow]) -> dict[str, Decimal]:
    """What the journal booked, by the account the reconcile config names."""
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row.account] = totals.get(row.account, Decimal("0")) + row.amount
    return totals


def store_totals(store: StateStore, pipeline: str = "main") -> rq.Totals:
    return rq.booked_totals(store.engine, pipeline)["NOK"]
