"""Twins: one debtor payment recorded by the bank feed and by the ledger, whatever became of
the first record; paired one to one; and what is not a twin."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from claimbridge.reconcile.twins import TWIN_WINDOW_DAYS, Twins, from_bank
from claimbridge.state import StateStore
from claimbridge.state.payments import PaymentRow
from tests import state_rows

BANK = "ocr_giro:88888888888"
LEDGER = "files"
DAY = dt.date(2026, 11, 25)
INVOICE = "100017"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def record(
    source: str,
    payment_id: str,
    status: str = "to_report",
    reason: str | None = None,
    *,
    amount: str = "100.00",
    on: dt.date = DAY,
    invoice: str = INVOICE,
    kind: str = "payment",
) -> dict[str, Any]:
    row = state_rows.payment(
        amount, booked=on, case_key="cb-1", invoice_number=invoice, status=status, reason=reason
    )
    return row | {"source": source, "payment_id": payment_id, "kind": kind}


def as_row(stored: dict[str, Any]) -> PaymentRow:
    return PaymentRow(
        stored["source"],
        stored["payment_id"],
        stored["kind"],
        stored["amount"],
        stored["currency"],
        stored["booking_date"],
        stored["reference"],
        stored["case_key"],
        stored["invoice_number"],
    )


def twins(store: StateStore, *records: dict[str, Any]) -> Twins:
    state_rows.add(store, payment_rows=records)
    with store.begin() as conn:
        return Twins(conn, "main", [as_row(r) for r in records])


COUNTERPART = [
    ("to_report", None),
    ("matched", None),
    ("reported", None),
    ("manual", "agency_cannot_report"),
    ("ignored", "reporting_off"),
    ("ignored", "case_closed"),
    ("ignored", "before_hand_over"),
]


@pytest.mark.parametrize(("status", "reason"), COUNTERPART)
def test_the_ledgers_record_is_a_twin_of_the_bank_payment_in_any_state(
    store: StateStore, status: str, reason: str | None
) -> None:
    ledger = record(LEDGER, "L-1", on=DAY + dt.timedelta(days=1))
    found = twins(store, record(BANK, "B-1", status, reason), ledger)
    assert found.is_twin(as_row(ledger))


@pytest.mark.parametrize(("status", "reason"), COUNTERPART)
def test_the_banks_record_is_a_twin_only_of_a_decided_ledger_record(
    store: StateStore, status: str, reason: str | None
) -> None:
    bank = record(BANK, "B-1")
    found = twins(store, record(LEDGER, "L-1", status, reason), bank)
    # while both wait, the bank's record is the payment: it carries the day the money came
    assert found.is_twin(as_row(bank)) is (status not in ("to_report", "matched"))


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("ignored", "agency_settlement"),  # the agency's own pay-out, not the debtor's payment
        ("ignored", "not_a_credit"),
        ("ignored", "same_as_reported"),  # a twin pairs with no one else
        ("ignored", "no_case"),
        ("unmatched", "unknown_reference"),
    ],
)
def test_what_is_no_payment_to_pair_with(
    store: StateStore, status: str, reason: str | None
) -> None:
    ledger = record(LEDGER, "L-1")
    found = twins(store, record(BANK, "B-1", status, reason), ledger)
    assert not found.is_twin(as_row(ledger))


@pytest.mark.parametrize(
    "other",
    [
        {"amount": "100.01"},
        {"on": DAY + dt.timedelta(days=TWIN_WINDOW_DAYS + 1)},
        {"on": DAY - dt.timedelta(days=TWIN_WINDOW_DAYS + 1)},
        {"invoice": "100018"},
        {"kind": "credit_note"},
    ],
)
def test_a_different_payment_is_no_twin(store: StateStore, other: dict[str, Any]) -> None:
    ledger = record(LEDGER, "L-1")
    found = twins(store, record(BANK, "B-1", "reported", **other), ledger)
    assert not found.is_twin(as_row(ledger))


def test_the_window_is_inclusive(store: StateStore) -> None:
    ledger = record(LEDGER, "L-1", on=DAY + dt.timedelta(days=TWIN_WINDOW_DAYS))
    assert twins(store, record(BANK, "B-1", "reported"), ledger).is_twin(as_row(ledger))


@pytest.mark.parametrize(
    ("first", "second"),
    [(BANK, "camt054:NO9386011117947"), (LEDGER, LEDGER)],
)
def test_two_records_of_one_side_are_two_payments(
    store: StateStore, first: str, second: str
) -> None:
    """The same amount twice from the bank (or twice in the ledger) is paid twice."""
    again = record(second, "P-2")
    found = twins(store, record(first, "P-1", "reported"), again)
    assert not found.is_twin(as_row(again))


def test_records_pair_one_to_one(store: StateStore) -> None:
    """Paid twice within the window, both times seen by the bank; the ledger has three: two
    are the bank's payments again, the third is a payment of its own."""
    ledgers = [record(LEDGER, f"L-{n}") for n in (1, 2, 3)]
    found = twins(store, record(BANK, "B-1", "reported"), record(BANK, "B-2", "reported"), *ledgers)
    verdicts = []
    for stored in ledgers:
        row = as_row(stored)
        twin = found.is_twin(row)
        verdicts.append(twin)
        found.decided(row, *(("ignored", "same_as_reported") if twin else ("reported", None)))
    assert verdicts == [True, True, False]


def test_a_decision_is_seen_by_the_next_question(store: StateStore) -> None:
    """Both wait: the ledger's record is the twin; once it is written so, the bank's record
    has no counterpart left and stays the payment."""
    bank, ledger = record(BANK, "B-1"), record(LEDGER, "L-1")
    found = twins(store, bank, ledger)
    assert found.is_twin(as_row(ledger))
    found.decided(as_row(ledger), "ignored", "same_as_reported")
    assert not found.is_twin(as_row(bank))


def test_a_row_naming_no_invoice_has_no_twin(store: StateStore) -> None:
    found = twins(store, record(BANK, "B-1", "reported"))
    lost = PaymentRow(LEDGER, "L-1", "payment", Decimal("100.00"), "NOK", DAY, None, None, None)
    assert not found.is_twin(lost)


@pytest.mark.parametrize(
    ("source", "bank"),
    [
        ("ocr_giro:88888888888", True),
        ("bgmax", True),
        ("camt054:NO9386011117947", True),
        ("files", False),
        ("tripletex:123456", False),
    ],
)
def test_which_records_come_from_the_bank(source: str, bank: bool) -> None:
    assert from_bank(source) is bank
