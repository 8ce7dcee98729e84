"""The source contract for the open-items files source (customers.csv + invoices.csv)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

from claimbridge.connectors.accounting.files import OpenItemsFileSource, OpenItemsSettings
from claimbridge.connectors.base import ConnectorContext, Source
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


class FilesHarness(SourceHarness):
    """The ledger as the two CSV files of the open-items export format."""

    mappings: ClassVar[tuple[str, ...]] = ("open_items_customer", "open_items_invoice")
    malformed_stream: ClassVar[str] = "customers"

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
                "page_size": self.page_size,
                **options,
            }
        )
        return OpenItemsFileSource(settings, ConnectorContext(name="files", today=self.today))

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


class TestFilesSourceContract(SourceContract):
    harness_class = FilesHarness
