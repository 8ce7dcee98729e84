"""The connector interfaces: Source, Agency and PaymentFeed.

A connector is mostly declarations: its ``Settings`` model, its capabilities, its streams and
the mapping files that turn its raw records into canonical models. The core owns the loop,
the state, the retries and the HTTP sessions; connectors never write state themselves.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from claimbridge.credentials import CredentialStore, MemoryCredentialStore
from claimbridge.errors import ConnectorError
from claimbridge.schemas import (
    Case,
    CaseEvent,
    Claim,
    CreditNote,
    Party,
    Payment,
    Settlement,
)

__all__ = [
    "Agency",
    "AgencyCapabilities",
    "AgencyUpdate",
    "CheckItem",
    "CheckKind",
    "CheckResult",
    "Connector",
    "ConnectorContext",
    "ConnectorSettings",
    "Delivery",
    "NotSupportedError",
    "Page",
    "PaymentFeed",
    "PushOutcome",
    "PushStatus",
    "RawRecord",
    "Source",
    "SourceCapabilities",
    "StreamSpec",
]

Canonical = Party | Claim | Payment | CreditNote


class NotSupportedError(ConnectorError):
    """The connector does not offer this operation (see its capabilities)."""


class ConnectorSettings(BaseModel):
    """Base of every connector's own ``Settings`` model: unknown keys are config errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class ConnectorContext:
    """What the core hands a connector: its instance name, a work directory, the clock, and
    the store for tokens that change (rotated refresh tokens must survive the process)."""

    name: str
    workdir: Path = field(default_factory=Path.cwd)
    today: dt.date = field(default_factory=dt.date.today)
    credentials: CredentialStore = field(default_factory=MemoryCredentialStore)


# --- checks -------------------------------------------------------------------------------


class CheckKind(StrEnum):
    CONFIG = "config"
    AUTH = "auth"
    REACHABILITY = "reachability"
    PERMISSION = "permission"


@dataclass(frozen=True, slots=True)
class CheckItem:
    kind: CheckKind
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """``check()`` tells bad config, failed auth and unreachable apart, one item each."""

    connector: str
    items: tuple[CheckItem, ...]

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)


# --- sources ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as the source gave it, with where it came from (``invoices.csv:12``)."""

    data: Mapping[str, Any]
    location: str


@dataclass(frozen=True, slots=True)
class Page:
    """A page of raw records and the cursor that is safe to store once they are durable."""

    records: Sequence[RawRecord]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class StreamSpec:
    name: str  # customers | invoices | payments | credit_notes
    primary_key: str  # the raw field that identifies a record within the stream
    cursor_field: str | None = None  # None: full refresh each run


@dataclass(frozen=True, slots=True)
class SourceCapabilities:
    incremental: bool = False  # read(stream, cursor) yields only what changed since cursor
    fetch_by_id: bool = False  # fetch(stream, ids) is implemented
    webhooks: bool = False
    can_book_payments: bool = False


class Connector(ABC):
    """What every connector has: a registered type name, a Settings model and a check."""

    type_name: ClassVar[str]
    Settings: ClassVar[type[ConnectorSettings]]

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    @abstractmethod
    def check(self) -> CheckResult:
        """Config, auth and reachability, each told apart. Never raises for a failed check."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions and files. Override when the connector holds any."""


class Source(Connector):
    """An accounting system or export file that yields customers, invoices, payments…"""

    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities()

    @abstractmethod
    def streams(self) -> Sequence[StreamSpec]:
        """The streams this source offers, in the order a run should read them."""

    @abstractmethod
    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        """Yield pages of raw records changed since ``cursor`` (None: from the start)."""

    @abstractmethod
    def normalize(self, stream: StreamSpec, record: RawRecord) -> Sequence[Canonical]:
        """Turn one raw record into canonical models (usually through a mapping file).

        Raise ``RecordError`` with reasons for a record that cannot be used: the pipeline
        quarantines it and goes on.
        """

    def fetch(self, stream: StreamSpec, ids: Sequence[str]) -> Iterator[RawRecord]:
        """Records of ``stream`` by primary key, whatever the cursor.

        An incremental run needs it twice: for the customers of changed invoices whose own
        record did not change, and for waiting invoices that fall due without changing.
        Unknown ids are skipped, not errors.
        """
        raise NotSupportedError("fetching records by id is not supported", connector=self.type_name)

    def register_payment(self, payment: Payment, claim: Claim) -> str:
        """Book a payment on an invoice in the ledger; returns the ledger's own id for it."""
        raise NotSupportedError("booking payments is not supported", connector=self.type_name)


# --- agencies -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgencyCapabilities:
    idempotency_keys: bool = False  # the agency honours our key: resending is safe
    lookup: bool = False  # the agency can tell what it did with a key (resolves 'unknown')
    batch_size: int = 100
    async_acceptance: bool = False
    file_drop: bool = False
    report_payments: bool = False
    withdraw: bool = False
    reduce: bool = False


@dataclass(frozen=True, slots=True)
class Delivery:
    """One case to deliver, with the idempotency key stored before the first send."""

    idempotency_key: str
    case: Case


class PushStatus(StrEnum):
    ACCEPTED = "accepted"
    RETRYABLE = "retryable"  # not delivered; safe to try again later
    REJECTED = "rejected"  # the agency refused it for good; reason says why
    UNKNOWN = "unknown"  # may or may not have arrived: resolve by lookup, never resend blindly
    SENT = "sent"  # delivered, acceptance comes later (async agencies, file drops)


@dataclass(frozen=True, slots=True)
class PushOutcome:
    idempotency_key: str
    status: PushStatus
    agency_ref: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AgencyUpdate:
    """Something the agency tells us: a status change, a message, or a settlement."""

    update_id: str
    event: CaseEvent | None = None
    settlement: Settlement | None = None
    cursor: str | None = None


class Agency(Connector):
    """A collection agency: accepts cases, reports back."""

    capabilities: ClassVar[AgencyCapabilities] = AgencyCapabilities()

    @abstractmethod
    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        """Hand cases over; one outcome per delivery. An empty batch makes no network call."""

    def lookup(self, idempotency_key: str) -> PushOutcome | None:
        """What the agency did with a key we may have sent (None: it never saw it)."""
        raise NotSupportedError("looking up deliveries is not supported", connector=self.type_name)

    def updates(self, since: str | None) -> Iterator[AgencyUpdate]:
        """Receipts, status changes and settlements since the cursor."""
        return iter(())

    def report_payment(self, agency_ref: str, payment: Payment) -> None:
        raise NotSupportedError("reporting payments is not supported", connector=self.type_name)

    def withdraw(self, agency_ref: str, reason: str) -> None:
        raise NotSupportedError("withdrawing cases is not supported", connector=self.type_name)

    def reduce(self, agency_ref: str, credit_note: CreditNote) -> None:
        raise NotSupportedError("reducing cases is not supported", connector=self.type_name)


# --- payment feeds ------------------------------------------------------------------------


class PaymentFeed(Connector):
    """Bank files (OCR giro, BgMax, camt.054) that yield payments."""

    @abstractmethod
    def payments(self, cursor: str | None) -> Iterator[tuple[Payment, str | None]]:
        """Yield each payment with the cursor that is safe to store after it."""
