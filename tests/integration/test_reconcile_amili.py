"""Reconciling with Amili Norway end to end, over the fake of its Collection API: a small
ledger (files source with a bookings journal) handed over as asynchronous invoice batches, the
receipts resolved by lookup after the poll deadline, case events pushed as signed webhooks
through the real webhook server and spool (the same delivery twice), a settlement booked once,
and a direct payment reported once.
"""

from __future__ import annotations

import datetime as dt
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import responses

from claimbridge.connectors.agencies.amili import AmiliAgency
from claimbridge.connectors.base import ConnectorContext
from claimbridge.webhooks import WebhookServer, spool_dir
from tests.contract.test_amili_contract import VirtualTime, amili_settings
from tests.fakes.amili import WEBHOOK_SECRET, FakeAmili
from tests.integration.agency_ledger import Ledger

TODAY = dt.date(2026, 3, 2)  # the fake's clock
NAME = "amili"


class Amili:
    """The fake and a connector factory: each run gets a new connector, as a run does."""

    def __init__(self, fake: FakeAmili, workdir: Path) -> None:
        self.fake = fake
        self.workdir = workdir
        self.time = VirtualTime()

    def agency(self) -> AmiliAgency:
        settings = amili_settings(poll_deadline_s=0, webhook={"secret": WEBHOOK_SECRET})
        context = ConnectorContext(name=NAME, workdir=self.workdir, today=TODAY)
        return AmiliAgency(settings, context, sleep=self.time.sleep, clock=self.time.clock)

    def case_id(self, invoice_number: str) -> str:
        [case_id] = {
            i["caseId"] for i in self.fake.invoices if i["invoiceNumber"] == invoice_number
        }
        return str(case_id)

    def push_webhook(self, server: WebhookServer, headers: dict[str, str], body: bytes) -> int:
        """One delivery over real HTTP, as Amili makes it."""
        request = urllib.request.Request(  # loopback: the test's own server
            f"{server.url}/webhooks/{NAME}", data=body, headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    made = Ledger(tmp_path / "creditor", TODAY)
    yield made
    made.close()


@pytest.fixture
def amili(ledger: Ledger) -> Iterator[Amili]:
    fake = FakeAmili()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield Amili(fake, ledger.root)


def test_amili_norway_end_to_end(ledger: Ledger, amili: Amili) -> None:
    # hand-over: the batch is still queued when the connector stops waiting (deadline 0)
    synced = ledger.sync(amili.agency())
    assert (synced.cases_sent, synced.claims_sent) == (3, 4), synced.to_dict()
    status, handle = ledger.case("5002")
    assert status == "sent"
    assert handle is not None
    assert handle.startswith("batch/")

    # the first reconcile asks Amili about the batch: every case accepted under its caseId
    first = ledger.reconcile(amili.agency())
    assert first.receipts == 3, first.to_dict()
    assert first.problems == []
    for invoice in ("5001", "5002", "5003", "5004"):
        assert ledger.case(invoice) == ("accepted", amili.case_id(invoice))
    case_id = amili.case_id("5001")

    # a case event, pushed twice (Amili retries a delivery it thinks failed): spooled once
    headers, body = amili.fake.webhook(
        "CASE_UPDATED", {"caseId": case_id, "status": "ACTIVE"}, key="evt-active-1"
    )
    with WebhookServer({NAME: amili.agency()}, ledger.root, port=0) as server:
        assert amili.push_webhook(server, headers, body) == 202
        assert amili.push_webhook(server, headers, body) == 202
    assert len(list(spool_dir(ledger.root, NAME).glob("*.json"))) == 1
    second = ledger.reconcile(amili.agency())
    assert (second.updates_read, second.unknown_updates) == (1, 0), second.to_dict()
    assert second.status_changes == 1
    assert ledger.case("5001") == ("active", case_id)  # found by caseId, case_key empty
    events = [e for e in ledger.log("5001") if e[0] == "status" and e[1] == "in"]
    assert events == [("status", "in", "Amili case ACTIVE")]
    assert ledger.reconcile(amili.agency()).updates_read == 0  # the spool is read once

    # a settlement: announced by webhook (fetched at once), polled again later: booked once
    amili.fake.add_settlement(
        settlementId="S-1",
        settlementDate=TODAY.isoformat(),
        currency="NOK",
        invoiceNumber="5001",
        caseNumber=case_id,
        id="L1",
        principalAmount=500,
        interestAmount=20.5,
        feeAmount=35,
        commissionAmount=50,
    )
    headers, body = amili.fake.webhook(
        "SETTLEMENT_CREATED", {"settlementId": "S-1", "caseNumber": case_id}, key="evt-settle-1"
    )
    with WebhookServer({NAME: amili.agency()}, ledger.root, port=0) as server:
        assert amili.push_webhook(server, headers, body) == 202
    settled = ledger.reconcile(amili.agency())
    assert (settled.settlement_lines, settled.lines_booked, settled.lines_unmatched) == (1, 1, 0)
    assert settled.booked["NOK"]["principal"] == Decimal("500.00")
    payments = ledger.bookings("payment")
    assert payments == {"amili:S-1:L1": Decimal("500.00")}
    assert ledger.bookings("voucher") == {"amili:S-1:L1/voucher": Decimal("5.50")}
    journal = ledger.journal()
    again = ledger.reconcile(amili.agency())
    assert (again.settlement_lines, again.lines_booked) == (0, 0)
    assert ledger.journal() == journal

    # the creditor imports the journal (the agency's pay-out) and the debtor of 5004 pays
    # the creditor directly: only the direct payment is told to Amili, once
    ledger.write_payments(
        [
            {
                "payment_id": "amili:S-1:L1",
                "invoice_number": "5001",
                "payment_date": TODAY.isoformat(),
                "amount": "500.00",
                "reference": "",
            },
            {
                "payment_id": "P-direct",
                "invoice_number": "5004",
                "payment_date": TODAY.isoformat(),
                "amount": "200.00",
                "reference": "",
            },
        ]
    )
    reported = ledger.reconcile(amili.agency())
    assert reported.agency_payments_ignored == 1
    assert (reported.corrections_queued, reported.corrections_sent) == (1, 1), reported.to_dict()
    assert ledger.payments_seen()["amili:S-1:L1"] == ("ignored", "agency_settlement")
    assert len(amili.fake.payments) == 1
    [sent] = amili.fake.payments
    assert sent["type"] == "DIRECT_PAYMENT"
    assert sent["paymentDate"] == TODAY.isoformat()
    assert sent["amount"] == 200
    [batch] = [b for b in amili.fake.batches.values() if b.type == "PAYMENT"]
    assert batch.idempotency_key is not None  # findable again if the answer is lost
    last = ledger.reconcile(amili.agency())
    assert (last.corrections_queued, last.corrections_sent) == (0, 0)
    assert len(amili.fake.payments) == 1
