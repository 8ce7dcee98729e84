"""Reconciling with Riverty end to end, over the fake of its collection API: claims handed over
asynchronously (``SENT`` with a request id), accepted once Riverty has validated them (by
lookup and by the confirmations in its transactions), transactions that name only Riverty's
claim number resolved to our cases, a debtor's payment to Riverty booked once, a direct payment
reported once and its confirmation — or refusal — read back, and a partial recall whose answer
was lost left for a person, never sent twice, until the person resolves it by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import responses

from claimbridge.connectors.agencies.riverty import RivertyAgency, RivertySettings
from claimbridge.connectors.base import ConnectorContext
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.manual_outcomes import Resolution, resolve
from claimbridge.reconcile import ReconcileStats
from tests.fakes.riverty import AUDIENCE, BASE_URL, CLIENT_ID, CLIENT_SECRET, TOKEN_URL, RivertyFake
from tests.integration.agency_ledger import Ledger

START = dt.datetime(2026, 3, 31, 9, 0, tzinfo=dt.UTC)
TODAY = START.date()
NAME = "riverty"


class Riverty:
    def __init__(self, fake: RivertyFake) -> None:
        self.fake = fake
        self.credentials = MemoryCredentialStore()

    def agency(self) -> RivertyAgency:
        settings = RivertySettings(
            url=BASE_URL,
            token_url=TOKEN_URL,
            audience=AUDIENCE,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            http={"max_retries": 1, "backoff_initial": 0.01},
        )
        context = ConnectorContext(name=NAME, today=TODAY, credentials=self.credentials)
        return RivertyAgency(settings, context, sleep=lambda _: None, clock=lambda: self.fake.now)

    def claim_of(self, contract_number: str) -> str:
        [number] = [
            c.number for c in self.fake.claims.values() if contract_number in c.contract_numbers
        ]
        return number

    def later(self) -> None:
        """Time passes at Riverty: what it recorded is inside the next poll's window."""
        self.fake.advance(minutes=10)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    made = Ledger(tmp_path / "creditor", TODAY)
    yield made
    made.close()


@pytest.fixture
def riverty() -> Iterator[Riverty]:
    fake = RivertyFake(now=START)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield Riverty(fake)


def _key(ledger: Ledger, invoice: str) -> str:
    [(key,)] = ledger.query(
        "SELECT idempotency_key FROM outbox WHERE kind = 'case' AND case_key = :k",
        k=ledger.case_of(invoice),
    )
    return str(key)


