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
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
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
# The root's local name, after an optional BOM and the prolog's whitespace, XML declaration,
# comments and processing instructions. No match (a DOCTYPE, UTF-16, a head cut short) means
# "unknown": the file is then parsed to find out.
_FIRST_TAG = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:\s|<\?.*?\?>|<!--.*?-->)*<(?:[\w.-]+:)?([\w.-]+)", re.DOTALL
)
_SNIFF_BYTES = 4096
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


def _clark(path: str) -> tuple[str, ...]:
    """``cac:A/cbc:B`` → ``("{urn…}A", "{urn…}B")``: tags as lxml spells them."""
    return tuple(
        step.replace("cbc:", f"{{{CBC}}}").replace("cac:", f"{{{CAC}}}") for step in path.split("/")
    )


# Every element read, by a key of our own. Each path takes the first element of each step, as
# ElementPath's ``find`` would, except under the repeated steps in ``_REPEATED``.
_BUYER = "cac:AccountingCustomerParty/cac:Party"
_PATHS = {
    "ID": "cbc:ID",
    "IssueDate": "cbc:IssueDate",
    "DueDate": "cbc:DueDate",
    "DocumentCurrencyCode": "cbc:DocumentCurrencyCode",
    "Note": "cbc:Note",
    "BuyerReference": "cbc:BuyerReference",
    "PaymentMeansDueDate": "cac:PaymentMeans/cbc:PaymentDueDate",
    "PaymentID": "cac:PaymentMeans/cbc:PaymentID",
    "PaymentTermsDueDate": "cac:PaymentTerms/cbc:PaymentDueDate",
    "PaymentTermsNote": "cac:PaymentTerms/cbc:Note",
    "PayableAmount": "cac:LegalMonetaryTotal/cbc:PayableAmount",
    "PrepaidAmount": "cac:LegalMonetaryTotal/cbc:PrepaidAmount",
    "ContractDocumentReference": "cac:ContractDocumentReference/cbc:ID",
    "OrderReference": "cac:OrderReference/cbc:ID",
    "AdditionalDocumentReferences": "cac:AdditionalDocumentReference/cbc:ID",
    "BillingReference": "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID",
    "Creditor": "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID",
    "Buyer": _BUYER,
    "Buyer.EndpointID": f"{_BUYER}/cbc:EndpointID",
    "Buyer.PartyIdentification": f"{_BUYER}/cac:PartyIdentification/cbc:ID",
    "Buyer.Name": f"{_BUYER}/cac:PartyName/cbc:Name",
    "Buyer.RegistrationName": f"{_BUYER}/cac:PartyLegalEntity/cbc:RegistrationName",
    "Buyer.CompanyID": f"{_BUYER}/cac:PartyLegalEntity/cbc:CompanyID",
    "Address": f"{_BUYER}/cac:PostalAddress",
    "Address.StreetName": f"{_BUYER}/cac:PostalAddress/cbc:StreetName",
    "Address.AdditionalStreetName": f"{_BUYER}/cac:PostalAddress/cbc:AdditionalStreetName",
    "Address.CityName": f"{_BUYER}/cac:PostalAddress/cbc:CityName",
    "Address.PostalZone": f"{_BUYER}/cac:PostalAddress/cbc:PostalZone",
    "Address.Country": f"{_BUYER}/cac:PostalAddress/cac:Country/cbc:IdentificationCode",
    "Contact": f"{_BUYER}/cac:Contact",
    "Contact.Name": f"{_BUYER}/cac:Contact/cbc:Name",
    "Contact.Telephone": f"{_BUYER}/cac:Contact/cbc:Telephone",
    "Contact.ElectronicMail": f"{_BUYER}/cac:Contact/cbc:ElectronicMail",
}
_REPEATED = frozenset({"AdditionalDocumentReferences"})
"""Keys of which every element is kept, not only the first."""

# A compiled step: the key its element is kept under, the steps below it, and whether every
# element is kept (a repeated step) or only the first.
_Step = tuple[str, dict[str, "_Step"], bool]


def _compile(paths: Mapping[str, str]) -> dict[str, _Step]:
    """The paths as a tree of steps by tag; a step no path ends at is keyed by its path."""
    tree: dict[str, _Step] = {}
    for key, path in sorted(paths.items(), key=lambda item: item[1].count("/")):
        steps, tags = tree, _clark(path)
        for depth, tag in enumerate(tags, 1):
            if tag not in steps:
                last = depth == len(tags)
                name = key if last else "/".join(tags[:depth])
                steps[tag] = (name, {}, last and key in _REPEATED)
            steps = steps[tag][1]
    return tree


_TREE = _compile(_PATHS)


