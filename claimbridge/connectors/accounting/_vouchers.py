"""What every accounting source's voucher booking shares.

A :class:`~claimbridge.connectors.base.Voucher` refuses to be built unbalanced, but the sources
check it again before anything is sent: a voucher is the one thing reconciliation writes into a
ledger, and a second guard at the boundary costs nothing. Where a system has no field for our
reference, the reference goes into the voucher's text as a *token* (``[cb:REF]``, or a hash of
it when the reference is long or has characters a ledger's text might mangle) that is found
again by plain substring search, brackets included, so ``[cb:7]`` never matches ``[cb:70]``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from decimal import Decimal

from claimbridge.connectors.base import Voucher, VoucherLine
from claimbridge.errors import ConnectorError, DataError

__all__ = [
    "MAX_REFERENCE",
    "Posting",
    "check_voucher",
    "compact_reference",
    "debit_credit_pairs",
    "json_amount",
    "one_line",
    "reference_token",
    "refuse_foreign_currency",
    "text_with_token",
]

MAX_REFERENCE = 200
_PLAIN_REFERENCE = re.compile(r"[A-Za-z0-9._:/-]{1,40}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("1000000000")
_SPACE = re.compile(r"\s+")


def check_voucher(voucher: Voucher, *, connector: str, account: re.Pattern[str]) -> None:
    """Refuse a voucher no ledger should get, before any request: it must balance to the cent,
    have two or more lines of whole cents, accounts of the system's shape, and a usable
    reference. Raises :class:`DataError` naming the reference and what is wrong."""
    ref = voucher.external_ref
    where = f"{connector}: voucher {ref[:60]!r}" if isinstance(ref, str) else connector
    problems = _problems(voucher, account)
    if problems:
        raise DataError(f"{where}: " + "; ".join(problems))


def _problems(voucher: Voucher, account: re.Pattern[str]) -> list[str]:
    problems: list[str] = []
    ref = voucher.external_ref
    if not isinstance(ref, str) or not ref.strip() or len(ref) > MAX_REFERENCE:
        problems.append(f"external_ref must be 1 to {MAX_REFERENCE} characters")
    elif not ref.isprintable() or ref != ref.strip():
        problems.append("external_ref must be printable, without surrounding blanks")
    if not isinstance(voucher.date, dt.date) or isinstance(voucher.date, dt.datetime):
        problems.append("date is not a date")
    if not isinstance(voucher.currency, str) or not _CURRENCY.fullmatch(voucher.currency):
        problems.append("currency is not an ISO 4217 code")
    lines = voucher.lines if isinstance(voucher.lines, tuple) else ()
    if len(lines) < 2:
        problems.append("a voucher needs at least two lines")
    total = Decimal(0)
    for index, line in enumerate(lines, start=1):
        amount = line.amount if isinstance(line, VoucherLine) else None
        if not isinstance(amount, Decimal) or not amount.is_finite():
            problems.append(f"line {index}: amount is not a finite decimal")
            continue
        if amount == 0 or abs(amount) >= _MAX_AMOUNT or amount != amount.quantize(_CENT):
            problems.append(f"line {index}: amount must be non-zero whole cents")
        if not isinstance(line.account, str) or not account.fullmatch(line.account):
            problems.append(f"line {index}: account {str(line.account)[:20]!r} has the wrong shape")
        total += amount
    if lines and total != 0:
        problems.append(f"the lines do not balance (they sum to {total})")
    return problems


def refuse_foreign_currency(voucher: Voucher, ledger_currency: str, *, connector: str) -> None:
    """For systems whose manual vouchers are in the company's own currency only."""
    if voucher.currency != ledger_currency:
        raise ConnectorError(
            f"voucher {voucher.external_ref[:60]!r} is in {voucher.currency}, but vouchers "
            f"are booked in the ledger's currency ({ledger_currency}) only",
            connector=connector,
        )


def reference_token(external_ref: str) -> str:
    """The reference as it is written into a voucher's text and searched for again."""
    return f"[{compact_reference(external_ref)}]"


def compact_reference(external_ref: str) -> str:
    """``cb:<ref>`` for a short plain reference, ``cb#<hash>`` otherwise: at most 43
    characters of ASCII letters, digits and ``._:/-#``, stable for the same reference."""
    if _PLAIN_REFERENCE.fullmatch(external_ref):
        return f"cb:{external_ref}"
    digest = hashlib.sha256(external_ref.encode("utf-8")).hexdigest()[:24]
    return f"cb#{digest}"


def one_line(text: str, limit: int) -> str:
    """``text`` on one line, blanks collapsed, cut to ``limit`` characters."""
    return _SPACE.sub(" ", text).strip()[:limit].rstrip()


def text_with_token(text: str, token: str, limit: int) -> str:
    """``text`` shortened so that ``text + " " + token`` fits in ``limit`` characters."""
    room = limit - len(token) - 1
    if room < 1:
        raise ValueError(f"no room for the reference in {limit} characters")
    head = one_line(text, room)
    return f"{head} {token}" if head else token


Posting = tuple[str, str, Decimal]  # (debit account, credit account, positive amount)


def debit_credit_pairs(lines: Sequence[VoucherLine]) -> list[Posting]:
    """A balanced voucher as two-sided postings, for systems whose journal lines each move an
    amount from one account to another. Debits are matched against credits in order, so the
    result has at most ``len(lines) - 1`` postings."""
    debits = [line for line in lines if line.amount > 0]
    credits = [line for line in lines if line.amount < 0]
    left_debit = [line.amount for line in debits]
    left_credit = [-line.amount for line in credits]
    pairs: list[Posting] = []
    d = c = 0
    while d < len(debits) and c < len(credits):
        amount = min(left_debit[d], left_credit[c])
        pairs.append((debits[d].account, credits[c].account, amount))
        left_debit[d] -= amount
        left_credit[c] -= amount
        if left_debit[d] == 0:
            d += 1
        if left_credit[c] == 0:
            c += 1
    return pairs


def json_amount(amount: Decimal) -> int | float:
    """A whole-cent amount as a JSON number whose shortest form is exactly the amount."""
    if amount == amount.to_integral_value():
        return int(amount)
    value = float(amount)
    if Decimal(repr(value)) != amount:
        raise ValueError(f"amount {amount} cannot be sent exactly")
    return value
