"""A small creditor for reconciling against one agency's fake: an open-items export read by
the real files source (with its bookings journal), a SQLite state store, and the pipeline built
around a connector the test makes. Everything ``claimbridge run`` does, without a config file:
the agencies' fakes sit behind ``responses`` or in a directory, as their tests need.

The ledger: three debtors, four invoices (the second debtor has two, handed over as one case),
all overdue; payments are added by the test as the creditor's ledger would record them.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text

from claimbridge.connectors.accounting.files import OpenItemsFileSource, OpenItemsSettings
from claimbridge.connectors.accounting.journal import BookingsJournal, JournalRow
from claimbridge.connectors.base import Agency, ConnectorContext
from claimbridge.pipeline import PipelineSpec, SyncStats, sync
from claimbridge.policy import PolicySettings
from claimbridge.reconcile import ReconcileSpec, ReconcileStats, reconcile
from claimbridge.reconcile.settings import ReconcileSettings
from claimbridge.state import StateStore
from tests.factories import make_creditor

PIPELINE = "main"
SETTINGS = ReconcileSettings(
    bank_account="1920",
    interest_income_account="8050",
    fee_income_account="3900",
    commission_expense_account="7790",
)
PAYMENT_COLUMNS = ("payment_id", "invoice_number", "payment_date", "amount", "reference")
CREDIT_NOTE_COLUMNS = ("credit_note_number", "invoice_number", "issue_date", "amount")

#: (customer number, first name, last name, street, postal code, city)
DEBTORS = {
    "NO": (
        ("101", "Kari", "Nordmann", "Storgata 1", "0155", "Oslo"),
        ("102", "Ola", "Hansen", "Kirkegata 12", "5003", "Bergen"),
        ("103", "Ingrid", "Berg", "Nygata 4", "7011", "Trondheim"),
    ),
    "SE": (
        ("101", "Karin", "Svensson", "Storgatan 1", "11122", "Stockholm"),
        ("102", "Olof", "Lindqvist", "Kungsgatan 12", "41119", "Göteborg"),
        ("103", "Ingrid", "Berg", "Drottninggatan 4", "21111", "Malmö"),
    ),
}
#: (invoice number, customer number, amount)
INVOICES = (
    ("5001", "101", "1500.00"),
    ("5002", "102", "2000.00"),
    ("5003", "102", "800.00"),
    ("5004", "103", "950.00"),
)


class Ledger:
    """The creditor's side of one pipeline: export files, journal and state store."""

    def __init__(
        self,
        root: Path,
        today: dt.date,
        *,
        country: str = "NO",
        currency: str = "NOK",
        creditor: dict[str, Any] | None = None,
        settings: ReconcileSettings = SETTINGS,
    ) -> None:
        self.root = root
        self.today = today
        self.country = country
        self.currency = currency
        self.creditor = make_creditor(country=country, **(creditor or {}))
        self.settings = settings
        root.mkdir(parents=True, exist_ok=True)
        self._write_export()
        self.write_payments([])
        self.write_credit_notes([])
        self.store = StateStore.open(f"sqlite:///{root / 'state.db'}")

    # --- the export ---------------------------------------------------------------------

    def _write_export(self) -> None:
        customers = [
            {
                "customer_number": number,
                "kind": "person",
                "name": f"{first} {last}",
                "first_name": first,
                "last_name": last,
                "birth_date": "1980-05-17",
                "address_line1": street,
                "postal_code": postal,
                "city": city,
                "country": self.country,
                "email": f"{first.lower()}.{last.lower()}@example.com",
            }
            for number, first, last, street, postal, city in DEBTORS[self.country]
        ]
        due = self.today - dt.timedelta(days=45)
        invoices = [
            {
                "invoice_number": number,
                "customer_number": customer,
                "invoice_date": (due - dt.timedelta(days=14)).isoformat(),
                "due_date": due.isoformat(),
                "amount": amount,
                "currency": self.currency,
                "description": f"Strøm {number}",
            }
            for number, customer, amount in INVOICES
        ]
        _write(self.root / "customers.csv", list(customers[0]), customers)
        _write(self.root / "invoices.csv", list(invoices[0]), invoices)

    def write_payments(self, rows: Sequence[dict[str, str]]) -> None:
        """The ledger's payments export, as the creditor's system writes it."""
        _write(self.root / "payments.csv", list(PAYMENT_COLUMNS), rows)

    def write_credit_notes(self, rows: Sequence[dict[str, str]]) -> None:
        _write(self.root / "credit_notes.csv", list(CREDIT_NOTE_COLUMNS), rows)

    def source(self) -> OpenItemsFileSource:
        settings = OpenItemsSettings(
            customers=self.root / "customers.csv",
            invoices=self.root / "invoices.csv",
            payments=self.root / "payments.csv",
            credit_notes=self.root / "credit_notes.csv",
            journal=self.root / "bookings.csv",
            default_currency=self.currency,
        )
        return OpenItemsFileSource(settings, ConnectorContext(name="ledger", today=self.today))

    # --- runs ---------------------------------------------------------------------------

    def spec(self, agency: Agency) -> ReconcileSpec:
        pipeline = PipelineSpec(
            PIPELINE,
            source=self.source(),
            agency=agency,
            creditor=self.creditor,
            policy=PolicySettings(country=self.country, collection_notice="agency"),
        )
        return ReconcileSpec(pipeline, self.settings)

    def sync(self, agency: Agency) -> SyncStats:
        spec = self.spec(agency)
        try:
            return sync(spec.pipeline, self.store, today=self.today)
        finally:
            spec.close()

    def reconcile(self, agency: Agency, today: dt.date | None = None) -> ReconcileStats:
        spec = self.spec(agency)
        try:
            return reconcile(spec, self.store, today=today or self.today)
        finally:
            spec.close()

    def close(self) -> None:
        self.store.close()

    # --- what the state store and the journal hold --------------------------------------

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.store.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]

    def case_of(self, invoice_number: str) -> str:
        [(case_key,)] = self.query(
            "SELECT case_key FROM claims WHERE invoice_number = :n", n=invoice_number
        )
        assert case_key, f"invoice {invoice_number} was not handed over"
        return str(case_key)

    def case(self, invoice_number: str) -> tuple[str, str | None]:
        """(status, agency_ref) of the case holding the invoice."""
        [(status, ref)] = self.query(
            "SELECT status, agency_ref FROM cases WHERE case_key = :k",
            k=self.case_of(invoice_number),
        )
        return str(status), ref

    def log(self, invoice_number: str) -> list[tuple[str, str, str]]:
        """(kind, direction, message) of the case's communication log, oldest first."""
        return [
            (str(e.kind), str(e.direction), str(e.message))
            for e in self.store.case_events(self.case_of(invoice_number))
        ]

    def journal(self) -> list[JournalRow]:
        return BookingsJournal(self.root / "bookings.csv").rows()

    def bookings(self, kind: str) -> dict[str, Decimal]:
        """External reference → amount debited to the bank, per booking of ``kind``."""
        bank = {SETTINGS.bank_account, "1920"}
        return {
            row.external_ref: row.amount
            for row in self.journal()
            if row.kind == kind and row.account in bank
        }

    def payments_seen(self) -> dict[str, tuple[str, str | None]]:
        """payment id → (status, reason)."""
        return {
            str(pid): (str(status), reason)
            for pid, status, reason in self.query(
                "SELECT payment_id, status, reason FROM payments_seen"
            )
        }


AgencyFactory = Callable[[], Agency]


def _write(path: Path, header: list[str], rows: Sequence[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, header)
        writer.writeheader()
        writer.writerows(rows)
