"""KID (MOD10/MOD11) and Swedish OCR references."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimbridge.quality.reference import (
    kid_is_valid,
    kid_scheme,
    make_kid_mod10,
    make_kid_mod11,
    make_ocr,
    mod11_check_digit,
    ocr_is_valid,
)

bases = st.text(alphabet="0123456789", min_size=1, max_size=22)


@pytest.mark.parametrize(
    ("kid", "valid"),
    [
        ("1234567897", True),  # Luhn
        ("1234567890", False),
        ("12345678903", True),  # MOD11, weights 2-7 from the right
        ("00", True),
        ("0", False),  # too short
        ("", False),
        ("1" * 26, False),  # too long
        ("12345 67897", False),
        ("１２３４５６７８９７", False),  # full-width digits are not digits a bank reads
        ("12a4567897", False),
    ],
)
def test_kid_table(kid: str, valid: bool) -> None:
    assert kid_is_valid(kid) is valid


def test_mod11_check_of_ten_is_a_dash() -> None:
    base = next(f"{n:05d}" for n in range(100_000) if mod11_check_digit(f"{n:05d}") == "-")
    kid = make_kid_mod11(base)
    assert kid.endswith("-")
    assert kid_scheme(kid) == "mod11"
    assert not kid_is_valid(base + "0")


def test_mod11_known_value() -> None:
    # weights 2..7 from the right: sum 195, 195 mod 11 = 8, check 11 - 8 = 3
    assert mod11_check_digit("1234567890") == "3"


@given(bases)
def test_generated_mod10_kids_are_valid(base: str) -> None:
    kid = make_kid_mod10(base)
    assert kid_scheme(kid) == "mod10"
    wrong = kid[:-1] + str((int(kid[-1]) + 1) % 10)
    assert kid_scheme(wrong) != "mod10"


@given(bases)
def test_generated_mod11_kids_are_valid(base: str) -> None:
    assert kid_is_valid(make_kid_mod11(base))


@given(st.text(max_size=40))
def test_validators_never_raise(text: str) -> None:
    assert isinstance(kid_is_valid(text), bool)
    assert isinstance(ocr_is_valid(text), bool)
    assert isinstance(ocr_is_valid(text, length_digit=True), bool)


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_ocr_with_length_digit_round_trips(base: str) -> None:
    ref = make_ocr(base)
    assert ocr_is_valid(ref, length_digit=True)
    assert ocr_is_valid(ref)
    assert int(ref[-2]) == len(ref) % 10


def test_ocr_table() -> None:
    assert ocr_is_valid("1234567897")
    assert not ocr_is_valid("1234567890")
    plain = make_ocr("123456", length_digit=False)
    assert ocr_is_valid(plain)
    assert ocr_is_valid(plain, length_digit=False)
    assert not ocr_is_valid(plain, length_digit=True)


@pytest.mark.parametrize("base", ["", "12a", "1" * 25])
def test_generators_refuse_bad_bases(base: str) -> None:
    with pytest.raises(ValueError):
        make_kid_mod10(base)
    with pytest.raises(ValueError):
        make_kid_mod11(base)
