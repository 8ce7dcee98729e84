"""SAF-T Financial (Norway) audit files as a source of debtors and open invoices.

SAF-T is a general-ledger export, not an invoice register: it has customers, and journal lines
that post to their accounts. Open invoices are *derived* — customer lines are summed per
customer and document reference, and what has a net debit left is open. The rules and their
limits are in ``docs/export-files.md``; this module is their one implementation.

Both schema generations are read (1.0x and 1.3x, detected from ``Header/AuditFileVersion``),
in whatever namespace the producer used. The file is streamed: each customer and transaction is
released as soon as it has been read, so memory grows with the number of open items, not with
the size of the file.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, ClassVar, Literal

from lxml import etree
from pydantic import Field, ValidationError

from claimbridge.connectors.accounting.export_detect import (
    local_name,
    sniff_root,
    stream_events,
)
from claimbridge.connectors.base import Canonical as Canonical
from claimbridge.connectors.base import (
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
    Email,
    Party,
    PartyKind,
    Phone,
    PhoneType,
    SourceRef,
)

__all__ = ["CUSTOMERS", "INVOICES", "SaftHeader", "SaftSettings", "SaftSource", "read_header"]

CUSTOMERS = StreamSpec(name="customers", primary_key="CustomerID")
INVOICES = StreamSpec(name="invoices", primary_key="ItemID")

_VERSION = re.compile(r"^1\.(\d{1,2})$")
_REFERENCE_FIELDS = ("ReferenceNumber", "CrossReference", "SourceDocumentID")
_ADDRESS_KINDS = {
    "StreetAddress": AddressKind.VISITING,
    "PostalAddress": AddressKind.POSTAL,
    "BillingAddress": AddressKind.INVOICE,
    "ShipToAddress": AddressKind.DELIVERY,
}
_PERSON_TYPES = {"private", "person", "individual", "privat"}
# Elements released, with their earlier siblings, as soon as they have been read.
_LIST_ITEMS = {"Customer", "Transaction"}
_SCAN_TAGS = ("Header", "Customer", "Transaction", "MasterFiles")


class SaftSettings(ConnectorSettings):
    """Where the audit file is, and the payment terms to assume when it names none."""

    path: Path
    default_payment_terms_days: int = Field(default=14, ge=0, le=365)
    page_size: int = Field(default=500, ge=1, le=100_000)


@dataclass(frozen=True, slots=True)
class SaftHeader:
    version: str  # as written in Header/AuditFileVersion
    generation: Literal["1.0", "1.3"]
    currency: str | None  # Header/DefaultCurrencyCode
    company: str  # the creditor's Header/Company/RegistrationNumber ("" when absent)


# --- XML helpers -----------------------------------------------------------------------------


def _text(element: etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    value = element.text.strip()
    return value or None


def _leaves(element: etree._Element) -> dict[str, str]:
    """The element's leaf children as ``{local name: text}`` (first occurrence wins)."""
    out: dict[str, str] = {}
    for child in element:
        if len(child) == 0:
            value = _text(child)
            name = local_name(child.tag)
            if value is not None and name and name not in out:
                out[name] = value
    return out


def _child(element: etree._Element, name: str) -> etree._Element | None:
    for child in element:
        if local_name(child.tag) == name:
            return child
    return None


def _child_of(element: etree._Element | None, name: str) -> etree._Element | None:
    return None if element is None else _child(element, name)


def _release(name: str, element: etree._Element) -> None:
    """Free a streamed element and, for list items, everything before it in its list."""
    if name == "MasterFiles":
        element.clear(keep_tail=False)  # suppliers, accounts, owners: nothing we read
    elif name in _LIST_ITEMS:
        element.clear(keep_tail=False)
        parent = element.getparent()
        if parent is not None:
            while element.getprevious() is not None:
                del parent[0]


def _where(path: Path, element: etree._Element) -> str:
    return f"{path}:{element.sourceline}" if element.sourceline else str(path)


