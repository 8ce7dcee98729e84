"""The generated source contract suite over the Fortnox source and its fake API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
import responses
from pydantic import SecretStr

from claimbridge.connectors.accounting._vouchers import reference_token
from claimbridge.connectors.accounting.fortnox import FortnoxSettings, FortnoxSource
from claimbridge.connectors.base import ConnectorContext, Source
from claimbridge.credentials import MemoryCredentialStore
from tests.contract.source_suite import TODAY, FakeInvoice, SourceContract, SourceHarness
from tests.fakes.fortnox import BASE_URL, FortnoxFake

NOW = dt.datetime.combine(TODAY, dt.time(9, 0))  # the connector's clock (Stockholm time)
BUILT = NOW - dt.timedelta(days=1)  # when the ledger was written
CHANGED = NOW + dt.timedelta(hours=1)  # when later changes happen


class FortnoxHarness(SourceHarness):
    mappings: ClassVar[Sequence[str]] = (
        "fortnox_customer",
        "fortnox_invoice",
        "fortnox_payment",
        "fortnox_credit_note",
    )
    malformed_stream: ClassVar[str] = "invoices"
    currency: ClassVar[str] = "SEK"
    voucher_accounts: ClassVar[tuple[str, str, str]] = ("1930", "8310", "6570")

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.fake = FortnoxFake(now=BUILT)
        self.store = MemoryCredentialStore()
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.fake.install(self.mock)
        self.mock.start()

    def stop(self) -> None:
        self.mock.stop()
        self.mock.reset()

    def build(self, n: int | None = None) -> None:
        self.fake.now = BUILT
        super().build(n)

    # --- rendering ------------------------------------------------------------------------

    def write(self) -> None:
        fake = self.fake
        stamps = dict(fake.modified)  # rendering through the fake's builders stamps records
        customers: dict[str, dict[str, Any]] = {}
        invoices: dict[str, dict[str, Any]] = {}
        payments: dict[str, dict[str, Any]] = {}
        for c in self.ledger.customers:
            customers[c.number] = self._customer(c.number, c.name, Phone1=c.phone, Email=c.email)
        credited = self.ledger.credited
        for inv in self.ledger.invoices:
            balance = inv.amount - inv.paid - credited.get(inv.number, Decimal(0))
            invoices[inv.number] = self._invoice(inv, customers[inv.customer], balance)
            if inv.paid:
                payments[f"9{inv.number}"] = self._payment(f"9{inv.number}", inv)
        for note in self.ledger.credit_notes:
            source = next(i for i in self.ledger.invoices if i.number == note.invoice)
            record = self._invoice(source, customers[source.customer], Decimal(0))
            record.update(
                DocumentNumber=note.number,
                Credit="true",
                CreditInvoiceReference=note.invoice,
                Total=float(-note.amount),
                InvoiceDate=note.issue_date.isoformat(),
                DueDate=note.issue_date.isoformat(),
            )
            invoices[note.number] = record
        for planted in self.ledger.malformed:
            name, phone, email, born = planted.personal_data
            first = self.ledger.customers[0]
            record = self._invoice(self.ledger.invoices[0], customers[first.number], Decimal(9))
            record.update(
                DocumentNumber=planted.key,
                CustomerName=name,
                Remarks=phone,
                YourReference=email,
                Comments=born,
                InvoiceDate=None,
            )
            invoices[planted.key] = record
        fake.modified.clear()
        fake.modified.update(stamps)
        self._replace("customers", fake.customers, customers)
        self._replace("invoices", fake.invoices, invoices)
        self._replace("invoicepayments", fake.payments, payments)
        fake.now = CHANGED

    def _replace(self, kind: str, store: dict[str, Any], new: dict[str, Any]) -> None:
        """Swap the fake's records in place, stamping only those that changed."""
        for key, record in new.items():
            if store.get(key) != record:
                self.fake.touch(kind, key)
        store.clear()
        store.update(new)

    def _customer(self, number: str, name: str, **fields: Any) -> dict[str, Any]:
        saved = dict(self.fake.customers)
        record = self.fake.add_customer(name, CustomerNumber=number, Type="COMPANY", **fields)
        self.fake.customers.clear()
        self.fake.customers.update(saved)
        return record

    def _invoice(
        self, inv: FakeInvoice, customer: dict[str, Any], balance: Decimal
    ) -> dict[str, Any]:
        saved = dict(self.fake.invoices)
        record = self.fake.add_invoice(
            customer,
            inv.amount,
            DocumentNumber=inv.number,
            invoice_date=inv.invoice_date,
            due_date=inv.due_date,
        )
        record["Balance"] = float(balance)
        self.fake.invoices.clear()
        self.fake.invoices.update(saved)
        return record

    def _payment(self, number: str, inv: FakeInvoice) -> dict[str, Any]:
        return {
            "@url": f"{BASE_URL}/3/invoicepayments/{number}",
            "Amount": float(inv.paid),
            "AmountCurrency": float(inv.paid),
            "Booked": True,
            "Currency": "SEK",
            "InvoiceNumber": int(inv.number),
            "Number": number,
            "PaymentDate": TODAY.isoformat(),
        }

    # --- the suite's hooks ----------------------------------------------------------------

    def source(self) -> Source:
        return self._source(BASE_URL)

    def broken_source(self) -> Source:
        return self._source(BASE_URL + "/no-such-api")

    def _source(self, base_url: str) -> FortnoxSource:
        self.fake.refresh_token = "rt-0"
        self.store = MemoryCredentialStore()
        settings = FortnoxSettings(
            client_id=self.fake.client_id,
            client_secret=SecretStr(self.fake.client_secret),
            refresh_token=SecretStr("rt-0"),
            base_url=base_url,
            page_size=self.page_size,
        )
        context = ConnectorContext(name="ledger", today=TODAY, credentials=self.store)
        return FortnoxSource(settings, context, sleep=lambda _: None, now=lambda: NOW)

    def expected_keys(self) -> dict[str, set[str]]:
        return {
            "customers": {c.number for c in self.ledger.customers},
            "invoices": {i.number for i in self.ledger.invoices}
            | {p.key for p in self.ledger.malformed},
            "payments": {f"9{i.number}" for i in self.ledger.invoices if i.paid},
            "credit_notes": {n.number for n in self.ledger.credit_notes},
        }

    def changed_keys(self, invoices: Sequence[FakeInvoice]) -> dict[str, set[str]]:
        return {
            "invoices": {i.number for i in invoices},
            "payments": {f"9{i.number}" for i in invoices},
        }

    def truncate_ledger(self) -> None:
        for store in (self.fake.customers, self.fake.invoices):
            for key in list(store)[3:]:
                del store[key]

    # --- booking back ---------------------------------------------------------------------

    def payments_booked(self, invoice_number: str) -> int:
        payments = self.fake.payments.values()
        return sum(1 for p in payments if str(p["InvoiceNumber"]) == invoice_number)

    def requests_made(self) -> int:
        return self.fake.api_requests + self.fake.token_requests

    def vouchers_booked(self, external_ref: str) -> int:
        token = reference_token(external_ref)
        return sum(1 for v in self.fake.vouchers.values() if token in v["Description"])

    def lose_next_answer(self) -> None:
        self.fake.lose_next_answer()


class TestFortnoxContract(SourceContract):
    harness_class = FortnoxHarness

    @pytest.mark.xfail(
        strict=True,
        reason="Fortnox's invoice payments carry no reference of ours: a payment is recognized by "
        "invoice, date and amount, so a second payment of the same amount on the same day is "
        "taken for the first",
    )
    def test_distinct_payments_are_booked_apart(self, harness: SourceHarness) -> None:
        super().test_distinct_payments_are_booked_apart(harness)

    @pytest.fixture
    def harness(self, tmp_path: Path) -> Iterator[SourceHarness]:
        harness = FortnoxHarness(tmp_path / "ledger")
        try:
            yield harness
        finally:
            harness.stop()
