"""The source contract for PowerOffice Go (API v2), over the in-memory fake of a Go client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import responses
from stdnum import luhn

from claimbridge.connectors.accounting._poweroffice_booking import go_reference
from claimbridge.connectors.accounting.poweroffice import PowerOfficeSettings, PowerOfficeSource
from claimbridge.connectors.base import ConnectorContext, Source
from claimbridge.credentials import MemoryCredentialStore
from tests.contract.source_suite import FakeInvoice, Planted, SourceContract, SourceHarness
from tests.fakes.poweroffice import (
    APP_KEY,
    BANK_ACCOUNT_ID,
    BASE,
    CLIENT_KEY,
    ORPHAN_CLIENT_KEY,
    SUBSCRIPTION_KEY,
    TOKEN_URL,
    FakePowerOffice,
)

PLANTED_CUSTOMER = 990_000  # a planted customer's Id: PLANTED_CUSTOMER + index


def _cid(number: str) -> str:
    body = number.zfill(9)
    return body + luhn.calc_check_digit(body)


class PowerOfficeHarness(SourceHarness):
    """The ledger as a PowerOffice Go client: customers with a contact person, outgoing
    invoices whose Balance is what is left, credit notes and payments as customer-ledger
    entries. A payment lowers the Balance and stamps it changed, as Go does."""

    mappings: ClassVar[tuple[str, ...]] = (
        "poweroffice_customer",
        "poweroffice_invoice",
        "poweroffice_payment",
        "poweroffice_credit_note",
    )
    malformed_stream: ClassVar[str] = "customers"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.fake = FakePowerOffice()
        self._rendered: object = None  # the FakeLedger the fake holds
        self.customer_of: dict[str, int] = {}  # customer number → Id
        self.invoice_of: dict[str, str] = {}  # invoice number → Id
        self.notes: set[str] = set()  # credit note numbers rendered
        self.note_ids: set[str] = set()
        self.payments_of: dict[str, set[str]] = {}  # invoice number → entry Ids
        self.paid: dict[str, Decimal] = {}

    @contextlib.contextmanager
    def _serve(self) -> Iterator[None]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            self.fake.install(rsps)
            yield

    def serving(self) -> contextlib.AbstractContextManager[object]:
        return self._serve()

    def planted_key(self, index: int) -> str:
        return str(PLANTED_CUSTOMER + index)

    # --- rendering ------------------------------------------------------------------------

    def write(self) -> None:
        """Add what is new and book what was paid since the last write; a new ledger
        (``build``, ``make_empty``) starts a fresh client."""
        if self.ledger is not self._rendered:
            self._rendered = self.ledger
            for rows in (self.fake.customers, self.fake.invoices, self.fake.vouchers):
                rows.clear()
            for entries in (self.fake.contact_persons, self.fake.entries, self.fake.transactions):
                entries.clear()
            self.customer_of, self.invoice_of, self.payments_of, self.paid = {}, {}, {}, {}
            self.notes, self.note_ids = set(), set()
        for c in self.ledger.customers:
            if c.number not in self.customer_of:
                added = self.fake.add_customer(
                    1000 + int(c.number.removeprefix("C")),
                    Name=c.name,
                    EmailAddress=c.email,
                    PhoneNumber=c.phone,
                )
                self.customer_of[c.number] = added["Id"]
        credited = self.ledger.credited
        for i in self.ledger.invoices:
            if i.number not in self.invoice_of:
                self._add_invoice(i, credited.get(i.number, Decimal(0)))
        for note in self.ledger.credit_notes:
            if note.number not in self.notes:
                invoice = self.fake.invoices[self.invoice_of[note.invoice]]
                entry = self.fake.add_entry(
                    invoice,
                    -note.amount,
                    "OutgoingCreditNote",
                    PostingDate=note.issue_date.isoformat(),
                    VoucherDate=note.issue_date.isoformat(),
                    InvoiceNo=int(note.invoice) + 70_000,
                )
                self.notes.add(note.number)
                self.note_ids.add(str(entry["Id"]))
        for p in self.ledger.malformed:
            if int(p.key) not in self.fake.customers:
                self._add_malformed(p)
        self._book_payments()

    def _add_invoice(self, i: FakeInvoice, credited: Decimal) -> None:
        customer = self.fake.customers[self.customer_of[i.customer]]
        added = self.fake.add_invoice(
            customer,
            int(i.number),
            TotalAmount=str(i.amount),
            VoucherDate=i.invoice_date.isoformat(),
            DueDate=i.due_date.isoformat(),
            Cid=_cid(i.number),
        )
        added["Balance"] = i.amount - credited
        self.invoice_of[i.number] = added["Id"]

    def _add_malformed(self, p: Planted) -> None:
        """A private customer whose name was typed only on the contact person, with a birth
        date (29 February 1990, a date no calendar has, for even indexes)."""
        name, phone, email, birth = p.personal_data
        first, _, last = name.partition(" ")
        customer = self.fake.add_customer(
            PLANTED_CUSTOMER + p.index,
            Id=int(p.key),
            Name=None,
            IsPerson=True,
            OrganizationNumber=None,
            DateOfBirth=birth,
            EmailAddress=email,
            PhoneNumber=phone,
        )
        self.fake.customers[int(p.key)] = self.fake.customers.pop(customer["Id"], customer)
        self.fake.add_contact_person(
            int(p.key), FirstName=first, LastName=last, PhoneNumber=phone, EmailAddress=email
        )

    def _book_payments(self) -> None:
        for i in self.ledger.invoices:
            due = i.paid - self.paid.get(i.number, Decimal(0))
            if due > 0:
                entry = self.fake.pay(self.fake.invoices[self.invoice_of[i.number]], str(due))
                entry["PostingDate"] = entry["VoucherDate"] = self.today.isoformat()
                self.paid[i.number] = i.paid
                self.payments_of.setdefault(i.number, set()).add(str(entry["Id"]))

    # --- the source -----------------------------------------------------------------------

    def _source(self, **overrides: Any) -> Source:
        values: dict[str, Any] = {
            "application_key": APP_KEY,
            "client_key": CLIENT_KEY,
            "subscription_key": SUBSCRIPTION_KEY,
            "base_url": BASE,
            "token_url": TOKEN_URL,
            "page_size": self.page_size,
            "lookback_s": 0,
            "bank_account_id": BANK_ACCOUNT_ID,
            "http": {"rate_limit_per_s": None, "backoff_initial": 0},
            **overrides,
        }
        settings = PowerOfficeSettings(**values)
        context = ConnectorContext(
            name="poweroffice", today=self.today, credentials=MemoryCredentialStore()
        )
        return PowerOfficeSource(settings, context, sleep=lambda _s: None)

    def source(self) -> Source:
        return self._source()

    def broken_source(self) -> Source:
        # A client key Go issues tokens for, but behind which there is no Go client.
        return self._source(client_key=ORPHAN_CLIENT_KEY)

    def expected_keys(self) -> dict[str, set[str]]:
        credited = self.ledger.credited
        return {
            "customers": {str(cid) for cid in self.customer_of.values()}
            | {p.key for p in self.ledger.malformed},
            "invoices": {
                self.invoice_of[i.number]
                for i in self.ledger.invoices
                if i.amount - i.paid - credited.get(i.number, Decimal(0)) > 0
            },
            "payments": {e for ids in self.payments_of.values() for e in ids},
            "credit_notes": set(self.note_ids),
        }

    def changed_keys(self, invoices: Sequence[FakeInvoice]) -> dict[str, set[str]]:
        return {
            "invoices": {self.invoice_of[i.number] for i in invoices},
            "payments": {e for i in invoices for e in self.payments_of.get(i.number, set())},
        }

    def truncate_ledger(self) -> None:
        for key in sorted(self.fake.customers)[8:]:
            del self.fake.customers[key]
        for invoice_id in sorted(self.fake.invoices)[8:]:
            del self.fake.invoices[invoice_id]
        del self.fake.entries[8:]

    # --- booking back ---------------------------------------------------------------------

    def payments_booked(self, invoice_number: str) -> int:
        return sum(
            1
            for voucher in self.fake.vouchers.values()
            if any(str(line.get("InvoiceNo")) == invoice_number for line in voucher["VoucherLines"])
        )

    def requests_made(self) -> int:
        return self.fake.api_requests + self.fake.token_requests

    def vouchers_booked(self, external_ref: str) -> int:
        reference = go_reference(external_ref)
        vouchers = self.fake.vouchers.values()
        return sum(1 for v in vouchers if v["ExternalImportReference"] == reference)

    def lose_next_answer(self) -> None:
        self.fake.lose_next_answer()


class TestPowerOfficeContract(SourceContract):
    harness_class = PowerOfficeHarness
