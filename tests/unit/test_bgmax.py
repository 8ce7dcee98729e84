"""BgMax: real Bankgirot example files, a hand-made file with deductions, and broken input."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimbridge.connectors.banks.bgmax import iter_payments
from claimbridge.errors import ParseError
from claimbridge.schemas import PaymentKind

LOCAL = Path(__file__).resolve().parent.parent / "fixtures" / "payments"
DEDUCTIONS = LOCAL / "bgmax-deductions-extra-refs.txt"


def _lines(path: Path) -> list[str]:
    return path.read_bytes().decode("iso-8859-1").split("\r\n")


def _write(tmp_path: Path, lines: list[str]) -> Path:
    target = tmp_path / "broken.bgmax"
    target.write_bytes("\r\n".join(lines).encode("iso-8859-1"))
    return target


def test_minimal_real_file(external_fixtures: Path) -> None:
    [payment] = iter_payments(external_fixtures / "payments" / "bgmax-minimal.txt")
    assert payment.kind is PaymentKind.BANK
    assert payment.amount == Decimal("1100.00")
    assert payment.currency == "SEK"
    assert payment.booking_date.isoformat() == "2004-05-25"
    assert payment.reference == "650861"
    assert payment.payer_account == "97012333"
    assert payment.source.system == "bgmax"
    assert payment.source.company == "9912346"
    assert payment.payment_id == "9912346-20040525-00074-00001"


def test_example_file_matches_its_deposit_records(external_fixtures: Path) -> None:
    path = external_fixtures / "payments" / "bgmax-example-4.txt"
    payments = list(iter_payments(path))
    by_deposit: dict[str, Decimal] = defaultdict(Decimal)
    for payment in payments:
        by_deposit[payment.payment_id.split("-")[2]] += payment.amount
    # the four 15 records state these sums (öre 370000, 200000, 290000, 400000)
    assert by_deposit == {
        "00056": Decimal("3700.00"),
        "00057": Decimal("2000.00"),
        "00058": Decimal("2900.00"),
        "00059": Decimal("4000.00"),
    }
    # nine 20 records (the 70 record's count); two are split over their extra references
    assert len({p.payment_id.split("/")[0] for p in payments}) == 9
    assert {p.currency for p in payments if p.payment_id.split("-")[2] == "00059"} == {"EUR"}
    names = {p.payer_name for p in payments}
    assert {"Kalles Plåt AB", "Olles färg AB", "Berits Garn"} <= names
    ids = [p.payment_id for p in payments]
    assert len(ids) == len(set(ids))
    assert ids == [p.payment_id for p in iter_payments(path)]  # stable across re-reads
    split = [p for p in payments if p.payment_id.startswith("9912346-20040525-00058-00004/")]
    assert [(p.reference, p.amount) for p in split] == [
        ("7495575", Decimal("1000.00")),
        ("695668", Decimal("500.00")),
        ("8988777", Decimal("400.00")),
        ("74450", Decimal("-500.00")),
    ]
    unsplit = next(p for p in payments if p.payment_id == "9912346-20040525-00056-00001")
    assert unsplit.amount == Decimal("1800.00")  # extra references without amounts: kept whole
    assert unsplit.reference == "665760"
    assert unsplit.message is not None
    assert "665869" in unsplit.message


def test_deductions_and_extra_references() -> None:
    payments = list(iter_payments(DEDUCTIONS))
    summary = [(p.payment_id, p.amount, p.reference) for p in payments]
    assert summary == [
        ("9912346-20240305-00012-00001", Decimal("1500.00"), "1234567890128"),
        ("9912346-20240305-00012-00002/1", Decimal("800.00"), "1111111116"),
        ("9912346-20240305-00012-00002/2", Decimal("300.00"), "2222222224"),
        ("9912346-20240305-00012-00002/3", Decimal("-100.00"), "3333333332"),
        ("9912346-20240305-00012-00003", Decimal("-200.00"), "CREDIT-77"),
    ]
    assert sum(p.amount for p in payments) == Decimal("2300.00")  # the 15 record's amount
    first = payments[0]
    assert first.payer_name == "Testföretag AB Avd. Ekonomi"
    assert first.message == "Betalning faktura 1001"
    assert first.payer_account == "5555555"


def _replace(lines: list[str], index: int, start: int, text: str) -> list[str]:
    changed = list(lines)
    line = changed[index]
    changed[index] = line[:start] + text + line[start + len(text) :]
    return changed


BROKEN = {
    "truncated": (lambda ls: ls[:10], "truncated"),
    "no end record": (lambda ls: ls[:-2], "no end record"),
    "long record": (lambda ls: [*ls[:2], ls[2] + "X", *ls[3:]], "longer than 80"),
    "bad amount": (lambda ls: _replace(ls, 2, 40, "12A4"), "expected digits"),
    "unknown record": (lambda ls: [*ls[:3], "99" + " " * 78, *ls[3:]], "unknown record type"),
    "end count": (lambda ls: _replace(ls, 14, 2, "00000005"), "says 5 payments"),
    "deposit sum": (lambda ls: _replace(ls, 13, 50, "000000000000230001"), "deposit amount"),
    "deposit count": (lambda ls: _replace(ls, 13, 71, "00000004"), "deposit says 4"),
    "deposit currency": (lambda ls: _replace(ls, 13, 68, "EUR"), "currency"),
    "payment outside section": (lambda ls: [ls[0], ls[2], *ls[1:]], "outside a section"),
    "detail first": (lambda ls: [ls[0], ls[1], ls[3], *ls[2:3], *ls[4:]], "before any payment"),
    "no start": (lambda ls: ls[1:], "does not start"),
    "bad layout": (lambda ls: _replace(ls, 0, 2, "BGMIN"), "BGMAX"),
    "bad date": (lambda ls: _replace(ls, 13, 37, "20241399"), "payment date"),
    "test file": (lambda ls: _replace(ls, 0, 44, "T"), "test file"),
    "after end": (lambda ls: [*ls[:-1], ls[1], ""], "after the end record"),
    "empty line": (lambda ls: [*ls[:3], "", *ls[3:]], "empty line"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_files_raise_parse_error_with_location(tmp_path: Path, case: str) -> None:
    mutate, expected = BROKEN[case]
    path = _write(tmp_path, mutate(_lines(DEDUCTIONS)))
    with pytest.raises(ParseError, match=expected) as info:
        list(iter_payments(path))
    assert info.value.file == str(path)
    assert info.value.line is not None
    assert str(path) in str(info.value)


def test_test_file_accepted_when_allowed(tmp_path: Path) -> None:
    path = _write(tmp_path, _replace(_lines(DEDUCTIONS), 0, 44, "T"))
    assert len(list(iter_payments(path, allow_test=True))) == 5


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    with pytest.raises(ParseError, match="empty file"):
        list(iter_payments(path))


def test_personal_data_stays_out_of_errors(tmp_path: Path) -> None:
    lines = _lines(DEDUCTIONS)
    path = _write(tmp_path, _replace(lines, 14, 2, "00000009"))
    with pytest.raises(ParseError) as info:
        list(iter_payments(path))
    assert "Testföretag" not in str(info.value)
    assert "165560000001" not in str(info.value)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=600))
def test_random_bytes_only_raise_parse_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.bgmax"
    path.write_bytes(b"01BGMAX" + data)
    with pytest.raises(ParseError):
        list(iter_payments(path))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.lists(st.integers(min_value=0, max_value=14), min_size=1, max_size=20),
    noise=st.text(alphabet="0123456789 ABCTP", max_size=80),
)
def test_shuffled_lines_never_crash(tmp_path: Path, picks: list[int], noise: str) -> None:
    lines = _lines(DEDUCTIONS)
    chosen = [lines[i] for i in picks] + [noise]
    path = _write(tmp_path, chosen)
    with contextlib.suppress(ParseError):
        list(iter_payments(path))
