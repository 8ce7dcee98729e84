"""Bankgirot BgMax files (Sweden): incoming bankgiro payments, one deposit section at a time.

No maintained Python library reads BgMax, so this is a small fixed-width reader. A file is
``01`` (start) · sections of ``05`` (opening) + payments + ``15`` (deposit) · ``70`` (end).
A payment is a ``20`` (payment) or ``21`` (deduction) record followed by its ``22``/``23``
extra references, ``25`` texts and ``26``–``29`` sender name, address and organization number.

The payment date only arrives with the ``15`` record that closes a section, so payments are held
per section (never per file) and released once the section's count and sum are checked. The
``70`` record's counts are checked at the end; a file that stops before it is truncated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from pydantic import ValidationError

from claimbridge.errors import ParseError
from claimbridge.schemas import Payment, PaymentKind, SourceRef

__all__ = ["FORMAT", "BgMaxPayment", "iter_payments", "looks_like"]

FORMAT = "bgmax"
RECORD_LENGTH = 80
ENCODING = "iso-8859-1"
_LINE_LIMIT = RECORD_LENGTH + 3  # a record, CRLF, and one byte to notice a longer line

# reference codes of the 20/21/22/23 records
REF_BLANK, REF_UNAVAILABLE, REF_OCR, REF_MULTI, REF_TEXT, REF_BAD = range(6)

# field layouts: name -> (first, last) position, 1-based and inclusive as in the manual
_LAYOUTS: dict[str, dict[str, tuple[int, int]]] = {
    "01": {"layout": (3, 22), "version": (23, 24), "timestamp": (25, 44), "test": (45, 45)},
    "05": {"payee_bankgiro": (3, 12), "payee_plusgiro": (13, 22), "currency": (23, 25)},
    "20": {
        "sender_bankgiro": (3, 12),
        "reference": (13, 37),
        "amount": (38, 55),
        "reference_code": (56, 56),
        "channel": (57, 57),
        "bgc_serial": (58, 69),
        "image": (70, 70),
    },
    "25": {"text": (3, 52)},
    "26": {"name": (3, 37), "extra_name": (38, 72)},
    "27": {"address": (3, 37), "postal_code": (38, 46)},
    "28": {"city": (3, 37), "country": (38, 72), "country_code": (73, 74)},
    "29": {"organization_number": (3, 14)},
    "15": {
        "bank_account": (3, 37),
        "payment_date": (38, 45),
        "deposit_serial": (46, 50),
        "amount": (51, 68),
        "currency": (69, 71),
        "count": (72, 79),
        "deposit_type": (80, 80),
    },
    "70": {
        "payments": (3, 10),
        "deductions": (11, 18),
        "extra_references": (19, 26),
        "deposits": (27, 34),
    },
}
_LAYOUTS["21"] = {**_LAYOUTS["20"], "deduction_code": (71, 71)}
_LAYOUTS["22"] = _LAYOUTS["20"]
_LAYOUTS["23"] = _LAYOUTS["20"]

_NUMERIC = {
    "version", "timestamp", "payee_bankgiro", "sender_bankgiro", "amount", "reference_code",
    "channel", "bgc_serial", "image", "payment_date", "deposit_serial", "count", "payments",
    "deductions", "extra_references", "deposits",
}  # fmt: skip


@dataclass(slots=True)
class ExtraReference:
    reference: str | None
    amount_ore: int  # signed: 23 records subtract


@dataclass(slots=True)
class BgMaxPayment:
    """One ``20``/``21`` record with what follows it, before the deposit date is known."""

    line: int
    deduction: bool
    sender_bankgiro: str | None
    reference: str | None
    amount_ore: int  # signed: deductions are negative
    bgc_serial: str
    extra_references: list[ExtraReference] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    name: str | None = None


@dataclass(slots=True)
class _Section:
    line: int
    payee_bankgiro: str
    currency: str
    payments: list[BgMaxPayment] = field(default_factory=list)


@dataclass(slots=True)
class _Totals:
    payments: int = 0
    deductions: int = 0
    extra_references: int = 0
    deposits: int = 0


def looks_like(head: bytes) -> bool:
    """True when the first bytes are a BgMax start record."""
    return head.startswith(b"01BGMAX")


class _Reader:
    """Turns numbered lines into payments; one instance reads one file."""

    def __init__(self, name: str, *, allow_test: bool) -> None:
        self.name = name
        self.allow_test = allow_test
        self.started = False
        self.ended = False
        self.section: _Section | None = None
        self.totals = _Totals()

    def error(self, message: str, line: int, field_name: str | None = None) -> ParseError:
        return ParseError(message, file=self.name, line=line, field=field_name)

    def fields(self, text: str, kind: str, line: int) -> dict[str, str]:
        values: dict[str, str] = {}
        for key, (first, last) in _LAYOUTS[kind].items():
            value = text[first - 1 : last]
            if key in _NUMERIC and not (value.isascii() and value.isdigit()):
                raise self.error(
                    f"record {kind}: expected digits, got {value.strip()!r}", line, key
                )
            values[key] = value
        return values

    def feed(self, text: str, line: int) -> Iterator[Payment]:
        if self.ended:
            raise self.error("content after the end record (70)", line)
        kind = text[:2]
        if kind not in _LAYOUTS:
            raise self.error(f"unknown record type {kind!r}", line, "record type")
        values = self.fields(text, kind, line)
        if kind != "01" and not self.started:
            raise self.error("the file does not start with a start record (01)", line)
        if kind == "01":
            self.start(values, line)
        elif kind == "05":
            self.open_section(values, line)
        elif kind in {"20", "21"}:
            self.add_payment(kind, values, line)
        elif kind == "15":
            yield from self.close_section(values, line)
        elif kind == "70":
            self.end(values, line)
        else:
            self.add_detail(kind, values, line)

    def start(self, values: dict[str, str], line: int) -> None:
        if self.started:
            raise self.error("a second start record (01)", line)
        if values["layout"].strip() != "BGMAX":
            raise self.error("layout name is not BGMAX", line, "layout")
        try:
            dt.datetime.strptime(values["timestamp"][:14], "%Y%m%d%H%M%S")
        except ValueError:
            raise self.error("invalid timestamp", line, "timestamp") from None
        if values["test"] not in {"T", "P"}:
            raise self.error("test marker must be T or P", line, "test")
        if values["test"] == "T" and not self.allow_test:
            raise self.error("this is a test file (marker T); refusing it", line, "test")
        self.started = True

    def open_section(self, values: dict[str, str], line: int) -> None:
        if self.section is not None:
            raise self.error("opening record (05) before the previous deposit (15)", line)
        currency = values["currency"]
        if not (currency.isascii() and currency.isalpha()):
            raise self.error("invalid currency", line, "currency")
        self.section = _Section(line, _strip_zeros(values["payee_bankgiro"]) or "0", currency)

    def current(self, kind: str, line: int) -> _Section:
        if self.section is None:
            raise self.error(f"record {kind} outside a section (no opening record 05)", line)
        return self.section

    def add_payment(self, kind: str, values: dict[str, str], line: int) -> None:
        section = self.current(kind, line)
        deduction = kind == "21"
        amount = int(values["amount"])
        section.payments.append(
            BgMaxPayment(
                line=line,
                deduction=deduction,
                sender_bankgiro=_strip_zeros(values["sender_bankgiro"]),
                reference=_reference(values),
                amount_ore=-amount if deduction else amount,
                bgc_serial=values["bgc_serial"],
            )
        )
        if deduction:
            self.totals.deductions += 1
        else:
            self.totals.payments += 1

    def add_detail(self, kind: str, values: dict[str, str], line: int) -> None:
        section = self.current(kind, line)
        if not section.payments:
            raise self.error(f"record {kind} before any payment record (20/21)", line)
        payment = section.payments[-1]
        if kind in {"22", "23"}:
            amount = int(values["amount"])
            payment.extra_references.append(
                ExtraReference(_reference(values), -amount if kind == "23" else amount)
            )
            self.totals.extra_references += 1
        elif kind == "25":
            text = values["text"].strip()
            if text:
                payment.texts.append(text)
        elif kind == "26":
            name = " ".join(p for p in (values["name"].strip(), values["extra_name"].strip()) if p)
            payment.name = name or None
        # 27/28/29 (address, organization number) are checked for shape but not kept:
        # reconciliation needs no debtor address, and none is copied out of the bank file.

    def close_section(self, values: dict[str, str], line: int) -> Iterator[Payment]:
        section = self.current("15", line)
        self.section = None
        self.totals.deposits += 1
        try:
            day = dt.datetime.strptime(values["payment_date"], "%Y%m%d").date()
        except ValueError:
            raise self.error("invalid payment date", line, "payment_date") from None
        if values["currency"] != section.currency:
            raise self.error(
                f"deposit currency {values['currency']} differs from the opening record's "
                f"{section.currency} (line {section.line})",
                line,
                "currency",
            )
        count, total = int(values["count"]), int(values["amount"])
        read_total = sum(p.amount_ore for p in section.payments)
        if count != len(section.payments):
            raise self.error(
                f"deposit says {count} payments, the section has {len(section.payments)}",
                line,
                "count",
            )
        if total != read_total:
            raise self.error(
                f"deposit amount {_ore(total)} differs from the payments' sum {_ore(read_total)}",
                line,
                "amount",
            )
        serial = values["deposit_serial"]
        for position, record in enumerate(section.payments, 1):
            base_id = f"{section.payee_bankgiro}-{day:%Y%m%d}-{serial}-{position:05d}"
            for suffix, reference, amount in _parts(record):
                yield self.payment(section, record, base_id + suffix, reference, amount, day)

    def payment(
        self,
        section: _Section,
        record: BgMaxPayment,
        payment_id: str,
        reference: str | None,
        amount_ore: int,
        day: dt.date,
    ) -> Payment:
        references = [r.reference for r in record.extra_references if r.reference]
        notes = [*record.texts]
        split = "/" in payment_id
        if not split and (len(references) > 1 or (references and reference not in references)):
            notes.append("references: " + ", ".join(references))
        try:
            return Payment(
                payment_id=payment_id,
                source=SourceRef(
                    system=FORMAT,
                    company=section.payee_bankgiro,
                    record_id=payment_id,
                    record_type="payment",
                ),
                kind=PaymentKind.BANK,
                amount=_ore(amount_ore),
                currency=section.currency,
                booking_date=day,
                reference=reference,
                payer_name=record.name,
                payer_account=record.sender_bankgiro,
                message="; ".join(notes) or None,
            )
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise self.error(f"payment is not valid ({fields})", record.line) from None

    def end(self, values: dict[str, str], line: int) -> None:
        if self.section is not None:
            raise self.error(
                f"end record (70) inside an open section (line {self.section.line})", line
            )
        for key in ("payments", "deductions", "extra_references", "deposits"):
            stated, read = int(values[key]), getattr(self.totals, key)
            if stated != read:
                raise self.error(f"end record says {stated} {key}, the file has {read}", line, key)
        self.ended = True

    def finish(self, line: int) -> None:
        if not self.started:
            raise self.error("empty file: no start record (01)", line)
        if not self.ended:
            raise self.error("file is truncated: no end record (70)", line)


def iter_payments(path: Path, *, allow_test: bool = False) -> Iterator[Payment]:
    """Yield the payments of a BgMax file, section by section, checking every control total.

    A test file (start record marker ``T``) is refused unless ``allow_test`` is set.
    """
    reader = _Reader(str(path), allow_test=allow_test)
    number = 0
    with path.open("rb") as stream:
        while raw := stream.readline(_LINE_LIMIT):
            number += 1
            text = raw.rstrip(b"\r\n").decode(ENCODING)
            if len(text) > RECORD_LENGTH:
                raise reader.error(
                    f"record is longer than {RECORD_LENGTH} characters", number, "record length"
                )
            if not text.strip():
                if reader.ended:
                    continue
                raise reader.error("empty line", number)
            yield from reader.feed(text.ljust(RECORD_LENGTH), number)
    reader.finish(number + 1)


def _parts(record: BgMaxPayment) -> Iterator[tuple[str, str | None, int]]:
    """Split a payment over its extra references when the file says how much each one got.

    Returns ``(id suffix, reference, amount in öre)``. When any extra reference carries no
    amount the split is unknown, so the payment stays whole under its first reference.
    """
    extras = record.extra_references
    if not extras or any(e.amount_ore == 0 for e in extras):
        first_extra = next((e.reference for e in extras if e.reference), None)
        yield "", record.reference or first_extra, record.amount_ore
        return
    remainder = record.amount_ore - sum(e.amount_ore for e in extras)
    if remainder:
        yield "", record.reference, remainder
    for index, extra in enumerate(extras, 1):
        yield f"/{index}", extra.reference, extra.amount_ore


def _reference(values: dict[str, str]) -> str | None:
    code = int(values["reference_code"])
    text = values["reference"].strip()
    if code in {REF_BLANK, REF_UNAVAILABLE} or not text:
        return None
    return text


def _strip_zeros(digits: str) -> str | None:
    return digits.lstrip("0") or None


def _ore(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)