def _header(path: Path, element: etree._Element) -> SaftHeader:
    version = _text(_child(element, "AuditFileVersion"))
    if version is None:
        raise ParseError(
            "missing AuditFileVersion", file=str(path), line=element.sourceline, field="Header"
        )
    match = _VERSION.match(version)
    if match is None:
        raise ParseError(
            f"unsupported SAF-T version {version!r} (1.0x to 1.3x are read)",
            file=str(path),
            line=element.sourceline,
            field="Header/AuditFileVersion",
        )
    minor = int(match.group(1).ljust(2, "0"))
    company = _child(element, "Company")
    return SaftHeader(
        version=version,
        generation="1.3" if minor >= 30 else "1.0",
        currency=_text(_child(element, "DefaultCurrencyCode")),
        company=(_text(_child(company, "RegistrationNumber")) if company is not None else None)
        or "",
    )


def _check_root(path: Path) -> str:
    """The file's namespace, after making sure its root is ``AuditFile``."""
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    namespace, name = sniff_root(path)
    if name != "AuditFile":
        raise ParseError(
            f"root element is {name!r}; a SAF-T file starts with AuditFile",
            file=str(path),
            field=name,
        )
    return namespace


def _qualifier(namespace: str) -> Callable[[str], str]:
    """Local name → the tag as lxml spells it in this file's namespace (any namespace goes)."""
    prefix = f"{{{namespace}}}" if namespace else ""
    return lambda name: prefix + name


def _events(path: Path, names: tuple[str, ...]) -> Iterator[tuple[str, etree._Element]]:
    """Stream ``(local name, element)`` for the wanted elements, releasing each after use.

    The tags are qualified with the namespace the root declares, so lxml filters in C.
    """
    q = _qualifier(_check_root(path))
    by_tag = {q(name): name for name in names}
    try:
        with stream_events(path, tuple(by_tag)) as events:
            for _event, element in events:
                name = by_tag[element.tag]
                yield name, element
                _release(name, element)
    except OSError as exc:
        raise ParseError(f"cannot read file: {exc.strerror or exc}", file=str(path)) from None


def read_header(path: Path) -> SaftHeader:
    """Read only the header: version, default currency and the creditor's org number."""
    for name, element in _events(path, ("Header",)):
        if name == "Header":
            return _header(path, element)
    raise ParseError("no Header element", file=str(path), field="Header")


# --- customers -------------------------------------------------------------------------------


def _customer_record(element: etree._Element) -> dict[str, Any]:
    """One ``Customer`` as a plain dict keyed by SAF-T element names (both generations)."""
    record: dict[str, Any] = {}
    addresses: list[dict[str, str]] = []
    contacts: list[dict[str, str]] = []
    banks: list[dict[str, str]] = []
    balances: list[dict[str, str]] = []
    for child in element:
        name = local_name(child.tag)
        if name == "Address":
            addresses.append(_leaves(child))
        elif name == "Contact":
            contact = _leaves(child)
            person = _child(child, "ContactPerson")
            if person is not None:
                contact.update(_leaves(person))
            contacts.append(contact)
        elif name == "BankAccount":
            banks.append(_leaves(child))
        elif name in ("BalanceAccount", "BalanceAccountStructure"):
            balances.append(_leaves(child))
        elif name == "PartyInfo":
            info = _leaves(child)
            terms = _child(child, "PaymentTerms")
            if terms is not None:
                info.update({f"PaymentTerms{k}": v for k, v in _leaves(terms).items()})
            record["PartyInfo"] = info
        elif name == "TaxRegistration":
            record.setdefault("TaxRegistrations", []).append(_leaves(child))
        elif len(child) == 0 and name:
            value = _text(child)
            if value is not None:
                record.setdefault(name, value)
    # Generation 1.0 keeps one account and its balances on the customer itself.
    flat = {k: record[k] for k in _BALANCE_KEYS if k in record}
    if flat:
        balances.insert(0, flat)
    record.update(Addresses=addresses, Contacts=contacts, BankAccounts=banks)
    record["BalanceAccounts"] = balances
    return record


