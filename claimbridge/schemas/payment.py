"""Money that moved: payments (direct, bank, settlement) and credit notes."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from claimbridge.schemas._base import Amount, CanonicalModel, Currency, PositiveAmount, SourceRef


class PaymentKind(StrEnum):
    LEDGER = "ledger"  # registered in the accounting system
    BANK = "bank"  # read from a bank file (OCR giro, BgMax, camt.054)
    SETTLEMENT = "settlement"  # the agency's own pay-out; never echoed back as direct payment


class Payment(CanonicalModel):
    payment_id: str = Field(min_length=1, description="unique within its source; dedup key")
    source: SourceRef
    kind: PaymentKind = PaymentKind.LEDGER
    amount: Amount
    currency: Currency
    booking_date: date
    value_date: date | None = None
    reference: str | None = Field(default=None, description="KID/OCR or free text")
    invoice_number: str | None = None
    payer_name: str | None = None
    payer_account: str | None = None
    message: str | None = None


class CreditNote(CanonicalModel):
    credit_note_number: str = Field(min_length=1)
    source: SourceRef
    invoice_number: str | None = Field(default=None, description="the invoice it credits")
    amount: PositiveAmount
    currency: Currency
    issue_date: date
    reason: str | None = None
