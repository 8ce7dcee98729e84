"""Open items of a SAF-T ledger: customer lines summed per customer and document reference.

SAF-T has no invoice register, so what is open is derived: every journal line that posts to a
customer adds to the sums of its document reference, and a reference whose sums net to zero is
forgotten at once, so memory holds what is open, not the ledger's history. The rules and their
limits are in ``docs/export-files.md``; ``saft.iter_open_items`` streams the file through here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from lxml import etree
from pydantic import ValidationError

from claimbridge.connectors.base import RawRecord
from claimbridge.errors import RecordError
from claimbridge.schemas import Claim, SourceRef

__all__ = ["Ledger", "LedgerHeader", "item_to_claim", "validation_reasons"]

_REFERENCE_FIELDS = ("ReferenceNumber", "CrossReference", "SourceDocumentID")


class LedgerHeader(Protocol):
    """What the ledger needs of the file's header."""

    @property
    def currency(self) -> str | None: ...

    @property
    def company(self) -> str: ...


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
_SIDES = frozenset({"DebitAmount", "CreditAmount"})


class Ledger:
    """Sums customer lines per (customer, document reference) over one pass of the ledger.

    Hot path: one compiled XPath call per transaction has libxml2 pick its own fields and its
    customer lines (the other lines never reach Python), and one pass over a customer line's
    children reads what it holds.
    """

    def __init__(self, path: Path, header: LedgerHeader, namespace: str) -> None:
        self.path = path
        self.header = header
        self.items: dict[tuple[str, str], _Item] = {}
        self.by_transaction: dict[tuple[str, str], str] = {}  # (customer, TransactionID) → ref
        prefix = f"{{{namespace}}}" if namespace else ""

        def q(name: str) -> str:
            return prefix + name

        self._money = {q(name): name for name in ("Amount", "CurrencyCode", "CurrencyAmount")}
        self._line_children = {q(name): name for name in (*_LINE_FIELDS, "CustomerID", *_SIDES)}
        self._head_fields = {q(name): name for name in _TRANSACTION_FIELDS}
        # Compiled once: libxml2 picks the transaction's own fields and its customer lines in
        # one call; the other lines and fields never reach Python.
        s = "s:" if namespace else ""
        self._picked = etree.XPath(
            " | ".join(
                [*(f"{s}{name}" for name in _TRANSACTION_FIELDS), f"{s}Line[{s}CustomerID]"]
            ),
            namespaces={"s": namespace} if namespace else None,
        )

    def _scan(self, line: etree._Element) -> tuple[dict[str, str], dict[str, etree._Element]]:
        """One pass over a line: its texts we use, and its Debit/CreditAmount elements."""
        fields: dict[str, str] = {}
        sides: dict[str, etree._Element] = {}
        wanted = self._line_children
        for child in line:
            name = wanted.get(child.tag)
            if name is None:
                continue
            if name in _SIDES:
                sides.setdefault(name, child)
            elif name not in fields:
                text = child.text
                if text is not None and (text := text.strip()):
                    fields[name] = text
        return fields, sides

    def add_transaction(self, transaction: etree._Element) -> None:
        head: dict[str, str | None] = {}
        lines: list[etree._Element] = []
        for element in self._picked(transaction):
            name = self._head_fields.get(element.tag)
            if name is None:
                lines.append(element)
            elif name not in head:  # the first one counts, as ``findtext`` would
                text = element.text
                head[name] = (text.strip() or None) if text is not None else None
        for line in lines:
            fields, sides = self._scan(line)
            customer = fields.get("CustomerID")
            if customer is not None:
                self._add_line(customer, head, line, fields, sides)

    def _reference(
        self, customer: str, head: dict[str, str | None], fields: dict[str, str]
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
        return head.get("TransactionID") or "?", "TransactionID"

    def _add_line(
        self,
        customer: str,
        head: dict[str, str | None],
        line: etree._Element,
        fields: dict[str, str],
        sides: dict[str, etree._Element],
    ) -> None:
        reference, ref_field = self._reference(customer, head, fields)
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
            item.transaction_id = head.get("TransactionID")
            item.transaction_date = head.get("TransactionDate")
            item.description = fields.get("Description") or head.get("Description")
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


# --- normalization ---------------------------------------------------------------------------


def validation_reasons(exc: ValidationError) -> list[str]:
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
        raise RecordError(
            validation_reasons(exc), record_id=item_id, location=record.location
        ) from None
