"""The connector interfaces: Source, Agency and PaymentFeed.

A connector is mostly declarations: its ``Settings`` model, its capabilities, its streams and
the mapping files that turn its raw records into canonical models. The core owns the loop,
the state, the retries and the HTTP sessions; connectors never write state themselves.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
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
    "Correction",
    "CorrectionKind",
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
    "Voucher",
    "VoucherLine",
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
    can_book_vouchers: bool = False  # book_voucher() / find_booking() are implemented
    # register_payment() of a payment booked before (same payment_id) books nothing twice:
    # after a crash, reconciliation registers it again only where this is true
    idempotent_payments: bool = False


@dataclass(frozen=True, slots=True)
class VoucherLine:
    """One posting: a positive amount debits ``account``, a negative one credits it."""

    account: str
    amount: Decimal
    description: str = ""


@dataclass(frozen=True, slots=True)
class Voucher:
    """A balanced journal entry (the lines sum to zero) that reconciliation books in the ledger:
    a settlement's interest and fee income, the agency's commission as an expense.

    ``external_ref`` is unique per entry and is what makes booking idempotent: a source stores
    it with the voucher (or in its description where the system has no such field) so that
    :meth:`Source.find_booking` finds an entry booked before a crash instead of booking it again.
    """

    external_ref: str
    date: dt.date
    currency: str
    description: str
    lines: tuple[VoucherLine, ...]

    def __post_init__(self) -> None:
        total = sum((line.amount for line in self.lines), Decimal("0"))
        if total != 0 or len(self.lines) < 2:
            raise ValueError(f"voucher {self.external_ref} does not balance ({total})")


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
        """Book a payment on an invoice in the ledger; returns the ledger's own id for it.

        Should be idempotent on ``payment.payment_id`` (a payment booked before a crash is found
        and its id returned, never booked twice); a source that is declares
        ``capabilities.idempotent_payments``, and one that cannot be is never asked twice."""
        raise NotSupportedError("booking payments is not supported", connector=self.type_name)

    def book_voucher(self, voucher: Voucher) -> str:
        """Book a balanced journal entry; returns the ledger's id for it. Idempotent on
        ``voucher.external_ref`` (look it up first, or let the system refuse a duplicate)."""
        raise NotSupportedError("booking vouchers is not supported", connector=self.type_name)

    def find_booking(self, external_ref: str) -> str | None:
        """The ledger's id of what was booked under ``external_ref`` (a payment id or a
        voucher's external reference), or None when nothing was."""
        raise NotSupportedError("looking up bookings is not supported", connector=self.type_name)


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
    pause: bool = False  # pause() and resume()
    webhooks: bool = False  # parse_webhook() verifies and reads the agency's pushed events


class Delivery:
    """One case to deliver, with the idempotency key stored before the first send.

    A delivery read back from the outbox holds the case as its stored JSON and parses it on
    the first read of ``case``: an agency that only needs the keys (to answer per delivery)
    never pays for a parse, and one that reads the case pays once.
    """

    __slots__ = ("_case", "_payload", "case_key", "idempotency_key")

    def __init__(self, idempotency_key: str, case: Case) -> None:
        self.idempotency_key = idempotency_key
        self.case_key = case.case_key
        self._case: Case | None = case
        self._payload: Callable[[], str] | None = None

    @classmethod
    def stored(cls, idempotency_key: str, case_key: str, payload: Callable[[], str]) -> Delivery:
        """A delivery whose case JSON is read (``payload()``) and parsed on first use."""
        delivery = cls.__new__(cls)
        delivery.idempotency_key = idempotency_key
        delivery.case_key = case_key
        delivery._case = None
        delivery._payload = payload
        return delivery

    @property
    def case(self) -> Case:
        if self._case is None:
            assert self._payload is not None
            self._case = Case.model_validate_json(self._payload())
            self._payload = None
        return self._case

    def __repr__(self) -> str:
        return f"Delivery({self.idempotency_key!r}, case_key={self.case_key!r})"


class PushStatus(StrEnum):
    ACCEPTED = "accepted"
    RETRYABLE = "retryable"  # not delivered; safe to try again later
    REJECTED = "rejected"  # the agency refused it for good; reason says why
    UNKNOWN = "unknown"  # may or may not have arrived: resolve by lookup, never resend blindly
    SENT = "sent"  # delivered, acceptance comes later (async agencies, file drops)


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """What became of one delivery (a case or a correction).

    ``payment_refs`` maps invoice numbers to the reference the debtor now pays the agency with
    (Amili Sweden answers a registration with OCR numbers); the core stores them on the claims
    so that reconciliation recognizes those payments."""

    idempotency_key: str
    status: PushStatus
    agency_ref: str | None = None
    reason: str | None = None
    payment_refs: Mapping[str, str] = field(default_factory=dict)


class CorrectionKind(StrEnum):
    PAYMENT = "payment"  # the debtor paid the creditor directly after the hand-over
    REDUCE = "reduce"  # a credit note lowers a claim the agency holds
    WITHDRAW = "withdraw"  # the creditor takes the case (or one claim) back
    PAUSE = "pause"
    RESUME = "resume"


