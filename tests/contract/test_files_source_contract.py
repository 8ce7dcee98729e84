"""The source contract for the open-items files source (customers.csv + invoices.csv), with
its bookings journal (bookings.csv) as the ledger reconciliation books into.

The journal is read back with the csv module, not the connector's parser. A "request" is a
write to the journal file (its size, modification time or inode changed since the harness last
looked), and a lost answer is a crash after the booking was written and fsynced but before the
caller got its id: the harness's source books for real, then raises ``OutcomeUnknownError``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from claimbridge.connectors.accounting.files import OpenItemsFileSource, OpenItemsSettings
from claimbridge.connectors.base import ConnectorContext, Source, Voucher
from claimbridge.errors import OutcomeUnknownError
from claimbridge.schemas import Claim, Payment
from tests.contract.source_suite import SourceContract, SourceHarness

CUSTOMER_HEADER = ["customer_number", "kind", "name", "phone", "email", "birth_date"]
CUSTOMER_HEADER += ["address_line1", "postal_code", "city", "country"]
INVOICE_HEADER = ["invoice_number", "customer_number", "invoice_date", "due_date", "amount"]
INVOICE_HEADER += ["remaining", "currency"]


def _write_csv(path: Path, header: list[str], rows: Sequence[Mapping[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, header)
        writer.writeheader()
        writer.writerows(rows)


class _CrashAfterBooking(OpenItemsFileSource):
    """The files source of a run that dies right after its booking reached the disk."""

    harness: FilesHarness

    def _answer(self, booked: str) -> str:
        if self.harness.lose_answer:
            self.harness.lose_answer = False
            raise OutcomeUnknownError("the run died after the journal was fsynced")
        return booked

    def book_voucher(self, voucher: Voucher) -> str:
        return self._answer(super().book_voucher(voucher))

    def register_payment(self, payment: Payment, claim: Claim) -> str:
        return self._answer(super().register_payment(payment, claim))


class FilesHarness(SourceHarness):
    """The ledger as the two CSV files of the open-items export format."""

    mappings: ClassVar[tuple[str, ...]] = ("open_items_customer", "open_items_invoice")
    malformed_stream: ClassVar[str] = "customers"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.lose_answer = False
        self._writes = 0
        self._seen: tuple[int, int, int] | None = None

    @property
    def journal(self) -> Path:
        return self.root / "bookings.csv"

    def write(self) -> None:
        credited = self.ledger.credited
        address = {"address_line1": "Storgata 1", "postal_code": "0150", "city": "Oslo"}
        customers = [
            {"customer_number": c.number, "kind": "company", "name": c.name, "phone": c.phone}
            | {"email": c.email, "country": "NO"}
            | address
            for c in self.ledger.customers
        ]
        for p in self.ledger.malformed:
            # A kind no debtor has; every second one also has a birth date no calendar has,
            # and that date is personal data itself.
            name, phone, email, birth = p.personal_data
            customers.append(
                {"customer_number": p.key, "kind": "spaceship", "name": name, "phone": phone}
                | {"email": email, "birth_date": birth, "country": "NO"}
                | address
            )
        invoices = [
            {
                "invoice_number": i.number,
                "customer_number": i.customer,
                "invoice_date": i.invoice_date,
                "due_date": i.due_date,
                "amount": i.amount,
                "remaining": i.amount - i.paid - credited.get(i.number, 0),
                "currency": "NOK",
            }
            for i in self.ledger.invoices
        ]
        _write_csv(self.root / "customers.csv", CUSTOMER_HEADER, customers)
        _write_csv(self.root / "invoices.csv", INVOICE_HEADER, invoices)

    def _source(self, **options: object) -> Source:
        settings = OpenItemsSettings.model_validate(
            {
                "customers": self.root / "customers.csv",
                "invoices": self.root / "invoices.csv",
                "journal": self.journal,
                "page_size": self.page_size,
                **options,
            }
        )
        source = _CrashAfterBooking(settings, ConnectorContext(name="files", today=self.today))
        source.harness = self
        return source

    def source(self) -> Source:
        return self._source()

    def broken_source(self) -> Source:
        return self._source(customers=self.root / "no-such-customers.csv")

    def expected_keys(self) -> dict[str, set[str]]:
        return {
            "customers": {c.number for c in self.ledger.customers}
            | {p.key for p in self.ledger.malformed},
            "invoices": {i.number for i in self.ledger.invoices},
        }

    def truncate_ledger(self) -> None:
        for name in ("customers.csv", "invoices.csv"):
            with (self.root / name).open("r+b") as fh:
                fh.truncate(2048)

    # --- the bookings journal as the ledger ------------------------------------------------

    def _bookings(self, kind: str, column: str, value: str) -> int:
        if not self.journal.exists():
            return 0
        with self.journal.open(encoding="utf-8", newline="") as handle:
            return len(
                {
                    row["booking_id"]
                    for row in csv.DictReader(handle)
                    if row["kind"] == kind and row[column] == value
                }
            )

    def vouchers_booked(self, external_ref: str) -> int:
        return self._bookings("voucher", "external_ref", external_ref)

    def payments_booked(self, invoice_number: str) -> int:
        return self._bookings("payment", "invoice_number", invoice_number)

    def requests_made(self) -> int:
        """Writes to the journal seen so far: any change of its size, time or inode."""
        try:
            stat = self.journal.stat()
            state = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        except FileNotFoundError:
            state = None
        if state != self._seen:
            self._seen = state
            self._writes += 1
        return self._writes

    def lose_next_answer(self) -> None:
        self.lose_answer = True


class TestFilesSourceContract(SourceContract):
    harness_class = FilesHarness
