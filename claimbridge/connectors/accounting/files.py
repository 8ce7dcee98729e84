"""The open-items export source: customers and invoices from CSV or JSON Lines files.

For ledgers without an API, or for a one-off transfer: the creditor exports its open items to
two files (see ``docs/open-items-format.md``) and this source reads them like any other ledger.
Every run is a full refresh; the cursor on the last page is the file's fingerprint, so a run can
tell an unchanged export from a new one. Optional ``payments`` and ``credit_notes`` exports let
reconciliation see money that reached the creditor after a hand-over.

Such a ledger cannot be written to, but it can import a journal: with ``journal`` set,
``register_payment`` and ``book_voucher`` append what reconciliation books to a bookings
journal CSV (:mod:`claimbridge.connectors.accounting.journal`), idempotent on the external
reference, for the creditor to import.

Rows with problems are never dropped silently and never stop the run: ``read`` yields them with
their reasons attached and ``normalize`` raises ``RecordError`` for them, so the pipeline puts
each one in quarantine with its line number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from claimbridge.connectors.accounting._tabular import (
    TabularFile,
    check_encoding,
    detect_format,
)
from claimbridge.connectors.accounting._vouchers import check_voucher
from claimbridge.connectors.accounting.journal import BookingsJournal
from claimbridge.connectors.base import (
    CheckItem,
    CheckKind,
    CheckResult,
    ConnectorContext,
    ConnectorSettings,
    NotSupportedError,
    Page,
    RawRecord,
    Source,
    SourceCapabilities,
    StreamSpec,
    Voucher,
)
from claimbridge.errors import ClaimbridgeError, ParseError, RecordError
from claimbridge.mappings import Mapping as RecordMapping
from claimbridge.mappings import load_mapping, to_model
from claimbridge.schemas import Address, AddressState, Claim, CreditNote, Party, Payment

__all__ = ["CUSTOMER_COLUMNS", "INVOICE_COLUMNS", "OpenItemsFileSource", "OpenItemsSettings"]

CUSTOMERS = StreamSpec(name="customers", primary_key="customer_number")
INVOICES = StreamSpec(name="invoices", primary_key="invoice_number")
PAYMENTS = StreamSpec(name="payments", primary_key="payment_id")
CREDIT_NOTES = StreamSpec(name="credit_notes", primary_key="credit_note_number")

CUSTOMER_COLUMNS = ("customer_number", "kind", "name")
INVOICE_COLUMNS = ("invoice_number", "customer_number", "invoice_date", "due_date", "amount")
PAYMENT_COLUMNS = ("payment_id", "payment_date", "amount")
CREDIT_NOTE_COLUMNS = ("credit_note_number", "invoice_number", "issue_date", "amount")
_REQUIRED = {
    "customers": CUSTOMER_COLUMNS,
    "invoices": INVOICE_COLUMNS,
    "payments": PAYMENT_COLUMNS,
    "credit_notes": CREDIT_NOTE_COLUMNS,
}
_MODELS: dict[str, type[Party | Claim | Payment | CreditNote]] = {
    "customers": Party,
    "invoices": Claim,
    "payments": Payment,
    "credit_notes": CreditNote,
}

PROBLEMS_KEY = "_problems"  # set on raw records that could not be read cleanly
_ACCOUNT = r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,39}$"  # a ledger account code in the journal
_ACCOUNT_RE = re.compile(_ACCOUNT)


class OpenItemsSettings(ConnectorSettings):
    invoices: Path
    customers: Path | None = None
    payments: Path | None = None
    credit_notes: Path | None = None
    journal: Path | None = Field(
        default=None, description="bookings journal CSV that reconciliation appends to"
    )
    journal_bank_account: str = Field(default="1920", pattern=_ACCOUNT)
    journal_receivables_account: str = Field(default="1500", pattern=_ACCOUNT)
    format: Literal["auto", "csv", "jsonl"] = "auto"
    encoding: str = "utf-8"
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    company: str = ""
    default_currency: str = Field(default="NOK", pattern=r"^[A-Z]{3}$")
    page_size: int = Field(default=1000, ge=1, le=100_000)
    customer_mapping: str = "open_items_customer"
    invoice_mapping: str = "open_items_invoice"
    payment_mapping: str = "open_items_payment"
    credit_note_mapping: str = "open_items_credit_note"

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            check_encoding(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value


class OpenItemsFileSource(Source):
    """Customers and invoices (payments, credit notes) from an open-items export."""

    type_name: ClassVar[str] = "files"
    Settings: ClassVar[type[ConnectorSettings]] = OpenItemsSettings
    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities(
        can_book_payments=True,
        can_book_vouchers=True,  # with `journal` set
        idempotent_payments=True,  # the journal's external reference is the payment id
    )

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, OpenItemsSettings)
        self.options: OpenItemsSettings = settings
        self._variables = {
            "company": settings.company,
            "default_currency": settings.default_currency,
        }
        self._mappings: dict[str, RecordMapping] = {}

    # --- declarations ---------------------------------------------------------------------

    def streams(self) -> Sequence[StreamSpec]:
        optional = (
            (CUSTOMERS, self.options.customers),
            (INVOICES, self.options.invoices),
            (PAYMENTS, self.options.payments),
            (CREDIT_NOTES, self.options.credit_notes),
        )
        return tuple(stream for stream, path in optional if path is not None)

    def _path(self, stream: StreamSpec) -> Path:
        path = getattr(self.options, stream.name, None)
        if not isinstance(path, Path):
            raise ParseError(f"no {stream.name} file is configured", file=stream.name)
        return path if path.is_absolute() else self.context.workdir / path

    def _file(self, stream: StreamSpec) -> TabularFile:
        path = self._path(stream)
        return TabularFile(
            path,
            format=detect_format(path, self.options.format),
            encoding=self.options.encoding,
            delimiter=self.options.delimiter,
            required=_REQUIRED[stream.name],
        )

    def _mapping(self, stream: StreamSpec) -> RecordMapping:
        mapping = self._mappings.get(stream.name)
        if mapping is None:
            name = {
                "customers": self.options.customer_mapping,
                "invoices": self.options.invoice_mapping,
                "payments": self.options.payment_mapping,
                "credit_notes": self.options.credit_note_mapping,
            }[stream.name]
            mapping = self._mappings[stream.name] = load_mapping(name)
        return mapping

    # --- check ----------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Each configured file exists, is readable and has the required columns."""
        items = []
        for stream in self.streams():
            try:
                tabular = self._file(stream)
                if not tabular.path.is_file():
                    raise ParseError("file not found", file=str(tabular.path))
                tabular.header()
                self._mapping(stream)
            except ClaimbridgeError as exc:
                items.append(CheckItem(CheckKind.CONFIG, False, f"{stream.name}: {exc}"))
            else:
                items.append(CheckItem(CheckKind.CONFIG, True, f"{stream.name}: {tabular.name}"))
        return CheckResult(connector=self.context.name, items=tuple(items))

    # --- read -----------------------------------------------------------------------------

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        """Pages of ``page_size`` rows in file order; the last page carries the fingerprint.

        ``cursor`` is ignored: an export is a snapshot, read in full every run.
        """
        tabular = self._file(stream)
        size = self.options.page_size
        name = tabular.name
        page: list[RawRecord] = []
        for line, data, problems in tabular.rows():
            if len(page) == size:
                yield Page(records=page, cursor=None)
                page = []
            if problems:
                data = _with_problems(data, problems, stream)
            page.append(RawRecord(data, f"{name}:{line}"))
        if page:
            yield Page(records=page, cursor=tabular.fingerprint)

    # --- normalize ------------------------------------------------------------------------

    def normalize(
        self, stream: StreamSpec, record: RawRecord
    ) -> Sequence[Party | Claim | Payment | CreditNote]:
        data = record.data
        record_id = str(data.get(stream.primary_key) or "")
        problems = data.get(PROBLEMS_KEY)
        if problems:
            raise RecordError(list(problems), record_id=record_id, location=record.location)
        model = to_model(
            self._mapping(stream),
            data,
            _MODELS[stream.name],
            self._variables,
            location=record.location,
            record_id=record_id,
        )
        if isinstance(model, Party):
            return (_hide_unusable_addresses(model),)
        return (model,)

    # --- booking into the journal -----------------------------------------------------------

    @property
    def journal(self) -> BookingsJournal:
        path = self.options.journal
        if path is None:
            raise NotSupportedError(
                "no bookings journal is configured (set journal = 'bookings.csv')",
                connector=self.context.name or self.type_name,
            )
        return BookingsJournal(path if path.is_absolute() else self.context.workdir / path)

    def register_payment(self, payment: Payment, claim: Claim) -> str:
        """Bank debit and receivables credit on the invoice, under the payment's id."""
        return self.journal.book_payment(
            payment.payment_id,
            on=payment.booking_date,
            invoice_number=claim.invoice_number,
            amount=payment.amount,
            currency=payment.currency,
            bank_account=self.options.journal_bank_account,
            receivables_account=self.options.journal_receivables_account,
            description=(payment.message or f"payment {payment.payment_id}")[:200],
        )

    def book_voucher(self, voucher: Voucher) -> str:
        """Append the voucher to the journal; one that does not balance (or has unusable
        lines) is refused before the journal is opened."""
        check_voucher(voucher, connector=self.context.name or self.type_name, account=_ACCOUNT_RE)
        return self.journal.book_voucher(voucher)

    def find_booking(self, external_ref: str) -> str | None:
        return self.journal.find(external_ref)


def _with_problems(
    row: Mapping[str, Any], problems: tuple[str, ...], stream: StreamSpec
) -> dict[str, Any]:
    """A row that could not be read cleanly keeps only its reasons and (a sane) primary key."""
    key = row.get(stream.primary_key)
    data: dict[str, Any] = {PROBLEMS_KEY: problems}
    if isinstance(key, str | int) and len(str(key)) <= 64:
        data[stream.primary_key] = key
    return data


def _hide_unusable_addresses(party: Party) -> Party:
    """An address whose state is unknown or protected carries no lines, whatever the file had."""
    if all(a.state is AddressState.KNOWN for a in party.addresses):
        return party
    addresses = tuple(
        a if a.state is AddressState.KNOWN else Address(kind=a.kind, state=a.state)
        for a in party.addresses
    )
    return party.model_copy(update={"addresses": addresses})
