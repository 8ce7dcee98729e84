"""The source contract for a directory of EHF / PEPPOL BIS 3 (UBL 2.1) documents."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from xml.sax.saxutils import escape

from claimbridge.connectors.accounting.ubl import UblSettings, UblSource
from claimbridge.connectors.base import ConnectorContext, Source
from tests.contract.source_suite import (
    FakeCreditNote,
    FakeCustomer,
    FakeInvoice,
    Planted,
    SourceContract,
    SourceHarness,
)

NS = (
    'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
    'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"'
)
SUPPLIER = (
    "<cac:AccountingSupplierParty><cac:Party><cac:PartyLegalEntity>"
    "<cbc:RegistrationName>Kreditor AS</cbc:RegistrationName>"
    '<cbc:CompanyID schemeID="0192">999999999</cbc:CompanyID>'
    "</cac:PartyLegalEntity></cac:Party></cac:AccountingSupplierParty>"
)


def _buyer(number: str, name: str, phone: str, email: str) -> str:
    return (
        "<cac:AccountingCustomerParty><cac:Party>"
        f"<cac:PartyIdentification><cbc:ID>{number}</cbc:ID></cac:PartyIdentification>"
        f"<cac:PartyName><cbc:Name>{escape(name)}</cbc:Name></cac:PartyName>"
        "<cac:PostalAddress><cbc:StreetName>Storgata 1</cbc:StreetName>"
        "<cbc:CityName>Oslo</cbc:CityName><cbc:PostalZone>0150</cbc:PostalZone>"
        "<cac:Country><cbc:IdentificationCode>NO</cbc:IdentificationCode></cac:Country>"
        "</cac:PostalAddress>"
        f"<cac:Contact><cbc:Name>{escape(name)}</cbc:Name>"
        f"<cbc:Telephone>{escape(phone)}</cbc:Telephone>"
        f"<cbc:ElectronicMail>{escape(email)}</cbc:ElectronicMail></cac:Contact>"
        "</cac:Party></cac:AccountingCustomerParty>"
    )


def _invoice(number: str, issued: str, due: str, payable: Decimal, buyer: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" {NS}>\n'
        f"<cbc:ID>{number}</cbc:ID>\n<cbc:IssueDate>{issued}</cbc:IssueDate>\n"
        f"<cbc:DueDate>{due}</cbc:DueDate>\n"
        f"<cbc:Note>Faktura {number}</cbc:Note>\n"
        "<cbc:DocumentCurrencyCode>NOK</cbc:DocumentCurrencyCode>\n"
        f"{SUPPLIER}\n{buyer}\n"
        f'<cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="NOK">{payable}'
        "</cbc:PayableAmount></cac:LegalMonetaryTotal>\n</Invoice>\n"
    )


def _credit_note(note: FakeCreditNote) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2" {NS}>\n'
        f"<cbc:ID>{note.number}</cbc:ID>\n<cbc:IssueDate>{note.issue_date}</cbc:IssueDate>\n"
        "<cbc:DocumentCurrencyCode>NOK</cbc:DocumentCurrencyCode>\n"
        "<cac:BillingReference><cac:InvoiceDocumentReference>"
        f"<cbc:ID>{note.invoice}</cbc:ID></cac:InvoiceDocumentReference></cac:BillingReference>\n"
        f"{SUPPLIER}\n"
        f'<cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="NOK">{note.amount}'
        "</cbc:PayableAmount></cac:LegalMonetaryTotal>\n</CreditNote>\n"
    )


class UblHarness(SourceHarness):
    """The ledger as one UBL file per invoice and credit note; a partial payment lowers the
    invoice's PayableAmount, as a re-issued document would."""

    def _customers(self) -> dict[str, FakeCustomer]:
        return {c.number: c for c in self.ledger.customers}

    def write(self) -> None:
        for old in self.root.glob("*.xml"):
            old.unlink()
        customers = self._customers()
        for i in self.ledger.invoices:
            c = customers[i.customer]
            buyer = _buyer(c.number, c.name, c.phone, c.email)
            document = _invoice(
                i.number, str(i.invoice_date), str(i.due_date), i.amount - i.paid, buyer
            )
            (self.root / f"inv-{i.number}.xml").write_text(document, encoding="utf-8")
        for note in self.ledger.credit_notes:
            (self.root / f"cn-{note.number}.xml").write_text(_credit_note(note), "utf-8")
        for p in self.ledger.malformed:
            (self.root / f"inv-{p.key}.xml").write_text(self._malformed(p), encoding="utf-8")

    @staticmethod
    def _malformed(p: Planted) -> str:
        """An issue date no calendar has, from a private buyer with full contact data."""
        name, phone, email, _birth = p.personal_data
        buyer = _buyer(f"PRIVAT{p.index}", name, phone, email)
        return _invoice(p.key, "2025-02-30", "2025-03-14", Decimal("500.00"), buyer)

    def _source(self, directory: str) -> Source:
        settings = UblSettings.model_validate({"directory": directory, "page_size": self.page_size})
        return UblSource(settings, ConnectorContext(name="ubl", today=self.today))

    def source(self) -> Source:
        return self._source(str(self.root))

    def broken_source(self) -> Source:
        return self._source(str(self.root / "no-such-directory"))

    def _first_invoices(self) -> dict[str, str]:
        """Customer → the number of its first invoice file: the customers stream's record."""
        first: dict[str, str] = {}
        for i in sorted(self.ledger.invoices, key=lambda i: f"inv-{i.number}.xml"):
            first.setdefault(i.customer, i.number)
        return first

    def expected_keys(self) -> dict[str, set[str]]:
        return {
            "customers": {c.number for c in self.ledger.customers}
            | {f"PRIVAT{p.index}" for p in self.ledger.malformed},
            "invoices": {i.number for i in self.ledger.invoices}
            | {p.key for p in self.ledger.malformed},
            "credit_notes": {n.number for n in self.ledger.credit_notes},
        }

    def changed_keys(self, invoices: Sequence[FakeInvoice]) -> dict[str, set[str]]:
        # A customer's record is its first invoice document, so that one changes with it.
        first = self._first_invoices()
        return {
            "invoices": {i.number for i in invoices},
            "customers": {i.customer for i in invoices if first[i.customer] == i.number},
        }

    def truncate_ledger(self) -> None:
        invoices = sorted(self.root.glob("inv-*.xml"))
        notes = sorted(self.root.glob("cn-*.xml"))
        for path in invoices[8:] + notes[8:]:
            path.unlink()


class TestUblContract(SourceContract):
    harness_class = UblHarness
