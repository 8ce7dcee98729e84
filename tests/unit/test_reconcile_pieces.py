"""The pure pieces of reconciliation: the reconcile settings in the config (validated with the
rest, problems named by path), the voucher a settlement line becomes, and corrections as the
outbox stores them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimbridge.config import config_from_dict
from claimbridge.connectors.base import Correction, CorrectionKind
from claimbridge.errors import ConfigError
from claimbridge.reconcile.booking import plan_voucher, settlement_payment, voucher_ref
from claimbridge.reconcile.corrections import correction_from_json, correction_json, describe
from claimbridge.reconcile.settings import ReconcileSettings
from claimbridge.schemas import CreditNote, Payment, PaymentKind, SourceRef
from claimbridge.state.reconciliation import LineRow

ACCOUNTS = ReconcileSettings(
    bank_account="1920",
    interest_income_account="8050",
    fee_income_account="3900",
    commission_expense_account="7790",
)


def config(reconcile: dict[str, Any]) -> dict[str, Any]:
    return {
        "creditor": {"name": "Nordlys Energi AS", "organization_number": "923609016"},
        "sources": {"ledger": {"type": "files", "invoices": "invoices.csv"}},
        "agencies": {"sandbox": {"type": "sandbox", "url": "http://127.0.0.1:1", "token": "${T}"}},
        "pipelines": {"main": {"source": "ledger", "agency": "sandbox", "reconcile": reconcile}},
    }


def load(reconcile: dict[str, Any]) -> ReconcileSettings:
    built = config_from_dict(config(reconcile), base_dir=Path("."), environ={"T": "token"})
    return built.pipeline("main").reconcile


def problems(reconcile: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(reconcile)
    return [str(p) for p in caught.value.problems]


def test_the_reconcile_table_is_optional_and_validated() -> None:
    assert load({}) == ReconcileSettings()
    settings = load(
        {
            "bank_account": "1920:10001",
            "interest_income_account": "8050",
            "agency_payer_accounts": ["1503 00 12345"],
            "agency_references": ["sbx-"],
        }
    )
    assert settings.normalized_payer_accounts == frozenset({"15030012345"})
    assert settings.reference_prefixes == ("SBX-",)


def test_problems_are_named_by_their_path() -> None:
    found = problems({"bank_account": "19 20", "bogus": 1, "report_credit_notes": "maybe"})
    assert any(p.startswith("pipelines.main.reconcile.bank_account:") for p in found)
    assert any(p.startswith("pipelines.main.reconcile.bogus:") for p in found)
    assert any(p.startswith("pipelines.main.reconcile.report_credit_notes:") for p in found)
    [missing] = problems({"interest_income_account": "8050"})
    assert missing.startswith("pipelines.main.reconcile:")
    assert "bank_account is needed" in missing


def line(**parts: str) -> LineRow:
    amounts = {
        k: Decimal(parts.get(k, "0.00")) for k in ("principal", "interest", "fees", "commission")
    }
    return LineRow(
        agency="sandbox",
        line_id="SBX-000001:2026-12:1001",
        settlement_id="SBX-000001:2026-12",
        case_key="cb-" + "0" * 24,
        invoice_number="1001",
        status="seen",
        ledger_ref=None,
        voucher_ref=None,
        currency="NOK",
        settlement_date=dt.date(2027, 1, 5),
        agency_ref="SBX-000001",
        not_booked=None,
        **amounts,
    )


def test_a_line_with_only_principal_needs_no_voucher() -> None:
    assert plan_voucher("sandbox", line(principal="100.00"), ACCOUNTS, "main") == (None, None)
    payment = settlement_payment("sandbox", line(principal="100.00"))
    assert payment.kind is PaymentKind.SETTLEMENT
    assert payment.payment_id == "SBX-000001:2026-12:1001"
    assert payment.booking_date == dt.date(2027, 1, 5)


def test_missing_accounts_leave_the_voucher_unbooked_with_the_reason() -> None:
    settings = ReconcileSettings(bank_account="1920", interest_income_account="8050")
    voucher, reason = plan_voucher(
        "sandbox", line(interest="5.00", fees="70.00", commission="7.50"), settings, "main"
    )
    assert voucher is None
    assert reason == (
        "interest, fees and commission not booked: set fee_income_account, "
        "commission_expense_account under [pipelines.main.reconcile]"
    )
    only_interest, none = plan_voucher("sandbox", line(interest="5.00"), settings, "main")
    assert none is None
    assert only_interest is not None


money = st.decimals(min_value=0, max_value=100_000, places=2)


@given(money, money, money, st.integers(0, 50))
def test_the_voucher_balances_and_its_bank_side_is_the_money_paid_out(
    interest: Decimal, fees: Decimal, principal: Decimal, percent: int
) -> None:
    commission = ((interest + fees + principal) * percent / 100).quantize(Decimal("0.01"))
    row = line(interest=str(interest), fees=str(fees), principal=str(principal),
               commission=str(commission))  # fmt: skip
    voucher, reason = plan_voucher("sandbox", row, ACCOUNTS, "main")
    assert reason is None
    if interest == fees == commission == 0:
        assert voucher is None
        return
    assert voucher is not None
    assert voucher.external_ref == voucher_ref(row.line_id)
    postings = {p.account: p.amount for p in voucher.lines}
    assert sum(postings.values()) == 0
    assert postings.get("1920", Decimal(0)) + principal == (
        principal + interest + fees - commission
    )
    assert postings.get("8050", Decimal(0)) == -interest
    assert postings.get("3900", Decimal(0)) == -fees
    assert postings.get("7790", Decimal(0)) == commission
    assert all(p.amount != 0 for p in voucher.lines)


def test_corrections_round_trip_through_the_outbox_payload() -> None:
    paid = Payment(
        payment_id="P-1",
        source=SourceRef(system="files", record_id="P-1"),
        amount=Decimal("120.50"),
        currency="NOK",
        booking_date=dt.date(2026, 11, 26),
        invoice_number="1001",
    )
    note = CreditNote(
        credit_note_number="CN-1",
        source=SourceRef(system="files", record_id="CN-1"),
        invoice_number="1001",
        amount=Decimal("30.00"),
        currency="NOK",
        issue_date=dt.date(2026, 11, 27),
    )
    for correction in (
        Correction("k1", CorrectionKind.PAYMENT, "cb-x", "SBX-1", "1001", payment=paid),
        Correction("k2", CorrectionKind.REDUCE, "cb-x", "SBX-1", "1001", credit_note=note),
        Correction("k3", CorrectionKind.WITHDRAW, "cb-x", "SBX-1", "1001", credit_note=note,
                   reason="credited in full by credit note CN-1"),
        Correction("k4", CorrectionKind.PAUSE, "cb-x", "SBX-1", None, reason="checking"),
    ):  # fmt: skip
        assert correction_from_json(correction_json(correction)) == correction
    assert describe(Correction("k", CorrectionKind.PAYMENT, "c", "r", "1001", payment=paid)) == (
        "direct payment of 120.50 NOK booked 2026-11-26 on invoice 1001"
    )
    assert describe(Correction("k", CorrectionKind.PAUSE, "c", "r", reason="checking")) == (
        "pause (checking)"
    )
