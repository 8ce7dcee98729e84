"""The source contract for Fiken (API v2), over the in-memory fake of one Fiken company."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
import responses
from pydantic import SecretStr
from stdnum import luhn

from claimbridge.connectors.accounting._vouchers import reference_token
from claimbridge.connectors.accounting.fiken import FikenSettings, FikenSource
from claimbridge.connectors.base import ConnectorContext, Source
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.transport.http import HttpOptions
from tests.contract.source_suite import FakeInvoice, Planted, SourceContract, SourceHarness
from tests.fakes.fiken import FikenFake

PLANTED_INVOICE = 990_000  # a planted invoice's number: PLANTED_INVOICE + index


def _ore(amount: Decimal) -> int:
    """Fiken's amounts are whole øre."""
    return int(amount * 100)


def _kid(number: str) -> str:
    body = number.zfill(9)
    return body + luhn.calc_check_digit(body)


class FikenHarness(SourceHarness):
    voucher_accounts: ClassVar[tuple[str, str, str]] = ("1920:10001", "8050", "7770")
    """The ledger as a Fiken company: customer contacts, invoices with their sale (amounts in
    øre), credit notes, and a partial payment posted on the sale, which marks the invoice as
    modified today. Everything else was last modified a month ago, so a read from a cursor
    sees only what changed."""

    mappings: ClassVar[tuple[str, ...]] = (
        "fiken_customer",
        "fiken_invoice",
        "fiken_payment",
        "fiken_credit_note",
    )

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.fake = FikenFake(today=self.today)
        self.credentials = MemoryCredentialStore()  # rotated refresh tokens live here
        self.past = self.today - dt.timedelta(days=30)
        self.contact_of: dict[str, int] = {}  # customer number (or planted key) → contactId
        self.invoice_of: dict[str, int] = {}  # invoice number → invoiceId
        self.note_of: dict[str, int] = {}  # credit note number → creditNoteId
        self.payments_of: dict[str, set[str]] = {}  # invoice number → paymentIds
        self._payment_ids = itertools.count(700_000)
        self._rendered: object = None  # the FakeLedger the fake holds

    @contextlib.contextmanager
    def _serve(self) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            self.fake.install(rsps)
            yield

    def serving(self) -> contextlib.AbstractContextManager[object]:
        return self._serve()

    def planted_key(self, index: int) -> str:
        return str(PLANTED_INVOICE + index)

    # --- rendering ------------------------------------------------------------------------

    def write(self) -> None:
        """Add what is new to the fake and post what was paid since the last write; a new
        ledger (``build``, ``make_empty``) starts a fresh company."""
        if self.ledger is not self._rendered:  # a new ledger: a fresh company
            self._rendered = self.ledger
            self.fake.contacts.clear()
            self.fake.invoices.clear()
            self.fake.credit_notes.clear()
            self.fake.journal_entries.clear()
            self.contact_of, self.invoice_of, self.note_of, self.payments_of = {}, {}, {}, {}
        for c in self.ledger.customers:
            if c.number not in self.contact_of:
                contact = self.fake.add_customer(
                    c.name,
                    email=c.email,
                    phoneNumber=c.phone,
                    createdDate=self.past.isoformat(),
                    lastModifiedDate=self.past.isoformat(),
                )
                self.contact_of[c.number] = contact["contactId"]
        for i in self.ledger.invoices:
            if i.number not in self.invoice_of:
                self._add_invoice(i)
        for note in self.ledger.credit_notes:
            if note.number not in self.note_of:
                invoice = self.fake.invoices[self.invoice_of[note.invoice]]
                added = self.fake.add_credit_note(
                    invoice, _ore(note.amount), issueDate=note.issue_date.isoformat()
                )
                self.note_of[note.number] = added["creditNoteId"]
        for p in self.ledger.malformed:
            if p.key not in self.invoice_of:
                self._add_malformed(p)
        self._post_payments()

    def _add_invoice(self, i: FakeInvoice) -> None:
        customer = self.fake.contacts[self.contact_of[i.customer]]
        added = self.fake.add_invoice(
            customer,
            _ore(i.amount),
            issue=i.invoice_date,
            due=i.due_date,
            modified=self.past,
            invoiceNumber=int(i.number),
            kid=_kid(i.number),
            invoiceText=f"Faktura {i.number}",
        )
        credited = self.ledger.credited.get(i.number, Decimal(0))
        added["sale"]["outstandingBalance"] = _ore(i.amount - credited)
        self.invoice_of[i.number] = added["invoiceId"]

    def _add_malformed(self, p: Planted) -> None:
        """A private customer, and an invoice to them without a due date whose text repeats
        their name, birth date, phone and e-mail (as a clerk might type them)."""
        name, phone, email, birth = p.personal_data
        contact = self.fake.add_customer(
            name,
            email=email,
            phoneNumber=phone,
            createdDate=self.past.isoformat(),
            lastModifiedDate=self.past.isoformat(),
        )
        self.contact_of[p.key] = contact["contactId"]
        added = self.fake.add_invoice(
            contact,
            50_000,
            issue=self.today - dt.timedelta(days=60),
            modified=self.past,
            invoiceNumber=int(p.key),
            kid=_kid(p.key),
            invoiceText=f"Til {name} (f. {birth}), tlf. {phone}, {email}",
            dueDate=None,
        )
        self.invoice_of[p.key] = added["invoiceId"]

    def _post_payments(self) -> None:
        """What Fiken does on POST /sales/{id}/payments: a sale payment, a lower balance."""
        for i in self.ledger.invoices:
            invoice = self.fake.invoices[self.invoice_of[i.number]]
            sale = invoice["sale"]
            due = _ore(i.paid) - sale["totalPaid"]
            if due <= 0:
                continue
            payment_id = next(self._payment_ids)
            sale["salePayments"].append(
                {
                    "paymentId": payment_id,
                    "date": self.today.isoformat(),
                    "account": "1920:10001",
                    "amount": due,
                }
            )
            sale["totalPaid"] += due
            sale["totalPaidInCurrency"] += due
            sale["outstandingBalance"] = max(0, sale["outstandingBalance"] - due)
            sale["settled"] = sale["outstandingBalance"] == 0
            self.fake.touch(invoice)
            self.payments_of.setdefault(i.number, set()).add(str(payment_id))

    # --- the source -----------------------------------------------------------------------

    def _source(self, **overrides: Any) -> Source:
        options: dict[str, Any] = {
            "company_slug": self.fake.slug,
            "client_id": self.fake.client_id,
            "client_secret": SecretStr(self.fake.client_secret),
            "refresh_token": SecretStr("rt-0"),
            "page_size": self.page_size,
            "payment_account": "1920:10001",
            "http": HttpOptions(rate_limit_per_s=None, backoff_initial=0),
            **overrides,
        }
        context = ConnectorContext(name="fiken", today=self.today, credentials=self.credentials)
        return FikenSource(FikenSettings(**options), context, sleep=lambda _s: None)

    def source(self) -> Source:
        return self._source()

    def broken_source(self) -> Source:
        return self._source(company_slug="no-such-company")

    def _open(self) -> set[str]:
        credited = self.ledger.credited
        return {
            i.number
            for i in self.ledger.invoices
            if i.amount - i.paid - credited.get(i.number, Decimal(0)) > 0
        }

    def expected_keys(self) -> dict[str, set[str]]:
        open_invoices = self._open()
        return {
            "customers": {str(cid) for cid in self.contact_of.values()},
            "invoices": open_invoices | {p.key for p in self.ledger.malformed},
            "payments": {
                pid for n, pids in self.payments_of.items() if n in open_invoices for pid in pids
            },
            "credit_notes": {str(nid) for nid in self.note_of.values()},
        }

    def changed_keys(self, invoices: Sequence[FakeInvoice]) -> dict[str, set[str]]:
        numbers = {i.number for i in invoices}
        return {
            "invoices": numbers,
            "payments": {p for n in numbers for p in self.payments_of.get(n, set())},
        }

    def truncate_ledger(self) -> None:
        keep = set(sorted(self.fake.contacts)[:8])
        for store in (self.fake.contacts, self.fake.invoices, self.fake.credit_notes):
            for key, record in list(store.items()):
                owner = record.get("customerId", record.get("contactId"))
                if "customer" in record and isinstance(record["customer"], dict):
                    owner = record["customer"]["contactId"]
                if owner not in keep:
                    del store[key]

    # --- booking back ---------------------------------------------------------------------

    def payments_booked(self, invoice_number: str) -> int:
        return sum(
            len(i["sale"]["salePayments"])
            for i in self.fake.invoices.values()
            if str(i["invoiceNumber"]) == invoice_number
        )

    def requests_made(self) -> int:
        return self.fake.api_requests + self.fake.token_requests

    def vouchers_booked(self, external_ref: str) -> int:
        token = reference_token(external_ref)
        entries = self.fake.journal_entries.values()
        return sum(1 for entry in entries if token in entry["description"])

    def lose_next_answer(self) -> None:
        self.fake.lose_next_answer()


class TestFikenContract(SourceContract):
    harness_class = FikenHarness

    @pytest.mark.xfail(
        strict=True,
        reason="Fiken's sale payments carry no reference of ours: a payment is recognized by sale, "
        "date, amount and account, so a second payment of the same amount on the same day is "
        "taken for the first",
    )
    def test_distinct_payments_are_booked_apart(self, harness: SourceHarness) -> None:
        super().test_distinct_payments_are_booked_apart(harness)
