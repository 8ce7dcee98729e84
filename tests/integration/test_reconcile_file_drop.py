"""Reconciling with file-drop agencies end to end, in a local drop directory: the test plays
the agency, reading the files it was given with the csv module and answering in the profile's
own return formats — receipts, status changes and settlements for ``generic_csv``; ``.csv.err``
answers, account activity and payout reports for ``indebted_csv``. The return files flow into
reconcile (cases accepted, statuses replayed, settlements booked once into the journal, a direct
payment written once and confirmed), and each is archived only after the stored cursor has
passed it.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from claimbridge.connectors.agencies.file_drop import FileDropAgency, FileDropSettings
from claimbridge.connectors.base import ConnectorContext
from tests.integration.agency_ledger import Ledger

TODAY = dt.date(2026, 3, 2)


class Drop:
    """The drop directory, and the agency at the other end of it."""

    def __init__(self, root: Path, profile: str) -> None:
        self.root = root
        self.profile = profile
        self.directory = root / "drop"

    def agency(self) -> FileDropAgency:
        settings = FileDropSettings(directory=self.directory, profile=self.profile, currency="NOK")
        return FileDropAgency(settings, ConnectorContext(name="drop", workdir=self.root))

    def rows(self, pattern: str, delimiter: str) -> list[dict[str, str]]:
        """Rows of every written file matching ``pattern``, read as the agency would."""
        rows: list[dict[str, str]] = []
        for path in sorted(self.directory.glob(pattern)):
            with path.open(encoding="utf-8", newline="") as handle:
                rows.extend(csv.DictReader(handle, delimiter=delimiter))
        return rows

    def answer(self, name: str, lines: list[str], line_ending: str = "\n") -> None:
        path = self.directory / "returns" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = line_ending.join(lines) + line_ending if lines else ""  # InDebted: empty .err
        path.write_text(text, encoding="utf-8")

    def journal(self, which: str) -> list[str]:
        folder = self.directory / ".returns" / which
        return sorted(p.name.split("~", 2)[2] for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def ledger(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Ledger]:
    creditor = getattr(request, "param", None)
    made = Ledger(tmp_path / "creditor", TODAY, creditor=creditor)
    yield made
    made.close()


def test_generic_csv_return_files_flow_into_reconcile(ledger: Ledger) -> None:
    drop = Drop(ledger.root, "generic_csv")
    synced = ledger.sync(drop.agency())
    assert synced.cases_sent == 3
    cases = drop.rows("cases_*.csv", ";")
    assert len(cases) == 4  # one row per claim
    key_of = {row["invoice_number"]: row["idempotency_key"] for row in cases}
    case_of = {row["invoice_number"]: row["case_key"] for row in cases}
    assert ledger.case("5001") == ("sent", case_of["5001"])  # the files name it by its key

    # the agency answers: every case accepted under its own reference, one active, one paid
    # out in part
    refs = {"5001": "AG-1", "5002": "AG-2", "5004": "AG-4"}
    drop.answer(
        "receipts_0001.csv",
        ["idempotency_key;status;agency_ref;reason"]
        + [f"{key_of[n]};accepted;{ref};" for n, ref in refs.items()],
        "\r\n",
    )
    drop.answer(
        "status_0001.csv",
        [
            "event_id;case_key;agency_ref;status;date;message",
            f"ev-1;{case_of['5001']};AG-1;active;{TODAY.isoformat()};",
        ],
        "\r\n",
    )
    drop.answer(
        "settlements_0001.csv",
        [
            "settlement_id;settlement_date;currency;line_id;case_key;agency_ref;invoice_number;"
            "principal;interest;fees;total;commission",
            f"S-1;{TODAY.isoformat()};NOK;L-1;{case_of['5002']};AG-2;5003;"
            "300,00;12,50;70,00;382,50;38,25",
        ],
        "\r\n",
    )
    first = ledger.reconcile(drop.agency())
    assert first.problems == []
    assert (first.receipts, first.unknown_updates) == (3, 0), first.to_dict()
    assert (first.settlement_lines, first.lines_booked) == (1, 1)
    assert ledger.case("5001") == ("active", "AG-1")
    assert ledger.case("5003") == ("accepted", "AG-2")
    assert ledger.bookings("payment") == {"L-1": Decimal("300.00")}
    assert ledger.bookings("voucher") == {"L-1/voucher": Decimal("44.25")}
    # read and recorded, but kept in the journal until a later call's cursor has passed them
    answered = ["receipts_0001.csv", "settlements_0001.csv", "status_0001.csv"]
    assert drop.journal("pending") == answered
    assert drop.journal("done") == []
    assert not list((drop.directory / "returns").glob("*.csv"))

    # a direct payment on 5004: one row in a transactions file, confirmed by the agency
    ledger.write_payments(
        [
            {
                "payment_id": "P-direct",
                "invoice_number": "5004",
                "payment_date": TODAY.isoformat(),
                "amount": "120.00",
                "reference": "",
            }
        ]
    )
    second = ledger.reconcile(drop.agency())
    assert (second.updates_read, second.lines_booked) == (0, 0)
    assert second.corrections_sent == 1, second.to_dict()
    assert drop.journal("pending") == []  # the cursor passed them: now they are archived
    assert drop.journal("done") == answered
    [sent] = drop.rows("transactions_*.csv", ";")
    assert (sent["invoice_number"], sent["amount"], sent["agency_ref"]) == (
        "5004",
        "120,00",
        "AG-4",
    )
    assert sent["booking_date"] == TODAY.isoformat()
    drop.answer(
        "receipts_0002.csv",
        ["idempotency_key;status;agency_ref;reason", f"{sent['idempotency_key']};accepted;T-9;"],
        "\r\n",
    )
    third = ledger.reconcile(drop.agency())
    assert (third.updates_read, third.unknown_updates, third.corrections_sent) == (1, 0, 0)
    assert "payment correction confirmed by the agency" in [m for *_, m in ledger.log("5004")]
    assert len(drop.rows("transactions_*.csv", ";")) == 1
    journal = ledger.journal()
    ledger.reconcile(drop.agency())
    assert ledger.journal() == journal


@pytest.mark.parametrize("ledger", [{"reference": "SOW-77"}], indirect=True)
def test_indebted_csv_answers_activity_and_payouts_flow_into_reconcile(ledger: Ledger) -> None:
    drop = Drop(ledger.root, "indebted_csv")
    assert ledger.sync(drop.agency()).cases_sent == 3
    accounts = drop.rows("AccountUpload/*.csv", ",")
    assert {row["StatementOfWorkID"] for row in accounts} == {"SOW-77"}
    customer_of = {row["AccountRef"]: row["CustomerRef"] for row in accounts}
    [upload] = [p.name for p in (drop.directory / "AccountUpload").glob("*.csv")]

    # InDebted processed every row (an empty .err) ...
    drop.answer(f"AccountUpload/{upload}.err", [])
    accepted = ledger.reconcile(drop.agency())
    assert (accepted.receipts, accepted.unknown_updates) == (3, 0), accepted.to_dict()
    assert ledger.case("5003") == ("accepted", customer_of["5003"])

    # ... then settled the account of 5004, escalated one account of the two-claim case, and
    # paid out 5001 in part (amounts in øre)
    drop.answer(
        f"AccountActivityReports/{TODAY.isoformat()}.csv",
        [
            "CustomerRef,AccountRef,Reason,Date",
            f"{customer_of['5004']},5004,Settled,{TODAY.isoformat()}",
            f"{customer_of['5003']},5003,EscalationBankrupt,{TODAY.isoformat()}",
        ],
    )
    drop.answer(
        f"PayoutReports/{TODAY.isoformat()}.csv",
        [
            "PaymentID,StatementOfWorkID,StatementOfWorkName,AccountRef,CustomerRef,Amount,"
            "PaymentDate,PaidAt,PayoutID,PayoutDate",
            f"PAY-1,SOW-77,Nordlys,5001,{customer_of['5001']},45000,{TODAY.isoformat()},"
            f"{TODAY.isoformat()}T10:00:00Z,PO-1,{TODAY.isoformat()}",
        ],
    )
    first = ledger.reconcile(drop.agency())
    assert first.problems == []
    assert (first.updates_read, first.unknown_updates) == (3, 0), first.to_dict()
    assert ledger.case("5004") == ("paid", customer_of["5004"])
    # an event about one account never replaces the case's reference (the CustomerRef)
    assert ledger.case("5003") == ("accepted", customer_of["5003"])
    assert any("EscalationBankrupt" in m for *_, m in ledger.log("5003"))
    assert (first.settlement_lines, first.lines_booked) == (1, 1)
    assert ledger.bookings("payment") == {"PAY-1": Decimal("450.00")}

    ledger.write_payments(
        [
            {
                "payment_id": "P-direct",
                "invoice_number": "5002",
                "payment_date": TODAY.isoformat(),
                "amount": "99.50",
                "reference": "",
            }
        ]
    )
    second = ledger.reconcile(drop.agency())
    assert second.corrections_sent == 1, second.to_dict()
    [payment] = drop.rows("TransactionUpload/*.csv", ",")
    assert (payment["AccountRef"], payment["TransactionType"], payment["Amount"]) == (
        "5002",
        "Payment",
        "9950",
    )
    [(key,)] = ledger.query("SELECT idempotency_key FROM outbox WHERE kind = 'payment'")
    assert payment["TransactionRef"] == key
    [transactions] = [p.name for p in (drop.directory / "TransactionUpload").glob("*.csv")]
    drop.answer(f"TransactionUpload/{transactions}.err", [])
    third = ledger.reconcile(drop.agency())
    assert (third.updates_read, third.unknown_updates) == (1, 0), third.to_dict()
    assert "payment correction confirmed by the agency" in [m for *_, m in ledger.log("5002")]
    assert len(drop.rows("TransactionUpload/*.csv", ",")) == 1