_BALANCE_KEYS = (
    "AccountID",
    "OpeningDebitBalance",
    "OpeningCreditBalance",
    "ClosingDebitBalance",
    "ClosingCreditBalance",
)


def iter_customers(path: Path) -> Iterator[RawRecord]:
    """Every ``MasterFiles/Customers/Customer`` as a raw record; stops before the ledger."""
    header: SaftHeader | None = None
    tags = ("Header", "Customer", "MasterFiles", "GeneralLedgerEntries")
    for name, element in _events(path, tags):
        if name == "Header":
            header = _header(path, element)
        elif name == "Customer":
            if header is None:
                raise ParseError("Customer before Header", file=str(path), field="Header")
            record = _customer_record(element)
            record["Company"] = header.company
            yield RawRecord(data=record, location=_where(path, element))
        elif name in ("MasterFiles", "GeneralLedgerEntries"):
            break
    if header is None:
        raise ParseError("no Header element", file=str(path), field="Header")


# --- open items ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """The running sums of one customer's document reference."""

    customer_id: str
    reference: str
    reference_field: str
    line: int | None  # where the document's first customer line is
    currency: str | None
    debit: Decimal = Decimal("0")
    credit: Decimal = Decimal("0")
    transaction_id: str | None = None
    transaction_date: str | None = None
    due_date: str | None = None
    description: str | None = None
    cid: str | None = None
    mixed_currency: bool = False
    errors: list[str] = field(default_factory=list)


def _amount(
    element: etree._Element | None, tag: str, wanted: dict[str, str]
) -> tuple[Decimal, str | None, Decimal | None] | None:
    """``(Amount, CurrencyCode, CurrencyAmount)`` of a Debit/CreditAmount; None when absent."""
    if element is None:
        return None
    parts = _pick(element, wanted)
    foreign = parts.get("CurrencyAmount")
    return (
        _decimal(parts.get("Amount"), f"{tag}/Amount"),
        parts.get("CurrencyCode"),
        _decimal(foreign, f"{tag}/CurrencyAmount") if foreign is not None else None,
    )


def _pick(element: etree._Element, wanted: dict[str, str]) -> dict[str, str]:
    """Texts of the wanted children, in one pass (``wanted`` maps qualified tag → name)."""
    out: dict[str, str] = {}
    for child in element:
        name = wanted.get(child.tag)
        if name is not None and name not in out:
            text = child.text
            if text is not None and (text := text.strip()):
                out[name] = text
    return out


def _decimal(text: str | None, where: str) -> Decimal:
    if text is None:
        raise ValueError(f"{where} is missing")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{where} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{where} is not a finite number")
    return value


_TRANSACTION_FIELDS = ("TransactionID", "TransactionDate", "Description")
_LINE_FIELDS = (*_REFERENCE_FIELDS, "Description", "CID", "DueDate")


