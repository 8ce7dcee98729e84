"""E-mail normalization and typo warnings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimbridge.quality.email import normalize_email, suggest_domain


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Ola.Nordmann@GMAIL.com", "Ola.Nordmann@gmail.com"),
        (" kari@Example.NO ", "kari@example.no"),
        ("post@bedrift.no", "post@bedrift.no"),
    ],
)
def test_valid_addresses_are_normalized(raw: str, normalized: str) -> None:
    result = normalize_email(raw)
    assert result.valid
    assert result.address == normalized
    assert result.suggestion is None


@pytest.mark.parametrize(
    "raw", ["", "not an email", "a@b", "a@localhost", "@example.no", "a@@example.no", "a" * 400]
)
def test_invalid_is_kept_as_given(raw: str) -> None:
    result = normalize_email(raw)
    assert not result.valid
    assert result.address == raw.strip()


@pytest.mark.parametrize(
    ("domain", "suggestion"),
    [
        ("gmial.com", "gmail.com"),
        ("gmail.con", "gmail.com"),
        ("gmail.co", "gmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("outlook.co", "outlook.com"),
        ("onlien.no", "online.no"),
        ("onlne.no", "online.no"),
        ("online.nu", "online.no"),
        ("gmail.com", None),
        ("mail.com", None),  # a real domain one edit from gmail.com
        ("ymail.com", None),
        ("bedrift.no", None),
        ("gmaaail.com", None),  # two edits: not guessed
    ],
)
def test_typo_suggestions(domain: str, suggestion: str | None) -> None:
    assert suggest_domain(domain) == suggestion


def test_typo_is_flagged_never_changed() -> None:
    result = normalize_email("ola@gmial.com")
    assert result.valid
    assert result.address == "ola@gmial.com"
    assert result.suggestion == "gmail.com"


@given(st.text(max_size=120))
def test_never_raises_and_is_idempotent(raw: str) -> None:
    once = normalize_email(raw)
    twice = normalize_email(once.address)
    assert twice == once


@given(st.emails())
def test_generated_addresses_stay_valid(address: str) -> None:
    once = normalize_email(address)
    if once.valid:
        assert normalize_email(once.address).valid
