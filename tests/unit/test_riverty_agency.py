"""The Riverty agency against the fake collection API: handover, lookup, corrections, updates.

Each test drives the connector through ``responses`` and the fake's documented behaviour; every
request body it sends is checked by the fake against the documented shapes (a misfit answers
400 and fails the test). Waits are recorded, never slept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import responses

from claimbridge.connectors.agencies.riverty import RivertyAgency, RivertySettings
from claimbridge.connectors.base import (
    CheckKind,
    ConnectorContext,
    Correction,
    CorrectionKind,
    Delivery,
    PushStatus,
)
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.errors import AuthError, ParseError
from claimbridge.grouping import idempotency_key
from claimbridge.schemas import CaseStatus, CreditNote, EventKind, Payment, SourceRef
from tests.contract.agency_suite import make_cases
from tests.fakes.riverty import (
    AUDIENCE,
    BASE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN_URL,
    RivertyFake,
    validator,
)

NAME = "riverty-test"
NOW = dt.datetime(2026, 3, 31, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def fake() -> Iterator[RivertyFake]:
    fake = RivertyFake(now=NOW)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake


class Build:
    def __init__(self, fake: RivertyFake) -> None:
        self.fake = fake
        self.store = MemoryCredentialStore()
        self.waited: list[float] = []

    def __call__(self, **overrides: Any) -> RivertyAgency:
        fields: dict[str, Any] = {
            "url": BASE_URL,
            "token_url": TOKEN_URL,
            "audience": AUDIENCE,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "http": {"max_retries": 2, "backoff_initial": 0.01, "timeout_read": 0.5},
        }
        fields.update(overrides)
        context = ConnectorContext(name=NAME, today=NOW.date(), credentials=self.store)
        return RivertyAgency(
            RivertySettings(**fields),
            context,
            sleep=self.waited.append,
            clock=lambda: self.fake.now,
        )


@pytest.fixture
def build(fake: RivertyFake) -> Build:
    return Build(fake)


def deliveries(count: int, start: int = 0) -> list[Delivery]:
    cases = make_cases(count, start)
    return [Delivery(idempotency_key(NAME, c.case_key), c) for c in cases]


def handed_over(
    fake: RivertyFake, build: Build, count: int = 1
) -> tuple[RivertyAgency, list[Delivery]]:
    agency, sent = build(), deliveries(count)
    assert {o.status for o in agency.push(sent)} == {PushStatus.SENT}
    fake.process()
    return agency, sent


def correction(kind: CorrectionKind, delivery: Delivery, ref: str, **fields: Any) -> Correction:
    key = idempotency_key(NAME, f"{delivery.case.case_key}:{kind.value}:{len(fields)}", kind.value)
    return Correction(key, kind, delivery.case.case_key, ref, **fields)


def claim_of(fake: RivertyFake, delivery: Delivery) -> str:
    [claim] = [c for c in fake.claims.values() if delivery.idempotency_key in c.contract_numbers]
    return claim.number


# --- handover ------------------------------------------------------------------------------


def test_a_handover_is_sent_and_waits_for_riverty_to_validate_it(
    fake: RivertyFake, build: Build
) -> None:
    agency, sent = build(), deliveries(2)
    outcomes = agency.push(sent)
    assert [o.status for o in outcomes] == [PushStatus.SENT, PushStatus.SENT]
    requests = {c.request_id for c in fake.claims.values()}
    assert {o.agency_ref for o in outcomes} == {f"request:{r}" for r in requests}
    assert [c.status for c in fake.claims.values()] == ["IN_CREATION"] * 2
    assert agency.lookup(sent[0].idempotency_key).status is PushStatus.SENT  # type: ignore[union-attr]
    handovers = [e for e in fake.exchanges if e.path == "/v1/claims"]
    for exchange in handovers:
        validator("ClaimRequest").validate(exchange.body)
        validator("RequestAccepted").validate(exchange.answer)
    assert fake.token_calls == 1
    build().push(deliveries(1, start=5))  # another run: the cached token is still good
    assert fake.token_calls == 1


def test_lookup_follows_the_claim_through_validation(fake: RivertyFake, build: Build) -> None:
    agency, sent = build(), deliveries(3)
    agency.push(sent)
    assert agency.lookup("cbk-" + "0" * 32) is None
    fake.process(reject={sent[2].idempotency_key: "customer.addresses: no deliverable address"})
    accepted = agency.lookup(sent[0].idempotency_key)
    assert accepted is not None
    assert accepted.status is PushStatus.ACCEPTED
    assert accepted.agency_ref == claim_of(fake, sent[0])
    rejected = agency.lookup(sent[2].idempotency_key)
    assert rejected is not None
    assert rejected.status is PushStatus.REJECTED
    searches = [e for e in fake.exchanges if e.path == "/v1/claims/search"]
    assert all(e.params["contractNumber"].startswith("cbk-") for e in searches)
    for exchange in searches:
        validator("ClaimSearchPage").validate(exchange.answer)


def test_lookup_reads_a_search_answer_whatever_its_list_is_called(
    fake: RivertyFake, build: Build
) -> None:
    fake.search_list_name = "claims"
    agency, sent = handed_over(fake, build)
    found = agency.lookup(sent[0].idempotency_key)
    assert found is not None
    assert found.status is PushStatus.ACCEPTED


def test_a_refused_claim_is_rejected_with_riverty_s_reason_and_the_batch_goes_on(
    fake: RivertyFake, build: Build
) -> None:
    sent = deliveries(3)
    fake.calls = 0
    agency = build()
    agency.push(sent[:1])
    fake.fail_next(
        400,
        detail="remainingAmount must be positive",
        errors={"contracts[0].invoices[0].remainingAmount": ["Kari said 0"]},
    )
    first, second = agency.push(sent[1:])
    assert first.status is PushStatus.REJECTED
    assert "remainingAmount must be positive" in (first.reason or "")
    assert "contracts[0].invoices[0].remainingAmount" in (first.reason or "")
    assert "Kari" not in (first.reason or "")  # field messages may echo input: left out
    assert second.status is PushStatus.SENT
    assert len(fake.holding()) == 2


@pytest.mark.parametrize("status", [500, 503, 409])
def test_an_answer_that_may_hide_a_stored_claim_is_unknown(
    fake: RivertyFake, build: Build, status: int
) -> None:
    fake.fail_next(status, title="Server Error", detail="try later")
    [outcome] = build().push(deliveries(1))
    assert outcome.status is PushStatus.UNKNOWN  # resolved by lookup, never resent blindly


def test_an_unreadable_success_answer_is_unknown(fake: RivertyFake, build: Build) -> None:
    fake.failures.append(("/v1/claims", (200, {}, "<html>ok</html>")))
    [outcome] = build().push(deliveries(1))
    assert outcome.status is PushStatus.UNKNOWN
    assert "unreadable" in (outcome.reason or "")


def test_a_rate_limit_that_outlasts_the_retries_leaves_the_rest_retryable(
    fake: RivertyFake, build: Build
) -> None:
    agency, sent = build(), deliveries(3)
    agency.push(sent[:1])  # the token is fetched before the trouble starts
    for _ in range(3):
        fake.fail_next(429, retry_after=5)
    outcomes = agency.push(sent[1:])
    assert [o.status for o in outcomes] == [PushStatus.RETRYABLE, PushStatus.RETRYABLE]
    assert build.waited.count(5) == 2
    assert len(fake.claims) == 1


def test_a_token_refused_once_is_renewed_and_the_request_sent_again(
    fake: RivertyFake, build: Build
) -> None:
    agency = build()
    agency.push(deliveries(1))
    fake.expire_tokens()
    [outcome] = agency.push(deliveries(1, start=3))
    assert outcome.status is PushStatus.SENT
    assert fake.token_calls == 2


def test_wrong_credentials_stop_the_run_before_anything_is_sent(
    fake: RivertyFake, build: Build
) -> None:
    with pytest.raises(AuthError, match="HTTP 401"):
        build(client_secret="wrong").push(deliveries(2))
    assert not fake.claims


def test_credentials_refused_mid_batch_keep_what_was_sent(fake: RivertyFake, build: Build) -> None:
    sent = deliveries(3)
    # the second handover is refused twice: for the old token and for the renewed one
    fake.fail_next(401, skip=1)
    fake.fail_next(401, skip=1)
    outcomes = build().push(sent)
    assert [o.status for o in outcomes] == [
        PushStatus.SENT,
        PushStatus.RETRYABLE,
        PushStatus.RETRYABLE,
    ]
    assert len(fake.claims) == 1


# --- corrections ---------------------------------------------------------------------------


def payment(amount: str = "300.00", invoice: str = "70000") -> Payment:
    return Payment(
        payment_id="ledger-pay-17",
        source=SourceRef(system="files", company="1", record_id="ledger-pay-17"),
        amount=Decimal(amount),
        currency="NOK",
        booking_date=dt.date(2026, 3, 30),
        invoice_number=invoice,
    )


def test_a_direct_payment_is_processed_once_however_often_it_is_sent(
    fake: RivertyFake, build: Build
) -> None:
    agency, [sent] = handed_over(fake, build)
    claim = claim_of(fake, sent)
    fix = correction(CorrectionKind.PAYMENT, sent, claim, invoice_number="70000", payment=payment())
    fake.drop_correction_answers = 1  # stored, answer lost: the POST is retried, same number
    [outcome] = agency.correct([fix])
    assert (outcome.status, outcome.agency_ref) == (PushStatus.SENT, claim)
    [again] = build(allocate_payments_to="PRINCIPAL_CLAIM").correct([fix])
    assert again.status is PushStatus.SENT
    posts = [e for e in fake.exchanges if e.path.endswith("/payments")]
    assert len(posts) == 3
    assert {e.body["paymentNumber"] for e in posts} == {fix.idempotency_key}
    assert posts[-1].body["allocateTo"] == "PRINCIPAL_CLAIM"
    assert "allocateTo" not in posts[0].body
    fake.process()
    assert fake.claims[claim].remaining["70000"] == Decimal("1200.00")  # 1500 - 300, once
    fake.advance(minutes=1)
    receipts = [u.receipt for u in agency.updates(None) if u.receipt]
    [paid] = [r for r in receipts if r.idempotency_key == fix.idempotency_key]
    assert (paid.status, paid.agency_ref) == (PushStatus.ACCEPTED, claim)


def test_a_correction_waits_for_the_claim_number(fake: RivertyFake, build: Build) -> None:
    agency, [sent] = build(), deliveries(1)
    [handover] = agency.push([sent])
    fix = correction(CorrectionKind.PAYMENT, sent, handover.agency_ref or "", payment=payment())
    [early] = agency.correct([fix])
    assert early.status is PushStatus.RETRYABLE
    assert "not confirmed" in (early.reason or "")
    fake.process()
    [late] = agency.correct([fix])  # the request id is resolved by the claim search
    assert (late.status, late.agency_ref) == (PushStatus.SENT, claim_of(fake, sent))


def test_payments_riverty_cannot_take_are_refused_without_a_call(
    fake: RivertyFake, build: Build
) -> None:
    agency, [sent] = handed_over(fake, build)
    claim = claim_of(fake, sent)
    calls = fake.calls
    negative = correction(CorrectionKind.PAYMENT, sent, claim, payment=payment("-5.00"))
    missing = correction(CorrectionKind.REDUCE, sent, claim)
    pause = correction(CorrectionKind.PAUSE, sent, claim, reason="debtor disputes")
    outcomes = agency.correct([negative, missing, pause])
    assert [o.status for o in outcomes] == [PushStatus.REJECTED] * 3
    assert "not supported" in (outcomes[2].reason or "")
    assert fake.calls == calls


def test_a_credit_note_becomes_a_credit_waiver(fake: RivertyFake, build: Build) -> None:
    agency, [sent] = handed_over(fake, build)
    claim = claim_of(fake, sent)
    note = CreditNote(
        credit_note_number="K-3",
        source=SourceRef(system="files", company="1", record_id="K-3"),
        invoice_number="70000",
        amount=Decimal("500.00"),
        currency="NOK",
        issue_date=dt.date(2026, 3, 29),
    )
    fix = correction(CorrectionKind.REDUCE, sent, claim, credit_note=note)
    [outcome] = agency.correct([fix])
    assert outcome.status is PushStatus.SENT
    [post] = [e for e in fake.exchanges if e.path.endswith("/creditWaivers")]
    assert post.body["creditWaiverNumber"] == fix.idempotency_key
    assert post.body["contractNumber"] == sent.idempotency_key
    fake.process()
    assert fake.claims[claim].remaining["70000"] == Decimal("1000.00")


def test_withdrawing_recalls_the_claim_and_a_second_recall_is_rejected(
    fake: RivertyFake, build: Build
) -> None:
    agency, [sent] = handed_over(fake, build)
    claim = claim_of(fake, sent)
    fix = correction(CorrectionKind.WITHDRAW, sent, claim, reason="paid in full to us")
    [outcome] = agency.correct([fix])
    assert (outcome.status, outcome.agency_ref) == (PushStatus.ACCEPTED, claim)
    [post] = [e for e in fake.exchanges if e.path.endswith("/recalls")]
    assert post.body == {}
    agency.correct([fix])  # resent after an unknown outcome: Riverty refuses the second
    fake.process()
    fake.advance(minutes=1)
    updates = list(agency.updates(None))
    closed = [u.event for u in updates if u.event and u.event.status is CaseStatus.WITHDRAWN]
    assert closed
    assert closed[0].agency_ref == claim
    messages = [u.event.message for u in updates if u.event and u.event.kind is EventKind.MESSAGE]
    assert any("already been recalled" in m for m in messages)


def test_withdrawing_one_invoice_recalls_what_it_still_owes(
    fake: RivertyFake, build: Build
) -> None:
    agency, [sent] = handed_over(fake, build)
    claim = claim_of(fake, sent)
    fake.collect(claim, "70000", Decimal("1000.00"))
    fix = correction(CorrectionKind.WITHDRAW, sent, claim, invoice_number="70000")
    [outcome] = agency.correct([fix])
    assert outcome.status is PushStatus.ACCEPTED
    [post] = [e for e in fake.exchanges if e.path.endswith("/recalls")]
    assert (post.body["invoiceNumber"], post.body["amount"]) == ("70000", 500)
    fake.process()
    calls = fake.calls
    [nothing] = agency.correct([fix])  # nothing left: no second recall
    assert nothing.status is PushStatus.ACCEPTED
    assert nothing.reason == "nothing left"
    assert not [e for e in fake.exchanges[calls:] if e.method == "POST"]
    unknown = correction(CorrectionKind.WITHDRAW, sent, claim, invoice_number="nope")
    assert agency.correct([unknown])[0].status is PushStatus.REJECTED


def test_a_lost_recall_answer_is_unknown(fake: RivertyFake, build: Build) -> None:
    agency, [sent] = handed_over(fake, build)
    fake.drop_correction_answers = 1
    fix = correction(CorrectionKind.WITHDRAW, sent, claim_of(fake, sent))
    [outcome] = agency.correct([fix])
    assert outcome.status is PushStatus.UNKNOWN  # a recall carries no number: never retried


def test_credentials_refused_during_corrections(fake: RivertyFake, build: Build) -> None:
    agency, [sent] = handed_over(fake, build)
    claim = claim_of(fake, sent)
    pay = correction(CorrectionKind.PAYMENT, sent, claim, payment=payment("10.00"))
    note = CreditNote(
        credit_note_number="K-4",
        source=SourceRef(system="files", company="1", record_id="K-4"),
        amount=Decimal("20.00"),
        currency="NOK",
        issue_date=dt.date(2026, 3, 29),
    )
    waive = correction(CorrectionKind.REDUCE, sent, claim, credit_note=note)
    refused = f"/v1/claims/{claim}/creditWaivers"
    fake.fail_next(401, path=refused)
    fake.fail_next(401, path=refused)
    outcomes = agency.correct([pay, waive])
    assert [o.status for o in outcomes] == [PushStatus.SENT, PushStatus.RETRYABLE]
    fake.fail_next(401, path=refused)
    fake.fail_next(401, path=refused)
    with pytest.raises(AuthError):
        agency.correct([waive, pay])


# --- updates -------------------------------------------------------------------------------


def test_confirmations_and_rejections_are_receipts_of_their_deliveries(
    fake: RivertyFake, build: Build
) -> None:
    agency, sent = build(), deliveries(2)
    agency.push(sent)
    fake.advance(hours=2)
    fake.process(reject={sent[1].idempotency_key: "Debtor deceased"})
    fake.advance(hours=1)
    updates = list(agency.updates(None))
    receipts = {u.receipt.idempotency_key: u.receipt for u in updates if u.receipt}
    accepted, rejected = receipts[sent[0].idempotency_key], receipts[sent[1].idempotency_key]
    assert (accepted.status, accepted.agency_ref) == (PushStatus.ACCEPTED, claim_of(fake, sent[0]))
    assert rejected.status is PushStatus.REJECTED
    assert "Debtor deceased" in (rejected.reason or "")
    assert len({u.update_id for u in updates}) == len(updates)
    transactions = [e for e in fake.exchanges if e.path == "/v1/transactions"]
    for exchange in transactions:
        validator("Transactions").validate(exchange.answer)
    assert updates[-1].cursor == "2026-03-31T12:00:00Z"  # the end of the window it closes


def test_the_cursor_moves_on_and_an_overlap_re_reads_without_new_ids(
    fake: RivertyFake, build: Build
) -> None:
    agency, _ = handed_over(fake, build)
    fake.advance(minutes=30)
    first = list(agency.updates(None))
    cursor = first[-1].cursor
    assert all(u.cursor for u in first)
    fake.advance(minutes=30)
    again = list(agency.updates(cursor))
    assert {u.update_id for u in again} <= {u.update_id for u in first}  # overlap only
    fake.advance(days=2)
    for claim in list(fake.claims.values()):
        fake.close(claim.number)
    fake.advance(minutes=5)
    later = list(agency.updates(cursor))
    events = [u.event for u in later if u.event and u.event.status is CaseStatus.PAID]
    assert len(events) == 1
    windows = [e for e in fake.exchanges if e.path == "/v1/transactions"][-3:]
    assert all(e.params["from"] < e.params["to"] for e in windows)


def test_debtor_payments_to_riverty_are_itemized_settlements(
    fake: RivertyFake, build: Build
) -> None:
    agency, [sent] = handed_over(fake, build)
    claim = claim_of(fake, sent)
    fake.collect(
        claim, "70000", Decimal("400.00"), interest=Decimal("12.34"), costs=Decimal("70.00")
    )
    fake.advance(minutes=10)
    [settlement] = [u.settlement for u in agency.updates(None) if u.settlement]
    assert settlement.currency == "NOK"
    assert settlement.agency == NAME
    assert sum(line.principal for line in settlement.lines) == Decimal("400.00")
    assert sum(line.interest for line in settlement.lines) == Decimal("12.34")
    assert sum(line.fees for line in settlement.lines) == Decimal("70.00")
    assert {line.agency_ref for line in settlement.lines} == {claim}
    assert {line.invoice_number for line in settlement.lines} == {"70000"}


def test_an_oversized_transactions_answer_stops_the_poll_with_nothing_lost(
    fake: RivertyFake, build: Build
) -> None:
    agency, _ = handed_over(fake, build, count=40)
    fake.advance(minutes=5)
    small = build(max_answer_bytes=10_000)
    with pytest.raises(ParseError, match="over the 10000-byte limit"):
        list(small.updates("2026-03-31T08:00:00Z"))
    assert len(list(agency.updates("2026-03-31T08:00:00Z"))) >= 40  # still there to read


def test_a_broken_cursor_is_a_parse_error(build: Build) -> None:
    with pytest.raises(ParseError, match="cursor"):
        list(build().updates("yesterday"))


# --- check ---------------------------------------------------------------------------------


def test_check_tells_config_auth_permission_and_reachability_apart(
    fake: RivertyFake, build: Build
) -> None:
    good = build().check()
    assert good.ok
    assert {i.kind for i in good.items} == {
        CheckKind.CONFIG,
        CheckKind.AUTH,
        CheckKind.REACHABILITY,
    }
    wrong_secret = build(client_secret="wrong").check()
    assert [(i.kind, i.ok) for i in wrong_secret.items] == [
        (CheckKind.CONFIG, True),
        (CheckKind.AUTH, False),
    ]
    wrong_audience = build(audience="https://api.horizonafs.io").check()
    assert not wrong_audience.ok
    assert wrong_audience.items[-1].kind is CheckKind.AUTH
    fake.fail_next(403, path="/v1/transactions")
    forbidden = build().check()
    assert forbidden.items[-1].kind is CheckKind.PERMISSION
    assert not forbidden.items[-1].ok
    fake.failures.append(("/v1/transactions", (200, {}, "<html>portal</html>")))
    not_api = build().check()
    assert [(i.kind, i.ok) for i in not_api.items][-1] == (CheckKind.CONFIG, False)
    fake.fail_next(404, path="/v1/transactions", title="Not Found")
    wrong_url = build().check()
    assert wrong_url.items[-1].kind is CheckKind.CONFIG
    assert "does not look like" in (wrong_url.items[-1].message)
    assert CLIENT_SECRET not in repr([good, wrong_secret, forbidden, not_api, wrong_url])


def test_settings_refuse_what_cannot_work() -> None:
    base = {"url": BASE_URL, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    with pytest.raises(ValueError, match="https"):
        RivertySettings(**{**base, "url": "http://collection.riverty.test"})
    with pytest.raises(ValueError, match="no packaged file"):
        RivertySettings(**{**base, "invoice_mapping": "riverty_nope"})
    with pytest.raises(ValueError, match="national_id"):
        RivertySettings(**{**base, "national_id": "sometimes"})
    settings = RivertySettings(**base)
    assert settings.token_url == "https://identity.riverty.io/oauth/token"
    assert CLIENT_SECRET not in repr(settings)


def test_the_apis_rate_limit_is_not_applied_to_the_token_endpoint(build: Build) -> None:
    agency = build(http={"rate_limit_per_s": 2})
    assert agency.client.settings.rate_limit_per_s == 2
    assert agency._clients is not None
    assert agency._clients.token_endpoint.settings.rate_limit_per_s is None  # metered apart
