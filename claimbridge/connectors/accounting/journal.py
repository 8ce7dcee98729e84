"""A bookings journal: what reconciliation books for a ledger it cannot write to, as a CSV file
the creditor imports into its accounting system.

One row per posting (a positive amount debits the account, a negative one credits it); the rows
of one booking share its ``booking_id`` and ``external_ref`` and balance to zero. A payment on an
invoice is two postings (bank debit, receivables credit, the invoice number on both); a voucher
is its own lines. ``line``/``lines`` number a booking's rows, so a booking cut short by a crash
is recognized and removed before anything else is appended.

Appending is atomic per booking as far as a local file allows: an exclusive ``flock`` around
read-check-append (two processes never book the same reference twice), the whole booking in one
``write`` on an ``O_APPEND`` descriptor, then ``fsync`` before the booking id is returned. The
external reference is the idempotency key: booking it again returns the first booking's id.
"""

from __future__ import annotations

import csv
import fcntl
import io
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from claimbridge.connectors.base import Voucher, VoucherLine
from claimbridge.errors import ParseError

__all__ = ["COLUMNS", "BookingsJournal", "JournalRow"]

COLUMNS: tuple[str, ...] = (
    "booking_id",
    "external_ref",
    "kind",
    "line",
    "lines",
    "date",
    "invoice_number",
    "account",
    "amount",
    "currency",
    "description",
    "booked_at",
)
_HEADER = ",".join(COLUMNS) + "\n"
_MAX_FIELD = 500


@dataclass(frozen=True, slots=True)
class JournalRow:
    booking_id: str
    external_ref: str
    kind: str  # payment | voucher
    line: int
    lines: int
    date: date
    invoice_number: str
    account: str
    amount: Decimal
    currency: str
    description: str


class BookingsJournal:
    """An append-only CSV journal at ``path`` (created with its header on first booking)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    # --- reading --------------------------------------------------------------------------

    def rows(self) -> list[JournalRow]:
        """Every complete booking's rows, in file order (a torn last booking left out)."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            data = handle.read()
        return _complete(_parse(data, self.path.name))[0]

    def find(self, external_ref: str) -> str | None:
        """The booking id recorded under ``external_ref``, or None."""
        return next((r.booking_id for r in self.rows() if r.external_ref == external_ref), None)

    # --- booking --------------------------------------------------------------------------

    def book_payment(
        self,
        external_ref: str,
        *,
        on: date,
        invoice_number: str,
        amount: Decimal,
        currency: str,
        bank_account: str,
        receivables_account: str,
        description: str,
    ) -> str:
        postings = (
            VoucherLine(bank_account, amount, description),
            VoucherLine(receivables_account, -amount, description),
        )
        return self._book(external_ref, "payment", on, invoice_number, currency, postings)

    def book_voucher(self, voucher: Voucher, invoice_number: str = "") -> str:
        return self._book(
            voucher.external_ref,
            "voucher",
            voucher.date,
            invoice_number,
            voucher.currency,
            tuple(
                VoucherLine(line.account, line.amount, line.description or voucher.description)
                for line in voucher.lines
            ),
        )

    def _book(
        self,
        external_ref: str,
        kind: str,
        on: date,
        invoice_number: str,
        currency: str,
        postings: Sequence[VoucherLine],
    ) -> str:
        if not external_ref or len(external_ref) > _MAX_FIELD:
            raise ValueError("a booking needs an external reference of 1-500 characters")
        with self._locked() as fd:
            rows, good_size = _complete(_parse(_read_all(fd), self.path.name))
            os.ftruncate(fd, good_size)  # a booking cut short by a crash: never acknowledged
            for row in rows:
                if row.external_ref == external_ref:
                    return row.booking_id
            booking_id = f"J{len({r.booking_id for r in rows}) + 1:07d}"
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            if good_size == 0:
                buffer.write(_HEADER)
            for number, posting in enumerate(postings, start=1):
                writer.writerow(
                    [
                        booking_id,
                        external_ref,
                        kind,
                        number,
                        len(postings),
                        on.isoformat(),
                        invoice_number,
                        posting.account,
                        f"{posting.amount:.2f}",
                        currency,
                        posting.description[:_MAX_FIELD],
                        stamp,
                    ]
                )
            os.write(fd, buffer.getvalue().encode("utf-8"))
            os.fsync(fd)
        return booking_id

    @contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class _Parsed:
    rows: list[JournalRow]
    starts: list[int]  # byte offset where each row's line starts
    end: int  # byte offset after the last whole line (0: not even a whole header)


def _parse(data: bytes, name: str) -> _Parsed:
    """Every whole line; a torn last line is left out (it was never acknowledged). Anything
    else unreadable is a ParseError naming the line."""
    end = data.rfind(b"\n") + 1
    if end == 0:
        return _Parsed([], [], 0)
    lines = data[:end].split(b"\n")[:-1]
    if lines[0].decode("utf-8", "replace") + "\n" != _HEADER:
        raise ParseError("not a claimbridge bookings journal (unexpected header)", file=name)
    rows: list[JournalRow] = []
    starts: list[int] = []
    offset = len(lines[0]) + 1
    for number, raw in enumerate(lines[1:], start=2):
        try:
            [fields] = list(csv.reader([raw.decode("utf-8")]))
            values = dict(zip(COLUMNS, fields, strict=True))
            row = JournalRow(
                booking_id=values["booking_id"],
                external_ref=values["external_ref"],
                kind=values["kind"],
                line=int(values["line"]),
                lines=int(values["lines"]),
                date=date.fromisoformat(values["date"]),
                invoice_number=values["invoice_number"],
                account=values["account"],
                amount=Decimal(values["amount"]),
                currency=values["currency"],
                description=values["description"],
            )
        except (ValueError, ArithmeticError, UnicodeDecodeError) as exc:
            raise ParseError(
                f"unreadable journal row ({type(exc).__name__})", file=name, line=number
            ) from None
        rows.append(row)
        starts.append(offset)
        offset += len(raw) + 1
    return _Parsed(rows, starts, end)


def _complete(parsed: _Parsed) -> tuple[list[JournalRow], int]:
    """The rows of complete bookings, and the file size they end at. Only the last booking
    can be incomplete (bookings are appended one at a time, under the lock)."""
    rows = parsed.rows
    if not rows:
        return [], parsed.end
    first = len(rows) - 1
    while first > 0 and rows[first - 1].booking_id == rows[-1].booking_id:
        first -= 1
    tail = rows[first:]
    if [r.line for r in tail] == list(range(1, tail[0].lines + 1)):
        return rows, parsed.end
    return rows[:first], parsed.starts[first]
