"""A case as a Riverty claim, and corrections as payments, credit waivers and recalls.

Every body is also checked against the documented shapes
(``tests/fixtures/riverty/collection-api.schema.json``), so a field Riverty does not know, a
wrong enum value or a text over its documented length fails here.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from claimbridge.connectors.agencies._riverty_payload import (
    PayloadRules,
    claim_body,
    correction_number,
    credit_waiver_body,
    jsonable,
    payment_body,
    recall_body,
)
from claimbridge.errors import RecordError
from claimbridge.schemas import (
    Address,
    AddressKind,
    AddressState,
    ContactPerson,
    CreditNote,
    Email,
    PartyKind,
    Payment,
    Phone,
    PhoneType,
    Reminder,
    SourceRef,
)
from tests.factories import make_case, make_claim, make_party
from tests.fakes.riverty import validator

KEY = "cbk-0123456789abcdef0123456789abcdef"
TODAY = dt.date(2026, 3, 31)
CLAIM = validator("ClaimRequest")


def body_of(case: Any, rules: PayloadRules | None = None) -> dict[str, Any]:
    body = claim_body(case, KEY, rules or PayloadRules(), TODAY)
    CLAIM.validate(body)
    json.dumps(body, allow_nan=False)  # what requests sends must serialize as it is
    return body


def company(**overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "kind": PartyKind.COMPANY,
        "name": "Fjord Bakeri AS",
        "first_name": None,
        "last_name": None,
        "organization_number": "923609016",
        "id_country": "NO",
        "contact_person": ContactPerson(
            name="Ola Nordmann",
            phones=(Phone(number="+4799887766", type=PhoneType.MOBILE, valid=True),),
            emails=(Email(address="ola@fjordbakeri.example", valid=True),),
        ),
    }
    fields.update(overrides)
    return make_party("20001", **fields)


# --- the debtor ----------------------------------------------------------------------------


def test_a_person_is_a_private_customer_with_names_address_and_channels() -> None:
    debtor = make_party(
        date_of_birth=dt.date(1980, 2, 29),
        language="nb",
        national_id="01018012345",
        addresses=(
            Address(
                lines=("Storgata 1", "Leil. H0201"),
                care_of="Per Hansen",
                postal_code="0155",
                city="Oslo",
                country="NO",
            ),
        ),
        phones=(
            Phone(number="+4791234567", type=PhoneType.MOBILE, valid=True),
            Phone(number="+4722334455", type=PhoneType.FIXED, valid=True),
            Phone(number="12", valid=False),
        ),
        emails=(Email(address="kari@example.com", valid=True), Email(address="nope", valid=False)),
    )
    customer = body_of(make_case(debtor=debtor))["customer"]
    assert customer == {
        "customerNumber": "10001",
        "type": "PRIVATE",
        "firstName": "Kari",
        "lastName": "Testesen",
        "dateOfBirth": "1980-02-29",
        "preferredLanguage": "nb",
        "addresses": [
            {
                "type": "BILLING",
                "street": "Storgata 1, Leil. H0201",
                "careOf": "Per Hansen",
                "zipCode": "0155",
                "city": "Oslo",
                "countryCode": "NO",
            }
        ],
        "communicationChannels": [
            {"type": "MOBILE_PHONE", "value": "+4791234567"},
            {"type": "PHONE", "value": "+4722334455"},
            {"type": "EMAIL", "value": "kari@example.com"},
        ],
    }
    assert "ssn" not in customer  # a reachable person's national id stays home


def test_invalid_contacts_only_when_asked_and_a_name_without_parts() -> None:
    debtor = make_party(
        first_name=None,
        last_name=None,
        name="Kari Testesen",
        phones=(Phone(number="12", valid=False),),
    )
    rules = PayloadRules(only_valid_contacts=False, date_of_birth=False)
    customer = body_of(make_case(debtor=debtor), rules)["customer"]
    assert customer["lastName"] == "Kari Testesen"
    assert "firstName" not in customer
    assert {"type": "PHONE", "value": "12"} in customer["communicationChannels"]


def test_a_company_is_named_and_identified_by_its_organization_number() -> None:
    customer = body_of(make_case(debtor=company()))["customer"]
    assert customer["type"] == "COMPANY"
    assert customer["companyName"] == "Fjord Bakeri AS"
    assert customer["ssn"] == "923609016"
    assert "firstName" not in customer
    assert "dateOfBirth" not in customer
    rules = PayloadRules(company_type="BUSINESS", organization_number=False)
    customer = body_of(make_case(debtor=company()), rules)["customer"]
    assert customer["type"] == "BUSINESS"
    assert "ssn" not in customer


def test_a_contact_person_goes_only_with_a_configured_type() -> None:
    assert "referenceContacts" not in body_of(make_case(debtor=company()))
    body = body_of(make_case(debtor=company()), PayloadRules(contact_person_type="CONTACT_PERSON"))
    assert body["referenceContacts"] == [
        {
            "type": "CONTACT_PERSON",
            "liable": False,
            "firstName": "Ola",
            "lastName": "Nordmann",
            "communicationChannels": [
                {"type": "PHONE", "value": "+4799887766"},
                {"type": "EMAIL", "value": "ola@fjordbakeri.example"},
            ],
        }
    ]


PROTECTED = Address(state=AddressState.PROTECTED)
UNKNOWN = Address(state=AddressState.UNKNOWN)


@pytest.mark.parametrize("hidden", [PROTECTED, UNKNOWN], ids=["protected", "unknown"])
def test_a_protected_or_unknown_address_is_never_sent_and_the_id_goes_instead(
    hidden: Address,
) -> None:
    debtor = make_party(addresses=(hidden,), national_id="01018012345", id_country="NO")
    customer = body_of(make_case(debtor=debtor))["customer"]
    assert "addresses" not in customer
    assert customer["ssn"] == "01018012345"  # so the agency can find the debtor's address
    never = body_of(make_case(debtor=debtor), PayloadRules(national_id="never"))["customer"]
    assert "ssn" not in never


def test_a_protected_address_beside_a_known_one_sends_only_the_known_one() -> None:
    known = Address(
        lines=("Postboks 12",), postal_code="0101", city="Oslo", kind=AddressKind.POSTAL
    )
    debtor = make_party(addresses=(PROTECTED, known, known), national_id="01018012345")
    customer = body_of(make_case(debtor=debtor))["customer"]
    assert [a["street"] for a in customer["addresses"]] == ["Postboks 12"]
    assert "ssn" not in customer
    always = body_of(make_case(debtor=debtor), PayloadRules(national_id="always"))["customer"]
    assert always["ssn"] == "01018012345"


# --- the claims ----------------------------------------------------------------------------


def test_several_invoices_share_one_contract_keyed_by_the_delivery() -> None:
    claims = (
        make_claim(
            "1001",
            agreement_ref="AVT-7",
            order_ref="PO-9",
            collection_notice_date=dt.date(2026, 2, 20),
            reminders=(
                Reminder(sent_on=dt.date(2026, 2, 5), fee=Decimal("35.00")),
                Reminder(sent_on=dt.date(2026, 2, 19), fee=Decimal("0")),
            ),
        ),
        make_claim(
            "1002",
            kid=None,
            description=None,
            original_amount=Decimal("980.40"),
            remaining_principal=Decimal("480.40"),
            reminders=(Reminder(sent_on=dt.date(2026, 2, 6), fee=Decimal("70.00")),),
        ),
    )
    body = body_of(make_case(claims=claims))
    [contract] = body["contracts"]
    assert contract["contractNumber"] == KEY
    first, second = contract["invoices"]
    assert first == {
        "invoiceNumber": "1001",
        "referenceNumber": "0000010016",
        "invoiceDate": "2026-01-05",
        "dueDate": "2026-01-19",
        "originalAmount": 1250,
        "remainingAmount": 1250,
        "currency": "NOK",
        "placementDate": "2026-03-31",
        "additionalProperties": {
            "description": "Consulting, January",
            "agreementReference": "AVT-7",
            "orderReference": "PO-9",
            "collectionNoticeDate": "2026-02-20",
        },
    }
    assert second["remainingAmount"] == 480.4
    assert second["originalAmount"] == 980.4
    assert "referenceNumber" not in second
    assert "additionalProperties" not in second
    # reminder fees stay apart from the principal: one cost per reminder with a fee
    assert body["costs"] == [
        {
            "type": "REMINDER_FEE",
            "invoiceNumber": "1001",
            "date": "2026-02-05",
            "originalAmount": 35,
            "remainingAmount": 35,
            "currency": "NOK",
            "description": "reminder 1",
        },
        {
            "type": "REMINDER_FEE",
            "invoiceNumber": "1002",
            "date": "2026-02-06",
            "originalAmount": 70,
            "remainingAmount": 70,
            "currency": "NOK",
            "description": "reminder 1",
        },
    ]
    assert "costs" not in body_of(make_case(claims=claims), PayloadRules(reminder_fees=False))


@pytest.mark.parametrize(
    ("currency", "amount", "text"),
    [
        ("SEK", "1499.99", "1499.99"),
        ("EUR", "0.01", "0.01"),
        ("NOK", "987654321098.10", "987654321098.1"),
    ],
)
def test_amounts_leave_as_exact_json_numbers_in_their_currency(
    currency: str, amount: str, text: str
) -> None:
    claim = make_claim(
        currency=currency, original_amount=Decimal(amount), remaining_principal=Decimal(amount)
    )
    body = body_of(make_case(claims=(claim,)))
    invoice = body["contracts"][0]["invoices"][0]
    assert invoice["currency"] == currency
    assert f'"remainingAmount": {text}' in json.dumps(body)


def test_an_amount_that_no_json_number_holds_exactly_is_refused() -> None:
    assert jsonable({"a": Decimal("12.50"), "d": dt.date(2026, 1, 2)}) == {
        "a": 12.5,
        "d": "2026-01-02",
    }
    with pytest.raises(ValueError, match="exactly"):
        jsonable(Decimal("123456789012345678.91"))
    with pytest.raises(ValueError, match="finite"):
        jsonable(Decimal("NaN"))


def test_a_claim_riverty_would_refuse_is_stopped_here_with_every_reason() -> None:
    paid = make_claim("1001", remaining_principal=Decimal("0"))
    long_number = make_claim("9" * 41)
    with pytest.raises(RecordError) as caught:
        claim_body(make_case(claims=(paid, long_number)), KEY, PayloadRules(), TODAY)
    reasons = " ".join(caught.value.reasons)
    assert "invoice 1001: nothing remains to collect" in reasons
    assert "number too long" in reasons
    assert "Testesen" not in reasons  # reasons never echo the debtor


# --- corrections ---------------------------------------------------------------------------


def test_correction_numbers_are_the_key_or_a_stable_digest_of_it() -> None:
    assert correction_number(KEY) == KEY
    odd = "payment/ledger 2026 #17 " + "x" * 40
    assert correction_number(odd) == correction_number(odd)
    assert correction_number(odd).startswith("cbn-")
    assert len(correction_number(odd)) == 36
    assert correction_number(odd) != correction_number(odd + "y")


def make_payment(amount: str = "250.00") -> Payment:
    return Payment(
        payment_id="bank-2026-0042",
        source=SourceRef(system="files", company="1", record_id="bank-2026-0042"),
        amount=Decimal(amount),
        currency="NOK",
        booking_date=dt.date(2026, 3, 28),
        value_date=dt.date(2026, 3, 27),
        invoice_number="1001",
    )


def test_a_direct_payment_carries_its_number_booking_date_and_allocation() -> None:
    body = payment_body(
        make_payment(),
        number=KEY,
        invoice_number="1001",
        contract_number=KEY,
        allocate_to="PRINCIPAL_CLAIM",
    )
    validator("Payment").validate(body)
    assert body == {
        "invoiceNumber": "1001",
        "paymentNumber": KEY,
        "contractNumber": KEY,
        "date": "2026-03-28",  # the real booking date, not the value date
        "description": "paid to the creditor directly (ref bank-2026-0042)",
        "amount": 250,
        "currency": "NOK",
        "allocateTo": "PRINCIPAL_CLAIM",
    }
    default = payment_body(
        make_payment("99.95"),
        number=KEY,
        invoice_number=None,
        contract_number=KEY,
        allocate_to=None,
    )
    validator("Payment").validate(default)
    assert "allocateTo" not in default
    assert "invoiceNumber" not in default
    assert default["amount"] == 99.95


def test_a_credit_note_is_a_credit_waiver_and_a_recall_names_what_remains() -> None:
    note = CreditNote(
        credit_note_number="K-17",
        source=SourceRef(system="files", company="1", record_id="K-17"),
        invoice_number="1001",
        amount=Decimal("100.00"),
        currency="NOK",
        issue_date=dt.date(2026, 3, 30),
        reason="goods returned",
    )
    waiver = credit_waiver_body(note, number=KEY, invoice_number="1001", contract_number=KEY)
    validator("CreditWaiver").validate(waiver)
    assert waiver["creditWaiverNumber"] == KEY
    assert waiver["description"] == "credit note K-17"
    recall = recall_body(
        invoice_number="1001",
        contract_number=KEY,
        amount=Decimal("1250.00"),
        currency="NOK",
        on=TODAY,
        reason="  settled\nin court ",
        recall_type=None,
    )
    validator("Recall").validate(recall)
    assert recall["description"] == "settled in court"
    assert "type" not in recall
    validator("Recall").validate({})  # the total recall
