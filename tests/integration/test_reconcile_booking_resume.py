"""A settlement line whose booking was interrupted, resumed by the next reconcile: registered
again only where the source recognizes a payment it booked before, else left for a person.

Visma eAccounting (over its fake) cannot list an invoice's payments and re-registering books
again, so it declares ``idempotent_payments = False``: a payment whose answer was lost stays
booked once and the line says what a person must check. The files source with its bookings
journal declares it, and the same interruption is finished by the next run. The cases reach
the agency as a real file drop (``generic_csv``, local directory), which answers with return
files the way an agency would.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import responses
from pydantic import SecretStr

from claimbridge.connectors.accounting.visma import VismaSettings, VismaSource
from claimbridge.connectors.agencies.file_drop import FileDropAgency, FileDropSettings
from claimbridge.connectors.base import ConnectorContext
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.pipeline import PipelineSpec, sync
from claimbridge.policy import PolicySettings
from claimbridge.reconcile import ReconcileSpec, ReconcileStats, reconcile
from claimbridge.reconcile.settings import ReconcileSettings
from claimbridge.state import StateStore
from claimbridge.transport.http import HttpOptions
from tests.factories import make_creditor
from tests.fakes.visma import VismaFake

TODAY = dt.date(2026, 4, 20)
BANK = "0a1b2c3d-0000-4000-8000-000000000001"
PIPELINE = "visma"
SETTINGS = ReconcileSettings(bank_account="1930", interest_income_account="8310")


class Ledger:
    """A Visma company with one overdue invoice, a file-drop agency and a state store."""

    def __init__(self, root: Path, fake: VismaFake) -> None:
        self.root = root
        self.fake = fake
        self.credentials = MemoryCredentialStore()
        customer = fake.add_customer("Anna Andersson")
        self.invoice = fake.add_invoice(
            customer,
            "1250.00",
            issued=TODAY - dt.timedelta(days=70),
            due=TODAY - dt.timedelta(days=40),
        )
        self.number = str(self.invoice["InvoiceNumber"])
        self.store = StateStore.open(f"sqlite:///{root / 'state.db'}")

    def spec(self, **http: Any) -> ReconcileSpec:
        source = VismaSource(
            VismaSettings(
                client_id=self.fake.client_id,
                client_secret=SecretStr(self.fake.client_secret),
                refresh_token=SecretStr("rt-0"),
                bank_account_id=BANK,
                company="556036-0793",
                http=HttpOptions(rate_limit_per_s=None, backoff_initial=0, **http),
            ),
            ConnectorContext(name="ledger", today=TODAY, credentials=self.credentials),
            sleep=lambda _: None,
        )
        agency = FileDropAgency(
            FileDropSettings(directory=self.root / "drop"),
            ConnectorContext(name="drop", workdir=self.root, today=TODAY),
        )
        pipeline = PipelineSpec(
            PIPELINE,
            source=source,
            agency=agency,
            creditor=make_creditor(country="SE"),
            policy=PolicySettings(collection_notice="agency"),
        )
        return ReconcileSpec(pipeline, SETTINGS)

    def sync(self) -> None:
        spec = self.spec()
        try:
            stats = sync(spec.pipeline, self.store, today=TODAY)
        finally:
            spec.close()
        assert stats.claims_sent == 1, stats.to_dict()

    def reconcile(self, **http: Any) -> ReconcileStats:
        spec = self.spec(**http)
        try:
            return reconcile(spec, self.store, today=TODAY)
        finally:
            spec.close()

    def settle(self, principal: str, interest: str) -> None:
        """The agency pays out one line on the invoice: a settlements return file."""
        case_key = self.case_key()
        total = Decimal(principal) + Decimal(interest)
        folder = self.root / "drop" / "returns"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "settlements_0001.csv").open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
            writer.writerow(
                [
                    "settlement_id",
                    "settlement_date",
                    "currency",
                    "line_id",
                    "case_key",
                    "agency_ref",
                    "invoice_number",
                    "principal",
                    "interest",
                    "fees",
                    "total",
                    "commission",
                ]
            )
            amounts = [principal, interest, "0", f"{total}", "0"]
            writer.writerow(
                ["S-1", TODAY.isoformat(), "SEK", "L-1", case_key, "AG-1", self.number]
                + [amount.replace(".", ",") for amount in amounts]
            )

    def case_key(self) -> str:
        claim = self.store.claim(PIPELINE, self.number)
        assert claim is not None
        assert claim.case_key
        return str(claim.case_key)

    def line(self) -> tuple[str, str | None, str | None]:
        """(status, ledger_ref, not_booked) of the settlement line."""
        from sqlalchemy import select

        from claimbridge.state.tables import settlements_seen

        query = select(
            settlements_seen.c.status, settlements_seen.c.ledger_ref, settlements_seen.c.not_booked
        )
        with self.store.engine.connect() as conn:
            [row] = conn.execute(query).all()
        return str(row[0]), row[1], row[2]

    def payments(self) -> list[dict[str, Any]]:
        return [p for p in self.fake.payments if p["InvoiceId"] == self.invoice["Id"]]


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    fake = VismaFake(now=dt.datetime.combine(TODAY, dt.time(8), tzinfo=dt.UTC))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        made = Ledger(tmp_path, fake)
        try:
            made.sync()
            yield made
        finally:
            made.store.close()


def test_visma_declares_that_it_cannot_take_a_payment_twice() -> None:
    assert not VismaSource.capabilities.idempotent_payments
    assert VismaSource.capabilities.can_book_payments


def test_an_interrupted_visma_payment_goes_to_a_person_and_is_never_posted_twice(
    ledger: Ledger,
) -> None:
    ledger.settle("400.00", "25.00")
    ledger.fake.lose_next_answer()  # Visma books the payment; its answer never arrives
    first = ledger.reconcile()
    assert [p["step"] for p in first.problems] == ["book settlement lines"], first.problems
    assert len(ledger.payments()) == 1, "Visma did not get the payment"
    assert ledger.line()[0] == "booking"

    second = ledger.reconcile()
    assert len(ledger.payments()) == 1, "the interrupted payment was posted a second time"
    status, ledger_ref, reason = ledger.line()
    assert second.lines_manual == 1, second.to_dict()
    assert second.needs_attention
    assert status == "partly_booked"  # the voucher (interest) is found by its reference
    assert ledger_ref is None
    assert reason is not None
    assert f"check invoice {ledger.number}" in reason
    assert "400.00 SEK" in reason
    vouchers = [v for v in ledger.fake.vouchers.values() if "L-1/voucher" in v["VoucherText"]]
    assert len(vouchers) == 1
    log = [
        e.message
        for e in ledger.store.case_events(ledger.case_key())
        if e.direction == "internal" and "settlement line" in e.message
    ]
    assert any("by hand" in message for message in log), log

    third = ledger.reconcile()
    assert (third.lines_manual, third.lines_booked, third.lines_failed) == (0, 0, 0)
    assert len(ledger.payments()) == 1


def test_a_visma_payment_refused_before_it_was_booked_is_booked_by_the_next_run(
    ledger: Ledger,
) -> None:
    ledger.settle("400.00", "0.00")
    ledger.fake.fail_next(429, 4029, "too many requests", {"Retry-After": "1"})
    first = ledger.reconcile(max_retries=0)  # the rate limit is exhausted: nothing was posted
    assert [p["exit_code"] for p in first.problems] == [8], first.problems
    assert ledger.payments() == []
    assert ledger.line()[0] == "seen"  # the ledger cannot hold it: no person needed

    second = ledger.reconcile()
    assert (second.lines_booked, second.lines_manual) == (1, 0), second.to_dict()
    assert len(ledger.payments()) == 1
    assert ledger.line()[0] == "booked"


def test_an_invoice_gone_from_the_ledger_fails_its_line_not_the_run(ledger: Ledger) -> None:
    ledger.settle("400.00", "0.00")
    del ledger.fake.invoices[ledger.invoice["Id"]]  # deleted in Visma after the hand-over
    stats = ledger.reconcile()  # a NotFoundError from the source must not end the run
    assert stats.lines_failed == 1, stats.to_dict()
    assert stats.problems == []
    assert ledger.payments() == []
    status, _, reason = ledger.line()
    assert status == "booking"
    assert reason is not None
    assert "not found" in reason
