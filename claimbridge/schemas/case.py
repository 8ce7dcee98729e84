"""Cases: the claims against one debtor handed to one agency together."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum

from pydantic import Field, model_validator

from claimbridge.schemas._base import SCHEMA_VERSION, CanonicalModel, Currency
from claimbridge.schemas.claim import Claim
from claimbridge.schemas.decision import Decision
from claimbridge.schemas.party import Creditor, Party
from claimbridge.schemas.quality import QualityReport


class CaseStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    QUEUED = "queued"  # in the outbox, not yet sent
    SENT = "sent"  # sent, acceptance not yet confirmed (async agencies)
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ACTIVE = "active"
    PAUSED = "paused"
    PAID = "paid"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    RETURNED = "returned"  # returned as uncollectable


def case_key(creditor_id: str, debtor_key: str, invoice_numbers: Iterable[str]) -> str:
    """Deterministic: the same creditor, debtor and claims always give the same key."""
    digest = hashlib.sha256()
    for part in (creditor_id, debtor_key, *sorted(invoice_numbers)):
        digest.update(part.encode())
        digest.update(b"\x00")
    return "cb-" + digest.hexdigest()[:24]


class Case(CanonicalModel):
    schema_version: int = SCHEMA_VERSION
    case_key: str = Field(pattern=r"^cb-[0-9a-f]{24}$")
    creditor: Creditor
    debtor: Party
    claims: tuple[Claim, ...] = Field(min_length=1)
    currency: Currency
    decision: Decision
    quality: QualityReport
    status: CaseStatus = CaseStatus.QUEUED

    @model_validator(mode="after")
    def _one_currency(self) -> Case:
        others = {c.currency for c in self.claims} - {self.currency}
        if others:
            raise ValueError(f"claims in one case must share its currency; found {sorted(others)}")
        return self

    @property
    def total_principal(self) -> Decimal:
        return sum((c.remaining_principal for c in self.claims), Decimal("0"))
