"""Reconciling with Amili Sweden end to end, over the fake of its ADA API: a Swedish ledger
(files source with a bookings journal) registered case by case, the OCR numbers Amili answers
with stored on the claims, money paid with them recognized as Amili's (never echoed back as a
direct payment), and a real direct payment reported once, findable by its key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from email.utils import format_datetime
from pathlib import Path

import pytest
import responses

from claimbridge.connectors.agencies.amili_se import AmiliSwedenAgency
from claimbridge.connectors.base import ConnectorContext
from tests.contract.test_amili_se_contract import PUBLIC_KEY, amili_se_settings
from tests.fakes.amili_se import FakeAmiliSweden
from tests.integration.agency_ledger import Ledger

TODAY = dt.date(2026, 3, 2)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    made = Ledger(tmp_path / "creditor", TODAY, country="SE", currency="SEK")
    yield made
    made.close()


@pytest.fixture
def fake() -> Iterator[FakeAmiliSweden]:
    amili = FakeAmiliSweden(public_key=PUBLIC_KEY)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        amili.install(mock)
        yield amili


def agency() -> AmiliSwedenAgency:
    context = ConnectorContext(name="amili_se", today=TODAY)
    return AmiliSwedenAgency(amili_se_settings(), context, sleep=lambda _: None)


def test_amili_sweden_end_to_end(ledger: Ledger, fake: FakeAmiliSweden) -> None:
    synced = ledger.sync(agency())
    assert (synced.cases_sent, synced.claims_sent) == (3, 4), synced.to_dict()

    # each debt's OCR number is stored on its claim; the case holds Amili's case ids
    ocr: dict[str, str] = {}
    for registration in fake.registrations:
        numbers = [d["invoice_number"] for d in registration["debts"]]
        ocr.update(zip(numbers, registration["_ocr_numbers_ocr"], strict=True))
        status, ref = ledger.case(numbers[0])
        assert (status, ref) == ("accepted", ",".join(registration["_cases"]))
    stored = dict(ledger.query("SELECT invoice_number, agency_payment_ref FROM claims"))
    assert stored == ocr
    assert len(set(ocr.values())) == 4

    # Amili's pay-out of a debtor's OCR payment, as the creditor's ledger records it, with and
    # without the invoice; and a payment the debtor made to the creditor directly
    spaced = " ".join(ocr["5002"][i : i + 4] for i in range(0, len(ocr["5002"]), 4))
    ledger.write_payments(
        [
            {
                "payment_id": "P-ocr",
                "invoice_number": "5001",
                "payment_date": TODAY.isoformat(),
                "amount": "400.00",
                "reference": ocr["5001"],
            },
            {
                "payment_id": "P-ocr-bare",
                "invoice_number": "",
                "payment_date": TODAY.isoformat(),
                "amount": "150.00",
                "reference": spaced,
            },
            {
                "payment_id": "P-direct",
                "invoice_number": "5004",
                "payment_date": TODAY.isoformat(),
                "amount": "250.00",
                "reference": "",
            },
        ]
    )
    first = ledger.reconcile(agency())
    assert first.problems == []
    assert first.agency_payments_ignored == 2, first.to_dict()
    assert (first.corrections_queued, first.corrections_sent) == (1, 1)
    seen = ledger.payments_seen()
    assert seen["P-ocr"] == ("ignored", "agency_settlement")
    assert seen["P-ocr-bare"] == ("ignored", "agency_settlement")
    assert seen["P-direct"] == ("reported", None)
    [sent] = fake.payments
    assert sent["case"] == ledger.case("5004")[1]
    assert sent["amount"] == 250
    assert sent["bank_transaction_date"] == format_datetime(
        dt.datetime(2026, 3, 2, tzinfo=dt.UTC), usegmt=True
    )
    [(key,)] = ledger.query("SELECT idempotency_key FROM outbox WHERE kind = 'payment'")
    assert sent["creditor_payment_reference"] == key
    found = agency().lookup(str(key))  # after a lost answer, the next run finds it
    assert found is not None
    assert found.status.value == "accepted"

    again = ledger.reconcile(agency())
    assert (again.corrections_queued, again.corrections_sent) == (0, 0)
    assert len(fake.payments) == 1
