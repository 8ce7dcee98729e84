"""Nets OCR giro: the real netsgiro test file, files written with netsgiro, and broken input."""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netsgiro import records

from claimbridge.connectors.banks.ocr_giro import iter_payments
from claimbridge.errors import ParseError
from claimbridge.schemas import PaymentKind

DAY = dt.date(2024, 3, 4)
BANK_DAY = dt.date(2024, 3, 1)


def _transaction(number: int, ore: int, kid: str, sign: str = "0") -> list[str]:
    item1 = records.TransactionAmountItem1(
        service_code=9,
        transaction_type=10,
        transaction_number=number,
        nets_date=DAY,
        amount=ore,
        kid=kid,
        centre_id="01",
        day_code=4,
        partial_settlement_number=1,
        partial_settlement_serial_number="00001",
        sign=sign,
    )
    item2 = records.TransactionAmountItem2(
        service_code=9,
        transaction_type=10,
        transaction_number=number,
        reference="000000001",
        form_number="0000000000",
        bank_date=BANK_DAY,
        debit_account="12345678903",
        filler="0000000",
    )
    return [item1.to_ocr(), item2.to_ocr()]


def _file(
    transactions: list[tuple[int, str, str]],
    *,
    assignment_total: int | None = None,
    transmission_total: int | None = None,
    transmission_count: int | None = None,
) -> list[str]:
    body: list[str] = []
    for number, (ore, kid, sign) in enumerate(transactions, 1):
        body += _transaction(number, ore, kid, sign)
    total = sum(ore for ore, _, _ in transactions)
    count = len(transactions)
    return [
        records.TransmissionStart(
            service_code=0,
            transmission_number="1000001",
            data_transmitter="00008080",
            data_recipient="00123456",
        ).to_ocr(),
        records.AssignmentStart(
            service_code=9,
            assignment_type=0,
            assignment_number="4000086",
            assignment_account="88888888888",
            agreement_id="000000000",
        ).to_ocr(),
        *body,
        records.AssignmentEnd(
            service_code=9,
            assignment_type=0,
            num_transactions=count,
            num_records=len(body) + 2,
            total_amount=total if assignment_total is None else assignment_total,
            nets_date_1=DAY,
            nets_date_2=DAY,
            nets_date_3=DAY,
        ).to_ocr(),
        records.TransmissionEnd(
            service_code=0,
            num_transactions=count if transmission_count is None else transmission_count,
            num_records=len(body) + 4,
            total_amount=total if transmission_total is None else transmission_total,
            nets_date=DAY,
        ).to_ocr(),
    ]


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "ocr.txt"
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


GOOD = [(150050, "1234567890128", "0"), (20000, "9876543210", "-")]


def test_real_file_matches_its_end_records(external_fixtures: Path) -> None:
    path = external_fixtures / "payments" / "nets-ocr-giro-transactions.txt"
    payments = list(iter_payments(path))
    # the assignment and transmission end records state 20 transactions, 51449.00 NOK
    assert len(payments) == 20
    assert sum(p.amount for p in payments) == Decimal("51449.00")
    first = payments[0]
    assert first.kind is PaymentKind.BANK
    assert first.amount == Decimal("1020.00")
    assert first.currency == "NOK"
    assert first.reference == "0000531"
    assert first.booking_date == dt.date(1992, 1, 20)
    assert first.value_date == dt.date(1992, 1, 16)
    assert first.payer_account == "99990512341"
    assert first.message == "Foo bar baz"
    assert first.source.system == "ocr_giro"
    assert first.source.company == "99991042764"
    assert first.payment_id == "0170031-0000002-0000001"
    assert payments[10].reference == "000149012"
    assert payments[10].amount == Decimal("1943.00")
    ids = [p.payment_id for p in payments]
    assert len(set(ids)) == 20
    assert ids == [p.payment_id for p in iter_payments(path)]


def test_written_file_round_trips(tmp_path: Path) -> None:
    payments = list(iter_payments(_write(tmp_path, _file(GOOD))))
    assert [(p.amount, p.reference) for p in payments] == [
        (Decimal("1500.50"), "1234567890128"),
        (Decimal("-200.00"), "9876543210"),  # sign '-': a reversal
    ]
    assert payments[0].booking_date == DAY
    assert payments[0].value_date == BANK_DAY
    assert payments[0].payer_account == "12345678903"
    assert payments[1].payment_id == "1000001-4000086-0000002"


def test_crlf_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "crlf.txt"
    path.write_bytes(("\r\n".join(_file(GOOD)) + "\r\n").encode())
    assert len(list(iter_payments(path))) == 2


BROKEN = {
    "truncated": (lambda ls: ls[:-1], "truncated"),
    "cut inside assignment": (lambda ls: ls[:4], "truncated"),
    "short record": (lambda ls: [ls[0], ls[1][:70], *ls[2:]], "70 characters"),
    "long record": (lambda ls: [ls[0] + "0", *ls[1:]], "characters long"),
    "bad amount": (lambda ls: [*ls[:2], ls[2][:40] + "X" + ls[2][41:], *ls[3:]], "layout"),
    "unknown record": (lambda ls: [*ls[:2], ls[2][:6] + "77" + ls[2][8:], *ls[3:]], "unknown"),
    "avtalegiro record": (lambda ls: [*ls[:2], ls[2][:6] + "70" + ls[2][8:], *ls[3:]], "Avtale"),
    "not nets": (lambda ls: ["XX" + ls[0][2:], *ls[1:]], "not a Nets record"),
    "missing item 2": (lambda ls: [*ls[:3], *ls[4:]], "amount item 2"),
    "after end": (lambda ls: [*ls, ls[0]], "after the transmission end"),
    "two starts": (lambda ls: [ls[0], *ls], "second transmission start"),
    "no start": (lambda ls: ls[1:], "does not start"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_files_raise_parse_error_with_location(tmp_path: Path, case: str) -> None:
    mutate, expected = BROKEN[case]
    path = _write(tmp_path, mutate(_file(GOOD)))
    with pytest.raises(ParseError, match=expected) as info:
        list(iter_payments(path))
    assert info.value.file == str(path)
    assert info.value.line is not None


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"assignment_total": 1}, "assignment end record says 0.01 total amount"),
        ({"transmission_total": 170050 + 1}, "transmission end record says 1700.51"),
        ({"transmission_count": 3}, "transmission end record says 3 transactions"),
    ],
)
def test_end_record_mismatch(tmp_path: Path, kwargs: dict[str, int], expected: str) -> None:
    path = _write(tmp_path, _file(GOOD, **kwargs))
    with pytest.raises(ParseError, match=expected):
        list(iter_payments(path))


def test_kid_stays_out_of_layout_errors(tmp_path: Path) -> None:
    lines = _file(GOOD)
    lines[2] = lines[2][:40] + "X" + lines[2][41:]
    with pytest.raises(ParseError) as info:
        list(iter_payments(_write(tmp_path, lines)))
    assert "1234567890128" not in str(info.value)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=800))
def test_random_bytes_only_raise_parse_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.ocr"
    path.write_bytes(b"NY000010" + data)
    with pytest.raises(ParseError):
        list(iter_payments(path))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(picks=st.lists(st.integers(min_value=0, max_value=7), min_size=1, max_size=12))
def test_shuffled_records_never_crash(tmp_path: Path, picks: list[int]) -> None:
    lines = _file(GOOD)
    with contextlib.suppress(ParseError):
        list(iter_payments(_write(tmp_path, [lines[i] for i in picks])))
