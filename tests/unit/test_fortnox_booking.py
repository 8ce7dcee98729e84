"""Booking back into Fortnox: vouchers in a series, and a payment whose answer is lost."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from claimbridge.connectors.accounting.fortnox import FortnoxSettings, FortnoxSource
from claimbridge.connectors.base import ConnectorContext, Voucher, VoucherLine
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.errors import ConnectorError, DataError, OutcomeUnknownError, RemoteError
from claimbridge.schemas import Claim, Payment, SourceRef
from claimbridge.transport.http import HttpOptions
from tests.fakes.fortnox import FortnoxFake
from tests.unit.test_fortnox import NOW, Clock, ledger, read, stream
from tests.unit.test_fortnox import fake as fake
from tests.unit.test_fortnox import mock as mock


class Sources:
    """New sources over one credential store (Fortnox rotates the refresh token on every
    refresh), on the fake's day, as successive runs."""

    def __init__(self, fake: FortnoxFake) -> None:
        self.fake = fake
        self.store = MemoryCredentialStore()

    def __call__(self, **overrides: Any) -> FortnoxSource:
        options: dict[str, Any] = {
            "client_id": self.fake.client_id,
            "client_secret": SecretStr(self.fake.client_secret),
            "refresh_token": SecretStr("rt-0"),
            "http": HttpOptions(rate_limit_per_s=None, backoff_initial=0),
            **overrides,
        }
        context = ConnectorContext(name="ledger", today=NOW.date(), credentials=self.store)
        return FortnoxSource(FortnoxSettings(**options), context, sleep=lambda _: None, now=Clock())


@pytest.fixture
def new(fake: FortnoxFake) -> Sources:
    return Sources(fake)


def voucher(ref: str = "settlement-9:line-2", **fields: Any) -> Voucher:
    values: dict[str, Any] = {
        "external_ref": ref,
        "date": dt.date(2026, 3, 27),
        "currency": "SEK",
        "description": "Räntor och avgifter, avräkning 9",
        "lines": (
            VoucherLine("1930", Decimal("110.00"), "Utbetalt"),
            VoucherLine("8310", Decimal("-125.40")),
            VoucherLine("6570", Decimal("15.40"), "Provision"),
        ),
        **fields,
    }
    return Voucher(**values)


def posted(fake: FortnoxFake) -> list[tuple[Any, Any]]:
    return [
        (request, reply)
        for request, reply in fake.exchanges
        if request.method == "POST" and (request.url or "").split("?")[0].endswith("/3/vouchers")
    ]


def test_a_voucher_has_debit_and_credit_rows_and_the_reference_in_its_description(
    fake: FortnoxFake, mock: Any, new: Sources
) -> None:
    ledger_id = new(voucher_series="K").book_voucher(voucher())
    assert ledger_id == "K-1-2"
    ((request, _reply),) = posted(fake)
    assert request.url.endswith("/3/vouchers?financialyear=2")
    sent = json.loads(request.body)["Voucher"]
    assert sent["Description"] == "Räntor och avgifter, avräkning 9 [cb:settlement-9:line-2]"
    assert (sent["VoucherSeries"], sent["Year"], sent["TransactionDate"]) == ("K", 2, "2026-03-27")
    assert [(r["Account"], r["Debit"], r["Credit"]) for r in sent["VoucherRows"]] == [
        (1930, 110, 0),
        (8310, 0, 125.4),
        (6570, 15.4, 0),
    ]
    assert [r["TransactionInformation"] for r in sent["VoucherRows"]] == [
        "Utbetalt",
        "",
        "Provision",
    ]


def test_booking_again_finds_it_in_the_series_and_posts_nothing(
    fake: FortnoxFake, mock: Any, new: Sources
) -> None:
    first = new().book_voucher(voucher())
    assert new().book_voucher(voucher()) == first
    assert len(posted(fake)) == 1
    assert new().find_booking("settlement-9:line-2") == first
    assert new().find_booking("settlement-9:line-") is None
    assert new(voucher_series="K").find_booking("settlement-9:line-2") is None


def test_a_lost_answer_is_resolved_by_the_search(
    fake: FortnoxFake, mock: Any, new: Sources
) -> None:
    fake.lose_next_answer()
    ledger_id = new().book_voucher(voucher())
    assert list(fake.vouchers) == [(2, "A", 1)]
    assert ledger_id == "A-1-2"


def test_find_booking_searches_the_years_of_the_window(
    fake: FortnoxFake, mock: Any, new: Sources
) -> None:
    old = new().book_voucher(voucher("old-one", date=dt.date(2025, 12, 30)))
    assert old == "A-1-1"
    assert new().find_booking("old-one") == old  # 2025-12-30 is within 90 days
    assert new(booking_search_days=30).find_booking("old-one") is None


def test_a_date_outside_every_financial_year_is_refused_before_posting(
    fake: FortnoxFake, mock: Any, new: Sources
) -> None:
    with pytest.raises(ConnectorError, match="no financial year for 2024-06-30"):
        new().book_voucher(voucher(date=dt.date(2024, 6, 30)))
    assert not posted(fake)


def test_fortnox_refusing_an_account_is_a_remote_error(
    fake: FortnoxFake, mock: Any, new: Sources
) -> None:
    lines = (VoucherLine("1930", Decimal(5)), VoucherLine("8999", Decimal(-5)))
    with pytest.raises(RemoteError, match="Kontot finns inte"):
        new().book_voucher(voucher(lines=lines))
    assert not fake.vouchers


def test_what_fortnox_cannot_take_is_refused_before_any_request(
    fake: FortnoxFake, mock: Any, new: Sources
) -> None:
    with pytest.raises(ConnectorError, match="in EUR"):
        new().book_voucher(voucher(currency="EUR"))
    lines = (VoucherLine("19300", Decimal(5)), VoucherLine("8310", Decimal(-5)))
    with pytest.raises(DataError, match="line 1: account"):
        new().book_voucher(voucher(lines=lines))
    assert not fake.exchanges


def test_a_payment_whose_answer_is_lost_is_found_and_bookkept_once(
    fake: FortnoxFake, mock: Any, new: Sources
) -> None:
    ledger(fake)
    source = new()
    claim = next(
        m
        for r in read(source, "invoices")
        for m in source.normalize(stream(source, "invoices"), r)
        if isinstance(m, Claim)
    )
    payment = Payment(
        payment_id="settlement-3:line-1",
        source=SourceRef(system="agency", record_id="s3"),
        amount=Decimal("25.00"),
        currency="SEK",
        booking_date=dt.date(2026, 3, 30),
    )
    fake.lose_next_answer()
    number = source.register_payment(payment, claim)
    assert fake.payments[number]["Booked"] is True
    assert new().register_payment(payment, claim) == number
    mine = [p for p in fake.payments.values() if str(p["InvoiceNumber"]) == claim.invoice_number]
    assert len(mine) == 1


def test_an_unanswered_voucher_that_cannot_be_found_stays_unknown(
    fake: FortnoxFake, mock: Any, new: Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = fake._voucher_list

    def lagging(series: str, query: dict[str, str]) -> Any:
        return original("K", query)  # the new voucher is not listed yet

    monkeypatch.setattr(fake, "_voucher_list", lagging)
    fake.lose_next_answer()
    with pytest.raises(OutcomeUnknownError):
        new().book_voucher(voucher())
    assert len(fake.vouchers) == 1