class _Ledger:
    """Sums customer lines per (customer, document reference) over one pass of the ledger.

    Hot path: libxml2 picks the customer lines, one pass over a line's children reads what it
    holds, and the transaction's own fields are looked up only for invoice (debit) lines.
    """

    def __init__(self, path: Path, header: SaftHeader, namespace: str) -> None:
        self.path = path
        self.header = header
        self.items: dict[tuple[str, str], _Item] = {}
        self.by_transaction: dict[tuple[str, str], str] = {}  # (customer, TransactionID) → ref
        q = _qualifier(namespace)
        self.tag = {name: q(name) for name in (*_TRANSACTION_FIELDS, *_LINE_FIELDS)}
        self.tag.update({name: q(name) for name in ("CustomerID", "DebitAmount", "CreditAmount")})
        self._money = {q(name): name for name in ("Amount", "CurrencyCode", "CurrencyAmount")}
        self._line_fields = {q(name): name for name in (*_LINE_FIELDS, "CustomerID")}
        self._sides = {q("DebitAmount"): "DebitAmount", q("CreditAmount"): "CreditAmount"}
        # Compiled once: libxml2 picks the customer lines, the other lines never reach Python.
        self._customer_lines = etree.XPath(
            "s:Line[s:CustomerID]" if namespace else "Line[CustomerID]",
            namespaces={"s": namespace} if namespace else None,
        )

    def _get(self, element: etree._Element, name: str) -> str | None:
        text = element.findtext(self.tag[name])
        return (text.strip() or None) if text is not None else None

    def _scan(self, line: etree._Element) -> tuple[dict[str, str], dict[str, etree._Element]]:
        """One pass over a line: its texts we use, and its Debit/CreditAmount elements."""
        fields: dict[str, str] = {}
        sides: dict[str, etree._Element] = {}
        for child in line:
            tag = child.tag
            name = self._line_fields.get(tag)
            if name is not None:
                text = child.text
                if text is not None and (text := text.strip()) and name not in fields:
                    fields[name] = text
            else:
                side = self._sides.get(tag)
                if side is not None:
                    sides.setdefault(side, child)
        return fields, sides

    def add_transaction(self, transaction: etree._Element) -> None:
        for line in self._customer_lines(transaction):
            fields, sides = self._scan(line)
            customer = fields.get("CustomerID")
            if customer is not None:
                self._add_line(customer, transaction, line, fields, sides)

    def _reference(
        self, customer: str, transaction: etree._Element, fields: dict[str, str]
    ) -> tuple[str, str]:
        reference = fields.get("ReferenceNumber")
        if reference is not None:
            return reference, "ReferenceNumber"
        cross = fields.get("CrossReference")
        if cross is not None:
            resolved = self.by_transaction.get((customer, cross))
            return (
                (resolved, "CrossReference→TransactionID")
                if resolved
                else (cross, "CrossReference")
            )
        document = fields.get("SourceDocumentID")
        if document is not None:
            return document, "SourceDocumentID"
        return self._get(transaction, "TransactionID") or "?", "TransactionID"

    def _add_line(
        self,
        customer: str,
        transaction: etree._Element,
        line: etree._Element,
        fields: dict[str, str],
        sides: dict[str, etree._Element],
    ) -> None:
        reference, ref_field = self._reference(customer, transaction, fields)
        key = (customer, reference)
        item = self.items.get(key)
        if item is None:
            item = _Item(customer, reference, ref_field, line.sourceline, None)
            self.items[key] = item
        try:
            debit = _amount(sides.get("DebitAmount"), "DebitAmount", self._money)
            credit = _amount(sides.get("CreditAmount"), "CreditAmount", self._money)
        except ValueError as exc:
            item.errors.append(f"line {line.sourceline}: {exc}")
            return
        if debit is None and credit is None:
            item.errors.append(f"line {line.sourceline}: neither DebitAmount nor CreditAmount")
            return
        for side, posted in (("debit", debit), ("credit", credit)):
            if posted is not None:
                self._post(item, side, posted)
        if item.debit == item.credit and item.debit > 0 and not item.mixed_currency:
            self._settle(key, item)
            return
        if debit is None:
            return
        if item.transaction_date is None:
            item.transaction_id = self._get(transaction, "TransactionID")
            item.transaction_date = self._get(transaction, "TransactionDate")
            item.description = fields.get("Description") or self._get(transaction, "Description")
            item.cid = fields.get("CID")
            if item.transaction_id is not None:
                self.by_transaction[(customer, item.transaction_id)] = reference
        if item.due_date is None:
            item.due_date = fields.get("DueDate")

    def _settle(self, key: tuple[str, str], item: _Item) -> None:
        """Forget a document that nets to zero: memory holds what is open, not the history.

        A later line on the same reference starts a new sum (a reversed payment reopens the
        invoice for the reversed amount).
        """
        del self.items[key]
        if item.transaction_id is not None:
            self.by_transaction.pop((item.customer_id, item.transaction_id), None)

    def _post(
        self, item: _Item, side: str, posted: tuple[Decimal, str | None, Decimal | None]
    ) -> None:
        amount, code, foreign = posted
        default = self.header.currency
        if code is not None and code != default and foreign is not None:
            if item.currency is None and item.debit == item.credit == 0:
                item.currency = code
            amount_in_item = foreign if item.currency == code else None
        else:
            amount_in_item = amount if item.currency in (None, default) else None
        if amount_in_item is None:
            item.mixed_currency = True
            amount_in_item = Decimal("0")
        if side == "debit":
            item.debit += amount_in_item
        else:
            item.credit += amount_in_item

    def open_items(self, terms: dict[str, str]) -> Iterator[dict[str, Any]]:
        for item in self.items.values():
            open_amount = item.debit - item.credit
            if open_amount <= 0 and not item.errors and not item.mixed_currency:
                continue
            yield {
                "ItemID": f"{item.customer_id}:{item.reference}",
                "Company": self.header.company,
                "CustomerID": item.customer_id,
                "Reference": item.reference,
                "ReferenceField": item.reference_field,
                "TransactionID": item.transaction_id,
                "TransactionDate": item.transaction_date,
                "DueDate": item.due_date,
                "CustomerPaymentTermsDays": terms.get(item.customer_id),
                "Description": item.description,
                "CID": item.cid,
                "CurrencyCode": item.currency or self.header.currency,
                "Debit": str(item.debit),
                "Credit": str(item.credit),
                "Open": str(open_amount),
                "MixedCurrency": item.mixed_currency,
                "Errors": list(item.errors),
                "_location": f"{self.path}:{item.line}" if item.line else str(self.path),
            }