class _Fields:
    """The wanted elements of one document, found in one pass down the wanted branches.

    Each element is looked at once and the branches no path needs are never entered; a search
    per field would walk the same children again for every field.
    """

    __slots__ = ("first", "many")

    def __init__(self, root: etree._Element) -> None:
        self.first: dict[str, etree._Element] = {}
        self.many: dict[str, list[etree._Element]] = {}
        self._collect(root, _TREE)

    def _collect(self, element: etree._Element, steps: dict[str, _Step]) -> None:
        first = self.first
        for child in element:
            step = steps.get(child.tag)
            if step is None:
                continue
            key, below, repeated = step
            if repeated:
                self.many.setdefault(key, []).append(child)
            elif key in first:
                continue  # only the first element of a step is read, as ``find`` would
            else:
                first[key] = child
            if below:
                self._collect(child, below)

    def text(self, key: str) -> str | None:
        return _text_of(self.first.get(key))

    def with_line(self, key: str) -> dict[str, Any] | None:
        """A value with the line it is on, so a bad value can be reported where it is."""
        element = self.first.get(key)
        value = _text_of(element)
        if element is None or value is None:
            return None
        return {"value": value, "line": element.sourceline}

    def scheme(self, key: str) -> str | None:
        element = self.first.get(key)
        return None if element is None else element.get("schemeID")

    def texts(self, key: str) -> list[str]:
        return [text for text in map(_text_of, self.many.get(key, ())) if text]


