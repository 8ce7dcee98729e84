"""EHF 3 / PEPPOL BIS Billing 3.0 documents (UBL 2.1 Invoice and CreditNote) as a source.

For creditors without an API whose system can save the invoices it sent as e-invoice files.
One file is one document. Credit notes name the invoice they credit
(``BillingReference/InvoiceDocumentReference/ID``); the invoice stream subtracts the credit
notes found in the same directory from the invoice's remaining principal, so a fully credited
invoice is never sent to collection.

A file that cannot be read (malformed, hostile, wrong root) does not stop the run: the invoice
stream yields it as a record that fails normalization with the parser's reason, so it is
quarantined with file and line and the other files go on.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from lxml import etree
from pydantic import Field, ValidationError

from claimbridge import xmlsafe
from claimbridge.connectors.accounting.export_detect import (
    UBL_CREDIT_NOTE_NAMESPACE,
    UBL_INVOICE_NAMESPACE,
    sniff_root,
)
from claimbridge.connectors.base import (
    Canonical,
    CheckItem,
    CheckKind,
    CheckResult,
    ConnectorSettings,
    Page,
    RawRecord,
    Source,
    StreamSpec,
)
from claimbridge.errors import ClaimbridgeError, NotFoundError, ParseError, RecordError
from claimbridge.schemas import (
    Address,
    AddressKind,
    Claim,
    ContactPerson,
    CreditNote,
    Email,
    Party,
    PartyKind,
    Phone,
    SourceRef,
)

__all__ = [
    "CREDIT_NOTES",
    "CUSTOMERS",
    "INVOICES",
    "UblSettings",
    "UblSource",
    "read_document",
]

CUSTOMERS = StreamSpec(name="customers", primary_key="CustomerID")
INVOICES = StreamSpec(name="invoices", primary_key="ID")
CREDIT_NOTES = StreamSpec(name="credit_notes", primary_key="ID")

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
_FIRST_TAG = re.compile(rb"<(?![?!])(?:[\w.-]+:)?([\w.-]+)")
_HEAD_BYTES = 65536
_ROOTS = {UBL_INVOICE_NAMESPACE: "Invoice", UBL_CREDIT_NOTE_NAMESPACE: "CreditNote"}

# ISO 6523 ICD codes of national business registers, as used in PEPPOL schemeID attributes.
_REGISTER_COUNTRY = {
    "0192": "NO",  # Enhetsregisteret (Brønnøysund)
    "0007": "SE",  # Organisationsnummer (Bolagsverket)
    "0184": "DK",  # CVR
    "0002": "FR",  # SIRENE
    "0208": "BE",  # Crossroads Bank for Enterprises
    "0183": "CH",  # Swiss UIDB
}


_Sniffed = tuple[Path, str | None, ParseError | None]  # path, root (Invoice/CreditNote), error


class UblSettings(ConnectorSettings):
    """A directory of UBL files the creditor's system saved."""

    directory: Path
    pattern: str = Field(default="*.xml", min_length=1)
    page_size: int = Field(default=200, ge=1, le=100_000)


# --- reading one document --------------------------------------------------------------------


@lru_cache(maxsize=128)
def _clark(path: str) -> str:
    """``cac:A/cbc:B`` → ``{urn…}A/{urn…}B``: lxml finds Clark paths without a prefix map."""
    return path.replace("cbc:", f"{{{CBC}}}").replace("cac:", f"{{{CAC}}}")


class _Index:
    """An element's children by tag, built in one pass: most UBL fields sit one or two levels
    down, and a dict lookup is far cheaper than an ElementPath search per field."""

    __slots__ = ("children", "element")

    def __init__(self, element: etree._Element) -> None:
        self.element = element
        self.children: dict[str, etree._Element] = {}
        for child in element:
            self.children.setdefault(child.tag, child)

    def find(self, path: str) -> etree._Element | None:
        first, _, rest = _clark(path).partition("/")
        element = self.children.get(first)
        if element is None or not rest:
            return element
        return element.find(rest)

    def sub(self, path: str) -> _Index | None:
        element = self.find(path)
        return None if element is None else _Index(element)


