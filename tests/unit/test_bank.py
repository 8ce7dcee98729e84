"""Bank accounts: IBANs (schwifty) and Norwegian 11-digit account numbers (MOD11)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from schwifty import IBAN
from stdnum.no import kontonr

from claimbridge.quality.bank import (
    AccountKind,
    normalize_bank_account,
    normalize_iban,
    normalize_no_account,
)


@pytest.mark.parametrize(
    ("raw", "number", "kind", "country", "bic"),
    [
        ("NO93 8601 1117 947", "NO9386011117947", AccountKind.IBAN, "NO", "DABANO22"),
        ("no9386011117947", "NO9386011117947", AccountKind.IBAN, "NO", "DABANO22"),
        ("IBAN: NO93 8601 1117 947", "NO9386011117947", AccountKind.IBAN, "NO", "DABANO22"),
        ("SE45 5000 0000 0583 9825 7466", "SE4550000000058398257466", AccountKind.IBAN, "SE", None),
        ("DE89 3704 0044 0532 0130 00", "DE89370400440532013000", AccountKind.IBAN, "DE", None),
        ("8601.11.17947", "86011117947", AccountKind.NO_ACCOUNT, "NO", "DABANO22"),
        ("8601 11 17947", "86011117947", AccountKind.NO_ACCOUNT, "NO", "DABANO22"),
        ("86011117947", "86011117947", AccountKind.NO_ACCOUNT, "NO", "DABANO22"),
    ],
)
def test_valid_accounts(
    raw: str, number: str, kind: AccountKind, country: str, bic: str | None
) -> None:
    result = normalize_bank_account(raw)
    assert result.valid
    assert (result.number, result.kind, result.country) == (number, kind, country)
    if bic is not None:
        assert result.bic == bic
    assert result.iban is not None
    assert IBAN(result.iban).compact == result.iban


def test_a_norwegian_number_gets_its_iban() -> None:
    assert normalize_no_account("8601 11 17947").iban == "NO9386011117947"


@pytest.mark.parametrize(
    "raw",
    [
        "NO93 8601 1117 948",  # IBAN check digits wrong
        "NO9386011117",  # too short for Norway
        "8601 11 17949",  # MOD11 wrong
        "8601 11 1794",  # ten digits
        "0000.4090403",  # old seven-digit postgiro
        "",
        "ukjent",
        "ÆØÅ",
        "NO",
        "1" * 200,
    ],
)
def test_invalid_accounts_are_kept_and_marked(raw: str) -> None:
    result = normalize_bank_account(raw)
    assert not result.valid
    assert result.iban is None
    assert " " not in result.number


def test_a_domestic_number_of_another_country_is_not_guessed() -> None:
    result = normalize_bank_account("5000 0000 0583 9825 7466", country="SE")
    assert not result.valid
    assert result.kind is None


@given(st.text(max_size=80))
def test_never_raises_and_is_idempotent(raw: str) -> None:
    once = normalize_bank_account(raw)
    twice = normalize_bank_account(once.number)
    assert twice.number == once.number
    assert twice.valid == once.valid


@given(
    st.text(alphabet="123456789", min_size=1, max_size=1),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
)
def test_valid_norwegian_numbers_round_trip(first: str, rest: str) -> None:
    numbers = [first + rest + d for d in "0123456789" if kontonr.is_valid(first + rest + d)]
    assume(numbers)  # a base whose MOD11 check would be 10 has no valid number
    number = numbers[0]
    spaced = f"{number[:4]}.{number[4:6]}.{number[6:]}"
    result = normalize_no_account(spaced)
    assert result.valid
    assert result.number == number
    assert result.iban is not None
    assert normalize_iban(result.iban).valid
    assert normalize_iban(result.iban).number == result.iban
