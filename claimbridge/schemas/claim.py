"""Claims: one invoice's unpaid principal with everything the debtor needs to recognize it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import Field, model_validator

from claimbridge.schemas._base import (
    CanonicalModel,
    Currency,
    NonNegativeAmount,
    PositiveAmount,
    SourceRef,
)


class Reminder(CanonicalModel):
    sent_on: date
    fee: NonNegativeAmount = Decimal("0")


class InterestKind(StrEnum):
    STATUTORY = "statutory"  # forsinkelsesrente / dröjsmålsränta
    CONTRACT = "contract"


class InterestTerms(CanonicalModel):
    kind: InterestKind = InterestKind.STATUTORY
    rate_percent: Decimal | None = Field(default=None, ge=0, description="annual; None = law's")
    from_date: date | None = None


class Claim(CanonicalModel):
    """One invoice. ``remaining_principal`` never includes reminder fees: the law keeps them
    apart from the principal handed to collection."""

    source: SourceRef
    debtor_id: str = Field(min_length=1, description="the customer's record id in the source")
    invoice_number: str = Field(min_length=1)
    invoice_date: date
    due_date: date
    currency: Currency
    original_amount: PositiveAmount
    remaining_principal: NonNegativeAmount
    kid: str | None = Field(default=None, description="KID/OCR payment reference as issued")
    description: str | None = None
    agreement_ref: str | None = Field(default=None, description="agreement/contract reference")
    order_ref: str | None = None
    reminders: tuple[Reminder, ...] = ()
    collection_notice_date: date | None = Field(default=None, description="inkassovarsel sent")
    interest: InterestTerms | None = None
    fees_charged: NonNegativeAmount = Decimal("0")
    attachment_ref: str | None = None
    disputed: bool = False
    on_hold: bool = False
    payment_plan: bool = False
    tags: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Claim:
        if self.due_date < self.invoice_date:
            raise ValueError(f"due date {self.due_date} is before invoice date {self.invoice_date}")
        if self.remaining_principal > self.original_amount:
            raise ValueError(
                f"remaining principal {self.remaining_principal} exceeds the original "
                f"amount {self.original_amount}"
            )
        return self

    @property
    def reminder_fees(self) -> Decimal:
        return sum((r.fee for r in self.reminders), Decimal("0"))

    @property
    def last_reminder_date(self) -> date | None:
        return max((r.sent_on for r in self.reminders), default=None)