def _text(root: _Index, path: str) -> str | None:
    element = root.find(path)
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _with_line(root: _Index, path: str) -> dict[str, Any] | None:
    """A value with the line it is on, so a bad value can be reported where it is."""
    element = root.find(path)
    if element is None or element.text is None or not element.text.strip():
        return None
    return {"value": element.text.strip(), "line": element.sourceline}


def _buyer(root: _Index) -> dict[str, Any]:
    party = root.sub("cac:AccountingCustomerParty/cac:Party")
    if party is None:
        return {}
    endpoint = party.find("cbc:EndpointID")
    company = party.find("cac:PartyLegalEntity/cbc:CompanyID")
    buyer: dict[str, Any] = {
        "EndpointID": _text(party, "cbc:EndpointID"),
        "EndpointScheme": endpoint.get("schemeID") if endpoint is not None else None,
        "PartyIdentification": _text(party, "cac:PartyIdentification/cbc:ID"),
        "Name": _text(party, "cac:PartyName/cbc:Name"),
        "RegistrationName": _text(party, "cac:PartyLegalEntity/cbc:RegistrationName"),
        "CompanyID": _text(party, "cac:PartyLegalEntity/cbc:CompanyID"),
        "CompanyIDScheme": company.get("schemeID") if company is not None else None,
    }
    address = party.sub("cac:PostalAddress")
    if address is not None:
        buyer["PostalAddress"] = {
            "StreetName": _text(address, "cbc:StreetName"),
            "AdditionalStreetName": _text(address, "cbc:AdditionalStreetName"),
            "CityName": _text(address, "cbc:CityName"),
            "PostalZone": _text(address, "cbc:PostalZone"),
            "Country": _text(address, "cac:Country/cbc:IdentificationCode"),
        }
    contact = party.sub("cac:Contact")
    if contact is not None:
        buyer["Contact"] = {
            "Name": _text(contact, "cbc:Name"),
            "Telephone": _text(contact, "cbc:Telephone"),
            "ElectronicMail": _text(contact, "cbc:ElectronicMail"),
        }
    return buyer


def _customer_id(buyer: dict[str, Any]) -> str | None:
    """The buyer's identity in this source: its party id, else endpoint, else legal id."""
    for key in ("PartyIdentification", "EndpointID", "CompanyID"):
        if buyer.get(key):
            return str(buyer[key])
    return None


def read_document(path: Path) -> dict[str, Any]:
    """One UBL Invoice or CreditNote as a plain dict of the fields claimbridge uses.

    Raises ``ParseError`` for whole-file problems: malformed or hostile XML, or a root that is
    not a UBL 2.1 Invoice/CreditNote. Missing or bad fields are left for ``normalize`` to name.
    """
    try:
        root = xmlsafe.parse_file(path)
    except OSError as exc:
        raise ParseError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from None
    qname = etree.QName(root)
    kind = _ROOTS.get(qname.namespace or "")
    if kind != qname.localname:
        raise ParseError(
            f"root element is {qname.localname!r} in namespace {qname.namespace!r}; "
            "expected a UBL 2.1 Invoice or CreditNote",
            file=str(path),
            line=root.sourceline,
            field=qname.localname,
        )
    index = _Index(root)
    buyer = _buyer(index)
    return {
        "DocumentType": kind,
        "File": str(path),
        "ID": _text(index, "cbc:ID"),
        "IssueDate": _with_line(index, "cbc:IssueDate"),
        "DueDate": _with_line(index, "cbc:DueDate"),
        "PaymentMeansDueDate": _with_line(index, "cac:PaymentMeans/cbc:PaymentDueDate"),
        "PaymentTermsDueDate": _with_line(index, "cac:PaymentTerms/cbc:PaymentDueDate"),
        "PaymentTermsNote": _text(index, "cac:PaymentTerms/cbc:Note"),
        "DocumentCurrencyCode": _text(index, "cbc:DocumentCurrencyCode"),
        "PayableAmount": _with_line(index, "cac:LegalMonetaryTotal/cbc:PayableAmount"),
        "PrepaidAmount": _text(index, "cac:LegalMonetaryTotal/cbc:PrepaidAmount"),
        "PaymentID": _text(index, "cac:PaymentMeans/cbc:PaymentID"),
        "Note": _text(index, "cbc:Note"),
        "BuyerReference": _text(index, "cbc:BuyerReference"),
        "ContractDocumentReference": _text(index, "cac:ContractDocumentReference/cbc:ID"),
        "OrderReference": _text(index, "cac:OrderReference/cbc:ID"),
        "AdditionalDocumentReferences": [
            ref.text.strip()
            for ref in root.iterfind(_clark("cac:AdditionalDocumentReference/cbc:ID"))
            if ref.text and ref.text.strip()
        ],
        "BillingReference": _text(
            index, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"
        ),
        "Creditor": _text(
            index, "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID"
        ),
        "CustomerID": _customer_id(buyer),
        "Buyer": buyer,
    }


