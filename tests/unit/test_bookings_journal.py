"""The bookings journal a file-based ledger imports: balanced bookings, each external reference
once (also under concurrent writers), torn bookings from a crash removed, bad files refused."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimbridge.connectors.accounting.files import OpenItemsFileSource, OpenItemsSettings
from claimbridge.connectors.accounting.journal import COLUMNS, BookingsJournal
from claimbridge.connectors.base import (
    ConnectorContext,
    NotSupportedError,
    Voucher,
    VoucherLine,
)
from claimbridge.errors import ParseError
from claimbridge.schemas import Payment, PaymentKind, SourceRef
from tests.factories import make_claim

DAY = date(2026, 12, 5)


def pay(journal: BookingsJournal, ref: str, amount: str = "500.00") -> str:
    return journal.book_payment(
        ref,
        on=DAY,
        invoice_number="10017",
        amount=Decimal(amount),
        currency="NOK",
        bank_account="1920",
        receivables_account="1500",
        description="settlement SBX-1:2026-11",
    )


def voucher(ref: str) -> Voucher:
    return Voucher(
        external_ref=ref,
        date=DAY,
        currency="NOK",
        description="sandbox settlement",
        lines=(
            VoucherLine("1920", Decimal("54.00")),
            VoucherLine("8050", Decimal("-12.00"), "interest"),
            VoucherLine("3900", Decimal("-70.00"), "fees"),
            VoucherLine("7770", Decimal("28.00"), "commission"),
        ),
    )


def test_a_payment_is_two_balanced_postings_on_the_invoice(tmp_path: Path) -> None:
    journal = BookingsJournal(tmp_path / "bookings.csv")
    booking = pay(journal, "SBX-1:2026-11:10017")
    rows = journal.rows()
    assert [(r.account, r.amount) for r in rows] == [
        ("1920", Decimal("500.00")),
        ("1500", Decimal("-500.00")),
    ]
    assert {r.booking_id for r in rows} == {booking}
    assert {r.invoice_number for r in rows} == {"10017"}
    assert (tmp_path / "bookings.csv").read_text().splitlines()[0] == ",".join(COLUMNS)


def test_the_same_reference_is_booked_once(tmp_path: Path) -> None:
    journal = BookingsJournal(tmp_path / "bookings.csv")
    first = pay(journal, "line-1")
    again = pay(journal, "line-1", amount="999.00")  # a retry never books a second time
    assert again == first
    second = journal.book_voucher(voucher("line-1/voucher"))
    assert journal.book_voucher(voucher("line-1/voucher")) == second
    assert second != first
    assert len(journal.rows()) == 6
    assert journal.find("line-1") == first
    assert journal.find("line-1/voucher") == second
    assert journal.find("line-2") is None


def test_every_booking_balances(tmp_path: Path) -> None:
    journal = BookingsJournal(tmp_path / "bookings.csv")
    pay(journal, "a")
    journal.book_voucher(voucher("b"))
    totals: dict[str, Decimal] = {}
    for row in journal.rows():
        totals[row.booking_id] = totals.get(row.booking_id, Decimal(0)) + row.amount
    assert set(totals.values()) == {Decimal(0)}


def test_a_booking_cut_short_by_a_crash_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "bookings.csv"
    journal = BookingsJournal(path)
    pay(journal, "whole")
    good = path.read_bytes()
    lines = good.decode().splitlines(keepends=True)
    # a crash mid-write: the first posting of a two-posting booking, and half of the second
    torn = lines[1].replace("J0000001", "J0000002").replace("whole", "torn")
    path.write_bytes(good + torn.encode() + b"J0000002,torn,payment,2,2,2026-")
    assert journal.find("torn") is None
    assert [r.external_ref for r in journal.rows()] == ["whole", "whole"]
    booked = pay(journal, "torn")  # booked for real now, the torn rows gone first
    assert booked == "J0000002"
    assert [r.external_ref for r in journal.rows()] == ["whole", "whole", "torn", "torn"]
    assert path.read_bytes().startswith(good)


def test_a_torn_header_is_written_again(tmp_path: Path) -> None:
    path = tmp_path / "bookings.csv"
    path.write_bytes(b"booking_id,exter")
    journal = BookingsJournal(path)
    assert journal.rows() == []
    pay(journal, "a")
    assert len(journal.rows()) == 2


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bookings.csv"
    path.write_text("invoice_number,amount\n1,2\n")
    with pytest.raises(ParseError, match="not a claimbridge bookings journal"):
        BookingsJournal(path).find("x")
    with pytest.raises(ParseError):
        pay(BookingsJournal(path), "x")
    assert path.read_text() == "invoice_number,amount\n1,2\n"  # nothing appended to it


def test_an_unreadable_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bookings.csv"
    journal = BookingsJournal(path)
    pay(journal, "a")
    with path.open("a") as handle:
        handle.write("J0000002,b,payment,one,2,2026-12-05,1,1920,5.00,NOK,x,now\n")
    with pytest.raises(ParseError) as caught:
        journal.rows()
    assert "bookings.csv:4" in str(caught.value)


def test_concurrent_writers_book_each_reference_once(tmp_path: Path) -> None:
    path = tmp_path / "bookings.csv"
    barrier = threading.Barrier(8)
    results: list[str] = []

    def book(ref: str) -> None:
        barrier.wait()
        results.append(pay(BookingsJournal(path), ref))

    threads = [threading.Thread(target=book, args=(f"ref-{i % 4}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = BookingsJournal(path).rows()
    assert len(rows) == 8  # four references, two postings each
    assert len(set(results)) == 4
    assert len({r.booking_id for r in rows}) == 4


@given(
    st.lists(
        st.tuples(st.sampled_from(["p", "v", "torn"]), st.integers(0, 5)),
        max_size=15,
    )
)
@settings(max_examples=60, deadline=None)
def test_any_mix_of_bookings_retries_and_crashes_keeps_each_reference_once(
    steps: list[tuple[str, int]],
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bookings.csv"
        journal = BookingsJournal(path)
        acknowledged: dict[str, str] = {}
        for action, n in steps:
            if action == "torn":  # a crash half-way through some booking
                with path.open("ab") as handle:
                    handle.write(b"J9999999,crash,payment,1,2,2026-12-05,1,1920")
                continue
            ref = f"{action}-{n}"
            booked = pay(journal, ref) if action == "p" else journal.book_voucher(voucher(ref))
            assert acknowledged.setdefault(ref, booked) == booked
        rows = journal.rows()
        assert {r.external_ref for r in rows} == set(acknowledged)
        by_booking: dict[str, Decimal] = {}
        for row in rows:
            by_booking[row.booking_id] = by_booking.get(row.booking_id, Decimal(0)) + row.amount
            assert acknowledged[row.external_ref] == row.booking_id
        assert all(total == 0 for total in by_booking.values())


# --- the files source books into it ----------------------------------------------------------


def source(tmp_path: Path, **settings: object) -> OpenItemsFileSource:
    options = OpenItemsSettings.model_validate({"invoices": "invoices.csv", **settings})
    return OpenItemsFileSource(options, ConnectorContext(name="ledger", workdir=tmp_path))


def settlement_payment() -> Payment:
    return Payment(
        payment_id="SBX-000001:2026-11:10017",
        source=SourceRef(system="sandbox", record_id="SBX-000001:2026-11:10017"),
        kind=PaymentKind.SETTLEMENT,
        amount=Decimal("500.00"),
        currency="NOK",
        booking_date=DAY,
        message="settlement SBX-000001:2026-11",
    )


def test_the_files_source_books_payments_and_vouchers_into_its_journal(tmp_path: Path) -> None:
    ledger = source(tmp_path, journal="out/bookings.csv", journal_bank_account="1921")
    claim = make_claim("10017")
    ref = ledger.register_payment(settlement_payment(), claim)
    assert ledger.register_payment(settlement_payment(), claim) == ref
    assert ledger.find_booking("SBX-000001:2026-11:10017") == ref
    assert ledger.find_booking("nothing") is None
    voucher_id = ledger.book_voucher(voucher("SBX-000001:2026-11:10017/voucher"))
    rows = BookingsJournal(tmp_path / "out" / "bookings.csv").rows()
    assert [(r.booking_id, r.account, r.amount) for r in rows[:2]] == [
        (ref, "1921", Decimal("500.00")),
        (ref, "1500", Decimal("-500.00")),
    ]
    assert {r.booking_id for r in rows[2:]} == {voucher_id}


def test_without_a_journal_the_files_source_books_nothing(tmp_path: Path) -> None:
    ledger = source(tmp_path)
    with pytest.raises(NotSupportedError, match="no bookings journal"):
        ledger.register_payment(settlement_payment(), make_claim("10017"))
    with pytest.raises(NotSupportedError):
        ledger.find_booking("x")