def _text_of(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    text = element.text
    return (text.strip() or None) if text is not None else None


def _buyer(fields: _Fields) -> dict[str, Any]:
    if "Buyer" not in fields.first:
        return {}
    buyer: dict[str, Any] = {
        "EndpointID": fields.text("Buyer.EndpointID"),
        "EndpointScheme": fields.scheme("Buyer.EndpointID"),
        "PartyIdentification": fields.text("Buyer.PartyIdentification"),
        "Name": fields.text("Buyer.Name"),
        "RegistrationName": fields.text("Buyer.RegistrationName"),
        "CompanyID": fields.text("Buyer.CompanyID"),
        "CompanyIDScheme": fields.scheme("Buyer.CompanyID"),
    }
    if "Address" in fields.first:
        buyer["PostalAddress"] = {
            name: fields.text(f"Address.{name}")
            for name in ("StreetName", "AdditionalStreetName", "CityName", "PostalZone", "Country")
        }
    if "Contact" in fields.first:
        buyer["Contact"] = {
            name: fields.text(f"Contact.{name}") for name in ("Name", "Telephone", "ElectronicMail")
        }
    return buyer


def _customer_id(buyer: dict[str, Any]) -> str | None:
    """The buyer's identity in this source: its party id, else endpoint, else legal id."""
    for key in ("PartyIdentification", "EndpointID", "CompanyID"):
        if buyer.get(key):
            return str(buyer[key])
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        return xmlsafe.read_bounded(path)
    except OSError as exc:
        raise ParseError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from None


def read_document(path: Path) -> dict[str, Any]:
    """One UBL Invoice or CreditNote as a plain dict of the fields claimbridge uses.

    Raises ``ParseError`` for whole-file problems: malformed or hostile XML, or a root that is
    not a UBL 2.1 Invoice/CreditNote. Missing or bad fields are left for ``normalize`` to name.
    """
    return _document(_read_bytes(path), path)


def _document(data: bytes, path: Path) -> dict[str, Any]:
    """``read_document`` of bytes already read from ``path``."""
    name = str(path)
    root = xmlsafe.parse_bytes(data, name=name)
    qname = etree.QName(root)
    kind = _ROOTS.get(qname.namespace or "")
    if kind != qname.localname:
        raise ParseError(
            f"root element is {qname.localname!r} in namespace {qname.namespace!r}; "
            "expected a UBL 2.1 Invoice or CreditNote",
            file=name,
            line=root.sourceline,
            field=qname.localname,
        )
    fields = _Fields(root)
    buyer = _buyer(fields)
    return {
        "DocumentType": kind,
        "File": name,
        "ID": fields.text("ID"),
        "IssueDate": fields.with_line("IssueDate"),
        "DueDate": fields.with_line("DueDate"),
        "PaymentMeansDueDate": fields.with_line("PaymentMeansDueDate"),
        "PaymentTermsDueDate": fields.with_line("PaymentTermsDueDate"),
        "PaymentTermsNote": fields.text("PaymentTermsNote"),
        "DocumentCurrencyCode": fields.text("DocumentCurrencyCode"),
        "PayableAmount": fields.with_line("PayableAmount"),
        "PrepaidAmount": fields.text("PrepaidAmount"),
        "PaymentID": fields.text("PaymentID"),
        "Note": fields.text("Note"),
        "BuyerReference": fields.text("BuyerReference"),
        "ContractDocumentReference": fields.text("ContractDocumentReference"),
        "OrderReference": fields.text("OrderReference"),
        "AdditionalDocumentReferences": fields.texts("AdditionalDocumentReferences"),
        "BillingReference": fields.text("BillingReference"),
        "Creditor": fields.text("Creditor"),
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


def _path_order(path: Path) -> tuple[str, ...]:
    return path.parts


def _credit_note(path: Path) -> dict[str, Any] | None:
    """The file as a document when it is a readable credit note, else None.

    The root is told from the first bytes before anything is parsed, so an invoice costs a
    short read here; a credit note is parsed from the same bytes its head was read from.
    """
    try:
        with path.open("rb", buffering=0) as fh:
            head = fh.read(_SNIFF_BYTES)
            match = _FIRST_TAG.match(head)
            if match is not None and match.group(1) != b"CreditNote":
                return None
            size = os.fstat(fh.fileno()).st_size
            if size > xmlsafe.MAX_TREE_BYTES:
                return None  # the invoice stream reports it
            more = fh.read(max(size + 1 - len(head), 0)) if len(head) == _SNIFF_BYTES else b""
            data = head + more
        document = _document(data, path)
    except (OSError, ParseError):
        return None  # the invoice stream reports unreadable files
    return document if document["DocumentType"] == "CreditNote" else None


def _add_credit(credits: dict[str, list[dict[str, str]]], note: dict[str, Any]) -> None:
    """File a credit note under the invoice it credits, when it says which and how much."""
    amount = (note.get("PayableAmount") or {}).get("value")
    invoice = note.get("BillingReference")
    if not (invoice and amount and note["ID"]):
        return
    try:
        valid = Decimal(amount).is_finite()
    except InvalidOperation:
        valid = False
    if valid:
        credits.setdefault(invoice, []).append(
            {"ID": note["ID"], "Amount": amount, "Currency": note["DocumentCurrencyCode"]}
        )


class UblSource(Source):
    """A directory of EHF/PEPPOL BIS invoices and credit notes."""

    type_name: ClassVar[str] = "ubl"
    Settings: ClassVar[type[ConnectorSettings]] = UblSettings

    @property
    def _settings(self) -> UblSettings:
        assert isinstance(self.settings, UblSettings)
        return self.settings

    def files(self) -> list[Path]:
        """The files the pattern matches, sorted: one directory listing per call."""
        directory = self._settings.directory
        if not directory.is_dir():
            raise NotFoundError(f"{directory}: no such directory")
        pattern = self._settings.pattern
        if "/" in pattern or os.sep in pattern or "**" in pattern:
            return sorted((p for p in directory.glob(pattern) if p.is_file()), key=_path_order)
        with os.scandir(directory) as entries:
            names = [e.name for e in entries if fnmatchcase(e.name, pattern) and e.is_file()]
        names.sort()
        return [directory / name for name in names]

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

    def _documents(self, files: list[Path], wanted: str) -> Iterator[RawRecord]:
        """Documents of one type, each file read and parsed once; unreadable ones skipped."""
        for path in files:
            if wanted == "CreditNote":
                data = _credit_note(path)
            else:
                try:
                    data = read_document(path)
                except ParseError:
                    continue
            if data is not None and data["DocumentType"] == wanted:
                yield RawRecord(data=data, location=str(path))

    def _invoices(self, files: list[Path]) -> Iterator[RawRecord]:
        """Invoices with the credit notes that credit them; every file that cannot be read is
        yielded too, so that it is quarantined once."""
        credits: dict[str, list[dict[str, str]]] = {}
        notes: set[Path] = set()
        for path in files:
            note = _credit_note(path)
            if note is not None:
                notes.add(path)
                _add_credit(credits, note)
        for path in files:
            if path in notes:
                continue
            try:
                data = read_document(path)
            except ParseError as exc:
                yield RawRecord(data={"Error": str(exc), "File": str(path)}, location=str(path))
                continue
            if data["DocumentType"] == "Invoice":
                data["CreditNotes"] = credits.get(str(data.get("ID")), [])
                yield RawRecord(data=data, location=str(path))

    def _customers(self) -> Iterator[RawRecord]:
        seen: set[str] = set()
        for record in self._documents(self.files(), "Invoice"):
            customer = record.data.get("CustomerID")
            if customer and customer not in seen:
                seen.add(customer)
                yield record

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        """Full refresh: every file in the directory each run."""
        if stream.name == CUSTOMERS.name:
            records = self._customers()
        elif stream.name == INVOICES.name:
            records = self._invoices(self.files())
        elif stream.name == CREDIT_NOTES.name:
            records = self._documents(self.files(), "CreditNote")
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
