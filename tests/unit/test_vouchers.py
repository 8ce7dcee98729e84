"""The voucher checks and reference tokens every booking source shares."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimbridge.connectors.accounting._vouchers import (
    check_voucher,
    debit_credit_pairs,
    json_amount,
    one_line,
    reference_token,
    refuse_foreign_currency,
    text_with_token,
)
from claimbridge.connectors.base import Voucher, VoucherLine
from claimbridge.errors import ConnectorError, DataError

DIGITS = re.compile(r"\d{4}")


def voucher(*amounts: str, ref: str = "settlement-7:line-1", **fields: Any) -> Voucher:
    lines = tuple(
        VoucherLine(account, Decimal(a))
        for account, a in zip(("1920", "8050", "3900", "7770"), amounts, strict=False)
    )
    values: dict[str, Any] = {
        "external_ref": ref,
        "date": dt.date(2026, 3, 2),
        "currency": "NOK",
        "description": "Renter og gebyr",
        "lines": lines,
        **fields,
    }
    made = object.__new__(Voucher)  # past __post_init__, as a buggy caller could
    for name, value in values.items():
        object.__setattr__(made, name, value)
    return made


def test_a_balanced_voucher_passes() -> None:
    check_voucher(voucher("150.50", "-120.50", "-30.00"), connector="x", account=DIGITS)


@pytest.mark.parametrize(
    ("made", "reason"),
    [
        (voucher("100.00", "-99.99"), "do not balance"),
        (voucher("100.00"), "at least two lines"),
        (voucher("100.001", "-100.001"), "whole cents"),
        (voucher("0", "0"), "whole cents"),
        (voucher("NaN", "-1"), "finite"),
        (voucher("1", "-1", ref=""), "external_ref"),
        (voucher("1", "-1", ref=" padded"), "surrounding blanks"),
        (voucher("1", "-1", ref="x" * 201), "external_ref"),
        (voucher("1", "-1", currency="kroner"), "currency"),
        (voucher("1", "-1", date=dt.datetime(2026, 3, 2, 12)), "date"),
        (voucher("1", "-1", lines=[VoucherLine("1920", Decimal(1))]), "two lines"),
    ],
)
def test_unusable_vouchers_are_refused_with_the_reason(made: Voucher, reason: str) -> None:
    with pytest.raises(DataError, match=reason):
        check_voucher(made, connector="x", account=DIGITS)


def test_accounts_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(DataError, match="line 2: account '8050'"):
        check_voucher(voucher("1", "-1"), connector="x", account=re.compile(r"1920|\d{4}:\d{5}"))


def test_foreign_currency_refusal_names_both_currencies() -> None:
    with pytest.raises(ConnectorError, match=r"in EUR.*\(NOK\)"):
        refuse_foreign_currency(voucher("1", "-1", currency="EUR"), "NOK", connector="x")
    refuse_foreign_currency(voucher("1", "-1"), "NOK", connector="x")


def test_tokens_are_plain_for_short_refs_and_hashed_otherwise() -> None:
    assert reference_token("settlement-7:line-1") == "[cb:settlement-7:line-1]"
    long = reference_token("x" * 41)
    assert re.fullmatch(r"\[cb#[0-9a-f]{24}\]", long)
    assert reference_token("x" * 41) == long  # stable
    assert reference_token("Ola Nordmann") != reference_token("Ola  Nordmann")
    assert reference_token("7") not in reference_token("70")


def test_text_with_token_keeps_the_token_whole() -> None:
    token = reference_token("settlement-7:line-1")
    text = text_with_token("Renter og\ngebyr   fra byrå " * 10, token, 100)
    assert len(text) <= 100
    assert text.endswith(" " + token)
    assert "\n" not in text
    assert text_with_token("", token, 100) == token
    with pytest.raises(ValueError, match="no room"):
        text_with_token("x", token, len(token))
    assert one_line("  a\tb \n c ", 3) == "a b"


def test_pairs_move_every_debit_to_a_credit() -> None:
    lines = (
        VoucherLine("1920", Decimal("130.50")),
        VoucherLine("8050", Decimal("-150.50")),
        VoucherLine("7770", Decimal("20.00")),
    )
    assert debit_credit_pairs(lines) == [
        ("1920", "8050", Decimal("130.50")),
        ("7770", "8050", Decimal("20.00")),
    ]


@given(st.lists(st.integers(min_value=-(10**9), max_value=10**9).filter(bool), min_size=1))
def test_pairs_preserve_every_account_total(cents: list[int]) -> None:
    amounts = [Decimal(c) / 100 for c in cents]
    amounts.append(-sum(amounts, Decimal(0)))
    lines = [VoucherLine(f"{1000 + i}", a) for i, a in enumerate(amounts) if a]
    pairs = debit_credit_pairs(lines)
    totals: dict[str, Decimal] = {}
    for debit, credit, amount in pairs:
        assert amount > 0
        totals[debit] = totals.get(debit, Decimal(0)) + amount
        totals[credit] = totals.get(credit, Decimal(0)) - amount
    assert totals == {line.account: line.amount for line in lines}
    assert len(pairs) <= max(len(lines) - 1, 0)


@given(st.integers(min_value=-(10**11), max_value=10**11))
def test_json_amounts_are_exact(cents: int) -> None:
    amount = Decimal(cents) / 100
    assert Decimal(repr(json_amount(amount))) == amount
