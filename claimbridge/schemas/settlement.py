"""Settlements: an agency's pay-out, itemized per case and claim."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field, model_validator

from claimbridge.schemas._base import CanonicalModel, Currency, NonNegativeAmount


class SettlementLine(CanonicalModel):
    line_id: str = Field(min_length=1, description="unique per agency; booking dedup key")
    case_key: str | None = None
    agency_ref: str | None = None
    invoice_number: str | None = None
    principal: NonNegativeAmount = Decimal("0")
    interest: NonNegativeAmount = Decimal("0")
    fees: NonNegativeAmount = Decimal("0")
    total: NonNegativeAmount = Field(description="collected = principal + interest + fees")
    commission: NonNegativeAmount = Decimal("0")

    @model_validator(mode="after")
    def _parts_sum_to_total(self) -> SettlementLine:
        parts = self.principal + self.interest + self.fees
        if parts != self.total:
            raise ValueError(
                f"settlement line {self.line_id}: principal + interest + fees = {parts}, "
                f"total says {self.total}"
            )
        return self

    @property
    def net(self) -> Decimal:
        return self.total - self.commission


class Settlement(CanonicalModel):
    settlement_id: str = Field(min_length=1)
    agency: str
    settlement_date: date
    currency: Currency
    lines: tuple[SettlementLine, ...] = ()

    @property
    def payout(self) -> Decimal:
        return sum((line.net for line in self.lines), Decimal("0"))
