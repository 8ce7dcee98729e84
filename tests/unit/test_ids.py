"""Organization and national id numbers: canonical forms, validity, derived facts."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from claimbridge.quality.ids import IdKind, normalize_id

ORG = IdKind.ORGANIZATION
PERSON = IdKind.PERSON


def _mod11(digits: str, weights: tuple[int, ...]) -> int | None:
    """Independent oracle for the Norwegian MOD11 check digits (None: number not issued)."""
    check = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return {11: 0, 10: None}.get(check, check)


def make_orgnr(base: str) -> str | None:
    check = _mod11(base, (3, 2, 7, 6, 5, 4, 3, 2))
    return None if check is None else base + str(check)


def make_fodselsnummer(born: date, individual: int, *, d_number: bool = False) -> str | None:
    day = born.day + (40 if d_number else 0)
    base = f"{day:02d}{born.month:02d}{born.year % 100:02d}{individual:03d}"
    k1 = _mod11(base, (3, 7, 6, 1, 8, 9, 4, 5, 2))
    if k1 is None:
        return None
    k2 = _mod11(base + str(k1), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
    return None if k2 is None else f"{base}{k1}{k2}"


@pytest.mark.parametrize(
    ("raw", "country", "kind", "number", "valid", "born"),
    [
        ("923 609 016", "NO", ORG, "923609016", True, None),
        ("923609016", "NO", ORG, "923609016", True, None),
        ("NO 923 609 016 MVA", "NO", ORG, "923609016", True, None),  # VAT form unwrapped
        ("NO 923 609 017 MVA", "NO", ORG, "NO923609017MVA", False, None),
        ("923609017", "NO", ORG, "923609017", False, None),
        ("151086 95088", "NO", PERSON, "15108695088", True, date(1986, 10, 15)),
        ("15108695089", "NO", PERSON, "15108695089", False, None),
        ("556036-0793", "SE", ORG, "5560360793", True, None),
        ("880320-0016", "SE", PERSON, "198803200016", True, date(1988, 3, 20)),
        ("19880320-0016", "SE", PERSON, "198803200016", True, date(1988, 3, 20)),
        ("880320-0017", "SE", PERSON, "8803200017", False, None),
        ("13585628", "DK", ORG, "13585628", True, None),
        ("010190-1234", "DK", PERSON, "0101901234", True, date(1990, 1, 1)),
        ("2077474-0", "FI", ORG, "20774740", True, None),
        ("131052-308T", "FI", PERSON, "131052-308T", True, None),
        ("", "NO", ORG, "", False, None),
    ],
)
def test_table(
    raw: str, country: str, kind: IdKind, number: str, valid: bool, born: date | None
) -> None:
    result = normalize_id(raw, country=country, kind=kind)
    assert (result.number, result.valid, result.birth_date) == (number, valid, born)


def test_unsupported_country_is_marked() -> None:
    result = normalize_id("12 345", country="de", kind=ORG)
    assert not result.supported
    assert not result.valid
    assert result.number == "12345"


@given(st.sampled_from("89"), st.text(alphabet="0123456789", min_size=7, max_size=7))
def test_valid_orgnr_round_trips(first: str, rest: str) -> None:
    number = make_orgnr(first + rest)
    assume(number is not None)
    assert number is not None
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    result = normalize_id(spaced, country="NO", kind=ORG)
    assert result.valid
    assert result.number == number


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)),
    st.integers(min_value=0, max_value=499),
    st.booleans(),
)
def test_valid_fodselsnummer_round_trips(born: date, individual: int, d_number: bool) -> None:
    number = make_fodselsnummer(born, individual, d_number=d_number)
    assume(number is not None)
    assert number is not None
    result = normalize_id(f"{number[:6]} {number[6:]}", country="NO", kind=PERSON)
    assert result.valid
    assert result.number == number
    assert result.birth_date == born
    assert result.d_number is d_number


@given(
    st.text(max_size=50),
    st.sampled_from(["NO", "SE", "DK", "FI", "DE"]),
    st.sampled_from(list(IdKind)),
)
def test_never_raises_and_is_idempotent(raw: str, country: str, kind: IdKind) -> None:
    once = normalize_id(raw, country=country, kind=kind)
    twice = normalize_id(once.number, country=country, kind=kind)
    assert twice.number == once.number
    assert twice.valid == once.valid
