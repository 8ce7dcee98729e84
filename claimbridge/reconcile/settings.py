"""``[pipelines.<name>.reconcile]``: where settlements are booked, and whose payments are the
agency's own.

Account numbers are the creditor's chart of accounts (Norwegian NS 4102 numbers such as 1920
bank, 8050 interest income are typical, but nothing here assumes them). A settlement's principal
is booked as a payment on the invoice by the source itself (its own bank settings say where);
these accounts are for the voucher that books the rest of the line: interest and fee income,
and the agency's commission as an expense.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = ["Account", "ReconcileSettings"]

Account = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,39}$")]
"""A ledger account code: ``1920``, or ``1920:10001`` where the system has sub-accounts."""

BankAccountNumber = Annotated[str, StringConstraints(min_length=5, max_length=40)]


class ReconcileSettings(BaseModel):
    """How one pipeline's reconciliation books money and recognizes the agency's payments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bank_account: Account | None = Field(
        default=None, description="ledger account the agency's pay-outs arrive in"
    )
    interest_income_account: Account | None = Field(
        default=None, description="credited with the interest a settlement line collected"
    )
    fee_income_account: Account | None = Field(
        default=None, description="credited with the fees a settlement line collected"
    )
    commission_expense_account: Account | None = Field(
        default=None,
        description="debited with the agency's commission (needed for lines with commission)",
    )
    agency_payer_accounts: tuple[BankAccountNumber, ...] = Field(
        default=(),
        description="the agency's bank accounts: payments from them are its settlements, "
        "never direct payments",
    )
    agency_references: tuple[Annotated[str, StringConstraints(min_length=2)], ...] = Field(
        default=(),
        description="reference prefixes of the agency's pay-outs (e.g. 'SBX-', 'AVR')",
    )
    report_direct_payments: bool = True
    report_credit_notes: bool = True

    @model_validator(mode="after")
    def _bank_for_vouchers(self) -> ReconcileSettings:
        wanted = (
            self.interest_income_account,
            self.fee_income_account,
            self.commission_expense_account,
        )
        if any(wanted) and self.bank_account is None:
            raise ValueError(
                "bank_account is needed to book interest, fees or commission (the voucher's "
                "other side)"
            )
        return self

    @property
    def normalized_payer_accounts(self) -> frozenset[str]:
        return frozenset("".join(a.split()) for a in self.agency_payer_accounts)

    @property
    def reference_prefixes(self) -> tuple[str, ...]:
        return tuple(p.strip().upper() for p in self.agency_references if p.strip())
