"""Booking journal vouchers in Tripletex, against the in-memory fake of its API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
import responses

from claimbridge.connectors.base import Voucher, VoucherLine
from claimbridge.errors import ConnectorError, DataError, RemoteError
from tests.fakes.tripletex import FakeTripletex
from tests.unit.test_tripletex import TODAY, make_source


@pytest.fixture
def fake() -> Iterator[FakeTripletex]:
    ledger = FakeTripletex(today=TODAY)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        ledger.install(rsps)
        yield ledger


def voucher(ref: str = "settlement-9:line-2", currency: str = "NOK", **accounts: str) -> Voucher:
    return Voucher(
        external_ref=ref,
        date=dt.date(2026, 3, 27),
        currency=currency,
        description="Renter og gebyr, oppgjør 9",
        lines=(
            VoucherLine(accounts.get("bank", "1920"), Decimal("110.00"), "Utbetalt"),
            VoucherLine(accounts.get("income", "8050"), Decimal("-125.40")),
            VoucherLine("7770", Decimal("15.40"), "Provisjon"),
        ),
    )


def posts(fake: FakeTripletex) -> list[object]:
    return [c for c in fake.calls if c.method == "POST" and c.path == "/ledger/voucher"]


def test_a_voucher_is_posted_with_account_ids_rows_and_our_reference(fake: FakeTripletex) -> None:
    ledger_id = make_source().book_voucher(voucher())
    (post,) = [c for c in fake.calls if c.path == "/ledger/voucher"]
    sent = post.sent
    assert sent["externalVoucherNumber"] == "cb:settlement-9:line-2"
    assert sent["date"] == "2026-03-27"
    assert sent["description"] == "Renter og gebyr, oppgjør 9"
    assert [p["row"] for p in sent["postings"]] == [1, 2, 3]
    assert [p["account"] for p in sent["postings"]] == [{"id": 51920}, {"id": 58050}, {"id": 57770}]
    assert [p["amountGross"] for p in sent["postings"]] == [110, -125.4, 15.4]
    assert [p["description"] for p in sent["postings"]][1] == "Renter og gebyr, oppgjør 9"
    (lookup,) = fake.requests_to("/ledger/account")
    assert lookup.query["number"] == "1920,7770,8050"
    stored = fake.vouchers[int(ledger_id)]
    assert sum(p["amountGross"] for p in stored["postings"]) == 0


def test_booking_again_finds_the_voucher_and_posts_nothing(fake: FakeTripletex) -> None:
    first = make_source().book_voucher(voucher())
    again = make_source().book_voucher(voucher())
    assert again == first
    assert len(posts(fake)) == 1
    assert make_source().find_booking("settlement-9:line-2") == first
    assert make_source().find_booking("settlement-9:line-") is None


def test_a_long_reference_is_kept_short_and_still_found(fake: FakeTripletex) -> None:
    ref = "agency-settlement/2026-03/7f1c2e0b-9a4d-4c1e-8f55-0e6a2b9d7c31#12"
    ledger_id = make_source().book_voucher(voucher(ref))
    number = fake.vouchers[int(ledger_id)]["externalVoucherNumber"]
    assert number.startswith("cb#")
    assert len(number) == 27
    assert make_source().find_booking(ref) == ledger_id
    assert make_source().book_voucher(voucher(ref)) == ledger_id


def test_a_lost_answer_is_resolved_by_the_lookup(fake: FakeTripletex) -> None:
    fake.lose_next_answer()
    ledger_id = make_source().book_voucher(voucher())
    assert list(fake.vouchers) == [int(ledger_id)]
    assert [c.status for c in posts(fake)] == [0]


def test_an_unknown_account_is_named_and_nothing_is_posted(fake: FakeTripletex) -> None:
    with pytest.raises(ConnectorError, match="account 8051 is not in the chart"):
        make_source().book_voucher(voucher(income="8051"))
    assert not posts(fake)


def test_vouchers_in_another_currency_or_unbalanced_are_refused_before_any_call(
    fake: FakeTripletex,
) -> None:
    with pytest.raises(ConnectorError, match="in EUR"):
        make_source().book_voucher(voucher(currency="EUR"))
    bad = voucher()
    object.__setattr__(bad, "lines", bad.lines[:2])
    with pytest.raises(DataError, match="do not balance"):
        make_source().book_voucher(bad)
    assert fake.calls == []


def test_tripletex_refusing_the_voucher_is_a_remote_error_with_its_code(
    fake: FakeTripletex,
) -> None:
    fake.locked_until = dt.date(2026, 3, 31)
    with pytest.raises(RemoteError, match="låst") as info:
        make_source().book_voucher(voucher())
    assert info.value.code == "15000"
    assert not fake.vouchers
    assert [c.status for c in posts(fake)] == [422]


def test_payments_are_not_found_by_payment_id(fake: FakeTripletex) -> None:
    fake.add_customer(1)
    fake.add_invoice(101, customer=1)
    fake.pay(101, "100.00", TODAY)
    assert make_source().find_booking("settlement-1") is None