def iter_open_items(path: Path) -> Iterator[RawRecord]:
    """Open items derived from the ledger's customer lines (see docs/export-files.md)."""
    header: SaftHeader | None = None
    ledger: _Ledger | None = None
    terms: dict[str, str] = {}
    for name, element in _events(path, _SCAN_TAGS):
        if name == "Header":
            header = _header(path, element)
            ledger = _Ledger(path, header, etree.QName(element).namespace or "")
        elif name == "Customer":
            customer = _text(_child(element, "CustomerID"))
            terms_element = _child_of(_child(element, "PartyInfo"), "PaymentTerms")
            days = _text(_child_of(terms_element, "Days"))
            if customer is not None and days is not None:
                terms[customer] = days
        elif name == "Transaction":
            if ledger is None:
                raise ParseError("Transaction before Header", file=str(path), field="Header")
            ledger.add_transaction(element)
    if ledger is None:
        raise ParseError("no Header element", file=str(path), field="Header")
    for record in ledger.open_items(terms):
        location = record.pop("_location")
        yield RawRecord(data=record, location=location)


# --- normalization ---------------------------------------------------------------------------


def _reasons(exc: ValidationError) -> list[str]:
    """Pydantic errors as reasons, without the offending values (they may be personal data)."""
    return [
        f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}" for err in exc.errors()
    ]


def _date(text: str | None, name: str) -> dt.date:
    if text is None:
        raise ValueError(f"{name} is missing")
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"{name} is not a date (YYYY-MM-DD)") from None


