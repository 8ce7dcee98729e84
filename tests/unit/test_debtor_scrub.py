"""An agency's words about a refused case are stored without the debtor's own values."""

from __future__ import annotations

from claimbridge.delivery import REDACTED, scrub
from claimbridge.schemas import ContactPerson, Email, Phone
from tests.factories import make_party


def test_personal_values_cover_name_ids_contact_data_and_the_contact_person() -> None:
    party = make_party(
        phones=(Phone(number="+4791234567", valid=True, original="912 34 567"),),
        emails=(Email(address="kari@example.no", valid=True),),
        contact_person=ContactPerson(
            name="Per Hansen", emails=(Email(address="per@example.no", valid=True),)
        ),
    )
    values = party.personal_values()
    assert party.name in values
    assert {"+4791234567", "4791234567", "912 34 567", "kari@example.no"} <= set(values)
    assert {"Per Hansen", "per@example.no"} <= set(values)
    assert all(len(v) >= 3 for v in values)


def test_scrub_takes_longest_values_first_and_ignores_case() -> None:
    text = "Debtor KARI NORDMANN (Kari) refused: fnr 01017012345, code 42"
    scrubbed = scrub(text, ["Kari", "Kari Nordmann", "01017012345"])
    assert scrubbed == f"Debtor {REDACTED} ({REDACTED}) refused: fnr {REDACTED}, code 42"


def test_scrub_leaves_text_without_the_values_alone() -> None:
    assert scrub("missing field: postalCode", ["Kari Nordmann"]) == "missing field: postalCode"
