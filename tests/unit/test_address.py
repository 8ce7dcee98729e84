"""Address washing: care-of, postal codes, countries, unknown/protected, register hook."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimbridge.quality.address import normalize_postal_code, wash_address
from claimbridge.quality.postal import PostalCodeRegister
from claimbridge.schemas.party import Address, AddressState
from claimbridge.schemas.quality import Severity


def codes(wash: object) -> set[str]:
    return {f.code for f in wash.findings}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("code", "country", "written"),
    [
        ("0150", "NO", "0150"),
        ("NO-0150", "NO", "0150"),
        ("N-0150", "NO", "0150"),
        ("150", "NO", None),
        ("01500", "NO", None),
        ("12345", "SE", "123 45"),
        ("123 45", "SE", "123 45"),
        ("SE-123 45", "SE", "123 45"),
        ("S-12345", "SE", "123 45"),
        ("1234", "SE", None),
        ("2100", "DK", "2100"),
        ("00100", "FI", "00100"),
        ("SW1A 1AA", "GB", "SW1A 1AA"),
        ("０１５０", "NO", None),
    ],
)
def test_postal_code_formats(code: str, country: str, written: str | None) -> None:
    assert normalize_postal_code(code, country) == written


@given(st.text(max_size=20), st.sampled_from(["NO", "SE", "DK", "FI", "GB"]))
def test_postal_code_never_raises_and_is_idempotent(code: str, country: str) -> None:
    once = normalize_postal_code(code, country)
    if once is not None:
        assert normalize_postal_code(once, country) == once


def test_lines_are_split_into_fields() -> None:
    address = Address(lines=("c/o Hansen", "Storgata 1", "0150 Oslo", "Norge"))
    wash = wash_address(address, path="addresses[0]", default_country="SE")
    assert wash.address.care_of == "Hansen"
    assert wash.address.lines == ("Storgata 1",)
    assert (wash.address.postal_code, wash.address.city) == ("0150", "Oslo")
    assert wash.address.country == "NO"
    assert wash.usable
    assert all(f.severity is Severity.INFO for f in wash.findings)


@pytest.mark.parametrize("line", ["v/ Kari Nordmann", "C/O: Kari Nordmann", "c/o Kari Nordmann"])
def test_care_of_prefixes(line: str) -> None:
    address = Address(lines=(line, "Storgata 1"), postal_code="0150", city="Oslo", country="NO")
    wash = wash_address(address, path="a", default_country="NO")
    assert wash.address.care_of == "Kari Nordmann"
    assert "address.care_of_moved" in codes(wash)


def test_swedish_code_rewritten_and_reported() -> None:
    address = Address(lines=("Gatan 1",), postal_code="11122", city="Stockholm", country="SE")
    wash = wash_address(address, path="a", default_country="NO")
    assert wash.address.postal_code == "111 22"
    finding = next(f for f in wash.findings if f.code == "address.postal_code_normalized")
    assert (finding.original, finding.changed_to) == ("11122", "111 22")


def test_bad_postal_code_is_an_error_and_unusable() -> None:
    address = Address(lines=("Storgata 1",), postal_code="15", city="Oslo", country="NO")
    wash = wash_address(address, path="addresses[0]", default_country="NO")
    assert not wash.usable
    error = next(f for f in wash.findings if f.severity is Severity.ERROR)
    assert error.field == "addresses[0].postal_code"
    assert "15" not in error.message


def test_country_assumed_when_missing() -> None:
    wash = wash_address(
        Address(lines=("Storgata 1",), postal_code="0150"), path="a", default_country="NO"
    )
    assert wash.address.country == "NO"
    assert "address.country_assumed" in codes(wash)


@pytest.mark.parametrize(
    ("state", "code", "usable"),
    [
        (AddressState.UNKNOWN, "address.unknown", False),
        (AddressState.PROTECTED, "address.protected", True),
    ],
)
def test_unknown_and_protected_are_info(state: AddressState, code: str, usable: bool) -> None:
    wash = wash_address(Address(state=state), path="a", default_country="NO")
    assert codes(wash) == {code}
    assert wash.findings[0].severity is Severity.INFO
    assert wash.usable is usable


TINY = PostalCodeRegister({"NO": {"0150": "OSLO", "1337": "SANDVIKA"}}, directory=None)


@pytest.mark.parametrize(
    ("country", "code", "city", "expected"),
    [
        ("NO", "0150", "Oslo", set()),
        ("NO", "0150", " oslo ", set()),
        ("NO", "0150", "Bergen", {"address.city_mismatch"}),
        ("NO", "9999", "Oslo", {"address.postal_code_unknown"}),
        ("NO", "9999", None, {"address.postal_code_unknown"}),
        ("SE", "114 55", "Stockholm", set()),  # a country the register does not cover
    ],
)
def test_register_hook(country: str, code: str, city: str | None, expected: set[str]) -> None:
    address = Address(lines=("Storgata 1",), postal_code=code, city=city, country=country)
    wash = wash_address(address, path="a", default_country="NO", register=TINY)
    assert codes(wash) == expected
    assert wash.address.city == (city.strip() if city else None)  # never changed


def test_city_mismatch_names_the_register_city_and_keeps_the_ledger_one() -> None:
    address = Address(lines=("Storgata 1",), postal_code="1337", city="Bærum", country="NO")
    (finding,) = wash_address(address, path="a", default_country="NO", register=TINY).findings
    assert finding.severity is Severity.WARNING
    assert "SANDVIKA" in finding.message
    assert "Bærum" not in finding.message
    assert finding.original == "Bærum"
    assert finding.changed_to is None


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=4), st.text(max_size=10))
def test_wash_never_raises_and_is_idempotent(lines: list[str], code: str) -> None:
    address = Address(lines=tuple(lines), postal_code=code or None)
    once = wash_address(address, path="a", default_country="NO")
    twice = wash_address(once.address, path="a", default_country="NO")
    assert twice.address == once.address


@pytest.mark.parametrize("lines", [("Norge",), ("c/o Hansen",)])
def test_a_lone_line_is_not_moved_out(lines: tuple[str, ...]) -> None:
    wash = wash_address(Address(lines=lines), path="a", default_country="NO")
    assert wash.address.lines == lines
    Address.model_validate(wash.address.model_dump())
