"""Reading one UBL 2.1 Invoice or CreditNote into the plain dict the UBL source works with.

The fields claimbridge uses sit at fixed paths, so a document is read by one walk down only
the branches those paths name: each element on them is looked at once, and everything else
(invoice lines, tax breakdowns, attachments) is never entered. A search per field would walk
the same children again for every field, and most of a document is lines nobody reads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, TypeAlias

from lxml import etree

from claimbridge import xmlsafe
from claimbridge.connectors.accounting.export_detect import (
    UBL_CREDIT_NOTE_NAMESPACE,
    UBL_INVOICE_NAMESPACE,
)
from claimbridge.errors import ParseError

__all__ = ["CAC", "CBC", "ROOTS", "parse_document", "read_credit_note", "read_document"]

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
ROOTS = {UBL_INVOICE_NAMESPACE: "Invoice", UBL_CREDIT_NOTE_NAMESPACE: "CreditNote"}
"""Document namespace → the root's local name: the two documents this source reads."""
_ROOT_TAGS = {f"{{{namespace}}}{name}": name for namespace, name in ROOTS.items()}

# The root's local name, after an optional BOM and the prolog's whitespace, XML declaration,
# comments and processing instructions. No match (a DOCTYPE, UTF-16, a head cut short) means
# "unknown": the file is then parsed to find out.
_FIRST_TAG = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:\s|<\?.*?\?>|<!--.*?-->)*<(?:[\w.-]+:)?([\w.-]+)", re.DOTALL
)
_SNIFF_BYTES = 4096

StrPath: TypeAlias = str | os.PathLike[str]

# What the walk keeps of an element a path ends at.
_TEXT = 0  # its stripped text (None when empty)
_LINE = 1  # {"value": text, "line": n}, so a bad value can be reported where it is
_SCHEME = 2  # its text, and its schemeID attribute under "<key>@schemeID"
_MANY = 3  # the texts of every such element, not only the first
_NODE = 4  # only that it is there (True); the walk goes on below it
_END = 5  # nothing more to read among these siblings

_BUYER = "cac:AccountingCustomerParty/cac:Party"
_ADDRESS = f"{_BUYER}/cac:PostalAddress"
_CONTACT = f"{_BUYER}/cac:Contact"
# Every element read: key → (path, what is kept). Each path takes the first element of each
# step, as ElementPath's ``find`` would, except the ``_MANY`` ones.
_PATHS: dict[str, tuple[str, int]] = {
    "ID": ("cbc:ID", _TEXT),
    "IssueDate": ("cbc:IssueDate", _LINE),
    "DueDate": ("cbc:DueDate", _LINE),
    "DocumentCurrencyCode": ("cbc:DocumentCurrencyCode", _TEXT),
    "Note": ("cbc:Note", _TEXT),
    "BuyerReference": ("cbc:BuyerReference", _TEXT),
    "PaymentMeansDueDate": ("cac:PaymentMeans/cbc:PaymentDueDate", _LINE),
    "PaymentID": ("cac:PaymentMeans/cbc:PaymentID", _TEXT),
    "PaymentTermsDueDate": ("cac:PaymentTerms/cbc:PaymentDueDate", _LINE),
    "PaymentTermsNote": ("cac:PaymentTerms/cbc:Note", _TEXT),
    "PayableAmount": ("cac:LegalMonetaryTotal/cbc:PayableAmount", _LINE),
    "PrepaidAmount": ("cac:LegalMonetaryTotal/cbc:PrepaidAmount", _TEXT),
    "ContractDocumentReference": ("cac:ContractDocumentReference/cbc:ID", _TEXT),
    "OrderReference": ("cac:OrderReference/cbc:ID", _TEXT),
    "AdditionalDocumentReferences": ("cac:AdditionalDocumentReference/cbc:ID", _MANY),
    "BillingReference": ("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", _TEXT),
    "Creditor": ("cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:CompanyID", _TEXT),
    "Buyer": (_BUYER, _NODE),
    "Buyer.EndpointID": (f"{_BUYER}/cbc:EndpointID", _SCHEME),
    "Buyer.PartyIdentification": (f"{_BUYER}/cac:PartyIdentification/cbc:ID", _TEXT),
    "Buyer.Name": (f"{_BUYER}/cac:PartyName/cbc:Name", _TEXT),
    "Buyer.RegistrationName": (f"{_BUYER}/cac:PartyLegalEntity/cbc:RegistrationName", _TEXT),
    "Buyer.CompanyID": (f"{_BUYER}/cac:PartyLegalEntity/cbc:CompanyID", _SCHEME),
    "Address": (_ADDRESS, _NODE),
    "Address.StreetName": (f"{_ADDRESS}/cbc:StreetName", _TEXT),
    "Address.AdditionalStreetName": (f"{_ADDRESS}/cbc:AdditionalStreetName", _TEXT),
    "Address.CityName": (f"{_ADDRESS}/cbc:CityName", _TEXT),
    "Address.PostalZone": (f"{_ADDRESS}/cbc:PostalZone", _TEXT),
    "Address.Country": (f"{_ADDRESS}/cac:Country/cbc:IdentificationCode", _TEXT),
    "Contact": (_CONTACT, _NODE),
    "Contact.Name": (f"{_CONTACT}/cbc:Name", _TEXT),
    "Contact.Telephone": (f"{_CONTACT}/cbc:Telephone", _TEXT),
    "Contact.ElectronicMail": (f"{_CONTACT}/cbc:ElectronicMail", _TEXT),
}

