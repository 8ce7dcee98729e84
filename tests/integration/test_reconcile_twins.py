"""One debtor payment seen twice — in a bank file (Nets OCR giro, written with netsgiro) and in
the ledger's payments — is one payment: told to the agency once and counted once in the
reports, whichever record arrives first, while the case still waits for the agency's
acceptance, and when the agency takes no payment corrections (a person must tell it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import pytest

from claimbridge.connectors.agencies.sandbox import SandboxAgency
from claimbridge.connectors.base import (
    AgencyCapabilities,
    AgencyUpdate,
    Delivery,
    PushOutcome,
    PushStatus,
)
from claimbridge.pipeline import sync
from claimbridge.reconcile import ReconcileSpec, ReconcileStats, reconcile
from claimbridge.report.common import Filters
from claimbridge.report.recovery import cashflow_report
from claimbridge.sandbox.server import SandboxServer
from claimbridge.state import StateStore
from tests.integration.reconcile_workspace import TODAY, TOKEN, WEEKLY, Workspace, make_workspace
from tests.integration.test_reconcile_feeds import FEED, ocr_file

PAID_ON = TODAY + dt.timedelta(days=2)
BOOKED_ON = PAID_ON + dt.timedelta(days=1)  # the bookkeeper books the bank's payment a day later
AMOUNT = Decimal("100.00")


class LaterSandboxAgency(SandboxAgency):
    """The sandbox, spoken to like an agency that validates a claim before it accepts it: a
    push says ``SENT``; until ``accepting`` (the agency is done) lookup finds nothing yet and
    there are no updates; then the receipt comes by lookup and the updates flow."""

    capabilities: ClassVar[AgencyCapabilities] = dataclasses.replace(
        SandboxAgency.capabilities, async_acceptance=True
    )
    accepting: ClassVar[bool] = False

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        return [
            PushOutcome(o.idempotency_key, PushStatus.SENT, agency_ref="BATCH-1")
            if o.status is PushStatus.ACCEPTED
            else o
            for o in super().push(deliveries)
        ]

    def lookup(self, idempotency_key: str, agency_ref: str | None = None) -> PushOutcome | None:
        if agency_ref == "BATCH-1" and not self.accepting:
            return None  # still validating
        return super().lookup(idempotency_key, agency_ref)

    def updates(self, since: str | None) -> Iterator[AgencyUpdate]:
        if not self.accepting:
            return iter(())  # nothing has happened at the agency yet (its receipts included)
        return super().updates(since)


class NoPaymentsSandboxAgency(SandboxAgency):
    """The sandbox, declaring that it takes no direct-payment corrections."""

    capabilities: ClassVar[AgencyCapabilities] = dataclasses.replace(
        SandboxAgency.capabilities, report_payments=False
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxServer]:
    with SandboxServer(TOKEN, db_path=tmp_path / "agency.db", activity=WEEKLY) as running:
        yield running


class Creditor:
    """The workspace run with a chosen agency class, and the two records of one payment."""

    def __init__(self, workspace: Workspace, agency: type[SandboxAgency]) -> None:
        self.workspace = workspace
        self.agency = agency
        with workspace.opened() as (spec, store):
            synced = sync(self._with_agency(spec).pipeline, store, today=TODAY)
        assert synced.cases_sent > 0
        self.invoice, self.case_key = workspace.query(
            "SELECT invoice_number, case_key FROM claims WHERE case_key IS NOT NULL"
            " ORDER BY invoice_number LIMIT 1"
        )[0]
        [(self.kid,)] = workspace.query(
            "SELECT kid FROM claims WHERE invoice_number = ?", self.invoice
        )

    def _with_agency(self, spec: ReconcileSpec) -> ReconcileSpec:
        live = spec.pipeline.agency
        chosen = self.agency(live.settings, live.context)
        return dataclasses.replace(spec, pipeline=dataclasses.replace(spec.pipeline, agency=chosen))

    def bank(self) -> None:
        ocr_file(self.workspace.directory / "bank" / "ocr-1.txt", [(self.kid, AMOUNT)], PAID_ON)

    def ledger(self) -> None:
        self.workspace.write_payments(
            [
                {
                    "payment_id": "L-9",
                    "invoice_number": self.invoice,
                    "payment_date": BOOKED_ON.isoformat(),
                    "amount": str(AMOUNT),
                    "reference": "",
                    "payer_account": "",
                }
            ]
        )

    def reconcile(self, day: int) -> ReconcileStats:
        today = TODAY + dt.timedelta(days=day)
        with self.workspace.opened(today) as (spec, store):
            chosen = self._with_agency(spec)
            try:
                return reconcile(chosen, store, today=today)
            finally:
                chosen.agency.close()

    def records(self) -> dict[str, tuple[str, str | None]]:
        """'bank' / 'ledger' → (status, reason) of the payment's two records."""
        rows = self.workspace.query(
            "SELECT source, status, reason FROM payments_seen WHERE invoice_number = ?",
            self.invoice,
        )
        return {("ledger" if s == "files" else "bank"): (st, r) for s, st, r in rows}

    def counted(self) -> list[tuple[str, int, Decimal]]:
        """The cash-flow report's direct payments: (status, payments, amount)."""
        store = StateStore.open(f"sqlite:///{self.workspace.state_db}")
        try:
            report = cashflow_report(store, Filters("main"))
        finally:
            store.close()
        return [(d.status, d.payments, d.amount) for d in report.direct_payments]


