"""Booking vouchers in Visma eAccounting, against the in-memory Visma fake."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from claimbridge.connectors.accounting.visma import VismaSettings, VismaSource
from claimbridge.connectors.base import ConnectorContext, Voucher, VoucherLine
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.errors import ConnectorError, DataError, OutcomeUnknownError, RemoteError
from claimbridge.transport.http import HttpOptions
from tests.fakes.visma import VismaFake
from tests.unit.test_visma import fake as fake
from tests.unit.test_visma import mock as mock

TODAY = dt.date(2026, 3, 31)


class Sources:
    """New sources over one credential store (Visma spends the refresh token on every
    refresh), on one day, as successive runs."""

    def __init__(self, fake: VismaFake) -> None:
        self.fake = fake
        self.store = MemoryCredentialStore()

    def __call__(self, **overrides: Any) -> VismaSource:
        options: dict[str, Any] = {
            "client_id": self.fake.client_id,
            "client_secret": SecretStr(self.fake.client_secret),
            "refresh_token": SecretStr("rt-0"),
            "http": HttpOptions(rate_limit_per_s=None, backoff_initial=0),
            **overrides,
        }
        context = ConnectorContext(name="ledger", today=TODAY, credentials=self.store)
        return VismaSource(VismaSettings(**options), context, sleep=lambda _: None)


@pytest.fixture
def new(fake: VismaFake) -> Sources:
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


def posts(mock: Any) -> list[Any]:
    return [
        c
        for c in mock.calls
        if c.request.method == "POST" and urlsplit(c.request.url).path == "/v2/vouchers"
    ]


def test_a_voucher_has_debit_and_credit_rows_no_vat_and_the_reference_in_its_text(
    fake: VismaFake, mock: Any, new: Sources
) -> None:
    ledger_id = new().book_voucher(voucher())
    (post,) = posts(mock)
    query = parse_qs(urlsplit(post.request.url).query)
    assert query == {"useAutomaticVatCalculation": ["false"], "useDefaultVatCodes": ["false"]}
    sent = json.loads(post.request.body)
    assert sent["VoucherDate"] == "2026-03-27"
    assert sent["VoucherText"] == "Räntor och avgifter, avräkning 9 [cb:settlement-9:line-2]"
    rows = [(r["AccountNumber"], r["DebitAmount"], r["CreditAmount"]) for r in sent["Rows"]]
    assert rows == [(1930, 110, 0), (8310, 0, 125.4), (6570, 15.4, 0)]
    assert [r["TransactionText"] for r in sent["Rows"]] == ["Utbetalt", "", "Provision"]
    assert fake.vouchers[ledger_id]["NumberAndNumberSeries"] == "A1"


def test_booking_again_finds_it_around_its_date_and_posts_nothing(
    fake: VismaFake, mock: Any, new: Sources
) -> None:
    first = new().book_voucher(voucher())
    assert new().book_voucher(voucher()) == first
    assert len(posts(mock)) == 1
    lookup = [
        c.request.url
        for c in mock.calls
        if c.request.method == "GET" and "vouchers" in c.request.url
    ]
    window = parse_qs(urlsplit(lookup[-1]).query)["$filter"][0]
    assert window == "VoucherDate ge 2026-03-26T00:00:00Z and VoucherDate le 2026-03-28T00:00:00Z"
    assert new().find_booking("settlement-9:line-2") == first
    assert new().find_booking("settlement-9:line-") is None


def test_find_booking_looks_back_booking_search_days(
    fake: VismaFake, mock: Any, new: Sources
) -> None:
    booked = new().book_voucher(voucher("old-one", date=dt.date(2026, 1, 2)))
    assert new().find_booking("old-one") == booked
    assert new(booking_search_days=30).find_booking("old-one") is None


def test_a_long_description_is_cut_to_keep_the_reference(
    fake: VismaFake, mock: Any, new: Sources
) -> None:
    ledger_id = new().book_voucher(voucher(description="avräkning " * 30))
    text = fake.vouchers[ledger_id]["VoucherText"]
    assert len(text) <= 100
    assert text.endswith("[cb:settlement-9:line-2]")


def test_a_lost_answer_is_resolved_by_the_search(fake: VismaFake, mock: Any, new: Sources) -> None:
    fake.lose_next_answer()
    ledger_id = new().book_voucher(voucher())
    assert list(fake.vouchers) == [ledger_id]


def test_an_unanswered_voucher_that_cannot_be_found_stays_unknown(
    fake: VismaFake, mock: Any, new: Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = fake._list

    def lagging(kind: str, store: Any, query: dict[str, str]) -> Any:
        return original(kind, {} if kind == "vouchers" else store, query)

    monkeypatch.setattr(fake, "_list", lagging)
    fake.lose_next_answer()
    with pytest.raises(OutcomeUnknownError):
        new().book_voucher(voucher())
    assert len(fake.vouchers) == 1


def test_visma_refusing_an_account_is_a_remote_error(
    fake: VismaFake, mock: Any, new: Sources
) -> None:
    lines = (VoucherLine("1930", Decimal(5)), VoucherLine("8999", Decimal(-5)))
    with pytest.raises(RemoteError, match="account number does not exist"):
        new().book_voucher(voucher(lines=lines))
    assert not fake.vouchers


def test_what_visma_cannot_take_is_refused_before_any_request(
    fake: VismaFake, mock: Any, new: Sources
) -> None:
    with pytest.raises(ConnectorError, match="in NOK"):
        new().book_voucher(voucher(currency="NOK"))
    lines = (VoucherLine("1930:1", Decimal(5)), VoucherLine("8310", Decimal(-5)))
    with pytest.raises(DataError, match="line 1: account"):
        new().book_voucher(voucher(lines=lines))
    assert not mock.calls


def test_payments_are_not_found_by_payment_id(fake: VismaFake, mock: Any, new: Sources) -> None:
    assert new().find_booking("settlement-3:line-1") is None
