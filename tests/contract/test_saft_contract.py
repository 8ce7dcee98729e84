"""The source contract for SAF-T Financial files (customers + open items from the ledger)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar
from xml.sax.saxutils import escape

from claimbridge.connectors.accounting.saft import SaftSettings, SaftSource
from claimbridge.connectors.base import ConnectorContext, Source
from tests.contract.source_suite import (
    FakeCustomer,
    FakeInvoice,
    Planted,
    SourceContract,
    SourceHarness,
)

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<AuditFile xmlns="urn:StandardAuditFile-Taxation-Financial:NO">
<Header><AuditFileVersion>1.30</AuditFileVersion><AuditFileCountry>NO</AuditFileCountry>
<Company><RegistrationNumber>999999999</RegistrationNumber><Name>Kreditor AS</Name></Company>
<DefaultCurrencyCode>NOK</DefaultCurrencyCode></Header>
"""


def _customer(c: FakeCustomer) -> str:
    return (
        f"<Customer><RegistrationNumber>9{c.number[1:]:0>8}</RegistrationNumber>"
        f"<Name>{escape(c.name)}</Name>"
        "<Address><StreetName>Storgata</StreetName><Number>1</Number><City>Oslo</City>"
        "<PostalCode>0150</PostalCode><Country>NO</Country></Address>"
        f"<Contact><Telephone>{escape(c.phone)}</Telephone><Email>{escape(c.email)}</Email>"
        f"</Contact><CustomerID>{c.number}</CustomerID>"
        "<PartyInfo><PaymentTerms><Days>14</Days></PaymentTerms><Type>Company</Type></PartyInfo>"
        "</Customer>\n"
    )


def _malformed(p: Planted) -> str:
    """Odd ones have an address in a country that does not exist, even ones have no name."""
    name, phone, email, _birth = p.personal_data
    country = "Narnia" if p.index % 2 else "NO"
    shown = escape(name) if p.index % 2 else ""
    return (
        f"<Customer><Name>{shown}</Name>"
        "<Address><StreetName>Privatveien 9</StreetName><City>Oslo</City>"
        f"<PostalCode>0151</PostalCode><Country>{country}</Country></Address>"
        f"<Contact><ContactPerson><FirstName>{escape(name)}</FirstName></ContactPerson>"
        f"<Telephone>{escape(phone)}</Telephone><Email>{escape(email)}</Email></Contact>"
        f"<CustomerID>{p.key}</CustomerID><PartyInfo><Type>Private</Type></PartyInfo></Customer>\n"
    )


def _transactions(i: FakeInvoice) -> str:
    sale = (
        f"<Transaction><TransactionID>T{i.number}</TransactionID>"
        f"<TransactionDate>{i.invoice_date}</TransactionDate>"
        f"<Description>Faktura {i.number}</Description>"
        f"<Line><AccountID>3000</AccountID><CreditAmount><Amount>{i.amount}</Amount>"
        f"</CreditAmount><ReferenceNumber>{i.number}</ReferenceNumber></Line>"
        f"<Line><AccountID>1500</AccountID><CustomerID>{i.customer}</CustomerID>"
        f"<DebitAmount><Amount>{i.amount}</Amount></DebitAmount>"
        f"<ReferenceNumber>{i.number}</ReferenceNumber><DueDate>{i.due_date}</DueDate></Line>"
        "</Transaction>\n"
    )
    if not i.paid:
        return sale
    return sale + (
        f"<Transaction><TransactionID>P{i.number}</TransactionID>"
        f"<TransactionDate>{i.due_date}</TransactionDate>"
        f"<Line><AccountID>1920</AccountID><DebitAmount><Amount>{i.paid}</Amount>"
        "</DebitAmount></Line>"
        f"<Line><AccountID>1500</AccountID><CustomerID>{i.customer}</CustomerID>"
        f"<CreditAmount><Amount>{i.paid}</Amount></CreditAmount>"
        f"<ReferenceNumber>{i.number}</ReferenceNumber></Line></Transaction>\n"
    )


class SaftHarness(SourceHarness):
    """The ledger as one SAF-T 1.30 file: customers in MasterFiles, invoices and partial
    payments as general-ledger transactions on the customers' accounts."""

    whole_input_streams: ClassVar[dict[str, str]] = {
        "invoices": "open items are sums over the whole general ledger: whether an invoice is "
        "still open is known only after its last transaction, which may be the file's last",
    }
    malformed_stream: ClassVar[str] = "customers"

    @property
    def path(self) -> str:
        return str(self.root / "saft.xml")

    def write(self) -> None:
        with open(self.path, "w", encoding="utf-8") as out:
            out.write(HEAD)
            out.write("<MasterFiles><Customers>\n")
            out.writelines(_customer(c) for c in self.ledger.customers)
            out.writelines(_malformed(p) for p in self.ledger.malformed)
            out.write("</Customers></MasterFiles>\n<GeneralLedgerEntries><Journal>\n")
            out.writelines(_transactions(i) for i in self.ledger.invoices)
            out.write("</Journal></GeneralLedgerEntries>\n</AuditFile>\n")

    def _source(self, path: str) -> Source:
        settings = SaftSettings.model_validate({"path": path, "page_size": self.page_size})
        return SaftSource(settings, ConnectorContext(name="saft", today=self.today))

    def source(self) -> Source:
        return self._source(self.path)

    def broken_source(self) -> Source:
        return self._source(str(self.root / "no-such-saft.xml"))

    def expected_keys(self) -> dict[str, set[str]]:
        return {
            "customers": {c.number for c in self.ledger.customers}
            | {p.key for p in self.ledger.malformed},
            "invoices": {f"{i.customer}:{i.number}" for i in self.ledger.invoices},
        }

    def changed_keys(self, invoices: Sequence[FakeInvoice]) -> dict[str, set[str]]:
        return {"invoices": {f"{i.customer}:{i.number}" for i in invoices}}

    def expected_claims(self) -> set[str]:
        # Credit notes are not written to the SAF-T file, so nothing is credited here.
        return {i.number for i in self.ledger.invoices if i.amount > i.paid}

    def truncate_ledger(self) -> None:
        with open(self.path, "r+b") as fh:
            fh.truncate(4096)


class TestSaftContract(SourceContract):
    harness_class = SaftHarness
