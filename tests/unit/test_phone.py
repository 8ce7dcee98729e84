"""Phone normalization: the forms people type in Norway and Sweden."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimbridge.quality.phone import normalize_phone, split_phones
from claimbridge.schemas.party import PhoneType


@pytest.mark.parametrize(
    ("raw", "region", "e164", "kind", "assumed"),
    [
        ("912 34 567", "NO", "+4791234567", PhoneType.MOBILE, False),
        ("+47 912 34 567", "NO", "+4791234567", PhoneType.MOBILE, False),
        ("0047 91234567", "NO", "+4791234567", PhoneType.MOBILE, False),
        ("47 91234567", "NO", "+4791234567", PhoneType.MOBILE, True),
        ("22 22 22 22", "NO", "+4722222222", PhoneType.FIXED, False),
        ("070-123 45 67", "SE", "+46701234567", PhoneType.MOBILE, False),
        ("+46 70 123 45 67", "SE", "+46701234567", PhoneType.MOBILE, False),
        ("+46 70 123 45 67", "NO", "+46701234567", PhoneType.MOBILE, False),
        ("08-123 456 78", "SE", "+46812345678", PhoneType.FIXED, False),
        ("46701234567", "NO", "+46701234567", PhoneType.MOBILE, True),
        ("  912 34 567 ", "no", "+4791234567", PhoneType.MOBILE, False),
    ],
)
def test_typed_forms(raw: str, region: str, e164: str, kind: PhoneType, assumed: bool) -> None:
    result = normalize_phone(raw, region=region)
    assert result.valid
    assert result.number == e164
    assert result.type is kind
    assert result.assumed_country_code is assumed


@pytest.mark.parametrize(
    "raw", ["", "12", "abc", "912 34 56", "+47", "0" * 200, "070-123 45 67", "9" * 30]
)
def test_invalid_is_kept_as_given(raw: str) -> None:
    result = normalize_phone(raw, region="NO")  # 070-… is Swedish, not Norwegian
    assert not result.valid
    assert result.number == raw.strip()
    assert result.type is PhoneType.UNKNOWN


def test_unknown_region_does_not_raise() -> None:
    assert not normalize_phone("912 34 567", region="ZZ").valid
    assert normalize_phone("+47 912 34 567", region="ZZ").valid


@given(st.text(max_size=80), st.sampled_from(["NO", "SE", "DK", "FI", "ZZ"]))
def test_never_raises_and_is_idempotent(raw: str, region: str) -> None:
    once = normalize_phone(raw, region=region)
    twice = normalize_phone(once.number, region=region)
    assert twice.number == once.number
    assert twice.valid == once.valid


@given(st.integers(min_value=0, max_value=9_999_999), st.sampled_from(["9", "41", "48"]))
def test_norwegian_mobiles_round_trip(n: int, first: str) -> None:
    national = f"{first}{n:07d}"[:8]
    result = normalize_phone(f"{national[:3]} {national[3:5]} {national[5:]}", region="NO")
    assert result.valid
    assert result.number == f"+47{national}"
    assert normalize_phone(result.number, region="SE").number == result.number


@pytest.mark.parametrize(
    ("raw", "numbers"),
    [
        ("912 34 567 / 22 12 34 56", ["+4791234567", "+4722123456"]),
        ("91234567, 22123456", ["+4791234567", "+4722123456"]),
        ("mob 912 34 567 jobb 22 12 34 56", ["+4791234567", "+4722123456"]),
        ("91234567 (mobil)", ["+4791234567"]),
        ("+47 (0)22 12 34 56", ["+4722123456"]),
        ("912 34 567", ["+4791234567"]),
        ("ukjent", ["ukjent"]),
    ],
)
def test_split_phones(raw: str, numbers: list[str]) -> None:
    assert [r.number for r in split_phones(raw, region="NO")] == numbers


@given(st.text(max_size=140), st.sampled_from(["NO", "SE", "ZZ"]))
def test_split_never_raises_and_each_part_is_stable(raw: str, region: str) -> None:
    for part in split_phones(raw, region=region):
        assert split_phones(part.number, region=region) == (part,)


@given(
    st.integers(min_value=0, max_value=9_999_999),
    st.integers(min_value=0, max_value=999_999),
    st.sampled_from([" / ", ", ", "; ", " og "]),
)
def test_two_valid_numbers_in_one_field_both_survive(mobile: int, fixed: int, sep: str) -> None:
    a, b = f"9{mobile:07d}", f"22{fixed:06d}"
    assert [r.number for r in split_phones(a + sep + b)] == [f"+47{a}", f"+47{b}"]