# --- normalization ---------------------------------------------------------------------------


def _reasons(exc: ValidationError) -> list[str]:
    """Pydantic errors as reasons, without the offending values (they may be personal data)."""
    return [f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in exc.errors()]


def _date(field: dict[str, Any] | None, name: str, reasons: list[str]) -> dt.date | None:
    if field is None:
        return None
    try:
        return dt.date.fromisoformat(str(field["value"]))
    except ValueError:
        reasons.append(f"{name} (line {field['line']}) is not a date (YYYY-MM-DD)")
        return None


def _money(field: dict[str, Any] | None, name: str, reasons: list[str]) -> Decimal | None:
    if field is None:
        reasons.append(f"{name} is missing")
        return None
    try:
        value = Decimal(str(field["value"]))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        reasons.append(f"{name} (line {field['line']}) is not a number")
        return None
    return value


def _common(data: Mapping[str, Any], location: str) -> tuple[str, dt.date | None, list[str]]:
    if data.get("Error"):
        raise RecordError([str(data["Error"])], location=location)
    reasons: list[str] = []
    number = data.get("ID")
    if not number:
        reasons.append("cbc:ID (the document number) is missing")
    issued = _date(data.get("IssueDate"), "cbc:IssueDate", reasons)
    if data.get("IssueDate") is None:
        reasons.append("cbc:IssueDate is missing")
    if not data.get("DocumentCurrencyCode"):
        reasons.append("cbc:DocumentCurrencyCode is missing")
    return str(number or ""), issued, reasons


def document_to_claim(record: RawRecord) -> Claim | None:
    """An Invoice as a Claim, reduced by its credit notes; None when nothing was payable."""
    data = record.data
    number, issued, reasons = _common(data, record.location)
    due = None
    for key, name in (
        ("DueDate", "cbc:DueDate"),
        ("PaymentMeansDueDate", "cac:PaymentMeans/cbc:PaymentDueDate"),
        ("PaymentTermsDueDate", "cac:PaymentTerms/cbc:PaymentDueDate"),
    ):
        due = due or _date(data.get(key), name, reasons)
    if due is None and not reasons:
        reasons.append(
            "no due date: none of cbc:DueDate, cac:PaymentMeans/cbc:PaymentDueDate, "
            "cac:PaymentTerms/cbc:PaymentDueDate"
        )
    payable = _money(data.get("PayableAmount"), "cac:LegalMonetaryTotal/cbc:PayableAmount", reasons)
    if not data.get("CustomerID"):
        reasons.append("cac:AccountingCustomerParty has no party id, endpoint or CompanyID")
    credited = Decimal("0")
    for note in data.get("CreditNotes") or []:
        if note["Currency"] != data.get("DocumentCurrencyCode"):
            reasons.append(f"credit note {note['ID']} is in another currency than the invoice")
        else:
            credited += Decimal(note["Amount"])
    if reasons:
        raise RecordError(reasons, record_id=number, location=record.location)
    assert issued is not None
    assert due is not None
    assert payable is not None
    if payable == 0:
        return None
    try:
        return Claim(
            source=SourceRef(
                system="ubl",
                company=data.get("Creditor") or "",
                record_id=number,
                record_type="invoice",
            ),
            debtor_id=data["CustomerID"],
            invoice_number=number,
            invoice_date=issued,
            due_date=due,
            currency=data["DocumentCurrencyCode"],
            original_amount=payable,
            remaining_principal=max(payable - credited, Decimal("0")),
            kid=data.get("PaymentID"),
            description=data.get("Note"),
            agreement_ref=data.get("ContractDocumentReference") or data.get("BuyerReference"),
            order_ref=data.get("OrderReference"),
            attachment_ref=next(iter(data.get("AdditionalDocumentReferences") or []), None),
        )
    except ValidationError as exc:
        raise RecordError(_reasons(exc), record_id=number, location=record.location) from None


