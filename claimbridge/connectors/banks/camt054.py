"""ISO 20022 camt.054 (BankToCustomerDebitCreditNotification), versions 02, 04 and 08.

The file is streamed entry by entry (``Ntry``) through the hardened parser in
``claimbridge.xmlsafe``, so a notification with a million entries needs no more memory than one
entry. Only booked credit entries are payments; debits, reversals and pending entries are counted
in a :class:`CamtSummary` and skipped. An entry whose details list several transactions
(``NtryDtls/TxDtls``) gives one payment per transaction. Each notification's ``TxsSummry`` totals,
where the bank sent them, are checked against what was read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import ValidationError

from claimbridge import xmlsafe
from claimbridge.errors import ConfigError, ParseError
from claimbridge.schemas import Payment, PaymentKind, SourceRef

__all__ = [
    "FORMAT",
    "SUPPORTED_VERSIONS",
    "CamtSummary",
    "CamtTransaction",
    "iter_payments",
    "iter_transactions",
    "looks_like",
    "validate",
]

FORMAT = "camt054"
SUPPORTED_VERSIONS = ("02", "04", "08")
_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.054\.001\.(\d\d)$")
_NOT_PROVIDED = "NOTPROVIDED"


def looks_like(head: bytes) -> bool:
    """True when the first bytes name the camt.054 namespace."""
    return b"urn:iso:std:iso:20022:tech:xsd:camt.054." in head


@dataclass(frozen=True, slots=True)
class CamtTransaction:
    """One transaction of one entry, credit or debit, booked or not."""

    payment_id: str
    account: str  # the notification's account (the creditor's), IBAN or other id
    credit: bool
    status: str  # BOOK, PDNG, INFO, …
    reversal: bool
    amount: Decimal | None  # None: one of several transactions that state no amount
    currency: str
    booking_date: dt.date | None
    value_date: dt.date | None
    reference: str | None
    end_to_end_id: str | None
    account_servicer_ref: str | None
    payer_name: str | None
    payer_account: str | None
    message: str | None
    line: int
    path: str


@dataclass(slots=True)
class CamtSummary:
    """What a file held besides payments; filled in while the file is read."""

    version: str | None = None
    notifications: int = 0
    entries: int = 0
    credit_entries: int = 0
    debit_entries: int = 0
    pending_entries: int = 0  # credits not (yet) booked: PDNG, INFO, …
    reversed_entries: int = 0
    transactions: int = 0
    payments: int = 0
    skipped: list[str] = field(default_factory=list)  # element paths of skipped credits


@dataclass(slots=True)
class _Totals:
    entries: int = 0
    entries_sum: Decimal = Decimal(0)
    credits: int = 0
    credits_sum: Decimal = Decimal(0)
    debits: int = 0
    debits_sum: Decimal = Decimal(0)


class _Reader:
    def __init__(self, name: str, summary: CamtSummary) -> None:
        self.name = name
        self.summary = summary
        self.ns: str | None = None
        self.notification: tuple[str, str] | None = None  # (id, account)
        self.totals = _Totals()
        self.entry_position = 0

    # --- helpers -------------------------------------------------------------------------

    def error(self, message: str, elem: Any, path: str) -> ParseError:
        return ParseError(message, file=self.name, line=elem.sourceline, field=path)

    def q(self, path: str) -> str:
        return "/".join(f"{{{self.ns}}}{part}" for part in path.split("/"))

    def text(self, elem: Any, path: str) -> str | None:
        value = elem.findtext(self.q(path))
        return value.strip() or None if value is not None else None

    def first_text(self, elem: Any, *paths: str) -> str | None:
        for path in paths:
            value = self.text(elem, path)
            if value:
                return value
        return None

    def check_namespace(self, elem: Any, path: str) -> None:
        namespace = etree.QName(elem).namespace or ""
        if self.ns is None:
            match = _NAMESPACE.match(namespace)
            if match is None or match.group(1) not in SUPPORTED_VERSIONS:
                raise self.error(
                    f"not a supported camt.054 document (namespace {namespace!r}; "
                    f"supported versions {', '.join(SUPPORTED_VERSIONS)})",
                    elem,
                    path,
                )
            self.ns = namespace
            self.summary.version = match.group(1)
        elif namespace != self.ns:
            raise self.error(f"element in namespace {namespace!r}", elem, path)

    # --- elements ------------------------------------------------------------------------

    def group_header(self, elem: Any) -> None:
        self.check_namespace(elem, "GrpHdr")
        parent = elem.getparent()
        if parent is None or etree.QName(parent).localname != "BkToCstmrDbtCdtNtfctn":
            raise self.error("GrpHdr outside BkToCstmrDbtCdtNtfctn", elem, "GrpHdr")

    def open_notification(self, entry: Any) -> tuple[str, str]:
        if self.notification is None:
            parent = entry.getparent()
            if parent is None or etree.QName(parent).localname != "Ntfctn":
                raise self.error("entry outside a notification (Ntfctn)", entry, "Ntry")
            self.summary.notifications += 1
            self.entry_position = 0
            self.totals = _Totals()
            ident = self.text(parent, "Id") or f"notification-{self.summary.notifications}"
            account = self.first_text(parent, "Acct/Id/IBAN", "Acct/Id/Othr/Id") or ""
            self.notification = (ident, account)
        return self.notification

    def entry(self, elem: Any) -> Iterator[CamtTransaction]:
        self.check_namespace(elem, "Ntry")
        ident, account = self.open_notification(elem)
        self.entry_position += 1
        path = f"Ntfctn[{self.summary.notifications}]/Ntry[{self.entry_position}]"
        amount, currency = self.amount(elem, "Amt", path)
        indicator = self.text(elem, "CdtDbtInd")
        if indicator not in {"CRDT", "DBIT"}:
            raise self.error("CdtDbtInd must be CRDT or DBIT", elem, f"{path}/CdtDbtInd")
        credit = indicator == "CRDT"
        status = self.first_text(elem, "Sts/Cd", "Sts/Prtry", "Sts")
        if status is None:
            raise self.error("entry has no status", elem, f"{path}/Sts")
        self.summary.entries += 1
        self.totals.entries += 1
        self.totals.entries_sum += amount
        if credit:
            self.summary.credit_entries += 1
            self.totals.credits += 1
            self.totals.credits_sum += amount
        else:
            self.summary.debit_entries += 1
            self.totals.debits += 1
            self.totals.debits_sum += amount
        reversal = (self.text(elem, "RvslInd") or "").lower() in {"true", "1"}
        booking = self.date(elem, "BookgDt", path)
        value = self.date(elem, "ValDt", path)
        servicer_ref = self.text(elem, "AcctSvcrRef")
        entry_ref = self.text(elem, "NtryRef")
        if servicer_ref:
            key = servicer_ref
        elif entry_ref:
            key = f"{ident}/{entry_ref}"
        else:
            key = f"{ident}/{self.entry_position}"
        details = elem.findall(self.q("NtryDtls/TxDtls"))
        if not details:
            details = [None]
        for index, tx in enumerate(details, 1):
            tx_path = f"{path}/NtryDtls/TxDtls[{index}]" if tx is not None else path
            yield self.transaction(
                entry=elem,
                tx=tx,
                tx_path=tx_path,
                single=len(details) == 1,
                entry_amount=(amount, currency),
                payment_id=f"{key}/{index}",
                account=account,
                credit=credit,
                status=status,
                reversal=reversal,
                dates=(booking, value),
                servicer_ref=servicer_ref,
            )

    def transaction(
        self,
        *,
        entry: Any,
        tx: Any,
        tx_path: str,
        single: bool,
        entry_amount: tuple[Decimal, str],
        payment_id: str,
        account: str,
        credit: bool,
        status: str,
        reversal: bool,
        dates: tuple[dt.date | None, dt.date | None],
        servicer_ref: str | None,
    ) -> CamtTransaction:
        self.summary.transactions += 1
        node = tx if tx is not None else entry
        if tx is not None and tx.find(self.q("Amt")) is not None:
            amount, currency = self.amount(tx, "Amt", tx_path)
        elif tx is not None and tx.find(self.q("AmtDtls/TxAmt/Amt")) is not None:
            amount, currency = self.amount(tx, "AmtDtls/TxAmt/Amt", tx_path)
        elif single:
            amount, currency = entry_amount
        else:  # several transactions, none with its own amount: the split is unknown
            amount, currency = None, entry_amount[1]
        end_to_end = self.text(node, "Refs/EndToEndId") if tx is not None else None
        if end_to_end == _NOT_PROVIDED:
            end_to_end = None
        unstructured = [
            u.text.strip()
            for u in node.iterfind(self.q("RmtInf/Ustrd"))
            if u.text and u.text.strip()
        ]
        structured = self.text(node, "RmtInf/Strd/CdtrRefInf/Ref")
        message = " ".join(unstructured) or None
        reference = structured or message or end_to_end
        return CamtTransaction(
            payment_id=payment_id,
            account=account,
            credit=credit,
            status=status,
            reversal=reversal,
            amount=amount,
            currency=currency,
            booking_date=dates[0],
            value_date=dates[1],
            reference=reference,
            end_to_end_id=end_to_end,
            account_servicer_ref=servicer_ref,
            payer_name=self.first_text(node, "RltdPties/Dbtr/Nm", "RltdPties/Dbtr/Pty/Nm"),
            payer_account=self.first_text(
                node, "RltdPties/DbtrAcct/Id/IBAN", "RltdPties/DbtrAcct/Id/Othr/Id"
            ),
            message=message if message != reference else None,
            line=node.sourceline or 0,
            path=tx_path,
        )

    def amount(self, elem: Any, path: str, where: str) -> tuple[Decimal, str]:
        node = elem.find(self.q(path))
        if node is None:
            raise self.error("amount is missing", elem, f"{where}/{path}")
        try:
            value = Decimal((node.text or "").strip())
        except InvalidOperation:
            raise self.error("amount is not a number", node, f"{where}/{path}") from None
        if not value.is_finite() or value < 0:
            raise self.error("amount must be a non-negative number", node, f"{where}/{path}")
        currency = node.get("Ccy")
        if not currency:
            raise self.error("amount has no currency (Ccy)", node, f"{where}/{path}")
        return value, currency

    def date(self, elem: Any, name: str, where: str) -> dt.date | None:
        node = elem.find(self.q(name))
        if node is None:
            return None
        raw = self.first_text(node, "Dt", "DtTm")
        if raw is None:
            raise self.error("date is empty", node, f"{where}/{name}")
        try:
            return dt.date.fromisoformat(raw[:10])
        except ValueError:
            raise self.error("invalid date", node, f"{where}/{name}") from None

    def close_notification(self, elem: Any) -> None:
        self.check_namespace(elem, "Ntfctn")
        if self.notification is None:  # a notification without entries
            self.summary.notifications += 1
            self.totals = _Totals()
        where = f"Ntfctn[{self.summary.notifications}]/TxsSummry"
        summary = elem.find(self.q("TxsSummry"))
        if summary is not None:
            for group, count, total in (
                ("TtlNtries", self.totals.entries, self.totals.entries_sum),
                ("TtlCdtNtries", self.totals.credits, self.totals.credits_sum),
                ("TtlDbtNtries", self.totals.debits, self.totals.debits_sum),
            ):
                self.check_total(summary, f"{group}/NbOfNtries", count, where)
                self.check_total(summary, f"{group}/Sum", total, where)
        self.notification = None

    def check_total(self, summary: Any, path: str, read: Decimal | int, where: str) -> None:
        stated = self.text(summary, path)
        if stated is None:
            return
        try:
            number = Decimal(stated)
        except InvalidOperation:
            raise self.error("total is not a number", summary, f"{where}/{path}") from None
        if number != read:
            raise self.error(
                f"{path} says {stated}, the notification has {read}", summary, f"{where}/{path}"
            )


def iter_transactions(
    path: Path, *, summary: CamtSummary | None = None, schema_dir: Path | None = None
) -> Iterator[CamtTransaction]:
    """Yield every transaction of every entry (credits, debits, pending) in file order.

    With ``schema_dir`` the whole document is first validated against
    ``camt.054.001.<version>.xsd`` from that directory (bounded by ``xmlsafe.MAX_TREE_BYTES``).
    """
    summary = summary if summary is not None else CamtSummary()
    if schema_dir is not None:
        validate(path, schema_dir)
    reader = _Reader(str(path), summary)
    tags = ("{*}GrpHdr", "{*}Ntry", "{*}Ntfctn")
    for _event, elem in xmlsafe.iterparse(path, tag=tags):
        local = etree.QName(elem).localname
        if local == "Ntry":
            yield from reader.entry(elem)
            elem.clear(keep_tail=True)
            previous = elem.getprevious()
            while previous is not None and etree.QName(previous).localname == "Ntry":
                elem.getparent().remove(previous)
                previous = elem.getprevious()
        elif local == "GrpHdr":
            reader.group_header(elem)
        else:
            reader.close_notification(elem)
            elem.clear(keep_tail=True)
    if reader.ns is None:
        raise ParseError("not a camt.054 document: no group header or entries", file=str(path))


def iter_payments(
    path: Path, *, summary: CamtSummary | None = None, schema_dir: Path | None = None
) -> Iterator[Payment]:
    """Yield one payment per booked credit transaction; the rest is counted in ``summary``."""
    summary = summary if summary is not None else CamtSummary()
    for tx in iter_transactions(path, summary=summary, schema_dir=schema_dir):
        if not tx.credit:
            continue
        if tx.reversal:
            summary.reversed_entries += 1
            continue
        if tx.status != "BOOK":
            summary.pending_entries += 1
            summary.skipped.append(tx.path)
            continue
        if tx.amount is None:
            raise ParseError(
                "booked credit transaction has no amount (TxDtls/Amt or AmtDtls/TxAmt/Amt)",
                file=str(path),
                line=tx.line,
                field=tx.path,
            )
        if tx.booking_date is None:
            raise ParseError(
                "booked entry has no booking date", file=str(path), line=tx.line, field=tx.path
            )
        summary.payments += 1
        yield _payment(tx, str(path))


def _payment(tx: CamtTransaction, name: str) -> Payment:
    assert tx.booking_date is not None
    assert tx.amount is not None
    try:
        return Payment(
            payment_id=tx.payment_id,
            source=SourceRef(
                system=FORMAT, company=tx.account, record_id=tx.payment_id, record_type="payment"
            ),
            kind=PaymentKind.BANK,
            amount=tx.amount,
            currency=tx.currency,
            booking_date=tx.booking_date,
            value_date=tx.value_date,
            reference=tx.reference,
            payer_name=tx.payer_name,
            payer_account=tx.payer_account,
            message=tx.message,
        )
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise ParseError(
            f"payment is not valid ({fields})", file=name, line=tx.line, field=tx.path
        ) from None


def validate(path: Path, schema_dir: Path) -> str:
    """Validate a whole document against its version's XSD; returns the version."""
    root = xmlsafe.parse_file(path)
    namespace = etree.QName(root).namespace or ""
    match = _NAMESPACE.match(namespace)
    if match is None or match.group(1) not in SUPPORTED_VERSIONS:
        raise ParseError(
            f"not a supported camt.054 document (namespace {namespace!r})",
            file=str(path),
            line=root.sourceline,
            field=etree.QName(root).localname,
        )
    version = match.group(1)
    schema = _schema(schema_dir / f"camt.054.001.{version}.xsd")
    if not schema.validate(root):
        first = schema.error_log[0]
        raise ParseError(
            f"does not match the camt.054.001.{version} schema: {_redact(first.message)}",
            file=str(path),
            line=first.line,
            field=first.path,
        )
    return version


@lru_cache(maxsize=8)
def _schema(xsd: Path) -> etree.XMLSchema:
    if not xsd.is_file():
        raise ConfigError(f"XML schema not found: {xsd}")
    return etree.XMLSchema(xmlsafe.parse_file(xsd))


def _redact(message: str) -> str:
    """Keep the element name of a schema error, drop the values it quotes (may be personal)."""
    quoted = iter(range(1_000_000))
    return re.sub(r"'[^']*'", lambda m: m.group(0) if next(quoted) == 0 else "'…'", message)
