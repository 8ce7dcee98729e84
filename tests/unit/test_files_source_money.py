"""The open-items file source's payments and credit notes exports: good rows normalize to the
canonical models, bad rows are quarantined with their line, a missing column is a ParseError."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from claimbridge.connectors.accounting.files import OpenItemsFileSource, OpenItemsSettings
from claimbridge.connectors.base import ConnectorContext, RawRecord, StreamSpec
from claimbridge.errors import ParseError, RecordError
from claimbridge.schemas import CreditNote, Payment, PaymentKind

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "open_items"


def source(workdir: Path = FIXTURES, **options: object) -> OpenItemsFileSource:
    settings = OpenItemsSettings.model_validate({"invoices": "invoices.csv", **options})
    return OpenItemsFileSource(settings, ConnectorContext("ledger", workdir))


def stream(src: OpenItemsFileSource, name: str) -> StreamSpec:
    return next(s for s in src.streams() if s.name == name)


def outcomes(src: OpenItemsFileSource, name: str) -> list[tuple[str, object]]:
    spec = stream(src, name)
    found: list[tuple[str, object]] = []
    for page in src.read(spec, None):
        for record in page.records:
            try:
                (model,) = src.normalize(spec, record)
            except RecordError as exc:
                found.append((record.location, exc))
            else:
                found.append((record.location, model))
    return found


def test_the_streams_follow_the_configured_files() -> None:
    src = source(
        customers="customers.csv", payments="payments.csv", credit_notes="credit_notes.csv"
    )
    assert [s.name for s in src.streams()] == ["customers", "invoices", "payments", "credit_notes"]
    assert [s.name for s in source().streams()] == ["invoices"]


def test_payments_normalize_with_their_booking_dates_and_bad_rows_are_quarantined() -> None:
    found = outcomes(source(payments="payments.csv", company="acme"), "payments")
    locations = [where for where, _ in found]
    assert locations == ["payments.csv:2", "payments.csv:3", "payments.csv:4", "payments.csv:5"]
    first, second, bad, negative = (model for _, model in found)
    assert isinstance(first, Payment)
    assert first.payment_id == "P-1001"
    assert first.kind is PaymentKind.LEDGER
    assert first.amount == Decimal("1250.00")
    assert first.booking_date == date(2026, 11, 26)
    assert first.invoice_number == "100017"
    assert first.payer_account == "15030012345"
    assert first.source.company == "acme"
    assert isinstance(second, Payment)
    assert second.invoice_number is None
    assert second.reference == "000100184"
    assert second.currency == "NOK"  # the default currency
    assert isinstance(bad, RecordError)
    assert bad.record_id == "P-1003"
    assert any("booking_date" in r or "payment_date" in r for r in bad.reasons)
    assert any("amount" in r for r in bad.reasons)
    assert isinstance(negative, Payment)  # a reversal is a payment; reconciliation ignores it
    assert negative.amount == Decimal("-50.00")


def test_credit_notes_need_a_positive_amount() -> None:
    found = outcomes(source(credit_notes="credit_notes.csv"), "credit_notes")
    (_, good), (where, bad) = found
    assert isinstance(good, CreditNote)
    assert (good.credit_note_number, good.invoice_number, good.amount) == (
        "CN-7",
        "100017",
        Decimal("200.00"),
    )
    assert good.issue_date == date(2026, 11, 30)
    assert where == "credit_notes.csv:3"
    assert isinstance(bad, RecordError)


def test_a_payments_file_without_a_required_column_is_a_parse_error(tmp_path: Path) -> None:
    (tmp_path / "payments.csv").write_text("payment_id,amount\nP-1,100\n")
    src = source(tmp_path, payments="payments.csv")
    with pytest.raises(ParseError, match="payment_date"):
        list(src.read(stream(src, "payments"), None))
    check = src.check()
    assert not check.ok


def test_hostile_payment_rows_are_records_errors_not_crashes(tmp_path: Path) -> None:
    lines = [
        "payment_id,payment_date,amount,reference",
        "P-1,2026-11-26,1e999999,x",
        "P-2,2026-11-26,NaN,x",
        f"P-3,2026-11-26,100.00,{'9' * 5000}",
        "P-4,2026-11-26,100.001,x",
        ",2026-11-26,100,x",
    ]
    (tmp_path / "payments.csv").write_text("\n".join(lines) + "\n")
    src = source(tmp_path, payments="payments.csv")
    spec = stream(src, "payments")
    records: list[RawRecord] = [r for page in src.read(spec, None) for r in page.records]
    assert len(records) == 5
    for record in records:
        if record.location.endswith(":4"):
            (payment,) = src.normalize(spec, record)  # a long reference is kept as text
            assert isinstance(payment, Payment)
            continue
        with pytest.raises(RecordError):
            src.normalize(spec, record)
