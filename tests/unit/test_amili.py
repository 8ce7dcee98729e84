"""Amili Norway: mapping, batch polling, lookup, corrections, updates and webhook signatures,
against the fake Collection API (``tests/fakes/amili.py``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from claimbridge.connectors.agencies._amili_batches import parse_batch, parse_handle
from claimbridge.connectors.agencies._amili_events import (
    SettlementFields,
    settlements_from,
    updates_from_event,
)
from claimbridge.connectors.agencies._amili_payload import invoices_for, money
from claimbridge.connectors.agencies.amili import AmiliAgency, AmiliSettings
from claimbridge.connectors.base import (
    ConnectorContext,
    Correction,
    CorrectionKind,
    Delivery,
    PushStatus,
)
from claimbridge.errors import AuthError, ParseError
from claimbridge.grouping import idempotency_key
from claimbridge.schemas import (
    Address,
    AddressState,
    CaseStatus,
    CreditNote,
    EventKind,
    Payment,
    SourceRef,
)
from claimbridge.transport.signature import HmacScheme
from claimbridge.webhooks import spool, spool_dir
from tests.contract.test_amili_contract import VirtualTime, amili_settings
from tests.factories import make_case, make_claim, make_party
from tests.fakes.amili import WEBHOOK_SECRET, FakeAmili

NAME = "amili-unit"
SCHEME = {"secret": WEBHOOK_SECRET}


class Rig:
    def __init__(self, root: Path, fake: FakeAmili) -> None:
        self.root = root
        self.fake = fake
        self.time = VirtualTime()

    def agency(self, **extra: Any) -> AmiliAgency:
        extra.setdefault("webhook", SCHEME)
        context = ConnectorContext(name=NAME, workdir=self.root, today=dt.date(2026, 3, 2))
        return AmiliAgency(
            amili_settings(**extra), context, sleep=self.time.sleep, clock=self.time.clock
        )


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    fake = FakeAmili()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield Rig(tmp_path, fake)


def _case(number: str, *invoices: str, **party: Any) -> Any:
    claims = tuple(
        make_claim(
            inv,
            debtor_id=number,
            original_amount=Decimal("1000.50"),
            remaining_principal=Decimal("900.25"),
            collection_notice_date=dt.date(2026, 2, 1),
        )
        for inv in invoices
    )
    return make_case(debtor=make_party(number, **party), claims=claims)


def _delivery(case: Any) -> Delivery:
    return Delivery(idempotency_key(NAME, case.case_key), case)


# --- mapping -----------------------------------------------------------------------------


def test_each_claim_becomes_an_invoice_with_the_collection_notice_date() -> None:
    case = _case("20001", "7001", "7002")
    invoices = invoices_for(
        case, "cbk-1", invoice_type="NOTICE", vat=True, fees=False, send_national_id=True
    )
    assert [i["invoiceNumber"] for i in invoices] == ["7001", "7002"]
    first = invoices[0]
    assert first["collectionNoticeDate"] == "2026-02-01"
    assert first["originalInvoiceAmount"] == 1000.5
    assert first["remainingAmount"] == 900.25
    assert first["uniqueSourceInvoiceId"] == "cbk-1-0"
    assert invoices[1]["uniqueSourceInvoiceId"] == "cbk-1-1"
    assert first["fees"] is False
    assert first["debtor"]["customerNumber"] == "20001"


def test_protected_addresses_and_national_ids_stay_home_when_told() -> None:
    hidden = Address(state=AddressState.PROTECTED, lines=("Hemmelig vei 1",), city="Oslo")
    case = _case("20002", "7003", addresses=(hidden,), national_id="01017012345")
    debtor = invoices_for(
        case, "k", invoice_type="NOTICE", vat=True, fees=True, send_national_id=False
    )[0]["debtor"]
    assert "addresses" not in debtor
    assert "nationalIdentityNumber" not in debtor
    assert "Hemmelig" not in json.dumps(debtor)


@pytest.mark.parametrize(
    ("amount", "wire"), [("100", 100), ("100.50", 100.5), ("0.1", 0.1), ("12345.67", 12345.67)]
)
def test_money_leaves_as_json_numbers_without_float_arithmetic(amount: str, wire: Any) -> None:
    assert money(Decimal(amount)) == wire
    assert str(money(Decimal(amount))) in {amount, amount.rstrip("0").rstrip(".")}


# --- pushing and polling -----------------------------------------------------------------


def test_a_partial_batch_gives_each_delivery_its_own_outcome(rig: Rig) -> None:
    good, bad = _case("20010", "7010"), _case("20011", "7011")
    rig.fake.refuse_invoice["7011"] = ("DEBTOR_DECEASED", "the debtor is registered deceased")
    agency = rig.agency()
    outcomes = agency.push([_delivery(good), _delivery(bad)])
    assert [o.status for o in outcomes] == [PushStatus.ACCEPTED, PushStatus.REJECTED]
    assert outcomes[0].agency_ref == rig.fake.invoices[0]["caseId"]
    assert "DEBTOR_DECEASED" in (outcomes[1].reason or "")
    assert "deceased" in (outcomes[1].reason or "")
    batch = next(iter(rig.fake.batches.values()))
    assert batch.status == "PARTIAL"


def test_a_case_partly_refused_is_accepted_with_the_refusal_in_its_reason(rig: Rig) -> None:
    rig.fake.refuse_invoice["7021"] = ("DUPLICATE", "already registered")
    outcome = rig.agency().push([_delivery(_case("20020", "7020", "7021"))])[0]
    assert outcome.status is PushStatus.ACCEPTED
    assert "7021" in (outcome.reason or "")
    assert "already registered" in (outcome.reason or "")


def test_polling_waits_the_configured_interval_until_the_batch_leaves_queued(rig: Rig) -> None:
    rig.fake.queued_requests = 4
    outcome = rig.agency(poll_interval_s=3).push([_delivery(_case("20030", "7030"))])[0]
    assert outcome.status is PushStatus.ACCEPTED
    assert rig.time.waited
    assert set(rig.time.waited) == {3}
    gets = [e for e in rig.fake.exchanges if e.method == "GET" and "/batches/" in e.path]
    assert [e.response["data"]["status"] for e in gets][-1] == "SUCCESS"
    assert "QUEUED" in [e.response["data"]["status"] for e in gets]


def test_past_the_deadline_the_delivery_is_sent_and_lookup_resolves_it_later(rig: Rig) -> None:
    rig.fake.queued_requests = 10**6
    case = _case("20040", "7040", "7041")
    delivery = _delivery(case)
    agency = rig.agency(poll_interval_s=5, poll_deadline_s=20)
    outcome = agency.push([delivery])[0]
    assert outcome.status is PushStatus.SENT
    assert outcome.agency_ref is not None
    assert sum(rig.time.waited) <= 20
    assert parse_handle(outcome.agency_ref) == (
        next(iter(rig.fake.batches)),
        ["7040", "7041"],
    )
    still = agency.lookup(delivery.idempotency_key, agency_ref=outcome.agency_ref)
    assert still is not None
    assert still.status is PushStatus.SENT
    rig.fake.finish_all()
    done = agency.lookup(delivery.idempotency_key, agency_ref=outcome.agency_ref)
    assert done is not None
    assert done.status is PushStatus.ACCEPTED
    assert done.agency_ref == rig.fake.invoices[0]["caseId"]


def test_a_refused_sent_delivery_is_rejected_by_lookup(rig: Rig) -> None:
    rig.fake.queued_requests = 10**6
    rig.fake.refuse_invoice["7050"] = ("INVALID_ADDRESS", "no postal code")
    delivery = _delivery(_case("20050", "7050"))
    agency = rig.agency(poll_deadline_s=0)
    handle = agency.push([delivery])[0].agency_ref
    rig.fake.finish_all()
    found = agency.lookup(delivery.idempotency_key, agency_ref=handle)
    assert found is not None
    assert found.status is PushStatus.REJECTED
    assert "no postal code" in (found.reason or "")


def test_lookup_without_a_handle_says_unknown_while_batches_are_queued(rig: Rig) -> None:
    rig.fake.queued_requests = 10**6
    delivery = _delivery(_case("20060", "7060"))
    agency = rig.agency(poll_deadline_s=0)
    agency.push([delivery])
    found = agency.lookup(delivery.idempotency_key)
    assert found is not None
    assert found.status is PushStatus.UNKNOWN
    rig.fake.finish_all()
    found = agency.lookup(delivery.idempotency_key)
    assert found is not None
    assert found.status is PushStatus.ACCEPTED
    assert agency.lookup("cbk-never-sent") is None


def test_one_token_serves_many_calls_and_a_wrong_secret_stops_the_run(rig: Rig) -> None:
    agency = rig.agency()
    agency.push([_delivery(_case("20070", "7070")), _delivery(_case("20071", "7071"))])
    assert rig.fake.token_requests == 1
    with pytest.raises(AuthError):
        rig.agency(client_secret="wrong").push([_delivery(_case("20072", "7072"))])


def test_invoice_numbers_never_repeat_within_one_batch(rig: Rig) -> None:
    one, two = _case("20080", "7080"), _case("20081", "7080")
    outcomes = rig.agency().push([_delivery(one), _delivery(two)])
    assert [o.status for o in outcomes] == [PushStatus.ACCEPTED, PushStatus.ACCEPTED]
    assert len(rig.fake.batches) == 2


# --- corrections -------------------------------------------------------------------------


def _accepted(rig: Rig, agency: AmiliAgency, number: str, invoice: str) -> tuple[Any, str]:
    case = _case(number, invoice)
    outcome = agency.push([_delivery(case)])[0]
    assert outcome.agency_ref is not None
    return case, outcome.agency_ref


def test_a_direct_payment_is_reported_with_its_booking_date(rig: Rig) -> None:
    agency = rig.agency()
    case, ref = _accepted(rig, agency, "20090", "7090")
    payment = Payment(
        payment_id="pay-1",
        source=SourceRef(system="ledger", company="c", record_id="pay-1"),
        amount=Decimal("250.00"),
        currency="NOK",
        booking_date=dt.date(2026, 3, 1),
        invoice_number="7090",
    )
    correction = Correction(
        "corr-1", CorrectionKind.PAYMENT, case.case_key, ref, invoice_number="7090", payment=payment
    )
    outcome = agency.correct([correction])[0]
    assert outcome.status is PushStatus.ACCEPTED
    sent = rig.fake.payments[0]
    assert sent["type"] == "DIRECT_PAYMENT"
    assert sent["paymentDate"] == "2026-03-01"
    assert sent["amount"] == 250
    assert sent["invoiceId"] == rig.fake.invoices[0]["invoiceId"]


def test_a_credit_note_reduces_the_claim(rig: Rig) -> None:
    agency = rig.agency()
    case, ref = _accepted(rig, agency, "20100", "7100")
    note = CreditNote(
        credit_note_number="CN-1",
        source=SourceRef(system="ledger", company="c", record_id="CN-1"),
        invoice_number="7100",
        amount=Decimal("100.00"),
        currency="NOK",
        issue_date=dt.date(2026, 3, 1),
    )
    correction = Correction(
        "corr-2", CorrectionKind.REDUCE, case.case_key, ref, invoice_number="7100", credit_note=note
    )
    assert agency.reduce(correction).status is PushStatus.ACCEPTED
    assert rig.fake.corrections[0]["reference"] == "CN-1"


def test_a_correction_for_an_invoice_amili_does_not_hold_is_rejected(rig: Rig) -> None:
    agency = rig.agency()
    case, ref = _accepted(rig, agency, "20110", "7110")
    payment = Payment(
        payment_id="pay-2",
        source=SourceRef(system="ledger", company="c", record_id="pay-2"),
        amount=Decimal("1"),
        currency="NOK",
        booking_date=dt.date(2026, 3, 1),
    )
    correction = Correction(
        "corr-3", CorrectionKind.PAYMENT, case.case_key, ref, invoice_number="9999", payment=payment
    )
    outcome = agency.report_payment(correction)
    assert outcome.status is PushStatus.REJECTED
    assert not rig.fake.payments


def _direct_payment(case_key: str, ref: str, invoice: str, key: str) -> Correction:
    payment = Payment(
        payment_id=f"pay-{key}",
        source=SourceRef(system="ledger", company="c", record_id=f"pay-{key}"),
        amount=Decimal("250.00"),
        currency="NOK",
        booking_date=dt.date(2026, 3, 1),
        invoice_number=invoice,
    )
    return Correction(
        key, CorrectionKind.PAYMENT, case_key, ref, invoice_number=invoice, payment=payment
    )


def test_a_payment_whose_answer_was_lost_is_found_by_its_key(rig: Rig) -> None:
    agency = rig.agency()
    case, ref = _accepted(rig, agency, "20130", "7130")
    agency.correct([_direct_payment(case.case_key, ref, "7130", "corr-lost")])  # answer dropped
    found = rig.agency().lookup("corr-lost")
    assert found is not None
    assert found.status is PushStatus.ACCEPTED
    assert found.agency_ref is not None
    assert found.agency_ref.startswith("batch/")
    [batch] = [b for b in rig.fake.batches.values() if b.type == "PAYMENT"]
    assert batch.idempotency_key == "corr-lost"  # the key travelled in the IdempotencyKey header
    assert rig.agency().lookup("corr-never-sent") is None
    assert agency.resendable_corrections == {CorrectionKind.PAYMENT, CorrectionKind.REDUCE}


def test_without_the_key_header_no_correction_may_be_resent(rig: Rig) -> None:
    agency = rig.agency(correction_key_header=None)
    case, ref = _accepted(rig, agency, "20140", "7140")
    agency.correct([_direct_payment(case.case_key, ref, "7140", "corr-plain")])
    [batch] = [b for b in rig.fake.batches.values() if b.type == "PAYMENT"]
    assert batch.idempotency_key is None
    assert agency.lookup("corr-plain") is None  # cannot be found: the core leaves it to a person
    assert agency.resendable_corrections == frozenset()


def test_several_batches_under_one_key_leave_the_outcome_unknown(rig: Rig) -> None:
    agency = rig.agency()
    case, ref = _accepted(rig, agency, "20150", "7150")
    agency.correct([_direct_payment(case.case_key, ref, "7150", "corr-twice")])
    for batch in rig.fake.batches.values():  # as if Amili ignored the filter
        batch.idempotency_key = "corr-twice"
    found = rig.agency().lookup("corr-twice")
    assert found is not None
    assert found.status is PushStatus.UNKNOWN
    assert "several batches" in (found.reason or "")


def test_case_actions_are_never_resent_blindly(rig: Rig) -> None:
    """Amili cannot be asked about a withdrawal, pause or resume: none of them is resendable,
    so one whose answer was lost waits for a person (reconcile/corrections.py)."""
    assert not {CorrectionKind.WITHDRAW, CorrectionKind.PAUSE, CorrectionKind.RESUME} & (
        rig.agency().resendable_corrections
    )


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (CorrectionKind.PAUSE, "PAUSED"),
        (CorrectionKind.WITHDRAW, "WITHDRAWN"),
        (CorrectionKind.RESUME, "OPEN"),
    ],
)
def test_pause_withdraw_and_resume_act_on_amili_cases(
    rig: Rig, kind: CorrectionKind, status: str
) -> None:
    agency = rig.agency()
    case, ref = _accepted(rig, agency, "20120", "7120")
    correction = Correction("corr-4", kind, case.case_key, ref, reason="disputed by the debtor")
    outcome = agency.correct([correction])[0]
    assert outcome.status is PushStatus.ACCEPTED
    assert rig.fake.cases[ref]["status"] == status
    assert rig.fake.case_actions[-1][2] == {"reason": "disputed by the debtor"}


def test_a_correction_for_an_unknown_case_is_rejected_with_amilis_reason(rig: Rig) -> None:
    correction = Correction("corr-5", CorrectionKind.PAUSE, "cb-x", "no-such-case")
    outcome = rig.agency().pause(correction)
    assert outcome.status is PushStatus.REJECTED
    assert "no such case" in (outcome.reason or "")


# --- updates -----------------------------------------------------------------------------


def _settlement(sid: str, day: str, invoice: str, **amounts: float) -> dict[str, Any]:
    return {
        "settlementId": sid,
        "settlementDate": day,
        "currency": "NOK",
        "caseNumber": "5000001",
        "collectionType": "DEBT_COLLECTION",
        "customerReference": "20001",
        "exchangeRate": 1,
        "invoiceNumber": invoice,
        **amounts,
    }


def test_settlements_are_itemized_with_stable_ids_and_a_cursor(rig: Rig) -> None:
    rig.fake.add_settlement(
        **_settlement(
            "S1",
            "2026-03-01",
            "7001",
            principalAmount=900.0,
            interestAmount=12.5,
            feeAmount=70,
            commissionAmount=35.5,
        )
    )
    rig.fake.add_settlement(**_settlement("S1", "2026-03-01", "7002", principalAmount=100))
    rig.fake.add_settlement(**_settlement("S2", "2026-03-02", "7003", principalAmount=50))
    updates = list(rig.agency(settlements_from="2026-02-01").updates(None))
    assert [u.update_id for u in updates] == ["amili:S1", "amili:S2"]
    first = updates[0].settlement
    assert first is not None
    assert [line.invoice_number for line in first.lines] == ["7001", "7002"]
    line = first.lines[0]
    assert (line.principal, line.interest, line.fees, line.commission) == (
        Decimal("900.00"),
        Decimal("12.50"),
        Decimal("70.00"),
        Decimal("35.50"),
    )
    assert line.total == Decimal("982.50")
    again = list(rig.agency().updates(updates[-1].cursor))
    assert [u.update_id for u in again] == ["amili:S2"]  # re-read from the last date: same ids


def test_spooled_webhook_events_come_first_in_arrival_order(rig: Rig) -> None:
    agency = rig.agency()
    directory = spool_dir(rig.root, NAME)
    rig.fake.add_settlement(**_settlement("S9", "2026-03-02", "7009", principalAmount=10))
    events = [
        rig.fake.webhook(
            "CASE_UPDATED", {"caseId": "c-1", "status": "PAUSED", "fields": ["status"]}, key="k1"
        ),
        rig.fake.webhook("SETTLEMENT_CREATED", {"settlementId": "S9", "caseNumber": "5"}, key="k2"),
    ]
    for index, (headers, body) in enumerate(events):
        update = agency.parse_webhook(headers, body)[0]
        spool(
            directory, update.update_id, body, now=dt.datetime(2026, 3, 2, 10, index, tzinfo=dt.UTC)
        )
    updates = list(agency.updates(json.dumps({"spool": None, "settled_from": "2026-03-03"})))
    assert [u.update_id for u in updates] == ["amili:k1", "amili:k2", "amili:S9"]
    paused = updates[0].event
    assert paused is not None
    assert paused.status is CaseStatus.PAUSED
    assert paused.agency_ref == "c-1"
    assert updates[1].event is not None
    assert updates[1].event.kind is EventKind.SETTLEMENT
    assert updates[2].settlement is not None
    later = list(agency.updates(updates[-1].cursor))
    assert later == []  # the spool is read past, the settlement date is past S9


def test_a_settlement_event_amili_cannot_show_yet_is_left_to_polling(rig: Rig) -> None:
    agency = rig.agency()
    headers, body = rig.fake.webhook("SETTLEMENT_CREATED", {"settlementId": "S-late"}, key="k9")
    update = agency.parse_webhook(headers, body)[0]
    spool(spool_dir(rig.root, NAME), update.update_id, body)
    updates = list(agency.updates(json.dumps({"spool": None, "settled_from": "2026-03-03"})))
    assert [u.update_id for u in updates] == ["amili:k9"]
    assert updates[0].cursor is not None
    assert list(agency.updates(updates[0].cursor)) == []


# --- webhook signatures ------------------------------------------------------------------


def test_a_signed_event_verifies_and_its_idempotency_key_is_the_update_id(rig: Rig) -> None:
    headers, body = rig.fake.webhook("CASE", {"caseId": "c-2", "status": "OPEN"}, key="evt-1")
    updates = rig.agency().parse_webhook(headers, body)
    assert [u.update_id for u in updates] == ["amili:evt-1"]
    assert updates[0].event is not None
    assert updates[0].event.status is CaseStatus.ACTIVE
    again = rig.agency().parse_webhook(headers, body)  # Amili's retry of the same delivery
    assert [u.update_id for u in again] == ["amili:evt-1"]


def test_a_tampered_body_or_a_wrong_secret_is_refused(rig: Rig) -> None:
    headers, body = rig.fake.webhook("CASE", {"caseId": "c-3", "status": "OPEN"})
    agency = rig.agency()
    with pytest.raises(AuthError):
        agency.parse_webhook(headers, body.replace(b"c-3", b"c-4"))
    with pytest.raises(AuthError):
        rig.agency(webhook={"secret": "another"}).parse_webhook(headers, body)
    without = {k: v for k, v in headers.items() if k != "X-Webhook-Signature"}
    with pytest.raises(AuthError):
        agency.parse_webhook(without, body)
    with pytest.raises(AuthError):
        rig.agency(webhook=None).parse_webhook(headers, body)


def test_a_replayed_delivery_outside_the_tolerance_is_refused(rig: Rig) -> None:
    scheme = HmacScheme.model_validate(
        {"secret": WEBHOOK_SECRET, "timestamp_header": "X-Amili-Timestamp", "tolerance_s": 300}
    )
    agency = rig.agency(webhook=scheme.model_dump() | {"secret": WEBHOOK_SECRET})
    headers, body = rig.fake.webhook("CASE", {"caseId": "c-5", "status": "OPEN"})
    now = int(dt.datetime.now(dt.UTC).timestamp())
    fresh = headers | {
        "X-Amili-Timestamp": str(now),
        "X-Webhook-Signature": scheme.sign(body, str(now)),
    }
    assert agency.parse_webhook(fresh, body)
    old = now - 3600
    replayed = headers | {
        "X-Amili-Timestamp": str(old),
        "X-Webhook-Signature": scheme.sign(body, str(old)),
    }
    with pytest.raises(AuthError, match="tolerance"):
        agency.parse_webhook(replayed, body)


def test_signature_header_names_are_case_insensitive_and_encodings_configurable(rig: Rig) -> None:
    scheme = HmacScheme.model_validate(
        {"secret": WEBHOOK_SECRET, "encoding": "base64", "prefix": "sha256="}
    )
    agency = rig.agency(
        webhook={"secret": WEBHOOK_SECRET, "encoding": "base64", "prefix": "sha256="}
    )
    headers, body = rig.fake.webhook("CASE", {"caseId": "c-6", "status": "OPEN"}, scheme=scheme)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["x-webhook-signature"].startswith("sha256=")
    assert agency.parse_webhook(lowered, body)


# --- hostile answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        "QUEUED",
        {"data": {"status": "QUEUED"}},
        {"data": {"batchId": "b"}},
        {"data": {"batchId": "b", "status": "SUCCESS", "succeeded": "all"}},
        {"data": {"batchId": "b", "status": "SUCCESS", "succeeded": [{"caseId": "c"}]}},
        {"data": {"batchId": "b", "status": "SUCCESS", "failed": [7]}},
    ],
)
def test_malformed_batch_answers_are_parse_errors(answer: Any) -> None:
    with pytest.raises(ParseError):
        parse_batch(answer)


def test_a_malformed_batch_answer_from_the_wire_loses_nothing(rig: Rig) -> None:
    agency = rig.agency()
    delivery = _delivery(_case("20130", "7130"))
    original = rig.fake._create_invoices

    def broken(body: Any) -> tuple[int, Any, dict[str, str]]:
        original(body)  # Amili stores the batch, then answers nonsense
        return 202, {"data": "oops"}, {}

    rig.fake._create_invoices = broken  # type: ignore[method-assign]
    with pytest.raises(ParseError):
        agency.push([delivery])
    rig.fake._create_invoices = original  # type: ignore[method-assign]
    found = agency.lookup(delivery.idempotency_key)  # the core resolves the row by lookup
    assert found is not None
    assert found.status is PushStatus.ACCEPTED


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
_shaped = st.fixed_dictionaries(
    {
        "data": st.fixed_dictionaries(
            {
                "batchId": _json_values,
                "status": st.sampled_from(["QUEUED", "SUCCESS", "PARTIAL", "FAILED", 3, None]),
                "succeeded": st.lists(
                    st.dictionaries(
                        st.sampled_from(["invoiceNumber", "caseId", "invoiceId"]), _json_values
                    ),
                    max_size=3,
                )
                | _json_values,
                "failed": _json_values,
            }
        )
    }
)


@settings(max_examples=200, deadline=None)
@given(answer=_json_values | _shaped)
def test_any_batch_answer_parses_or_is_a_parse_error(answer: Any) -> None:
    with contextlib.suppress(ParseError):
        parse_batch(answer)


@settings(max_examples=200, deadline=None)
@given(
    event=_json_values
    | st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["CASE", "CASE_UPDATED", "SETTLEMENT_CREATED", "BATCH_COMPLETED", "X"]
            ),
            "timeStamp": _json_values,
            "data": _json_values,
        }
    )
)
def test_any_webhook_event_parses_or_is_a_parse_error(event: Any) -> None:
    with contextlib.suppress(ParseError):
        updates_from_event(event, "key")


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(
        st.dictionaries(
            st.sampled_from(
                [
                    "settlementId",
                    "settlementDate",
                    "currency",
                    "invoiceNumber",
                    "principalAmount",
                    "interestAmount",
                    "feeAmount",
                    "commissionAmount",
                ]
            ),
            _json_values | st.sampled_from(["2026-03-01", "NOK", "1e400", "NaN", "-5"]),
        ),
        max_size=4,
    )
)
def test_any_settlement_page_parses_or_is_a_parse_error(records: list[Any]) -> None:
    with contextlib.suppress(ParseError):
        settlements_from(records, SettlementFields(), "amili")


def test_a_huge_batch_answer_is_refused_plainly() -> None:
    answer = {"data": {"batchId": "b", "status": "SUCCESS", "succeeded": [None] * 100_001}}
    with pytest.raises(ParseError, match="sane size"):
        parse_batch(answer)


def test_settings_reject_plain_http_to_a_remote_host() -> None:
    with pytest.raises(ValueError, match="https"):
        AmiliSettings.model_validate(
            {
                "api_url": "http://api.amili.no",
                "client_id": "x",
                "client_secret": "y",
                "organization_id": "o",
            }
        )