def document_to_credit_note(record: RawRecord) -> CreditNote:
    data = record.data
    number, issued, reasons = _common(data, record.location)
    amount = _money(data.get("PayableAmount"), "cac:LegalMonetaryTotal/cbc:PayableAmount", reasons)
    if reasons:
        raise RecordError(reasons, record_id=number, location=record.location)
    assert issued is not None
    assert amount is not None
    try:
        return CreditNote(
            credit_note_number=number,
            source=SourceRef(
                system="ubl",
                company=data.get("Creditor") or "",
                record_id=number,
                record_type="credit_note",
            ),
            invoice_number=data.get("BillingReference"),
            amount=amount,
            currency=data["DocumentCurrencyCode"],
            issue_date=issued,
            reason=data.get("Note"),
        )
    except ValidationError as exc:
        raise RecordError(_reasons(exc), record_id=number, location=record.location) from None


def buyer_to_party(record: RawRecord) -> Party:
    """The invoice's buyer (``AccountingCustomerParty``) as a debtor."""
    buyer: dict[str, Any] = record.data.get("Buyer") or {}
    customer_id = record.data.get("CustomerID")
    if not customer_id:
        raise RecordError(
            ["buyer has no party id, endpoint or CompanyID"], location=record.location
        )
    postal = buyer.get("PostalAddress") or {}
    country = postal.get("Country")
    org_number, id_country = None, None
    if buyer.get("EndpointScheme") == "0192" and buyer.get("EndpointID"):
        org_number, id_country = buyer["EndpointID"], "NO"
    elif buyer.get("CompanyID"):
        scheme = buyer.get("CompanyIDScheme")
        org_number = buyer["CompanyID"]
        id_country = _REGISTER_COUNTRY.get(scheme or "", None if scheme else country)
    contact = buyer.get("Contact") or {}
    lines = tuple(v for v in (postal.get("StreetName"), postal.get("AdditionalStreetName")) if v)
    try:
        address = (
            Address(
                kind=AddressKind.POSTAL,
                lines=lines,
                postal_code=postal.get("PostalZone"),
                city=postal.get("CityName"),
                country=country,
            )
            if lines or postal.get("PostalZone") or postal.get("CityName")
            else None
        )
        return Party(
            source=SourceRef(system="ubl", record_id=customer_id, record_type="customer"),
            kind=PartyKind.COMPANY,
            name=buyer.get("Name") or buyer.get("RegistrationName") or "",
            customer_number=customer_id,
            organization_number=org_number,
            id_country=id_country,
            addresses=(address,) if address else (),
            phones=(Phone(number=contact["Telephone"]),) if contact.get("Telephone") else (),
            emails=(Email(address=contact["ElectronicMail"]),)
            if contact.get("ElectronicMail")
            else (),
            contact_person=ContactPerson(name=contact["Name"]) if contact.get("Name") else None,
        )
    except ValidationError as exc:
        raise RecordError(_reasons(exc), record_id=customer_id, location=record.location) from None


# --- the source ------------------------------------------------------------------------------