# A compiled step: the key its element is kept under, what is kept, and the steps below it.
_Step = tuple[str, int, dict[str, "_Step"]]


def _clark(path: str) -> tuple[str, ...]:
    """``cac:A/cbc:B`` → ``("{urn…}A", "{urn…}B")``: tags as lxml spells them."""
    return tuple(
        step.replace("cbc:", f"{{{CBC}}}").replace("cac:", f"{{{CAC}}}") for step in path.split("/")
    )


def _compile(paths: Mapping[str, tuple[str, int]]) -> dict[str, _Step]:
    """The paths as a tree of steps by tag; a step no path ends at is keyed by its path."""
    tree: dict[str, _Step] = {}
    for key, (path, keep) in sorted(paths.items(), key=lambda item: item[1][0].count("/")):
        steps, tags = tree, _clark(path)
        for depth, tag in enumerate(tags, 1):
            if tag not in steps:
                last = depth == len(tags)
                steps[tag] = (key, keep, {}) if last else ("/".join(tags[:depth]), _NODE, {})
            steps = steps[tag][2]
    return tree


_TREE = _compile(_PATHS)
# UBL's schema puts the lines last in a document, after every field read here; a real
# document is mostly lines, so the walk stops at the first one.
_TREE.update({f"{{{CAC}}}{line}": ("", _END, {}) for line in ("InvoiceLine", "CreditNoteLine")})


def _walk(element: etree._Element, steps: dict[str, _Step], found: dict[str, Any]) -> None:
    """Fill ``found`` from the children of ``element`` that ``steps`` names, and below them."""
    for child in element:
        step = steps.get(child.tag)
        if step is None:
            continue
        key, keep, below = step
        if keep == _MANY:
            text = child.text
            if text is not None and (text := text.strip()):
                found.setdefault(key, []).append(text)
        elif key in found:
            continue  # only the first element of a step is read, as ``find`` would
        elif keep == _END:
            return
        elif keep == _NODE:
            found[key] = True
            _walk(child, below, found)
        else:
            text = child.text
            value = (text.strip() or None) if text is not None else None
            if keep == _TEXT:
                found[key] = value
            elif keep == _LINE:
                found[key] = None if value is None else {"value": value, "line": child.sourceline}
            else:
                found[key] = value
                found[key + "@schemeID"] = child.get("schemeID")


def _buyer(found: dict[str, Any]) -> dict[str, Any]:
    if "Buyer" not in found:
        return {}
    get = found.get
    buyer: dict[str, Any] = {
        "EndpointID": get("Buyer.EndpointID"),
        "EndpointScheme": get("Buyer.EndpointID@schemeID"),
        "PartyIdentification": get("Buyer.PartyIdentification"),
        "Name": get("Buyer.Name"),
        "RegistrationName": get("Buyer.RegistrationName"),
        "CompanyID": get("Buyer.CompanyID"),
        "CompanyIDScheme": get("Buyer.CompanyID@schemeID"),
    }
    if "Address" in found:
        buyer["PostalAddress"] = {
            "StreetName": get("Address.StreetName"),
            "AdditionalStreetName": get("Address.AdditionalStreetName"),
            "CityName": get("Address.CityName"),
            "PostalZone": get("Address.PostalZone"),
            "Country": get("Address.Country"),
        }
    if "Contact" in found:
        buyer["Contact"] = {
            "Name": get("Contact.Name"),
            "Telephone": get("Contact.Telephone"),
            "ElectronicMail": get("Contact.ElectronicMail"),
        }
    return buyer


