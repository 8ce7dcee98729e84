"""Case events: the communication log of every message to and from the agency."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from claimbridge.schemas._base import CanonicalModel
from claimbridge.schemas.case import CaseStatus


class EventKind(StrEnum):
    DECISION = "decision"
    SENT = "sent"
    RECEIPT = "receipt"
    STATUS = "status"
    MESSAGE = "message"
    SETTLEMENT = "settlement"
    PAYMENT_REPORTED = "payment_reported"
    CORRECTION = "correction"
    WITHDRAWAL = "withdrawal"


class Direction(StrEnum):
    OUT = "out"  # we told the agency
    IN = "in"  # the agency told us
    INTERNAL = "internal"


class CaseEvent(CanonicalModel):
    event_id: str = Field(min_length=1, description="unique; agencies' own ids where they give one")
    case_key: str
    at: datetime
    kind: EventKind
    direction: Direction = Direction.INTERNAL
    status: CaseStatus | None = None
    agency_ref: str | None = None
    message: str = ""