class UblSource(Source):
    """A directory of EHF/PEPPOL BIS invoices and credit notes."""

    type_name: ClassVar[str] = "ubl"
    Settings: ClassVar[type[ConnectorSettings]] = UblSettings

    @property
    def _settings(self) -> UblSettings:
        assert isinstance(self.settings, UblSettings)
        return self.settings

    def files(self) -> list[Path]:
        directory = self._settings.directory
        if not directory.is_dir():
            raise NotFoundError(f"{directory}: no such directory")
        return sorted(p for p in directory.glob(self._settings.pattern) if p.is_file())

    def streams(self) -> Sequence[StreamSpec]:
        return (CUSTOMERS, INVOICES, CREDIT_NOTES)

    def _sniffed(self) -> Iterator[_Sniffed]:
        for path in self.files():
            try:
                namespace, name = sniff_root(path)
            except ParseError as exc:
                yield path, None, exc
                continue
            yield path, name if _ROOTS.get(namespace) == name else None, None

    def _documents(self, wanted: str, *, with_credits: bool = False) -> Iterator[RawRecord]:
        """Documents of one type, each file parsed once. The invoice stream (``with_credits``)
        also yields every file that could not be read, so each is quarantined once."""
        credits = self._credits() if with_credits else {}
        for path in self.files():
            try:
                data = read_document(path)
            except ParseError as exc:
                if with_credits:
                    yield RawRecord(data={"Error": str(exc), "File": str(path)}, location=str(path))
                continue
            if data["DocumentType"] != wanted:
                continue
            if with_credits:
                data["CreditNotes"] = credits.get(str(data.get("ID")), [])
            yield RawRecord(data=data, location=str(path))

    def _credits(self) -> dict[str, list[dict[str, str]]]:
        """What the directory's credit notes credit, per invoice number.

        Only files whose first start tag reads ``CreditNote`` are parsed here (a byte scan of
        the head, not a parse); each candidate is then parsed and checked like any document.
        """
        credits: dict[str, list[dict[str, str]]] = {}
        for path in self.files():
            try:
                with path.open("rb") as fh:
                    match = _FIRST_TAG.search(fh.read(_HEAD_BYTES))
                if match is not None and match.group(1) != b"CreditNote":
                    continue
                data = read_document(path)
            except (OSError, ParseError):
                continue  # the invoice stream reports unreadable files
            amount = (data.get("PayableAmount") or {}).get("value")
            invoice = data.get("BillingReference")
            if data["DocumentType"] != "CreditNote" or not (invoice and amount and data["ID"]):
                continue
            try:
                valid = Decimal(amount).is_finite()
            except InvalidOperation:
                valid = False
            if valid:
                credits.setdefault(invoice, []).append(
                    {"ID": data["ID"], "Amount": amount, "Currency": data["DocumentCurrencyCode"]}
                )
        return credits

    def _customers(self) -> Iterator[RawRecord]:
        seen: set[str] = set()
        for record in self._documents("Invoice"):
            customer = record.data.get("CustomerID")
            if customer and customer not in seen:
                seen.add(customer)
                yield record

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        """Full refresh: every file in the directory each run."""
        if stream.name == CUSTOMERS.name:
            records = self._customers()
        elif stream.name == INVOICES.name:
            records = self._documents("Invoice", with_credits=True)
        elif stream.name == CREDIT_NOTES.name:
            records = self._documents("CreditNote")
        else:
            raise NotFoundError(f"the ubl source has no stream {stream.name!r}")
        batch: list[RawRecord] = []
        for record in records:
            batch.append(record)
            if len(batch) >= self._settings.page_size:
                yield Page(records=tuple(batch), cursor=None)
                batch = []
        if batch:
            yield Page(records=tuple(batch), cursor=None)

    def normalize(self, stream: StreamSpec, record: RawRecord) -> Sequence[Canonical]:
        if stream.name == CUSTOMERS.name:
            return (buyer_to_party(record),)
        if stream.name == INVOICES.name:
            claim = document_to_claim(record)
            return (claim,) if claim is not None else ()
        if stream.name == CREDIT_NOTES.name:
            return (document_to_credit_note(record),)
        raise NotFoundError(f"the ubl source has no stream {stream.name!r}")

    def check(self) -> CheckResult:
        directory = self._settings.directory
        items = [CheckItem(CheckKind.CONFIG, directory.is_dir(), f"directory {directory} exists")]
        if directory.is_dir():
            try:
                counts = {"Invoice": 0, "CreditNote": 0, "other": 0, "unreadable": 0}
                for _path, kind, error in self._sniffed():
                    key = "unreadable" if error else kind or "other"
                    counts[key] += 1
                items.append(
                    CheckItem(
                        CheckKind.CONFIG,
                        counts["unreadable"] == 0,
                        f"{sum(counts.values())} files match {self._settings.pattern!r}: "
                        f"{counts['Invoice']} UBL 2.1 invoices, {counts['CreditNote']} credit "
                        f"notes, {counts['other']} other XML, {counts['unreadable']} unreadable",
                    )
                )
            except (OSError, ClaimbridgeError) as exc:
                items.append(CheckItem(CheckKind.CONFIG, False, f"cannot read {directory}: {exc}"))
        return CheckResult(connector=self.context.name, items=tuple(items))