def test_riverty_end_to_end(ledger: Ledger, riverty: Riverty) -> None:
    synced = ledger.sync(riverty.agency())
    assert synced.cases_sent == 3, synced.to_dict()
    status, ref = ledger.case("5001")
    assert status == "sent"
    assert ref is not None
    assert ref.startswith("request:")

    # Riverty has not validated anything yet: the cases wait, nothing is guessed
    waiting = ledger.reconcile(riverty.agency())
    assert waiting.receipts == 0, waiting.to_dict()
    assert ledger.case("5001")[0] == "sent"

    riverty.fake.process()
    riverty.later()
    accepted = ledger.reconcile(riverty.agency())
    assert accepted.problems == []
    assert accepted.unknown_updates == 0, accepted.to_dict()
    for invoice in ("5001", "5002", "5004"):
        claim_number = riverty.claim_of(_key(ledger, invoice))
        # the reference the case holds is the one Riverty's transactions name
        assert ledger.case(invoice) == ("accepted", claim_number)

    # the debtor of 5002/5003 pays Riverty; the claim of 5004 is closed as fully paid
    claim_5002 = riverty.claim_of(_key(ledger, "5002"))
    claim_5004 = riverty.claim_of(_key(ledger, "5004"))
    riverty.fake.collect(
        claim_5002, "5002", Decimal("600.00"), interest=Decimal("12.40"), costs=Decimal("70.00")
    )
    riverty.fake.close(claim_5004, "FULL_PAYMENT")
    riverty.later()
    settled = ledger.reconcile(riverty.agency())
    assert settled.unknown_updates == 0, settled.to_dict()
    assert (settled.settlement_lines, settled.lines_booked) == (3, 3), settled.to_dict()
    assert ledger.case("5004") == ("paid", claim_5004)  # the closing named only the claim
    payments = ledger.bookings("payment")
    assert sorted(payments.values()) == [Decimal("600.00")]
    vouchers = ledger.bookings("voucher")
    assert sorted(vouchers.values()) == [Decimal("12.40"), Decimal("70.00")]
    journal = ledger.journal()
    riverty.later()
    again = ledger.reconcile(riverty.agency())
    assert (again.settlement_lines, again.lines_booked, again.updates_read) == (0, 0, 0)
    assert ledger.journal() == journal

    # a direct payment on 5001: reported once, numbered; Riverty confirms it later
    ledger.write_payments(
        [
            {
                "payment_id": "P-direct",
                "invoice_number": "5001",
                "payment_date": TODAY.isoformat(),
                "amount": "300.00",
                "reference": "",
            }
        ]
    )
    reported = ledger.reconcile(riverty.agency())
    assert (reported.corrections_queued, reported.corrections_sent) == (1, 1), reported.to_dict()
    [(_, claim, body)] = [t for t in riverty.fake.taken if t[0] == "payments"]
    assert claim == riverty.claim_of(_key(ledger, "5001"))
    assert body["date"] == TODAY.isoformat()
    assert body["invoiceNumber"] == "5001"
    riverty.fake.process()
    riverty.later()
    confirmed = ledger.reconcile(riverty.agency())
    assert confirmed.unknown_updates == 0, confirmed.to_dict()
    assert confirmed.corrections_sent == 0
    log = [message for kind, _, message in ledger.log("5001") if kind == "receipt"]
    assert "payment correction confirmed by the agency" in log
    assert len([t for t in riverty.fake.taken if t[0] == "payments"]) == 1


def test_a_refused_direct_payment_comes_back_for_a_person(ledger: Ledger, riverty: Riverty) -> None:
    ledger.sync(riverty.agency())
    riverty.fake.process()
    riverty.later()
    ledger.reconcile(riverty.agency())
    ledger.write_payments(
        [
            {
                "payment_id": "P-1",
                "invoice_number": "5004",
                "payment_date": TODAY.isoformat(),
                "amount": "100.00",
                "reference": "",
            }
        ]
    )
    assert ledger.reconcile(riverty.agency()).corrections_sent == 1
    key = next(
        str(k) for (k,) in ledger.query("SELECT idempotency_key FROM outbox WHERE kind = 'payment'")
    )
    # Riverty no longer knows the invoice when it processes the payment: it refuses it
    claim = riverty.fake.claims[riverty.claim_of(_key(ledger, "5004"))]
    claim.remaining.pop("5004")
    riverty.fake.process()
    riverty.later()
    refused = ledger.reconcile(riverty.agency())
    assert refused.corrections_rejected == 1, refused.to_dict()
    assert refused.needs_attention
    [(status, reason)] = ledger.query(
        "SELECT status, reason FROM outbox WHERE idempotency_key = :k", k=key
    )
    assert status == "rejected"
    assert "Unknown invoice number" in str(reason)
    log = [message for kind, _, message in ledger.log("5004") if kind == "receipt"]
    assert any(m.startswith("payment correction rejected by the agency") for m in log), log


def test_a_lost_partial_recall_waits_for_a_person(ledger: Ledger, riverty: Riverty) -> None:
    """A credit note covering one invoice of a two-invoice case withdraws that invoice: a
    partial recall. Its answer is lost; Riverty cannot be asked about recalls and a second one
    could recall twice, so the next runs leave it to a person and send nothing more."""
    ledger.sync(riverty.agency())
    riverty.fake.process()
    riverty.later()
    ledger.reconcile(riverty.agency())
    ledger.write_credit_notes(
        [
            {
                "credit_note_number": "CN-1",
                "invoice_number": "5003",
                "issue_date": TODAY.isoformat(),
                "amount": "800.00",
            }
        ]
    )
    riverty.fake.drop_correction_answers = 1  # Riverty takes the recall; the answer is lost
    lost = ledger.reconcile(riverty.agency())
    assert lost.corrections_queued == 1, lost.to_dict()
    recalls = [t for t in riverty.fake.taken if t[0] == "recalls"]
    assert len(recalls) == 1
    assert recalls[0][2]["invoiceNumber"] == "5003"
    assert lost.corrections_unknown == 1
    for _ in range(2):
        later = ledger.reconcile(riverty.agency())
        assert later.corrections_unknown == 1  # still a person's, every run says so
        assert len([t for t in riverty.fake.taken if t[0] == "recalls"]) == 1
    notes = [m for kind, d, m in ledger.log("5003") if d == "internal" and "by hand" in m]
    assert len(notes) == 1, ledger.log("5003")