def _customer_id(buyer: dict[str, Any]) -> str | None:
    """The buyer's identity in this source: its party id, else endpoint, else legal id."""
    for key in ("PartyIdentification", "EndpointID", "CompanyID"):
        if buyer.get(key):
            return str(buyer[key])
    return None


def parse_document(data: bytes, path: StrPath) -> dict[str, Any]:
    """``read_document`` of bytes already read from ``path``."""
    name = os.fspath(path)
    root = xmlsafe.parse_bytes(data, name=name, drop_blank_text=True)
    kind = _ROOT_TAGS.get(root.tag)
    if kind is None:
        qname = etree.QName(root)
        raise ParseError(
            f"root element is {qname.localname!r} in namespace {qname.namespace!r}; "
            "expected a UBL 2.1 Invoice or CreditNote",
            file=name,
            line=root.sourceline,
            field=qname.localname,
        )
    found: dict[str, Any] = {}
    _walk(root, _TREE, found)
    get = found.get
    buyer = _buyer(found)
    return {
        "DocumentType": kind,
        "File": name,
        "ID": get("ID"),
        "IssueDate": get("IssueDate"),
        "DueDate": get("DueDate"),
        "PaymentMeansDueDate": get("PaymentMeansDueDate"),
        "PaymentTermsDueDate": get("PaymentTermsDueDate"),
        "PaymentTermsNote": get("PaymentTermsNote"),
        "DocumentCurrencyCode": get("DocumentCurrencyCode"),
        "PayableAmount": get("PayableAmount"),
        "PrepaidAmount": get("PrepaidAmount"),
        "PaymentID": get("PaymentID"),
        "Note": get("Note"),
        "BuyerReference": get("BuyerReference"),
        "ContractDocumentReference": get("ContractDocumentReference"),
        "OrderReference": get("OrderReference"),
        "AdditionalDocumentReferences": get("AdditionalDocumentReferences", []),
        "BillingReference": get("BillingReference"),
        "Creditor": get("Creditor"),
        "CustomerID": _customer_id(buyer),
        "Buyer": buyer,
    }


def _read_bytes(path: StrPath) -> bytes:
    try:
        return xmlsafe.read_bounded(path)
    except OSError as exc:
        raise ParseError(f"cannot read file: {exc.strerror or exc}", file=os.fspath(path)) from None


def read_document(path: StrPath) -> dict[str, Any]:
    """One UBL Invoice or CreditNote as a plain dict of the fields claimbridge uses.

    Raises ``ParseError`` for whole-file problems: malformed or hostile XML, or a root that is
    not a UBL 2.1 Invoice/CreditNote. Missing or bad fields are left for ``normalize`` to name.
    """
    return parse_document(_read_bytes(path), path)


def read_credit_note(path: StrPath) -> dict[str, Any] | None:
    """The file as a document when it is a readable credit note, else None.

    The root is told from the first bytes before anything is parsed, so an invoice costs a
    short read here; a credit note is parsed from the same bytes its head was read from.
    Unreadable files give None too: the invoice stream reports them.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            head = os.read(fd, _SNIFF_BYTES)
            match = _FIRST_TAG.match(head)
            if match is not None and match.group(1) != b"CreditNote":
                return None
            size = os.fstat(fd).st_size
            if size > xmlsafe.MAX_TREE_BYTES:
                return None
            data = head
            if len(head) == _SNIFF_BYTES:  # the rest, one read past the size to see growth
                data += os.read(fd, max(size + 1 - len(head), 0))
        finally:
            os.close(fd)
        document = parse_document(data, path)
    except (OSError, ParseError):
        return None
    return document if document["DocumentType"] == "CreditNote" else None
