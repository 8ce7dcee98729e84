"""One debtor payment recorded twice: once by the bank feed, once by the ledger.

The bookkeeper books in the ledger what the bank received, so a payment reaches reconciliation
from both sides: the same claim, the same amount, booking dates at most
:data:`TWIN_WINDOW_DAYS` apart. It is one payment. The second record is the *twin*: it is told
to the agency never, and counted in reports never (``ignored``, reason ``same_as_reported``),
whatever became of the first — reported, waiting for the case's acceptance, left for a person
(``manual``), or not reported (the case had ended, reporting is off, it was before the
hand-over).

Which record is the payment and which the twin:

- a record whose counterpart was already decided (reported, manual, ignored) is the twin;
- while both wait, the bank's record is the payment (its date is the day the money arrived)
  and the ledger's is the twin.

Records pair one to one: a debtor who pays the same amount twice within the window, seen by
both sides, makes two payments and two twins — a record is a twin only while the other side
has a record not already paired with a twin of its own side.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Connection

from claimbridge.connectors.banks.feed import FORMATS as BANK_FORMATS
from claimbridge.state import payments as pq
from claimbridge.state.payments import PaymentRecord, PaymentRow

__all__ = ["TWIN_REASON", "TWIN_WINDOW_DAYS", "Twins", "from_bank"]

TWIN_WINDOW_DAYS = 3
TWIN_REASON = "same_as_reported"  # the stored code (kept from when only reported ones paired)

_WAITING = ("matched", "to_report")  # a bank payment just matched is to_report in the same run
_DECIDED = ("reported", "manual")
_STILL_THE_PAYMENT = ("reporting_off", "case_closed", "before_hand_over")
"""``ignored`` records that are still the debtor's payment (so the other side's is a twin);
every other reason is not a payment to pair with (the agency's pay-out, a reversal, a twin)."""


def from_bank(source: str) -> bool:
    """Whether a ``payments_seen.source`` is a bank feed (``ocr_giro:<account>`` …)."""
    return source.partition(":")[0] in BANK_FORMATS


class Twins:
    """The records of a chunk's invoices, kept current as the chunk's rows are decided (each
    decision is written at once, and the next row's question depends on it)."""

    def __init__(self, conn: Connection, pipeline: str, rows: Iterable[PaymentRow]) -> None:
        numbers = {r.invoice_number for r in rows if r.invoice_number}
        self._records: dict[tuple[str, str], list[PaymentRecord]] = {}
        self._by_key: dict[tuple[str, str], PaymentRecord] = {}
        for record in pq.records_of_invoices(conn, pipeline, numbers):
            self._records.setdefault((record.invoice_number, record.kind), []).append(record)
            self._by_key[(record.source, record.payment_id)] = record

    def is_twin(self, row: PaymentRow) -> bool:
        """Whether ``row`` is the second record of a payment the other side recorded too."""
        if row.invoice_number is None:
            return False
        bank = from_bank(row.source)
        low = row.booking_date - dt.timedelta(days=TWIN_WINDOW_DAYS)
        high = row.booking_date + dt.timedelta(days=TWIN_WINDOW_DAYS)
        counterparts = 0
        paired_on_this_side = 0
        for record in self._records.get((row.invoice_number, row.kind), ()):
            if (record.source, record.payment_id) == (row.source, row.payment_id):
                continue
            if record.amount != row.amount or not low <= record.booking_date <= high:
                continue
            if from_bank(record.source) == bank:
                paired_on_this_side += _is_twin_record(record)
            elif _is_payment(record) and (not bank or record.status not in _WAITING):
                counterparts += 1  # a bank record waits for no ledger record still waiting
        return counterparts > paired_on_this_side

    def decided(self, row: PaymentRow, status: str, reason: str | None) -> None:
        """``row`` was just written with this status: later questions see it so."""
        record = self._by_key.get((row.source, row.payment_id))
        if record is not None:
            record.status, record.reason = status, reason


def _is_payment(record: PaymentRecord) -> bool:
    return (
        record.status in _WAITING
        or record.status in _DECIDED
        or (record.status == "ignored" and record.reason in _STILL_THE_PAYMENT)
    )


def _is_twin_record(record: PaymentRecord) -> bool:
    return record.status == "ignored" and record.reason == TWIN_REASON
