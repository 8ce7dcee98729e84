"""Payment references: Norwegian KID and Swedish OCR numbers.

A debtor recognizes a claim by the reference printed on the invoice, and banks reject payments
with a reference whose check digit is wrong, so a bad one must be caught before a case is sent.

- KID (Nets): 2–25 digits, the last a check digit by MOD10 (Luhn) or MOD11. A MOD11 check of 10
  is written ``-``. Which of the two a creditor uses is agreed with the bank, so a KID is valid
  when either fits.
- OCR (Bankgirot): 2–25 digits, Luhn over the whole number. Some creditors also put a length
  digit (the total length modulo 10) just before the check digit.

Luhn comes from python-stdnum; MOD11 with the weights 2–7 is written here because no library
ships it for variable lengths.
"""

from __future__ import annotations

from typing import Literal

from stdnum import luhn

__all__ = [
    "KidScheme",
    "kid_is_valid",
    "kid_scheme",
    "make_kid_mod10",
    "make_kid_mod11",
    "make_ocr",
    "mod11_check_digit",
    "ocr_is_valid",
]

KidScheme = Literal["mod10", "mod11"]

MIN_LENGTH = 2
MAX_LENGTH = 25
_WEIGHTS = (2, 3, 4, 5, 6, 7)


def mod11_check_digit(base: str) -> str:
    """The MOD11 check digit of ``base``: weights 2–7 from the right; 10 is written ``-``."""
    total = sum(int(d) * _WEIGHTS[i % 6] for i, d in enumerate(reversed(base)))
    check = (11 - total % 11) % 11
    return "-" if check == 10 else str(check)


def _is_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def kid_scheme(kid: str) -> KidScheme | None:
    """Which check-digit scheme the KID satisfies (MOD10 wins when both do), or None."""
    if not MIN_LENGTH <= len(kid) <= MAX_LENGTH:
        return None
    base, check = kid[:-1], kid[-1]
    if not _is_digits(base):
        return None
    if check == "-":
        return "mod11" if mod11_check_digit(base) == "-" else None
    if not _is_digits(check):
        return None
    if luhn.calc_check_digit(base) == check:
        return "mod10"
    if mod11_check_digit(base) == check:
        return "mod11"
    return None


def kid_is_valid(kid: str) -> bool:
    """True if ``kid`` is a well-formed KID with a MOD10 or MOD11 check digit."""
    return kid_scheme(kid) is not None


def ocr_is_valid(ref: str, *, length_digit: bool | None = None) -> bool:
    """True if ``ref`` is a Bankgirot OCR reference.

    ``length_digit``: True requires the length digit, False ignores it, None (default) accepts
    the reference whether or not it carries one (Luhn is checked in every case).
    """
    if not MIN_LENGTH <= len(ref) <= MAX_LENGTH or not _is_digits(ref):
        return False
    if luhn.checksum(ref) != 0:
        return False
    if length_digit:
        return len(ref) >= 3 and int(ref[-2]) == len(ref) % 10
    return True


def _check_base(base: str, room: int) -> None:
    if not _is_digits(base) or not 1 <= len(base) <= MAX_LENGTH - room:
        raise ValueError(f"a reference base must be 1–{MAX_LENGTH - room} digits")


def make_kid_mod10(base: str) -> str:
    """``base`` with its MOD10 (Luhn) check digit appended."""
    _check_base(base, 1)
    return base + luhn.calc_check_digit(base)


def make_kid_mod11(base: str) -> str:
    """``base`` with its MOD11 check digit appended (``-`` when the check is 10)."""
    _check_base(base, 1)
    return base + mod11_check_digit(base)


def make_ocr(base: str, *, length_digit: bool = True) -> str:
    """A Bankgirot OCR reference: ``base`` [+ length digit] + Luhn check digit."""
    _check_base(base, 2 if length_digit else 1)
    if length_digit:
        base += str((len(base) + 2) % 10)
    return base + luhn.calc_check_digit(base)
