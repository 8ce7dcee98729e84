"""Policy decisions: what the policy decided about a claim or case, and why, in plain words."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import Field

from claimbridge.schemas._base import CanonicalModel


class Outcome(StrEnum):
    SEND = "send"  # due for collection today
    WAIT = "wait"  # not yet: will become due (reason says when)
    HOLD = "hold"  # needs a person: dispute, poor contact data, approval
    SKIP = "skip"  # never sent: paid, below minimum, excluded, already handed over
    PENDING_APPROVAL = "pending_approval"


class Reason(CanonicalModel):
    code: str = Field(description="stable machine code, e.g. 'not_yet_due'")
    message: str = Field(description="plain words, e.g. 'due date 2026-11-20 is 3 days ago'")
    legal: bool = Field(default=False, description="a rule of law: --force cannot override it")
    until: date | None = Field(default=None, description="when this reason stops applying")


class Decision(CanonicalModel):
    outcome: Outcome
    decided_on: date
    reasons: tuple[Reason, ...] = ()
    warnings: tuple[Reason, ...] = Field(default=(), description="e.g. limitation approaching")

    @property
    def sendable(self) -> bool:
        return self.outcome is Outcome.SEND

    def explain(self) -> str:
        verb = {
            Outcome.SEND: "sent",
            Outcome.WAIT: "not sent yet",
            Outcome.HOLD: "held",
            Outcome.SKIP: "not sent",
            Outcome.PENDING_APPROVAL: "waiting for approval",
        }[self.outcome]
        parts = [r.message for r in self.reasons] + [f"warning: {w.message}" for w in self.warnings]
        return f"{verb}: " + "; ".join(parts) if parts else verb