def _lose_a_partial_recall(ledger: Ledger, riverty: Riverty) -> str:
    """Hand over, have Riverty accept, credit 5003 in full (one invoice of a two-invoice case:
    a partial recall), and lose the recall's answer. Returns the recall's outbox key."""
    ledger.sync(riverty.agency())
    riverty.fake.process()
    riverty.later()
    ledger.reconcile(riverty.agency())
    ledger.write_credit_notes(
        [
            {
                "credit_note_number": "CN-1",
                "invoice_number": "5003",
                "issue_date": TODAY.isoformat(),
                "amount": "800.00",
            }
        ]
    )
    riverty.fake.drop_correction_answers = 1
    lost = ledger.reconcile(riverty.agency())
    assert lost.corrections_unknown == 1, lost.to_dict()
    [(key, status)] = ledger.query(
        "SELECT idempotency_key, status FROM outbox WHERE kind = 'withdraw'"
    )
    assert status == "unknown"
    return str(key)


def _exits_0(stats: ReconcileStats) -> bool:
    """What makes ``claimbridge reconcile`` exit 0: no step stopped, nothing for a person."""
    return not stats.problems and not stats.needs_attention


def test_a_lost_recall_the_agency_has_is_resolved_by_hand(ledger: Ledger, riverty: Riverty) -> None:
    key = _lose_a_partial_recall(ledger, riverty)
    assert not _exits_0(ledger.reconcile(riverty.agency()))

    # a person asks Riverty, which has the recall: resolved as delivered
    done = resolve(ledger.store, key, Resolution.DELIVERED, by="ops@creditor")
    assert (done.kind, done.invoices, done.status) == ("withdraw", ("5003",), "accepted")
    riverty.fake.process()
    riverty.later()
    after = ledger.reconcile(riverty.agency())
    assert _exits_0(after), after.to_dict()
    assert after.corrections_unknown == after.corrections_sent == 0
    assert len([t for t in riverty.fake.taken if t[0] == "recalls"]) == 1  # never sent twice
    log = [m for _, d, m in ledger.log("5003") if d in ("out", "internal")]
    assert any(m.endswith("on invoice 5003: accepted by the agency") for m in log), log
    assert any("resolved by hand by ops@creditor" in m for m in log), log
    assert _exits_0(ledger.reconcile(riverty.agency()))


def test_a_lost_recall_that_never_arrived_is_sent_again(ledger: Ledger, riverty: Riverty) -> None:
    key = _lose_a_partial_recall(ledger, riverty)
    # what Riverty took was lost on its way in: the person learns it has no recall of 5003
    riverty.fake.pending = [p for p in riverty.fake.pending if p[0] != "recalls"]
    riverty.fake.taken = [t for t in riverty.fake.taken if t[0] != "recalls"]

    done = resolve(ledger.store, key, Resolution.NOT_DELIVERED, by="ops@creditor")
    assert done.status == "pending"
    resent = ledger.reconcile(riverty.agency())
    assert _exits_0(resent), resent.to_dict()
    assert resent.corrections_sent == 1
    recalls = [t for t in riverty.fake.taken if t[0] == "recalls"]
    assert len(recalls) == 1
    assert recalls[0][2]["invoiceNumber"] == "5003"
    [(status,)] = ledger.query("SELECT status FROM outbox WHERE idempotency_key = :k", k=key)
    assert status == "accepted"  # the same key, now answered
