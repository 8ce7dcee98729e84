"""An agency's words about a refused case or correction are stored without the personal
values it may quote back."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from claimbridge.connectors.base import Correction, CorrectionKind, PushOutcome, PushStatus
from claimbridge.delivery import REDACTED, scrub, without_personal_data
from claimbridge.schemas import ContactPerson, Email, Payment, Phone, SourceRef
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


def test_a_refused_payment_report_loses_the_payers_values_and_keeps_the_rest() -> None:
    payment = Payment(
        payment_id="p-1",
        source=SourceRef(system="files", record_id="p-1"),
        amount=Decimal("250.00"),
        currency="NOK",
        booking_date=dt.date(2026, 11, 20),
        payer_name="Ola Nordmann",
        payer_account="12345678903",
    )
    correction = Correction(
        "k-1", CorrectionKind.PAYMENT, "cb-1", "A-1", invoice_number="1001", payment=payment
    )
    assert set(correction.personal_values()) == {"Ola Nordmann", "12345678903"}
    refused = PushOutcome(
        "k-1", PushStatus.REJECTED, reason="payer OLA NORDMANN (12345678903) unknown: E9"
    )
    accepted = PushOutcome("k-2", PushStatus.ACCEPTED)
    cleaned = without_personal_data(
        [refused, accepted], lambda key: correction.personal_values() if key == "k-1" else ()
    )
    assert cleaned == [
        PushOutcome(
            "k-1", PushStatus.REJECTED, reason=f"payer {REDACTED} ({REDACTED}) unknown: E9"
        ),
        accepted,
    ]
