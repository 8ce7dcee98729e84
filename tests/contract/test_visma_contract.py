"""The generated source contract, run against the Visma source over the Visma fake.

The harness renders the suite's fake ledger as a Visma eAccounting company: customers and
invoices get UUID ids (derived from their numbers, so they are stable across renders), credit
notes become credit invoices referring to their invoice, and every record whose content changed
since the last render gets a fresh ``ChangedUtc``/``ModifiedUtc``. The fake's clock moves an
hour before and after each render, so a cursor taken after one render lies between its stamps
and the next render's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import responses
from pydantic import SecretStr

from claimbridge.connectors.accounting._vouchers import reference_token
from claimbridge.connectors.accounting.visma import VismaSettings, VismaSource
from claimbridge.connectors.base import ConnectorContext, Source
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.transport.http import HttpOptions
from tests.contract.source_suite import (
    TODAY,
    FakeInvoice,
    SourceContract,
    SourceHarness,
)
from tests.fakes.visma import VismaFake, stamp

_NS = uuid.UUID("6f1c2d3e-4b5a-4c6d-8e7f-112233445566")


BANK_ACCOUNT = "0b5e1c2a-6f3d-4c8e-9a71-5d2f8e4b1a90"


def uid(kind: str, number: str) -> str:
    return str(uuid.uuid5(_NS, f"{kind}:{number}"))


class VismaHarness(SourceHarness):
    mappings: ClassVar[Sequence[str]] = ("visma_customer", "visma_invoice", "visma_credit_note")
    malformed_stream: ClassVar[str] = "invoices"
    currency: ClassVar[str] = "SEK"
    voucher_accounts: ClassVar[tuple[str, str, str]] = ("1930", "8310", "6570")

    def __init__(self, root: Any) -> None:
        super().__init__(root)
        start = dt.datetime.combine(TODAY, dt.time(6), tzinfo=dt.UTC)
        self.fake = VismaFake(now=start)
        self.store = MemoryCredentialStore()
        self._seen: dict[str, tuple[str, str]] = {}  # id -> (content, stamp)

    @contextlib.contextmanager
    def serving(self) -> Iterator[object]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            self.fake.install(mock)
            yield mock

    def planted_key(self, index: int) -> str:
        return uid("bad", str(index))

    # --- rendering ------------------------------------------------------------------------

    def write(self) -> None:
        self.fake.tick()
        customers = [
            self._customer(c.number, c.name, c.phone, c.email) for c in self.ledger.customers
        ]
        invoices = [self._invoice(i) for i in self.ledger.invoices]
        numbers = {i.number: i for i in self.ledger.invoices}
        notes = [
            self._credit_note(n.number, numbers[n.invoice], n.amount, n.issue_date)
            for n in self.ledger.credit_notes
        ]
        bad = [self._malformed(p.key, p.personal_data, p.index) for p in self.ledger.malformed]
        self.fake.customers.clear()
        self.fake.customers.update({c["Id"]: self._stamped(c, "ChangedUtc") for c in customers})
        self.fake.invoices.clear()
        rows = [*invoices, *notes, *bad]
        self.fake.invoices.update({r["Id"]: self._stamped(r, "ModifiedUtc") for r in rows})
        self.fake.tick()

    def _stamped(self, record: dict[str, Any], field: str) -> dict[str, Any]:
        content = json.dumps(record, sort_keys=True, default=str)
        seen = self._seen.get(record["Id"])
        when = seen[1] if seen is not None and seen[0] == content else stamp(self.fake.now)
        self._seen[record["Id"]] = (content, when)
        return {**record, field: when}

    def _customer(self, number: str, name: str, phone: str, email: str) -> dict[str, Any]:
        return {
            "Id": uid("customer", number),
            "CustomerNumber": number,
            "Name": name,
            "InvoiceAddress1": "Storgatan 1",
            "InvoicePostalCode": "11122",
            "InvoiceCity": "Stockholm",
            "InvoiceCountryCode": "SE",
            "MobilePhone": phone,
            "EmailAddress": email,
            "IsPrivatePerson": False,
            "IsActive": True,
            "TermsOfPaymentId": uid("terms", "30"),
        }

    def _invoice(self, invoice: FakeInvoice) -> dict[str, Any]:
        remaining = invoice.amount - invoice.paid
        return {
            "Id": uid("invoice", invoice.number),
            "IsCreditInvoice": False,
            "CurrencyCode": "SEK",
            "CustomerId": uid("customer", invoice.customer),
            "InvoiceNumber": int(invoice.number),
            "InvoiceDate": f"{invoice.invoice_date.isoformat()}T00:00:00",
            "DueDate": f"{invoice.due_date.isoformat()}T00:00:00",
            "TotalAmount": invoice.amount,
            "TotalAmountInvoiceCurrency": invoice.amount,
            "RemainingAmount": remaining,
            "RemainingAmountInvoiceCurrency": remaining,
            "PaymentReferenceNumber": f"{invoice.number}",
            "Rows": [{"Text": "Tjänster"}],
        }

    def _credit_note(
        self, number: str, invoice: FakeInvoice, amount: Decimal, issued: dt.date
    ) -> dict[str, Any]:
        return {
            "Id": uid("credit", number),
            "IsCreditInvoice": True,
            "ReferringInvoiceId": uid("invoice", invoice.number),
            "CurrencyCode": "SEK",
            "CustomerId": uid("customer", invoice.customer),
            "InvoiceNumber": int("9" + invoice.number),
            "InvoiceDate": f"{issued.isoformat()}T00:00:00",
            "DueDate": f"{issued.isoformat()}T00:00:00",
            "TotalAmount": -amount,
            "TotalAmountInvoiceCurrency": -amount,
            "RemainingAmount": -amount,
            "RemainingAmountInvoiceCurrency": -amount,
        }

    def _malformed(self, key: str, personal: tuple[str, ...], index: int) -> dict[str, Any]:
        name, phone, email, birth = personal
        customer = self.ledger.customers[0].number if self.ledger.customers else "none"
        return {
            "Id": key,
            "IsCreditInvoice": False,
            "CustomerId": uid("customer", customer),
            "InvoiceNumber": 80000 + index,
            "InvoiceDate": birth,  # not the issue date at all, and for even indexes no date
            "DueDate": f"{phone} {email}",
            "InvoiceCustomerName": name,
            "TotalAmountInvoiceCurrency": Decimal("100.00"),
            "RemainingAmount": Decimal("100.00"),
            "RemainingAmountInvoiceCurrency": Decimal("100.00"),
        }

    # --- the harness API ------------------------------------------------------------------

    def _settings(self, **overrides: Any) -> VismaSettings:
        return VismaSettings(
            client_id=self.fake.client_id,
            client_secret=SecretStr(self.fake.client_secret),
            refresh_token=SecretStr("rt-0"),
            page_size=self.page_size,
            bank_account_id=BANK_ACCOUNT,
            http=HttpOptions(rate_limit_per_s=None, backoff_initial=0, max_retries=1),
            **overrides,
        )

    def source(self) -> Source:
        context = ConnectorContext(name="contract", today=self.today, credentials=self.store)
        return VismaSource(self._settings(), context, sleep=lambda _: None)

    def broken_source(self) -> Source:
        context = ConnectorContext(name="contract", today=self.today, credentials=self.store)
        settings = self._settings(base_url="https://eaccountingapi.vismaonline.com/no-such-api")
        return VismaSource(settings, context, sleep=lambda _: None)

    def expected_keys(self) -> dict[str, set[str]]:
        return {
            "customers": {uid("customer", c.number) for c in self.ledger.customers},
            "invoices": {
                uid("invoice", i.number) for i in self.ledger.invoices if i.amount > i.paid
            }
            | {p.key for p in self.ledger.malformed},
            "credit_notes": {uid("credit", n.number) for n in self.ledger.credit_notes},
        }

    def changed_keys(self, invoices: Sequence[FakeInvoice]) -> dict[str, set[str]]:
        return {"invoices": {uid("invoice", i.number) for i in invoices}}

    def truncate_ledger(self) -> None:
        for store in (self.fake.customers, self.fake.invoices):
            for key in list(store)[3:]:
                del store[key]

    # --- booking back ---------------------------------------------------------------------

    def payments_booked(self, invoice_number: str) -> int:
        invoices = self.fake.invoices.values()
        ids = {i["Id"] for i in invoices if str(i["InvoiceNumber"]) == invoice_number}
        return sum(1 for p in self.fake.payments if p["InvoiceId"] in ids)

    def requests_made(self) -> int:
        return self.fake.api_requests + self.fake.token_requests

    def vouchers_booked(self, external_ref: str) -> int:
        token = reference_token(external_ref)
        return sum(1 for v in self.fake.vouchers.values() if token in v["VoucherText"])

    def lose_next_answer(self) -> None:
        self.fake.lose_next_answer()


class TestVismaContract(SourceContract):
    """Visma's API cannot list an invoice's payments, so a partial payment registered again is
    booked again: the source declares ``idempotent_payments = False`` and
    ``payment_is_booked_once`` is skipped with that reason (reconciliation never registers an
    interrupted Visma payment again; tests/integration/test_reconcile_booking_resume.py)."""

    harness_class = VismaHarness