def _creditor(tmp_path: Path, server: SandboxServer, agency: type[SandboxAgency]) -> Creditor:
    workspace = make_workspace(
        tmp_path / "ws", server, pipeline_extra='payment_feeds = ["bank"]', reconcile_extra=FEED
    )
    return Creditor(workspace, agency)


FIRST = {"bank": ("bank", "ledger"), "ledger": ("ledger", "bank")}


@pytest.mark.parametrize("first", ["bank", "ledger"])
def test_told_once_whichever_record_arrives_first(
    tmp_path: Path, server: SandboxServer, first: str
) -> None:
    creditor = _creditor(tmp_path, server, SandboxAgency)
    earlier, later = FIRST[first]
    getattr(creditor, earlier)()
    assert creditor.reconcile(4).corrections_sent == 1
    getattr(creditor, later)()
    second = creditor.reconcile(5)
    assert (second.corrections_queued, second.corrections_sent) == (0, 0), second.to_dict()
    assert server.store.count_corrections() == 1
    assert creditor.records() == {
        earlier: ("reported", None),
        later: ("ignored", "same_as_reported"),
    }
    assert creditor.counted() == [("reported", 1, AMOUNT)]


@pytest.mark.parametrize("first", ["bank", "ledger", "together"])
def test_counted_once_while_the_case_waits_for_acceptance(
    tmp_path: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    creditor = _creditor(tmp_path, server, LaterSandboxAgency)
    assert creditor.workspace.query(
        "SELECT status FROM cases WHERE case_key = ?", creditor.case_key
    ) == [("sent",)]
    if first == "together":
        creditor.bank()
        creditor.ledger()
    else:
        getattr(creditor, FIRST[first][0])()
        creditor.reconcile(4)
        assert creditor.counted() == [("to_report", 1, AMOUNT)]
        getattr(creditor, FIRST[first][1])()
    waiting = creditor.reconcile(5)
    assert waiting.corrections_queued == 0
    # the bank's record is the payment (the day the money came); the ledger's is its twin
    assert creditor.records() == {
        "bank": ("to_report", None),
        "ledger": ("ignored", "same_as_reported"),
    }
    assert creditor.counted() == [("to_report", 1, AMOUNT)]

    monkeypatch.setattr(LaterSandboxAgency, "accepting", True)
    accepted = creditor.reconcile(6)
    assert accepted.corrections_sent == 1, accepted.to_dict()
    assert creditor.reconcile(7).corrections_queued == 0
    assert server.store.count_corrections() == 1
    assert creditor.records()["bank"] == ("reported", None)
    assert creditor.counted() == [("reported", 1, AMOUNT)]
    [(message,)] = creditor.workspace.query(
        "SELECT message FROM events WHERE kind = 'payment_reported' AND case_key = ?",
        creditor.case_key,
    )
    assert f"booked {PAID_ON.isoformat()}" in message  # the bank's date, not the bookkeeper's


@pytest.mark.parametrize("first", ["bank", "ledger"])
def test_left_for_a_person_once_when_the_agency_takes_no_payments(
    tmp_path: Path, server: SandboxServer, first: str
) -> None:
    creditor = _creditor(tmp_path, server, NoPaymentsSandboxAgency)
    earlier, later = FIRST[first]
    getattr(creditor, earlier)()
    assert creditor.reconcile(4).corrections_manual == 1
    getattr(creditor, later)()
    second = creditor.reconcile(5)
    assert second.corrections_manual == 0, second.to_dict()
    assert creditor.records() == {
        earlier: ("manual", "agency_cannot_report"),
        later: ("ignored", "same_as_reported"),
    }
    assert creditor.counted() == [("manual", 1, AMOUNT)]
    assert server.store.count_corrections() == 0
    notes = creditor.workspace.query(
        "SELECT count(*) FROM events WHERE case_key = ? AND message LIKE '%by hand%'",
        creditor.case_key,
    )
    assert notes == [(1,)]
