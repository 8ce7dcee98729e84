"""E-mail normalization and typo warnings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimbridge.quality.email import normalize_email, split_emails, suggest_domain


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


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("kari@online.no.", "kari@online.no"),
        ("mailto:kari@online.no", "kari@online.no"),
        ("MAILTO:Kari@Online.NO", "Kari@online.no"),
        ("kari @ online.no", "kari@online.no"),
        ("kari@online .no", "kari@online.no"),
        ("<kari@online.no>", "kari@online.no"),
        ("Kari Nordmann <kari@online.no>", "kari@online.no"),
    ],
)
def test_packaging_is_removed(raw: str, normalized: str) -> None:
    result = normalize_email(raw)
    assert result.valid
    assert result.address == normalized


@pytest.mark.parametrize("raw", ["kari nordmann@online.no", "kari@online,no", "mailto:", "<>"])
def test_what_is_not_packaging_stays_invalid(raw: str) -> None:
    result = normalize_email(raw)
    assert not result.valid
    assert result.address == raw.strip()


@pytest.mark.parametrize(
    ("raw", "addresses"),
    [
        ("kari@online.no; ola@online.no", ["kari@online.no", "ola@online.no"]),
        ("kari@online.no, ola@gmial.com", ["kari@online.no", "ola@gmial.com"]),
        ("kari@online.no ola@online.no", ["kari@online.no", "ola@online.no"]),
        ("kari@online.no; ukjent@", ["kari@online.no; ukjent@"]),  # not split half-way
        ("kari@online.no", ["kari@online.no"]),
    ],
)
def test_split_emails(raw: str, addresses: list[str]) -> None:
    assert [r.address for r in split_emails(raw)] == addresses


@given(st.text(max_size=200))
def test_split_never_raises_and_each_part_is_stable(raw: str) -> None:
    for part in split_emails(raw):
        assert split_emails(part.address) == (part,)


@given(st.lists(st.emails(), min_size=2, max_size=4), st.sampled_from(["; ", ", ", " "]))
def test_a_list_of_valid_addresses_splits_into_each(addresses: list[str], sep: str) -> None:
    parts = split_emails(sep.join(addresses))
    assert all(p.valid for p in parts)
    assert len(parts) == len(addresses)
