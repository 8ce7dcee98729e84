"""Washing a whole party: the new party, findings without personal data, score, cache."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimbridge.errors import ConfigError
from claimbridge.quality.wash import Washer, wash_party
from claimbridge.schemas import SourceRef
from claimbridge.schemas.party import (
    Address,
    AddressState,
    ContactPerson,
    Email,
    Party,
    PartyKind,
    Phone,
    PhoneType,
)


def make_party(**fields: object) -> Party:
    base: dict[str, object] = {
        "source": SourceRef(system="test", record_id="c1"),
        "kind": PartyKind.PERSON,
        "name": "Kari Nordmann",
        "customer_number": "1001",
        "addresses": (
            Address(lines=("Storgata 1",), postal_code="0150", city="Oslo", country="NO"),
        ),
        "phones": (Phone(number="912 34 567"),),
        "emails": (Email(address="kari@example.no"),),
    }
    base.update(fields)
    return Party.model_validate(base)


def test_clean_person_scores_100() -> None:
    result = wash_party(make_party())
    assert result.report.score == 100
    assert result.party.phones == (
        Phone(number="+4791234567", type=PhoneType.MOBILE, valid=True, original="912 34 567"),
    )
    assert result.party.emails[0].valid


def test_same_org_number_written_two_ways_is_one_debtor() -> None:
    a = wash_party(make_party(kind=PartyKind.COMPANY, organization_number="923 609 016"))
    b = wash_party(make_party(kind=PartyKind.COMPANY, organization_number="923609016"))
    assert a.party.debtor_key() == b.party.debtor_key() == "NO:923609016"


def test_birth_date_derived_from_national_id() -> None:
    result = wash_party(make_party(national_id="151086 95088"))
    assert result.party.national_id == "15108695088"
    assert result.party.date_of_birth == date(1986, 10, 15)
    mismatch = wash_party(make_party(national_id="15108695088", date_of_birth=date(1986, 1, 1)))
    assert "id.birth_date_mismatch" in {f.code for f in mismatch.report.findings}


PERSONAL = ("Kari", "912 34 567", "kari@gmial.com", "15108695089", "Storgata", "0150", "123")


def test_findings_never_carry_personal_values_in_messages() -> None:
    party = make_party(
        national_id="15108695089",
        phones=(Phone(number="123"), Phone(number="912 34 567")),
        emails=(Email(address="kari@gmial.com"), Email(address="not-an-email")),
        addresses=(Address(lines=("Storgata 1",), postal_code="15", city="Oslo", country="NO"),),
    )
    report = wash_party(party).report
    for finding in report.findings:
        for value in PERSONAL:
            assert value not in finding.message, (finding.code, value)
    codes = {f.code for f in report.findings}
    assert {"id.invalid", "phone.invalid", "email.invalid", "email.possible_typo"} <= codes
    assert "address.postal_code_invalid" in codes


@pytest.mark.parametrize(
    ("fields", "score"),
    [
        ({}, 100),
        ({"phones": ()}, 90),  # no valid phone
        ({"phones": (), "emails": ()}, 80),
        ({"phones": (Phone(number="123"),)}, 85),  # no valid phone -10, warning -5
        ({"addresses": ()}, 55),  # no usable address -40, warning 'missing' -5
        ({"addresses": (Address(state=AddressState.PROTECTED),)}, 100),
        ({"addresses": (Address(state=AddressState.UNKNOWN),)}, 60),
        ({"kind": PartyKind.COMPANY}, 75),  # no org number -20, warning -5
        ({"kind": PartyKind.COMPANY, "organization_number": "923609017"}, 65),  # -20, error -15
        ({"national_id": "15108695089"}, 85),  # error -15
        ({"addresses": (), "phones": (), "emails": (), "kind": PartyKind.COMPANY}, 10),
    ],
)
def test_score_formula(fields: dict[str, object], score: int) -> None:
    assert wash_party(make_party(**fields)).report.score == score


def test_contact_person_is_washed_and_counts() -> None:
    contact = ContactPerson(name="Ola", phones=(Phone(number="+47 912 34 567"),))
    result = wash_party(
        make_party(
            kind=PartyKind.COMPANY,
            organization_number="923609016",
            phones=(),
            contact_person=contact,
        )
    )
    assert result.party.contact_person is not None
    assert result.party.contact_person.phones[0].number == "+4791234567"
    assert result.report.score == 100


def test_swedish_numbers_use_address_country() -> None:
    party = make_party(
        addresses=(
            Address(lines=("Gatan 1",), postal_code="111 22", city="Stockholm", country="SE"),
        ),
        phones=(Phone(number="070-123 45 67"),),
    )
    assert wash_party(party, default_country="NO").party.phones[0].number == "+46701234567"


def test_washing_is_idempotent() -> None:
    party = make_party(
        organization_number="923 609 016",
        kind=PartyKind.COMPANY,
        addresses=(Address(lines=("c/o Hansen", "Storgata 1", "0150 Oslo")),),
        emails=(Email(address="Kari@Example.NO"),),
    )
    once = wash_party(party).party
    assert wash_party(once).party == once


def test_bad_default_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Washer(default_country="XX")


def test_washer_caches_repeat_debtors() -> None:
    washer = Washer(cache_size=10)
    party = make_party()
    first = washer.wash(party)
    again = washer.wash(make_party())  # equal, not identical
    assert again is first
    assert washer.cache_info().hits == 1


@given(
    st.lists(st.text(max_size=30), max_size=3),
    st.lists(st.text(max_size=40), max_size=3),
    st.text(max_size=20),
)
def test_never_raises_on_any_contact_text(phones: list[str], emails: list[str], ident: str) -> None:
    party = make_party(
        phones=tuple(Phone(number=p) for p in phones),
        emails=tuple(Email(address=e) for e in emails),
        national_id=ident.strip() or None,
    )
    result = wash_party(party)
    assert 0 <= result.report.score <= 100
    assert wash_party(result.party).party == result.party
