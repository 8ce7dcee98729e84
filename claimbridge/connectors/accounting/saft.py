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

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from lxml import etree
from pydantic import Field, ValidationError

from claimbridge.connectors.accounting.export_detect import (
    local_name,
    sniff_root,
    stream_events,
)
from claimbridge.connectors.accounting.saft_ledger import Ledger, item_to_claim, validation_reasons
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


def iter_open_items(path: Path) -> Iterator[RawRecord]:
    """Open items derived from the ledger's customer lines (see docs/export-files.md)."""
    header: SaftHeader | None = None
    ledger: Ledger | None = None
    terms: dict[str, str] = {}
    for name, element in _events(path, _SCAN_TAGS):
        if name == "Header":
            header = _header(path, element)
            ledger = Ledger(path, header, etree.QName(element).namespace or "")
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
        raise RecordError(
            validation_reasons(exc), record_id=customer_id, location=record.location
        ) from None


def _address_or_error(fields: dict[str, str]) -> Address | None:
    try:
        return _address(fields)
    except ValidationError as exc:
        raise RecordError([f"Address {r}" for r in validation_reasons(exc)]) from None


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
