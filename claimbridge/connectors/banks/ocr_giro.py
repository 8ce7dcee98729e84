"""Nets OCR giro files (Norway): KID payments credited to the creditor's account.

The records are read with ``netsgiro`` (its record classes know every field of the format);
this module streams them one line at a time, groups them into transmission → assignments →
transactions, and checks each assignment's and the transmission's end record (counts and sum)
against what was read. AvtaleGiro files are a different service and are refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import netsgiro
import netsgiro.records as records
from pydantic import ValidationError

from claimbridge.errors import ParseError
from claimbridge.schemas import Payment, PaymentKind, SourceRef

__all__ = ["FORMAT", "iter_payments", "looks_like"]

FORMAT = "ocr_giro"
RECORD_LENGTH = 80
_LINE_LIMIT = RECORD_LENGTH + 3  # a record, CRLF, and one byte to notice a longer line

_RECORD_CLASSES: dict[str, Any] = {
    "10": records.TransmissionStart,
    "20": records.AssignmentStart,
    "30": records.TransactionAmountItem1,
    "31": records.TransactionAmountItem2,
    "32": records.TransactionAmountItem3,
    "88": records.AssignmentEnd,
    "89": records.TransmissionEnd,
}


def looks_like(head: bytes) -> bool:
    """True when the first bytes are a Nets transmission start record."""
    return head.startswith(b"NY000010")


@dataclass(slots=True)
class _Assignment:
    line: int
    number: str
    account: str
    records: int = 1  # the start record
    transactions: int = 0
    total_ore: int = 0
    pending: list[Any] = field(default_factory=list)  # records of the open transaction
    pending_line: int = 0


@dataclass(slots=True)
class _Transmission:
    number: str
    records: int = 1
    transactions: int = 0
    total_ore: int = 0


class _Reader:
    def __init__(self, name: str) -> None:
        self.name = name
        self.transmission: _Transmission | None = None
        self.assignment: _Assignment | None = None
        self.ended = False

    def error(self, message: str, line: int, field_name: str | None = None) -> ParseError:
        return ParseError(message, file=self.name, line=line, field=field_name)

    def record(self, text: str, line: int) -> Any:
        if not text.startswith("NY"):
            raise self.error("not a Nets record (does not start with 'NY')", line, "format code")
        kind = text[6:8]
        cls = _RECORD_CLASSES.get(kind)
        if cls is None:
            if kind in {"49", "70"}:
                raise self.error(f"AvtaleGiro record {kind} in an OCR giro file", line)
            raise self.error(f"unknown record type {kind!r}", line, "record type")
        try:
            return cls.from_string(text)
        except (ValueError, TypeError) as exc:
            raise self.error(_describe(exc, cls.__name__), line) from None

    def feed(self, text: str, line: int) -> Iterator[Payment]:
        if self.ended:
            raise self.error("content after the transmission end record (89)", line)
        rec = self.record(text, line)
        if self.transmission is None:
            if not isinstance(rec, records.TransmissionStart):
                raise self.error("the file does not start with a transmission start record", line)
            self.transmission = _Transmission(rec.transmission_number)
            return
        self.transmission.records += 1
        if isinstance(rec, records.TransmissionStart):
            raise self.error("a second transmission start record", line)
        if isinstance(rec, records.TransmissionEnd):
            self.end_transmission(rec, line)
        elif isinstance(rec, records.AssignmentStart):
            self.start_assignment(rec, line)
        elif isinstance(rec, records.AssignmentEnd):
            yield from self.end_assignment(rec, line)
        else:
            yield from self.add_transaction_record(rec, line)

    def start_assignment(self, rec: Any, line: int) -> None:
        if self.assignment is not None:
            raise self.error(
                f"assignment start before the end of assignment {self.assignment.number}", line
            )
        if rec.service_code != netsgiro.ServiceCode.OCR_GIRO:
            raise self.error("not an OCR giro assignment (AvtaleGiro?)", line, "service code")
        self.assignment = _Assignment(line, rec.assignment_number, rec.assignment_account)

    def add_transaction_record(self, rec: Any, line: int) -> Iterator[Payment]:
        assignment = self.assignment
        if assignment is None:
            raise self.error("transaction record outside an assignment", line)
        assignment.records += 1
        if isinstance(rec, records.TransactionAmountItem1):
            yield from self.flush(assignment)
            assignment.pending = [rec]
            assignment.pending_line = line
            return
        if not assignment.pending:
            raise self.error("transaction record without its amount item 1 (30)", line)
        if rec.transaction_number != assignment.pending[0].transaction_number:
            raise self.error(
                "transaction number differs from its amount item 1 (30)",
                line,
                "transaction number",
            )
        assignment.pending.append(rec)

    def flush(self, assignment: _Assignment) -> Iterator[Payment]:
        if not assignment.pending:
            return
        parts, line = assignment.pending, assignment.pending_line
        assignment.pending = []
        if len(parts) < 2 or not isinstance(parts[1], records.TransactionAmountItem2):
            raise self.error("transaction lacks its amount item 2 (31)", line)
        try:
            transaction = netsgiro.Transaction.from_records(list(parts))
        except (ValueError, TypeError, AssertionError) as exc:
            raise self.error(_describe(exc, "transaction"), line) from None
        amount_ore = int(parts[0].amount)
        if transaction.sign == "-":
            amount_ore = -amount_ore
        assignment.transactions += 1
        assignment.total_ore += int(parts[0].amount)
        yield self.payment(assignment, transaction, amount_ore, line)

    def payment(self, assignment: _Assignment, tx: Any, amount_ore: int, line: int) -> Payment:
        assert self.transmission is not None
        payment_id = f"{self.transmission.number}-{assignment.number}-{tx.number:07d}"
        debit_account = (
            tx.debit_account if tx.debit_account and tx.debit_account.strip("0") else None
        )
        try:
            return Payment(
                payment_id=payment_id,
                source=SourceRef(
                    system=FORMAT,
                    company=assignment.account,
                    record_id=payment_id,
                    record_type="payment",
                ),
                kind=PaymentKind.BANK,
                amount=_kroner(amount_ore),
                currency="NOK",
                booking_date=tx.date,
                value_date=tx.bank_date,
                reference=tx.kid or None,
                payer_account=debit_account,
                message=tx.text or None,
            )
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            raise self.error(f"payment is not valid ({fields})", line) from None

    def end_assignment(self, rec: Any, line: int) -> Iterator[Payment]:
        assignment = self.assignment
        if assignment is None:
            raise self.error("assignment end record without an assignment start", line)
        assignment.records += 1
        yield from self.flush(assignment)
        self.check(
            line,
            "assignment end",
            stated=(rec.num_transactions, rec.num_records, rec.total_amount or 0),
            read=(assignment.transactions, assignment.records, assignment.total_ore),
        )
        assert self.transmission is not None
        self.transmission.transactions += assignment.transactions
        self.transmission.total_ore += assignment.total_ore
        self.assignment = None

    def end_transmission(self, rec: Any, line: int) -> None:
        if self.assignment is not None:
            raise self.error(
                f"transmission ends inside assignment {self.assignment.number} "
                f"(started on line {self.assignment.line})",
                line,
            )
        assert self.transmission is not None
        self.check(
            line,
            "transmission end",
            stated=(rec.num_transactions, rec.num_records, rec.total_amount),
            read=(
                self.transmission.transactions,
                self.transmission.records,
                self.transmission.total_ore,
            ),
        )
        self.ended = True

    def check(
        self, line: int, what: str, *, stated: tuple[int, int, int], read: tuple[int, int, int]
    ) -> None:
        names = ("transactions", "records", "total amount")
        for name, said, got in zip(names, stated, read, strict=True):
            if said != got:
                if name == "total amount":
                    said_text, got_text = str(_kroner(said)), str(_kroner(got))
                else:
                    said_text, got_text = str(said), str(got)
                raise self.error(
                    f"{what} record says {said_text} {name}, the file has {got_text}", line, name
                )

    def finish(self, line: int) -> None:
        if self.transmission is None:
            raise self.error("empty file: no transmission start record", line)
        if not self.ended:
            raise self.error("file is truncated: no transmission end record (89)", line)


def iter_payments(path: Path) -> Iterator[Payment]:
    """Yield the payments of an OCR giro file as they are read; raise on a bad control record.

    Amounts are converted from øre to kroner; reversals (sign ``-``) are negative.
    ``booking_date`` is Nets' settlement date, ``value_date`` the payer's bank date.
    """
    reader = _Reader(str(path))
    number = 0
    with path.open("rb") as stream:
        while raw := stream.readline(_LINE_LIMIT):
            number += 1
            text = raw.rstrip(b"\r\n").decode("iso-8859-1")
            if not text.strip():
                if reader.ended:
                    continue
                raise reader.error("empty line", number)
            if len(text) != RECORD_LENGTH:
                raise reader.error(
                    f"record is {len(text)} characters long, expected {RECORD_LENGTH}",
                    number,
                    "record length",
                )
            yield from reader.feed(text, number)
    reader.finish(number + 1)


def _describe(exc: Exception, what: str) -> str:
    # netsgiro's messages quote the whole line, which may hold account numbers: keep them out.
    if "did not match" in str(exc):
        return f"record does not match the {what} layout"
    return f"invalid field in {what}"


def _kroner(ore: int) -> Decimal:
    return Decimal(ore).scaleb(-2)
