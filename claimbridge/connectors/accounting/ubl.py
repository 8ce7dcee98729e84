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
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError

from claimbridge.connectors.accounting.export_detect import sniff_root
from claimbridge.connectors.accounting.ubl_document import (
    ROOTS,
    read_credit_note,
    read_document,
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
        return [Path(name) for name in self._file_names()]

    def _file_names(self) -> list[str]:
        """``files()`` as plain strings: what the streams open, without a Path per file."""
        directory = self._settings.directory
        if not directory.is_dir():
            raise NotFoundError(f"{directory}: no such directory")
        pattern = self._settings.pattern
        if "/" in pattern or os.sep in pattern or "**" in pattern:
            found = sorted((p for p in directory.glob(pattern) if p.is_file()), key=_path_order)
            return [str(path) for path in found]
        with os.scandir(directory) as entries:
            paths = [e.path for e in entries if fnmatchcase(e.name, pattern) and e.is_file()]
        paths.sort()
        return paths

    def streams(self) -> Sequence[StreamSpec]:
        return (CUSTOMERS, INVOICES, CREDIT_NOTES)

    def _sniffed(self) -> Iterator[_Sniffed]:
        for path in self.files():
            try:
                namespace, name = sniff_root(path)
            except ParseError as exc:
                yield path, None, exc
                continue
            yield path, name if ROOTS.get(namespace) == name else None, None

    def _documents(self, files: list[str], wanted: str) -> Iterator[RawRecord]:
        """Documents of one type, each file read and parsed once; unreadable ones skipped."""
        for path in files:
            if wanted == "CreditNote":
                data = read_credit_note(path)
            else:
                try:
                    data = read_document(path)
                except ParseError:
                    continue
            if data is not None and data["DocumentType"] == wanted:
                yield RawRecord(data=data, location=path)

    def _invoices(self, files: list[str]) -> Iterator[RawRecord]:
        """Invoices with the credit notes that credit them; every file that cannot be read is
        yielded too, so that it is quarantined once."""
        credits: dict[str, list[dict[str, str]]] = {}
        notes: set[str] = set()
        for path in files:
            note = read_credit_note(path)
            if note is not None:
                notes.add(path)
                _add_credit(credits, note)
        for path in files:
            if path in notes:
                continue
            try:
                data = read_document(path)
            except ParseError as exc:
                yield RawRecord(data={"Error": str(exc), "File": path}, location=path)
                continue
            if data["DocumentType"] == "Invoice":
                data["CreditNotes"] = credits.get(str(data["ID"]), [])
                yield RawRecord(data=data, location=path)

    def _customers(self) -> Iterator[RawRecord]:
        seen: set[str] = set()
        for record in self._documents(self._file_names(), "Invoice"):
            customer = record.data.get("CustomerID")
            if customer and customer not in seen:
                seen.add(customer)
                yield record

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        """Full refresh: every file in the directory each run."""
        if stream.name == CUSTOMERS.name:
            records = self._customers()
        elif stream.name == INVOICES.name:
            records = self._invoices(self._file_names())
        elif stream.name == CREDIT_NOTES.name:
            records = self._documents(self._file_names(), "CreditNote")
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