def _unique(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _address(fields: dict[str, str]) -> Address | None:
    kind = _ADDRESS_KINDS.get(fields.get("AddressType", "PostalAddress"))
    if kind is None and fields.get("AddressType") == "ShipFromAddress":
        return None  # where goods left from: not the debtor's address
    street = " ".join(_unique([fields.get("StreetName"), fields.get("Number")]))
    lines = [street] if street else []
    care_of = None
    extra = fields.get("AdditionalAddressDetail")
    if extra and extra.lower().startswith("c/o"):
        care_of = extra[3:].strip() or None
    elif extra:
        lines.append(extra)
    if not (lines or fields.get("PostalCode") or fields.get("City")):
        return None
    return Address(
        kind=kind or AddressKind.POSTAL,
        lines=tuple(lines),
        care_of=care_of,
        postal_code=fields.get("PostalCode"),
        city=fields.get("City"),
        country=fields.get("Country"),
    )


def customer_to_party(record: RawRecord) -> Party:
    """A SAF-T ``Customer`` record as a canonical Party (contact data as the ledger has it)."""
    data = record.data
    customer_id = data.get("CustomerID")
    if not customer_id:
        raise RecordError(["CustomerID is missing"], location=record.location)
    info: dict[str, str] = data.get("PartyInfo") or {}
    registration = re.sub(r"[\s.]", "", data.get("RegistrationNumber") or "")
    registration = re.sub(r"^NO|MVA$", "", registration) or ""
    declared = (info.get("Type") or "").lower()
    if declared == "company":
        kind = PartyKind.COMPANY
    elif declared in _PERSON_TYPES:
        kind = PartyKind.PERSON
    else:
        kind = PartyKind.PERSON if len(registration) == 11 else PartyKind.COMPANY
    contacts: list[dict[str, str]] = data.get("Contacts") or []
    try:
        addresses = [a for a in (_address_or_error(f) for f in data.get("Addresses") or []) if a]
    except RecordError as exc:
        raise RecordError(exc.reasons, record_id=customer_id, location=record.location) from None
    countries = _unique(f.get("Country") for f in data.get("Addresses") or [])
    person = next((c for c in contacts if c.get("FirstName") or c.get("LastName")), None)
    person_name = " ".join(
        _unique([(person or {}).get("FirstName"), (person or {}).get("LastName")])
    )
    phones = [
        Phone(number=n, type=PhoneType.UNKNOWN)
        for n in _unique(c.get("Telephone") for c in contacts)
    ]
    phones += [
        Phone(number=n, type=PhoneType.MOBILE)
        for n in _unique(c.get("MobilePhone") for c in contacts)
    ]
    try:
        return Party(
            source=SourceRef(
                system="saft",
                company=data.get("Company") or "",
                record_id=customer_id,
                record_type="customer",
            ),
            kind=kind,
            name=data.get("Name") or "",
            first_name=(person or {}).get("FirstName") if kind is PartyKind.PERSON else None,
            last_name=(person or {}).get("LastName") if kind is PartyKind.PERSON else None,
            customer_number=customer_id,
            organization_number=registration or None if kind is PartyKind.COMPANY else None,
            national_id=registration or None if kind is PartyKind.PERSON else None,
            id_country=(countries[0] if countries else "NO") if registration else None,
            addresses=tuple(addresses),
            phones=tuple(phones),
            emails=tuple(Email(address=e) for e in _unique(c.get("Email") for c in contacts)),
            contact_person=ContactPerson(name=person_name, role=(person or {}).get("OtherTitles"))
            if kind is PartyKind.COMPANY and person_name
            else None,
        )
    except ValidationError as exc:
        raise RecordError(_reasons(exc), record_id=customer_id, location=record.location) from None


def _address_or_error(fields: dict[str, str]) -> Address | None:
    try:
        return _address(fields)
    except ValidationError as exc:
        raise RecordError([f"Address {r}" for r in _reasons(exc)]) from None


def item_to_claim(record: RawRecord, default_payment_terms_days: int) -> Claim:
    """An open item as a canonical Claim; the due date is derived when the file has none."""
    data = record.data
    item_id = str(data.get("ItemID") or "")
    reasons = list(data.get("Errors") or [])
    if reasons:  # a line that could not be read: the sums below would be wrong
        raise RecordError(reasons, record_id=item_id, location=record.location)
    if data.get("MixedCurrency"):
        reasons.append("lines of this document are posted in different currencies")
    if not data.get("CurrencyCode"):
        reasons.append("no currency: neither Header/DefaultCurrencyCode nor a line CurrencyCode")
    try:
        invoice_date = _date(data.get("TransactionDate"), "TransactionDate")
        due_text = data.get("DueDate")
        description = data.get("Description")
        if due_text is not None:
            due_date = _date(due_text, "DueDate")
        else:
            terms = data.get("CustomerPaymentTermsDays")
            days = int(terms) if terms and terms.isdigit() else default_payment_terms_days
            origin = "the customer's payment terms" if terms and terms.isdigit() else "default"
            due_date = invoice_date + dt.timedelta(days=days)
            note = f"due date derived: transaction date + {days} days ({origin}; none in SAF-T)"
            description = f"{description} — {note}" if description else note
    except ValueError as exc:
        reasons.append(str(exc))
    if reasons:
        raise RecordError(reasons, record_id=item_id, location=record.location)
    try:
        return Claim(
            source=SourceRef(
                system="saft",
                company=data.get("Company") or "",
                record_id=item_id,
                record_type="invoice",
            ),
            debtor_id=data.get("CustomerID") or "",
            invoice_number=data.get("Reference") or "",
            invoice_date=invoice_date,
            due_date=due_date,
            currency=data["CurrencyCode"],
            original_amount=Decimal(data["Debit"]),
            remaining_principal=Decimal(data["Open"]),
            kid=data.get("CID"),
            description=description,
        )
    except ValidationError as exc:
        raise RecordError(_reasons(exc), record_id=item_id, location=record.location) from None


# --- the source ------------------------------------------------------------------------------


def _pages(records: Iterator[RawRecord], size: int) -> Iterator[Page]:
    batch: list[RawRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield Page(records=tuple(batch), cursor=None)
            batch = []
    if batch:
        yield Page(records=tuple(batch), cursor=None)


class SaftSource(Source):
    """A SAF-T Financial file: customers and the open items derived from its ledger."""

    type_name: ClassVar[str] = "saft"
    Settings: ClassVar[type[ConnectorSettings]] = SaftSettings

    @property
    def _settings(self) -> SaftSettings:
        assert isinstance(self.settings, SaftSettings)
        return self.settings

    def streams(self) -> Sequence[StreamSpec]:
        return (CUSTOMERS, INVOICES)

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        """Full refresh every time: an export file has no change cursor."""
        path = self._settings.path
        if stream.name == CUSTOMERS.name:
            yield from _pages(iter_customers(path), self._settings.page_size)
        elif stream.name == INVOICES.name:
            yield from _pages(iter_open_items(path), self._settings.page_size)
        else:
            raise NotFoundError(f"the saft source has no stream {stream.name!r}")

    def normalize(self, stream: StreamSpec, record: RawRecord) -> Sequence[Canonical]:
        if stream.name == CUSTOMERS.name:
            return (customer_to_party(record),)
        if stream.name == INVOICES.name:
            return (item_to_claim(record, self._settings.default_payment_terms_days),)
        raise NotFoundError(f"the saft source has no stream {stream.name!r}")

    def check(self) -> CheckResult:
        path = self._settings.path
        items = [CheckItem(CheckKind.CONFIG, path.is_file(), f"file {path} exists")]
        if path.is_file():
            try:
                with path.open("rb") as fh:
                    fh.read(1)
                items.append(CheckItem(CheckKind.CONFIG, True, f"file {path} is readable"))
                header = read_header(path)
                items.append(
                    CheckItem(
                        CheckKind.CONFIG,
                        True,
                        f"SAF-T Financial version {header.version} "
                        f"(schema generation {header.generation}), "
                        f"currency {header.currency or 'not stated'}",
                    )
                )
            except OSError as exc:
                items.append(
                    CheckItem(CheckKind.CONFIG, False, f"cannot read {path}: {exc.strerror}")
                )
            except ClaimbridgeError as exc:
                items.append(
                    CheckItem(CheckKind.CONFIG, False, f"not a readable SAF-T file: {exc}")
                )
        return CheckResult(connector=self.context.name, items=tuple(items))