@dataclass(frozen=True, slots=True)
class Correction:
    """What the creditor tells the agency about a case it already holds.

    Corrections travel through the outbox exactly like cases: the idempotency key is stored
    before the first send, and an unknown outcome is resolved, never blindly resent."""

    idempotency_key: str
    kind: CorrectionKind
    case_key: str
    agency_ref: str
    invoice_number: str | None = None  # the claim concerned; None: the whole case
    payment: Payment | None = None  # PAYMENT: with its real booking date
    credit_note: CreditNote | None = None  # REDUCE
    reason: str | None = None  # WITHDRAW, PAUSE: plain words, no personal data

    def personal_values(self) -> tuple[str, ...]:
        """What in it identifies a person (the payer's name and account, the payment's free
        text): never to appear in a stored reason or a log line."""
        payment = self.payment
        if payment is None:
            return ()
        values = (payment.payer_name, payment.payer_account, payment.message)
        return tuple(v for v in values if v and len(v.strip()) >= 3)


@dataclass(frozen=True, slots=True)
class AgencyUpdate:
    """Something the agency tells us: a status change, a message, a settlement, or the receipt
    of a delivery that came back ``SENT`` (async acceptance, file drops).

    ``update_id`` is unique per agency and stable across re-reads: reconciliation skips an id it
    has already applied (webhook retries, overlapping polls)."""

    update_id: str
    event: CaseEvent | None = None
    settlement: Settlement | None = None
    receipt: PushOutcome | None = None
    cursor: str | None = None


class Agency(Connector):
    """A collection agency: accepts cases, reports back."""

    capabilities: ClassVar[AgencyCapabilities] = AgencyCapabilities()

    @abstractmethod
    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        """Hand cases over; one outcome per delivery. An empty batch makes no network call."""

    def lookup(self, idempotency_key: str, agency_ref: str | None = None) -> PushOutcome | None:
        """What the agency did with a key we may have sent (None: it never saw it).

        ``agency_ref`` is what an earlier ``SENT`` outcome carried (an async batch's id, say),
        so an agency that accepts later can be asked about a delivery still waiting for its
        receipt; ``SENT`` again means it is still waiting."""
        raise NotSupportedError("looking up deliveries is not supported", connector=self.type_name)

    def updates(self, since: str | None) -> Iterator[AgencyUpdate]:
        """Receipts, status changes and settlements since the cursor."""
        return iter(())

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[AgencyUpdate]:
        """Verify one pushed webhook delivery and read its updates.

        Raises ``AuthError`` when the signature does not verify: nothing in it may be used."""
        raise NotSupportedError("webhooks are not supported", connector=self.type_name)

    @property
    def resendable_corrections(self) -> frozenset[CorrectionKind]:
        """Correction kinds that may be sent again when ``lookup`` does not find them: those
        whose every delivery ``lookup`` finds (so "not found" means "never arrived"), or that
        the agency processes once however often they come (a numbered payment). None by
        default: an unfound correction waits for a person. Agencies that honour our
        idempotency keys take every kind again whatever this says."""
        return frozenset()

    def correct(self, corrections: Sequence[Correction]) -> list[PushOutcome]:
        """Deliver corrections, one outcome each; an empty batch makes no network call.

        The default calls the method of each correction's kind in turn; an agency with a batch
        endpoint or a file format for corrections overrides this."""
        handlers = {
            CorrectionKind.PAYMENT: self.report_payment,
            CorrectionKind.REDUCE: self.reduce,
            CorrectionKind.WITHDRAW: self.withdraw,
            CorrectionKind.PAUSE: self.pause,
            CorrectionKind.RESUME: self.resume,
        }
        return [handlers[c.kind](c) for c in corrections]

    def report_payment(self, correction: Correction) -> PushOutcome:
        """Tell the agency the debtor paid the creditor directly (the real booking date)."""
        raise NotSupportedError("reporting payments is not supported", connector=self.type_name)

    def reduce(self, correction: Correction) -> PushOutcome:
        """Lower a claim the agency holds by a credit note."""
        raise NotSupportedError("reducing cases is not supported", connector=self.type_name)

    def withdraw(self, correction: Correction) -> PushOutcome:
        raise NotSupportedError("withdrawing cases is not supported", connector=self.type_name)

    def pause(self, correction: Correction) -> PushOutcome:
        raise NotSupportedError("pausing cases is not supported", connector=self.type_name)

    def resume(self, correction: Correction) -> PushOutcome:
        raise NotSupportedError("resuming cases is not supported", connector=self.type_name)


# --- payment feeds ------------------------------------------------------------------------


class PaymentFeed(Connector):
    """Bank files (OCR giro, BgMax, camt.054) that yield payments."""

    @abstractmethod
    def payments(self, cursor: str | None) -> Iterator[tuple[Payment, str | None]]:
        """Yield each payment with the cursor that is safe to store after it."""
