"""Booking back into Fiken: general journal entries, and a payment whose answer is lost."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from claimbridge.connectors.accounting.fiken import FikenSource
from claimbridge.connectors.base import Voucher, VoucherLine
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.errors import ConnectorError, DataError, RemoteError
from claimbridge.schemas import Payment, SourceRef
from tests.fakes.fiken import FikenFake
from tests.unit.test_fiken import TODAY, _claim_for, make_source
from tests.unit.test_fiken import fake as fake
from tests.unit.test_fiken import mock as mock


def voucher(ref: str = "settlement-9:line-2", currency: str = "NOK", **fields: Any) -> Voucher:
    values: dict[str, Any] = {
        "external_ref": ref,
        "date": dt.date(2026, 3, 27),
        "currency": currency,
        "description": "Renter og gebyr, oppgjør 9",
        "lines": (
            VoucherLine("1920:10001", Decimal("110.00")),
            VoucherLine("8050", Decimal("-125.40")),
            VoucherLine("7770", Decimal("15.40")),
        ),
        **fields,
    }
    return Voucher(**values)


class Sources:
    """New sources over one credential store, as successive runs: the rotated refresh token
    one source stored is the one the next uses."""

    def __init__(self, fake: FikenFake) -> None:
        self.fake = fake
        self.store = MemoryCredentialStore()

    def __call__(self) -> FikenSource:
        return make_source(self.fake, store=self.store)


@pytest.fixture
def new(fake: FikenFake) -> Sources:
    return Sources(fake)


def posts(mock: Any, path: str) -> list[Any]:
    return [c for c in mock.calls if c.request.method == "POST" and path in c.request.url]


def test_a_voucher_becomes_two_sided_lines_in_ore_with_the_reference_in_the_text(
    fake: FikenFake, mock: Any, new: Sources
) -> None:
    ledger_id = new().book_voucher(voucher())
    (post,) = posts(mock, "/generalJournalEntries")
    body = json.loads(post.request.body)
    (entry,) = body["journalEntries"]
    assert entry["date"] == "2026-03-27"
    assert entry["description"] == "Renter og gebyr, oppgjør 9 [cb:settlement-9:line-2]"
    assert body["description"] == entry["description"]
    assert entry["lines"] == [
        {"amount": 11000, "debitAccount": "1920:10001", "creditAccount": "8050"},
        {"amount": 1540, "debitAccount": "7770", "creditAccount": "8050"},
    ]
    assert fake.journal_entries[int(ledger_id)]["description"].endswith("[cb:settlement-9:line-2]")


def test_booking_again_and_finding_answer_with_the_same_entry(
    fake: FikenFake, mock: Any, new: Sources
) -> None:
    first = new().book_voucher(voucher())
    assert new().book_voucher(voucher()) == first
    assert len(posts(mock, "/generalJournalEntries")) == 1
    assert new().find_booking("settlement-9:line-2") == first
    assert new().find_booking("settlement-9:line-") is None
    searches = [c.request.url for c in mock.calls if "/journalEntries?" in c.request.url]
    assert "date=2026-03-27" in searches[0]
    assert "createdDateGe=2025-12-31" in searches[-1]  # booking_search_days = 90


def test_a_long_reference_is_hashed_and_still_found(
    fake: FikenFake, mock: Any, new: Sources
) -> None:
    ref = "agency-settlement/2026-03/7f1c2e0b-9a4d-4c1e-8f55-0e6a2b9d7c31#12"
    ledger_id = new().book_voucher(voucher(ref, description="x" * 300))
    text = fake.journal_entries[int(ledger_id)]["description"]
    assert len(text) == 200
    assert ref not in text
    assert new().find_booking(ref) == ledger_id


def test_a_lost_answer_is_resolved_by_the_search(fake: FikenFake, mock: Any, new: Sources) -> None:
    fake.lose_next_answer()
    ledger_id = new().book_voucher(voucher())
    assert list(fake.journal_entries) == [int(ledger_id)]


def test_an_account_fiken_does_not_have_is_its_error(
    fake: FikenFake, mock: Any, new: Sources
) -> None:
    lines = (VoucherLine("1920:10001", Decimal(5)), VoucherLine("8059", Decimal(-5)))
    with pytest.raises(RemoteError, match="account does not exist"):
        new().book_voucher(voucher(lines=lines))
    assert not fake.journal_entries


def test_what_fiken_cannot_take_is_refused_before_any_request(
    fake: FikenFake, mock: Any, new: Sources
) -> None:
    with pytest.raises(ConnectorError, match="in SEK"):
        new().book_voucher(voucher(currency="SEK"))
    lines = (VoucherLine("1920:1", Decimal(5)), VoucherLine("8050", Decimal(-5)))
    with pytest.raises(DataError, match="line 1: account"):
        new().book_voucher(voucher(lines=lines))
    assert not mock.calls


def test_a_payment_whose_answer_is_lost_is_found_on_the_sale(
    fake: FikenFake, mock: Any, new: Sources
) -> None:
    invoice = fake.add_invoice(fake.add_customer(), 50000)
    source = new()
    payment = Payment(
        payment_id="settlement-3:line-1",
        source=SourceRef(system="agency", record_id="s3"),
        amount=Decimal("150.25"),
        currency="NOK",
        booking_date=TODAY,
    )
    claim = _claim_for(invoice, source)
    fake.lose_next_answer()
    ledger_id = source.register_payment(payment, claim)
    (booked,) = invoice["sale"]["salePayments"]
    assert str(booked["paymentId"]) == ledger_id
    assert new().register_payment(payment, claim) == ledger_id
