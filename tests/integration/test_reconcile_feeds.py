"""Reconciliation's other inputs: bank payment files (Nets OCR giro written with netsgiro) matched
to handed-over claims and reported once, also when the ledger shows the same payment; and an
agency that accepts asynchronously, whose receipts arrive by lookup with the references the
debtor now pays with, which settlements may name instead of the invoice."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import netsgiro
import pytest

from claimbridge.connectors.agencies.sandbox import SandboxAgency
from claimbridge.connectors.base import (
    AgencyCapabilities,
    AgencyUpdate,
    Delivery,
    PushOutcome,
    PushStatus,
)
from claimbridge.matching import unmatched
from claimbridge.reconcile import reconcile
from claimbridge.reconcile.context import ReconcileSpec
from claimbridge.reconcile.updates import apply_updates
from claimbridge.sandbox.server import SandboxServer
from claimbridge.schemas import Settlement, SettlementLine
from tests.integration.reconcile_workspace import TODAY, TOKEN, WEEKLY, Workspace, make_workspace

FEED = """
[payment_feeds.bank]
type = "bank_files"
directory = "bank"
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxServer]:
    with SandboxServer(TOKEN, db_path=tmp_path / "agency.db", activity=WEEKLY) as running:
        yield running


def ocr_file(path: Path, payments: Sequence[tuple[str, Decimal]], on: dt.date) -> None:
    """A Nets OCR giro transmission with one payment per (KID, amount)."""
    transmission = netsgiro.Transmission(
        number="1000081", data_transmitter="55555555", data_recipient=netsgiro.NETS_ID, date=on
    )
    assignment = transmission.add_assignment(
        service_code=netsgiro.ServiceCode.OCR_GIRO,
        assignment_type=netsgiro.AssignmentType.TRANSACTIONS,
        number="4000086",
        account="88888888888",
        date=on,
    )
    for number, (kid, amount) in enumerate(payments, start=1):
        assignment.transactions.append(
            netsgiro.Transaction(
                service_code=netsgiro.ServiceCode.OCR_GIRO,
                type=netsgiro.TransactionType.FROM_GIRO_DEBITED_ACCOUNT,
                number=number,
                date=on,
                amount=amount,
                kid=kid,
                reference="099038562",
                text=None,
                centre_id="13",
                day_code=on.day,
                partial_settlement_number=1,
                partial_settlement_serial_number="00001",
                sign="0",
                form_number="9636827194",
                bank_date=None,
                debit_account="99990512341",
                filler=None,
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(transmission.to_ocr() + "\n")


def test_bank_payments_on_handed_over_claims_are_reported_once(
    tmp_path: Path, server: SandboxServer
) -> None:
    workspace = make_workspace(
        tmp_path / "ws", server, pipeline_extra='payment_feeds = ["bank"]', reconcile_extra=FEED
    )
    workspace.sync()
    handed = workspace.handed_over()
    (invoice, case_key, _), (other, _, _) = handed[0], handed[1]
    kid, other_kid = (
        workspace.query("SELECT kid FROM claims WHERE invoice_number = ?", n)[0][0]
        for n in (invoice, other)
    )
    waiting = workspace.ledger.invoices_in(
        next(c for c in set(workspace.ledger.categories.values()) if c.value == "not_yet_due")
    )[0]
    waiting_kid = workspace.query("SELECT kid FROM claims WHERE invoice_number = ?", waiting)[0][0]
    paid_on = TODAY + dt.timedelta(days=2)
    ocr_file(
        workspace.directory / "bank" / "ocr-1.txt",
        [
            (kid, Decimal("100.00")),  # a handed-over claim: the agency must hear of it
            (waiting_kid, Decimal("50.00")),  # not handed over: the ledger's own business
            ("000000000000000", Decimal("25.00")),  # names no claim: the review list
        ],
        paid_on,
    )
    # the bookkeeper booked the same debtor payment in the ledger too, a day later
    workspace.write_payments(
        [{"payment_id": "L-9", "invoice_number": invoice,
          "payment_date": (paid_on + dt.timedelta(days=1)).isoformat(), "amount": "100.00"}]
    )  # fmt: skip
    stats = workspace.reconcile(TODAY + dt.timedelta(days=4))
    assert stats.bank_payments_read == 3
    assert stats.corrections_sent == 1
    assert workspace.server.store.count_corrections() == 1
    reported = workspace.query(
        "SELECT source, status, reason FROM payments_seen WHERE invoice_number = ? ORDER BY source",
        invoice,
    )
    assert reported == [
        ("files", "ignored", "same_as_reported"),
        ("ocr_giro:88888888888", "reported", None),
    ]
    [(message,)] = workspace.query(
        "SELECT message FROM events WHERE kind = 'payment_reported' AND case_key = ?", case_key
    )
    assert f"direct payment of 100.00 NOK booked {paid_on.isoformat()}" in message
    with workspace.opened() as (spec, store):
        review = unmatched(store, spec.name)
    assert [row.reason for row in review] == ["unknown_reference"]
    assert other_kid != kid
    again = workspace.reconcile(TODAY + dt.timedelta(days=5))
    assert again.bank_payments_read == 0  # the feed's cursor moved on
    assert again.corrections_queued == 0


class AsyncSandboxAgency(SandboxAgency):
    """The sandbox, spoken to like an agency that accepts later: a push only says ``SENT``
    (with a batch id); the receipt comes by lookup, with the OCR reference the debtor now pays
    with (as Amili Sweden answers a registration)."""

    capabilities: ClassVar[AgencyCapabilities] = dataclasses.replace(
        SandboxAgency.capabilities, async_acceptance=True
    )

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        self.numbers = {d.idempotency_key: d.case.claims[0].invoice_number for d in deliveries}
        outcomes = super().push(deliveries)
        return [
            PushOutcome(o.idempotency_key, PushStatus.SENT, agency_ref="BATCH-1")
            if o.status is PushStatus.ACCEPTED
            else o
            for o in outcomes
        ]

    def lookup(self, idempotency_key: str, agency_ref: str | None = None) -> PushOutcome | None:
        found = super().lookup(idempotency_key, agency_ref)
        if found is None or found.status is not PushStatus.ACCEPTED or agency_ref != "BATCH-1":
            return found
        ref = found.agency_ref or ""
        return dataclasses.replace(found, payment_refs={self._invoice(ref): f"7{ref[-6:]}9"})

    def _invoice(self, agency_ref: str) -> str:
        summary = self.client.get(f"/v1/cases/{agency_ref}").json()
        return str(
            next(
                row[0]
                for row in self.workspace.query(
                    "SELECT min(invoice_number) FROM claims WHERE case_key = ?", summary["case_key"]
                )
            )
        )

    workspace: Workspace


def test_async_receipts_by_lookup_store_the_references_settlements_may_name(
    tmp_path: Path, server: SandboxServer
) -> None:
    workspace = make_workspace(tmp_path / "ws", server)
    AsyncSandboxAgency.workspace = workspace
    with workspace.opened() as (spec, store):
        agency = AsyncSandboxAgency(spec.agency.settings, spec.agency.context)
        async_spec = ReconcileSpec(dataclasses.replace(spec.pipeline, agency=agency), spec.settings)
        from claimbridge.pipeline import sync

        sync(async_spec.pipeline, store, today=TODAY)
        statuses = dict(workspace.query("SELECT status, count(*) FROM cases GROUP BY status"))
        assert statuses.get("sent") == workspace.ledger.expected_debtors
        stats = reconcile(async_spec, store, today=TODAY)
        assert stats.receipts >= workspace.ledger.expected_debtors
    rows = workspace.query(
        "SELECT k.status, k.agency_ref, c.invoice_number, c.agency_payment_ref FROM cases k"
        " JOIN claims c ON c.case_key = k.case_key WHERE k.status != 'rejected'"
    )
    assert {r[0] for r in rows} == {"accepted"}
    assert all(r[1].startswith("SBX-") for r in rows)
    refs = {r[2]: r[3] for r in rows if r[3] is not None}
    assert len(refs) == workspace.ledger.expected_debtors  # one reference per case
    invoice, payment_ref = sorted(refs.items())[0]
    [(case_key, agency_ref)] = workspace.query(
        "SELECT case_key, agency_ref FROM cases WHERE case_key ="
        " (SELECT case_key FROM claims WHERE invoice_number = ?)",
        invoice,
    )
    # a settlement that names the debtor's payment reference instead of the invoice
    line = SettlementLine(
        line_id=f"{agency_ref}:2026-W49:x",
        agency_ref=agency_ref,
        invoice_number=payment_ref,
        principal=Decimal("10.00"),
        total=Decimal("10.00"),
    )
    # and one that names only the invoice: its case is found through the claim
    bare = SettlementLine(
        line_id=f"{agency_ref}:2026-W49:y",
        invoice_number=invoice,
        interest=Decimal("1.00"),
        total=Decimal("1.00"),
    )
    update = AgencyUpdate(
        "by-ocr-1",
        settlement=Settlement(
            settlement_id=f"{agency_ref}:2026-W49",
            agency="sandbox",
            settlement_date=TODAY + dt.timedelta(days=9),
            currency="NOK",
            lines=(line, bare),
        ),
    )
    with workspace.opened() as (spec, store):
        from claimbridge.reconcile.context import ReconcileStats, RunContext

        ctx = RunContext(spec, store, "test", TODAY, ReconcileStats())
        apply_updates(ctx, [update])
    assert workspace.query(
        "SELECT case_key, invoice_number, status FROM settlements_seen WHERE line_id = ?",
        line.line_id,
    ) == [(case_key, invoice, "seen")]
    assert workspace.query(
        "SELECT case_key, agency_ref FROM settlements_seen WHERE line_id = ?", bare.line_id
    ) == [(case_key, agency_ref)]
    logged = workspace.query(
        "SELECT count(*) FROM events WHERE case_key = ? AND kind = 'settlement'", case_key
    )
    assert logged == [(2,)]
