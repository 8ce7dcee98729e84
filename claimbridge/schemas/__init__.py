"""The canonical schema, version 1: what every source is normalized to and every agency gets."""

from __future__ import annotations

from claimbridge.schemas._base import (
    SCHEMA_VERSION,
    CanonicalModel,
    Money,
    SourceRef,
)
from claimbridge.schemas.case import Case, CaseStatus, case_key
from claimbridge.schemas.claim import Claim, InterestKind, InterestTerms, Reminder
from claimbridge.schemas.decision import Decision, Outcome, Reason
from claimbridge.schemas.event import CaseEvent, Direction, EventKind
from claimbridge.schemas.party import (
    Address,
    AddressKind,
    AddressState,
    ContactPerson,
    Creditor,
    Email,
    Party,
    PartyKind,
    Phone,
    PhoneType,
)
from claimbridge.schemas.payment import CreditNote, Payment, PaymentKind
from claimbridge.schemas.quality import QualityFinding, QualityReport, Severity
from claimbridge.schemas.settlement import Settlement, SettlementLine

__all__ = [
    "SCHEMA_VERSION",
    "Address",
    "AddressKind",
    "AddressState",
    "CanonicalModel",
    "Case",
    "CaseEvent",
    "CaseStatus",
    "Claim",
    "ContactPerson",
    "CreditNote",
    "Creditor",
    "Decision",
    "Direction",
    "Email",
    "EventKind",
    "InterestKind",
    "InterestTerms",
    "Money",
    "Outcome",
    "Party",
    "PartyKind",
    "Payment",
    "PaymentKind",
    "Phone",
    "PhoneType",
    "QualityFinding",
    "QualityReport",
    "Reason",
    "Reminder",
    "Settlement",
    "SettlementLine",
    "Severity",
    "SourceRef",
    "case_key",
]
