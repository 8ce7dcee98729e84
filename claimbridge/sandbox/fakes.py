"""Realistic fake identities for sample ledgers: numbers with valid check digits, and contact data
spelled the many ways people really type it.

The washer and the policy are only exercised properly when the sample data looks like a real
ledger: org numbers and fødselsnumre pass their MOD11 checks, KIDs pass MOD10, mobile numbers come
with and without country codes and spaces. The check digits come from python-stdnum so a
generator and the validators can never disagree about the algorithm.

The fødselsnumre are random and valid, not Skatteetaten's synthetic test numbers (month + 80):
stdnum, like most real validators, rejects those.
"""

from __future__ import annotations

import random
from datetime import date

from stdnum import luhn
from stdnum.no import fodselsnummer, orgnr

__all__ = [
    "INVALID_PHONES",
    "MOBILE_PREFIXES",
    "ascii_fold",
    "fast_kid",
    "fodselsnummer_for",
    "fodselsnummer_in_block",
    "kid_for",
    "malformed_email",
    "mobile_number",
    "orgnr_for_base",
    "spell_mobile",
]

# First two digits of Norwegian mobile numbers (libphonenumber agrees they are mobile ranges).
MOBILE_PREFIXES: tuple[str, ...] = (
    "40", "41", "45", "46", "47", "48", "90", "91", "92", "93", "94", "95", "97", "98", "99",
)  # fmt: skip

# What ends up in a phone field when nobody checks it.
INVALID_PHONES: tuple[str, ...] = ("12345", "9123 456", "+47 1234", "00000000", "tlf. mangler")

_FOLD = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "é": "e", "ü": "u", " ": "", "'": ""})


def orgnr_for_base(base: int) -> str | None:
    """The valid organization number whose first eight digits are ``base``, if one exists.

    The MOD11 check digit is the one that brings stdnum's weighted sum to zero; when that digit
    would have to be 10 no number with this base is ever issued, and we return None. Of any two
    consecutive bases at least one is usable (the sum moves by 2 modulo 11 per step).
    """
    stem = f"{base:08d}"
    digit = -orgnr.checksum(stem + "0") % 11
    if digit == 10:
        return None
    return stem + str(digit)


def fodselsnummer_for(birth: date, individual: int) -> str | None:
    """The fødselsnummer for a birth date and individual number (0–999), or None if its check
    digits do not exist (a MOD11 remainder of 10 means the number is never issued).

    The individual number must fit the birth century: 000–499 for 1900–1999, 500–999 for
    2000–2039. Its last digit's parity is the gender (odd = male).
    """
    stem = f"{birth:%d%m%y}{individual:03d}"
    first = fodselsnummer.calc_check_digit1(stem)
    if len(first) != 1:
        return None
    second = fodselsnummer.calc_check_digit2(stem + first)
    if len(second) != 1:
        return None
    return stem + first + second


def fodselsnummer_in_block(birth: date, block: int, *, male: bool | None = None) -> str | None:
    """A fødselsnummer for ``birth`` with an individual number from ``block`` (ten numbers each).

    Different blocks never share a number, so debtor *i* taking block *i* gets a unique id. With
    ``male`` given, only numbers of that gender are considered.
    """
    low = 500 if birth.year >= 2000 else 0
    for offset in range(10):
        individual = low + (block % 50) * 10 + offset
        if male is not None and individual % 2 != int(male):
            continue
        number = fodselsnummer_for(birth, individual)
        if number is not None:
            return number
    return None


def kid_for(customer_number: str, invoice_number: str) -> str:
    """A KID built the common way: customer number (6) + invoice number (8) + MOD10 check digit."""
    payload = customer_number.zfill(6) + invoice_number.zfill(8)
    return payload + luhn.calc_check_digit(payload)


def _luhn_block_sums() -> tuple[int, ...]:
    """Luhn sums of every 4-digit block whose last digit is doubled, taken from stdnum itself:
    the block followed by a zero check digit has checksum ``sum % 10``, and the block's own sum
    is recovered modulo 10, which is all a check digit needs."""
    return tuple(luhn.checksum(f"{block:04d}0") for block in range(10_000))


_BLOCK_SUMS = _luhn_block_sums()


def fast_kid(customer_number: int, invoice_number: int) -> str:
    """``kid_for`` for integers, several times faster below 10**6 and 10**8.

    The payload is 14 digits, so it splits into 4-digit blocks that are all aligned the same way
    against the check digit; their Luhn sums add up. The benchmark generator needs one per row.
    """
    if customer_number >= 10**6 or invoice_number >= 10**8:
        return kid_for(str(customer_number), str(invoice_number))
    total = (
        _BLOCK_SUMS[customer_number // 10_000]
        + _BLOCK_SUMS[customer_number % 10_000]
        + _BLOCK_SUMS[invoice_number // 10_000]
        + _BLOCK_SUMS[invoice_number % 10_000]
    )
    return f"{customer_number:06d}{invoice_number:08d}{-total % 10}"


def mobile_number(rng: random.Random) -> str:
    """Eight digits in a Norwegian mobile range."""
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(1_000_000):06d}"


def spell_mobile(number: str, style: int) -> str:
    """``number`` (8 digits) written one of the ways people type it (style taken modulo 6)."""
    grouped = f"{number[:3]} {number[3:5]} {number[5:]}"
    spellings = (
        grouped,  # 912 34 567
        number,  # 91234567
        f"+47 {number}",  # +47 91234567
        f"0047 {grouped}",  # 0047 912 34 567
        f"+47{number}",  # +4791234567
        f"{number[:2]} {number[2:4]} {number[4:6]} {number[6:]}",  # 91 23 45 67
    )
    return spellings[style % len(spellings)]


def ascii_fold(text: str) -> str:
    """Lower-case ASCII as people write names in e-mail addresses (Øystein → oystein)."""
    return text.lower().translate(_FOLD)


def malformed_email(local: str, domain: str, style: int) -> str:
    """An e-mail address broken the ways ledgers break them (style taken modulo 4)."""
    spellings = (
        f"{local}@",
        f"{local} @{domain}",
        f"{local}@@{domain}",
        f"{local}{domain}",
    )
    return spellings[style % len(spellings)]
