"""Amili Sweden: registration mapping, OCR numbers, authentication, creditor payments and
creditings, refusals and hostile answers, against the fake ADA API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses
from stdnum import luhn

from claimbridge.connectors.agencies.amili_se import AmiliSwedenAgency, AmiliSwedenSettings
from claimbridge.connectors.base import (
    CheckKind,
    ConnectorContext,
    Correction,
    CorrectionKind,
    Delivery,
    PushStatus,
)
from claimbridge.errors import AuthError, ParseError
from claimbridge.schemas import CreditNote, PartyKind, Payment, Reminder, SourceRef
from tests.contract.test_amili_se_contract import PUBLIC_KEY, amili_se_settings
from tests.factories import make_case, make_claim, make_party
from tests.fakes.amili_se import CREDITING_FIELDS, PAYMENT_FIELDS, FakeAmiliSweden


class Rig:
    def __init__(self, root: Path, fake: FakeAmiliSweden) -> None:
        self.root = root
        self.fake = fake

    def agency(self, **extra: Any) -> AmiliSwedenAgency:
        return AmiliSwedenAgency(
            amili_se_settings(**extra),
            ConnectorContext(name="amili-se-unit", workdir=self.root),
            sleep=lambda _s: None,
        )


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    fake = FakeAmiliSweden(public_key=PUBLIC_KEY)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield Rig(tmp_path, fake)


def _case(number: str, *invoices: str, **party: Any) -> Any:
    claims = tuple(
        make_claim(
            inv,
            debtor_id=number,
            currency="SEK",
            invoice_date=dt.date(2026, 1, 5),
            due_date=dt.date(2026, 2, 4),
            original_amount=Decimal("2050.00"),
            remaining_principal=Decimal("2050.00"),
            reminders=(Reminder(sent_on=dt.date(2026, 2, 20), fee=Decimal("60")),),
        )
        for inv in invoices
    )
    party.setdefault("id_country", "SE")
    return make_case(debtor=make_party(number, **party), claims=claims, currency="SEK")


def test_a_registration_carries_one_debt_per_claim_in_amilis_terms(rig: Rig) -> None:
    case = _case("30001", "INV-1", "INV-2", national_id="199001011234")
    body = rig.agency().registration(case, "cbk-x")
    assert body["first_action"] == "debt_collection"
    assert body["customer"]["is_person"] is True
    assert body["customer"]["id_number"] == "199001011234"
    first = body["debts"][0]
    assert first["invoice_date"] == "Mon, 05 Jan 2026 00:00:00 GMT"
    assert first["invoice_due_days_after_invoice_date"] == 30
    assert first["capital_to_claim"] == 2050
    assert first["reference_number"] == "cbk-x-0"
    assert body["debts"][1]["reference_number"] == "cbk-x-1"
    assert first["fees_already_claimed"] == {
        "reminder": {"amount": 60, "fee_registration_date": "Fri, 20 Feb 2026 00:00:00 GMT"}
    }


def test_companies_and_foreign_debtors_are_flagged(rig: Rig) -> None:
    company = _case("30002", "INV-3", kind=PartyKind.COMPANY, organization_number="5560269986")
    customer = rig.agency().registration(company, "k")["customer"]
    assert customer["is_company"] is True
    assert customer["id_number"] == "5560269986"
    foreign = _case("30003", "INV-4", id_country="NO")
    assert rig.agency().registration(foreign, "k")["customer"]["is_foreign"] is True


def test_the_ocr_numbers_of_the_answer_become_payment_refs(rig: Rig) -> None:
    case = _case("30010", "INV-10", "INV-11")
    outcome = rig.agency().push([Delivery("cbk-ocr", case)])[0]
    assert outcome.status is PushStatus.ACCEPTED
    registration = rig.fake.registrations[0]
    assert outcome.agency_ref == ",".join(registration["_cases"])
    assert outcome.payment_refs == dict(
        zip(["INV-10", "INV-11"], registration["_ocr_numbers_ocr"], strict=True)
    )
    assert all(luhn.is_valid(ocr) for ocr in outcome.payment_refs.values())
    again = rig.agency().lookup("cbk-ocr")
    assert again is not None
    assert again.payment_refs == outcome.payment_refs
    assert rig.agency().lookup("cbk-never") is None


def test_the_api_code_method_and_token_reuse(rig: Rig) -> None:
    agency = rig.agency(auth_method="api_code", private_key=None)
    agency.push([Delivery(f"k{i}", _case(f"3002{i}", f"INV-2{i}")) for i in range(3)])
    assert rig.fake.token_requests == 1
    auth = [e for e in rig.fake.exchanges if e.path == "/authenticates/api-code"]
    assert auth[0].method == "POST"
    assert auth[0].body == {"api_code": "api-code-1"}


def test_a_wrong_api_code_stops_the_run_and_check_says_auth(rig: Rig) -> None:
    with pytest.raises(AuthError):
        rig.agency(api_code="wrong").push([Delivery("k", _case("30030", "INV-30"))])
    result = rig.agency(api_code="wrong").check()
    assert [(i.kind, i.ok) for i in result.items] == [
        (CheckKind.CONFIG, True),
        (CheckKind.AUTH, False),
    ]
    assert "wrong" not in " ".join(i.message for i in result.items)


def test_a_refusal_is_rejected_with_amilis_issues(rig: Rig) -> None:
    rig.fake.refuse_next = ("customer.address.zip_code", "must be five digits")
    outcome = rig.agency().push([Delivery("k", _case("30040", "INV-40"))])[0]
    assert outcome.status is PushStatus.REJECTED
    assert "zip_code: must be five digits" in (outcome.reason or "")


def test_jwt_auth_needs_a_key_and_a_usable_one(rig: Rig) -> None:
    with pytest.raises(ValueError, match="private_key"):
        amili_se_settings(private_key=None)
    from claimbridge.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot sign"):
        rig.agency(private_key="not a pem key").push([Delivery("k", _case("30050", "INV-50"))])


def _payment(number: str) -> Payment:
    return Payment(
        payment_id="bank-77",
        source=SourceRef(system="ledger", company="c", record_id="bank-77"),
        amount=Decimal("100.00"),
        currency="SEK",
        booking_date=dt.date(2026, 3, 3),
        invoice_number=number,
    )


def test_a_direct_payment_names_the_case_and_its_real_booking_date(rig: Rig) -> None:
    agency = rig.agency()
    case = _case("30060", "INV-60")
    ref = agency.push([Delivery("k", case)])[0].agency_ref
    assert ref is not None
    correction = Correction(
        "c1", CorrectionKind.PAYMENT, case.case_key, ref, "INV-60", payment=_payment("INV-60")
    )
    outcome = agency.correct([correction])[0]
    assert outcome.status is PushStatus.ACCEPTED
    sent = rig.fake.payments[0]
    assert set(sent) <= PAYMENT_FIELDS
    assert sent["case"] == ref
    assert sent["bank_transaction_date"] == "Tue, 03 Mar 2026 00:00:00 GMT"
    assert sent["origin"] == "creditor_system"
    assert sent["creditor_payment_reference"] == "c1"  # the correction's key: found by lookup


def test_with_several_amili_cases_the_invoice_number_names_the_debt(rig: Rig) -> None:
    agency = rig.agency()
    case = _case("30070", "INV-70", "INV-71")
    ref = agency.push([Delivery("k", case)])[0].agency_ref
    assert ref is not None
    correction = Correction(
        "c2", CorrectionKind.PAYMENT, case.case_key, ref, "INV-71", payment=_payment("INV-71")
    )
    assert agency.report_payment(correction).status is PushStatus.ACCEPTED
    assert rig.fake.payments[0]["invoice_number"] == "INV-71"
    assert "case" not in rig.fake.payments[0]


def test_a_credit_note_is_a_crediting(rig: Rig) -> None:
    agency = rig.agency()
    case = _case("30080", "INV-80")
    ref = agency.push([Delivery("k", case)])[0].agency_ref
    assert ref is not None
    note = CreditNote(
        credit_note_number="CN-8",
        source=SourceRef(system="ledger", company="c", record_id="CN-8"),
        invoice_number="INV-80",
        amount=Decimal("50"),
        currency="SEK",
        issue_date=dt.date(2026, 3, 4),
    )
    correction = Correction(
        "c3", CorrectionKind.REDUCE, case.case_key, ref, "INV-80", credit_note=note
    )
    assert agency.reduce(correction).status is PushStatus.ACCEPTED
    assert set(rig.fake.creditings[0]) <= CREDITING_FIELDS
    assert rig.fake.creditings[0]["credit_invoice"] == "CN-8"
    assert rig.fake.creditings[0]["creditor_reference"] == "c3"  # the key: found by lookup


def test_a_payment_for_a_case_amili_does_not_know_is_rejected(rig: Rig) -> None:
    correction = Correction(
        "c4",
        CorrectionKind.PAYMENT,
        "cb-x",
        "ffffffffffffffffffffffff",
        "INV-X",
        payment=_payment("INV-X"),
    )
    outcome = rig.agency().report_payment(correction)
    assert outcome.status is PushStatus.REJECTED
    assert "case: value does not exist" in (outcome.reason or "")


def test_pausing_is_not_offered_for_sweden(rig: Rig) -> None:
    from claimbridge.connectors.base import NotSupportedError

    with pytest.raises(NotSupportedError):
        rig.agency().pause(Correction("c5", CorrectionKind.PAUSE, "cb-x", "ref"))


@pytest.mark.parametrize(
    "answer",
    [
        {"_status": "OK"},
        {"_status": "OK", "_cases": "abc"},
        {"_status": "OK", "_cases": [None]},
        {"_status": "OK", "_cases": ["a"], "_ocr_numbers_ocr": ["1", "2"]},
    ],
)
def test_unusable_registration_answers_are_parse_errors(rig: Rig, answer: dict[str, Any]) -> None:
    original = rig.fake._register

    def broken(body: Any) -> tuple[int, Any, dict[str, str]]:
        original(body)
        return 201, answer, {}

    rig.fake._register = broken  # type: ignore[method-assign]
    with pytest.raises(ParseError):
        rig.agency().push([Delivery("k-bad", _case("30090", "INV-90"))])
    rig.fake._register = original  # type: ignore[method-assign]
    assert rig.fake.held_cases() == 1  # stored at Amili: the core's lookup finds it again


def test_settings_keep_tls_and_forbid_unknown_keys() -> None:
    with pytest.raises(ValueError, match="https"):
        amili_se_settings(api="http://api.amili.se")
    with pytest.raises(ValueError, match="Extra"):
        AmiliSwedenSettings.model_validate({**amili_se_settings().model_dump(), "surprise": 1})
