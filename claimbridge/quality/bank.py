"""Bank accounts: IBANs of any country and Norwegian 11-digit account numbers.

A creditor's pay-out account and a debtor's refund account must be right before an agency sends
money to them, and a ledger writes them as typed: ``NO93 8601 1117 947``, ``no9386011117947``,
``8601.11.17947``, ``8601 11 17947``. schwifty checks IBANs (length per country, MOD 97-10, the
national check digit where it knows one) and knows the bank's BIC; python-stdnum checks the
Norwegian MOD11 account number (``stdnum.no.kontonr``). Both are put in one compact form, so the
same account compares equal however it was written.

Like every washer these never raise on bad input: an invalid account comes back as given (with
spaces, dots and dashes removed) and ``valid=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.exceptions import ValidationError
from stdnum.no import kontonr

from claimbridge.quality._cache import WASH_CACHE

__all__ = [
    "AccountKind",
    "BankAccountResult",
    "normalize_bank_account",
    "normalize_iban",
    "normalize_no_account",
]

_MAX_INPUT = 64  # an IBAN is at most 34 characters; room for spacing, refuse beyond
_SEPARATORS = " \t.-"


class AccountKind(StrEnum):
    IBAN = "iban"
    NO_ACCOUNT = "no_account"  # Norwegian 11-digit kontonummer


@dataclass(frozen=True, slots=True)
class BankAccountResult:
    """``number``: compact IBAN or 11 digits when valid, else the input without separators."""

    number: str
    valid: bool
    kind: AccountKind | None = None
    country: str | None = None
    iban: str | None = None  # the IBAN of a valid account (a Norwegian number's too)
    bic: str | None = None  # the bank's BIC where schwifty's registry knows it


def _compact(raw: str) -> str:
    return "".join(c for c in raw if c not in _SEPARATORS).upper()


def _bic_of(iban: IBAN) -> str | None:
    try:
        bic = iban.bic
    except SchwiftyException:
        return None
    return str(bic) if bic is not None else None


@lru_cache(maxsize=WASH_CACHE)
def normalize_iban(raw: str) -> BankAccountResult:
    """Validate ``raw`` as an IBAN; ``IBAN`` prefixes and any spacing are accepted."""
    text = _compact(raw)
    if text.startswith("IBAN"):
        text = text[4:].lstrip(":")
    if not text or len(raw) > _MAX_INPUT or not text.isascii() or not text.isalnum():
        return BankAccountResult(text, False, AccountKind.IBAN)
    try:
        iban = IBAN(text)
    except (SchwiftyException, ValueError):
        return BankAccountResult(text, False, AccountKind.IBAN)
    return BankAccountResult(
        iban.compact,
        True,
        AccountKind.IBAN,
        country=iban.country_code,
        iban=iban.compact,
        bic=_bic_of(iban),
    )


@lru_cache(maxsize=WASH_CACHE)
def normalize_no_account(raw: str) -> BankAccountResult:
    """Validate ``raw`` as a Norwegian 11-digit account number (MOD11), and give its IBAN."""
    text = _compact(raw)
    if len(raw) > _MAX_INPUT or len(text) != 11 or not (text.isascii() and text.isdigit()):
        return BankAccountResult(text, False, AccountKind.NO_ACCOUNT, country="NO")
    try:
        number = kontonr.validate(text)
        if len(number) != 11:  # bank code 0000: the retired seven-digit postgiro form
            raise ValueError("not an 11-digit account number")
        iban = IBAN(kontonr.to_iban(number))
    except (ValidationError, SchwiftyException, ValueError):
        return BankAccountResult(text, False, AccountKind.NO_ACCOUNT, country="NO")
    return BankAccountResult(
        number,
        True,
        AccountKind.NO_ACCOUNT,
        country="NO",
        iban=iban.compact,
        bic=_bic_of(iban),
    )


def normalize_bank_account(raw: str, *, country: str = "NO") -> BankAccountResult:
    """An IBAN if ``raw`` starts with two letters; else the national form of ``country``.

    Only Norway's national form is known; elsewhere a non-IBAN comes back invalid with
    ``kind=None``, because a domestic number cannot be checked without its country's rules.
    """
    text = _compact(raw)
    if text[:2].isalpha():
        return normalize_iban(raw)
    if country.upper() == "NO":
        return normalize_no_account(raw)
    return BankAccountResult(text, False, None, country=country.upper())
