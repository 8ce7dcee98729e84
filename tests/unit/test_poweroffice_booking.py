"""Booking back into PowerOffice Go: manual journals, and finding payments and vouchers again."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from claimbridge.connectors.accounting._poweroffice_booking import go_reference
from claimbridge.connectors.accounting.poweroffice import INVOICES
from claimbridge.connectors.base import RawRecord, Voucher, VoucherLine
from claimbridge.errors import ConnectorError, OutcomeUnknownError, RemoteError
from claimbridge.schemas import Claim, Payment, SourceRef
from tests.fakes.poweroffice import FakePowerOffice
from tests.unit.test_poweroffice import go as go
from tests.unit.test_poweroffice import ledger, make_source


def voucher(ref: str = "settlement-9:line-2", **fields: Any) -> Voucher:
    values: dict[str, Any] = {
        "external_ref": ref,
        "date": dt.date(2026, 2, 27),
        "currency": "NOK",
        "description": "Renter og gebyr, oppgjør 9",
        "lines": (
            VoucherLine("1920", Decimal("110.00"), "Utbetalt"),
            VoucherLine("8050", Decimal("-125.40")),
            VoucherLine("7770", Decimal("15.40"), "Provisjon"),
        ),
        **fields,
    }
    return Voucher(**values)


def posts(go: FakePowerOffice, path: str = "/Vouchers/ManualJournals") -> list[Any]:
    return [e for e in go.exchanges if e.method == "POST" and e.path == path]


def test_a_manual_journal_names_account_ids_and_carries_the_reference(
    go: FakePowerOffice,
) -> None:
    ledger_id = make_source().book_voucher(voucher())
    (post,) = posts(go)
    assert post.body["ExternalImportReference"] == "claimbridge-settlement-9:line-2"
    assert post.body["CurrencyCode"] == "NOK"
    assert post.body["VoucherDate"] == "2026-02-27"
    assert [line["AccountId"] for line in post.body["VoucherLines"]] == [1920, 78050, 77770]
    assert [line["CurrencyAmount"] for line in post.body["VoucherLines"]] == [110.0, -125.4, 15.4]
    assert all(line["VatId"] is None for line in post.body["VoucherLines"])
    descriptions = [line["Description"] for line in post.body["VoucherLines"]]
    assert descriptions == ["Utbetalt", "Renter og gebyr, oppgjør 9", "Provisjon"]
    assert ledger_id == post.response["Id"]
    lookups = [e for e in go.exchanges if e.path == "/GeneralLedgerAccounts"]
    assert {e.query["accountNos"] for e in lookups} == {"1920,7770,8050"}


def test_booking_again_finds_it_on_its_date_and_posts_nothing(go: FakePowerOffice) -> None:
    first = make_source().book_voucher(voucher())
    assert make_source().book_voucher(voucher()) == first
    assert len(posts(go)) == 1
    searches = [e.query for e in go.exchanges if e.path == "/AccountTransactions"]
    assert searches[-1]["fromDate"] == searches[-1]["toDate"] == "2026-02-27"
    assert searches[-1]["voucherTypes"] == "ManualJournal,BankJournal"


def test_find_booking_finds_vouchers_and_payments_by_payment_id(go: FakePowerOffice) -> None:
    invoices = ledger(go)
    source = make_source()
    claim = source.normalize(INVOICES, RawRecord(data=invoices[0], location="x"))[0]
    assert isinstance(claim, Claim)
    payment = Payment(
        payment_id="settlement-3:line-1",
        source=SourceRef(system="agency", record_id="s3"),
        amount=Decimal("25.00"),
        currency="NOK",
        booking_date=dt.date(2026, 2, 20),
    )
    paid = source.register_payment(payment, claim)
    booked = source.book_voucher(voucher())
    assert make_source().find_booking("settlement-3:line-1") == paid
    assert make_source().find_booking("settlement-9:line-2") == booked
    assert make_source().find_booking("settlement-9:line-") is None
    (search,) = [e.query for e in go.exchanges if e.path == "/AccountTransactions"][-1:]
    assert (search["fromDate"], search["toDate"]) == ("2025-12-01", "2026-03-01")


def test_a_lost_answer_is_resolved_by_the_lookup(go: FakePowerOffice) -> None:
    go.lose_next_answer()
    ledger_id = make_source().book_voucher(voucher())
    assert list(go.vouchers) == [ledger_id]
    assert [e.status for e in posts(go)] == [0]


def test_a_reference_go_holds_on_another_date_stays_gos_duplicate_error(
    go: FakePowerOffice,
) -> None:
    make_source().book_voucher(voucher())
    moved = voucher(date=dt.date(2026, 2, 28))
    with pytest.raises(RemoteError, match="ExternalImportReference already exists"):
        make_source().book_voucher(moved)
    assert len(go.vouchers) == 1


def test_an_unanswered_post_that_cannot_be_found_stays_unknown(
    go: FakePowerOffice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Go has not listed the voucher's transactions yet when claimbridge looks."""
    original = go._list

    def lagging(path: str, query: dict[str, str]) -> Any:
        return [] if path == "/AccountTransactions" else original(path, query)

    monkeypatch.setattr(go, "_list", lagging)
    go.lose_next_answer()
    with pytest.raises(OutcomeUnknownError):
        make_source().book_voucher(voucher())
    assert len(go.vouchers) == 1


def test_unknown_and_inactive_accounts_are_named_before_posting(go: FakePowerOffice) -> None:
    lines = (VoucherLine("1920", Decimal(5)), VoucherLine("8051", Decimal(-5)))
    with pytest.raises(ConnectorError, match="account 8051 is not in the chart"):
        make_source().book_voucher(voucher(lines=lines))
    lines = (VoucherLine("1920", Decimal(5)), VoucherLine("3990", Decimal(-5)))
    with pytest.raises(ConnectorError, match="account 3990 is inactive"):
        make_source().book_voucher(voucher(lines=lines))
    assert not posts(go)


def test_foreign_currency_vouchers_go_as_go_takes_them(go: FakePowerOffice) -> None:
    make_source().book_voucher(voucher(currency="EUR"))
    assert posts(go)[0].body["CurrencyCode"] == "EUR"


def test_long_references_are_hashed_within_fifty_characters() -> None:
    long = "agency-settlement/2026-03/7f1c2e0b-9a4d-4c1e-8f55-0e6a2b9d7c31#12"
    assert len(go_reference(long)) == 50
    assert go_reference(long) == go_reference(long)
    assert go_reference(long) != go_reference(long + "3")
    assert go_reference("agency-77") == "claimbridge-agency-77"  # as payments always were
