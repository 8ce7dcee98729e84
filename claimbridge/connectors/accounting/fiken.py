"""Fiken (API v2): customers, open invoices, payments and credit notes of one company.

Fiken allows one request at a time and slows clients that send more than four a second, so
everything goes through one rate-limited :class:`HttpClient`, in sequence. Lists are paged
with ``page``/``pageSize`` (at most 100) and the ``Fiken-Api-Page-Count`` header.

Incremental sync uses Fiken's ``lastModifiedGe`` filter (``issueDateGe`` for credit notes,
which have no modification filter). Fiken's modification stamps are dates, not times, so the
cursor is a date: the day of the run minus a look-back window. A run with nothing changed
then costs one request per stream; records changed within the window are read again, which
the pipeline tolerates (it deduplicates and decisions are deterministic).

Booking back (payments on sales, general journal entries): ``_fiken_booking``.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import requests
from pydantic import BaseModel, Field, SecretStr

from claimbridge.connectors.accounting._fiken_auth import FIKEN_OAUTH, fiken_error_info
from claimbridge.connectors.accounting._fiken_booking import (
    book_journal_entry,
    book_payment,
    find_journal_entry,
)
from claimbridge.connectors.accounting._records import (
    invalid_record,
    normalize_record,
)
from claimbridge.connectors.accounting._since import read_since, since_cursor
from claimbridge.connectors.base import (
    Canonical,
    CheckItem,
    CheckKind,
    CheckResult,
    ConnectorContext,
    ConnectorSettings,
    Page,
    RawRecord,
    Source,
    SourceCapabilities,
    StreamSpec,
    Voucher,
)
from claimbridge.errors import (
    ConfigError,
    ConnectorError,
    ParseError,
    RemoteError,
)
from claimbridge.mappings.converters import ConversionError, register_converter
from claimbridge.schemas import Claim, CreditNote, Party, Payment
from claimbridge.transport.http import HttpClient, HttpOptions
from claimbridge.transport.oauth import check_source, connect_app

__all__ = ["FikenSettings", "FikenSource"]

MAX_PAGE_SIZE = 100  # Fiken's documented maximum
DOCUMENTED_RATE_PER_S = 4.0  # "API calls may be slowed if you execute more than 4 requests/s"
MAX_TEXT = 5000  # Fiken's own text fields are at most a few hundred characters
MAX_DEPTH = 12

_STREAMS = (
    StreamSpec("customers", "contactId", "lastModifiedDate"),
    StreamSpec("invoices", "invoiceNumber", "lastModifiedDate"),
    StreamSpec("payments", "paymentId", "lastModifiedDate"),
    StreamSpec("credit_notes", "creditNoteId", "issueDate"),
)
_MODELS: dict[str, tuple[str, type[BaseModel]]] = {
    "customers": ("fiken_customer", Party),
    "invoices": ("fiken_invoice", Claim),
    "payments": ("fiken_payment", Payment),
    "credit_notes": ("fiken_credit_note", CreditNote),
}
_LANGUAGES = {"norwegian": "nb", "english": "en"}


def _fiken_language(value: Any) -> str:
    """Fiken's document language (NORWEGIAN/ENGLISH) → ISO 639-1."""
    code = _LANGUAGES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if code is None:
        raise ConversionError("unknown Fiken language (expected NORWEGIAN or ENGLISH)")
    return code


register_converter("fiken_language", _fiken_language)


def _http_defaults() -> HttpOptions:
    return HttpOptions(rate_limit_per_s=DOCUMENTED_RATE_PER_S)


class FikenSettings(ConnectorSettings):
    """One Fiken company, reached through an OAuth2 app the company has authorized."""

    company_slug: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,199}$", description="the company's slug in Fiken URLs"
    )
    client_id: str = Field(min_length=1, description="the OAuth2 app's client id")
    client_secret: SecretStr = Field(description="the OAuth2 app's client secret")
    refresh_token: SecretStr = Field(
        description="first refresh token; rotated ones are kept in the credential store"
    )
    base_url: str = Field(default="https://api.fiken.no/api/v2", description="API root")
    token_url: str = Field(default="https://fiken.no/oauth/token", description="token endpoint")
    payment_account: str | None = Field(
        default=None,
        pattern=r"^\d{4}(:\d{5})?$",
        description="bank account code payments are booked to, e.g. 1920:10001",
    )
    default_currency: str = Field(default="NOK", pattern=r"^[A-Z]{3}$")
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    lookback_days: int = Field(
        default=1, ge=0, le=31, description="days of changes read again on each run"
    )
    booking_search_days: int = Field(
        default=90, ge=1, le=3660, description="days back find_booking looks for journal entries"
    )
    http: HttpOptions = Field(default_factory=_http_defaults)


class FikenSource(Source):
    """Reads one Fiken company and books payments on its invoices."""

    type_name: ClassVar[str] = "fiken"
    Settings: ClassVar[type[ConnectorSettings]] = FikenSettings
    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities(
        incremental=True,
        fetch_by_id=True,
        can_book_payments=True,
        can_book_vouchers=True,
        idempotent_payments=True,  # recognized by sale, date, amount and account
    )
    config_example: ClassVar[str] = """\
# The Fiken company's slug, as in https://fiken.no/foretak/<slug>/
company_slug = "my-company-as"
# An OAuth2 app (Fiken: Rediger konto -> API -> Apper); the company must have authorized it.
client_id = "${CLAIMBRIDGE_FIKEN_CLIENT_ID}"
client_secret = "${CLAIMBRIDGE_FIKEN_CLIENT_SECRET}"
# The refresh token from the first authorization. Fiken may rotate it: claimbridge then keeps
# the new one in its credential store, and that one wins over this value.
refresh_token = "${CLAIMBRIDGE_FIKEN_REFRESH_TOKEN}"
# Bank account code that payments booked back from the agency go to (needed for reconcile).
# payment_account = "1920:10001"
# Days of changes read again on every run (Fiken stamps changes with dates, not times).
# lookback_days = 1
# Days back find_booking looks for journal entries claimbridge created (reconcile).
# booking_search_days = 90
# Fiken allows one request at a time and about 4 per second.
# [sources.ledger.http]
# rate_limit_per_s = 4
"""

    def __init__(
        self,
        settings: ConnectorSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings, context)
        if not isinstance(settings, FikenSettings):
            raise ConfigError("fiken: settings must be FikenSettings")
        self.config = settings
        name = context.name or self.type_name
        api, self.tokens = connect_app(
            FIKEN_OAUTH, settings, context, self.type_name, sleep=sleep, clock=clock
        )
        self.client = HttpClient(
            api,
            auth=self.tokens,
            error_parser=fiken_error_info,
            sleep=sleep,
            clock=clock,
            name=name,
        )
        self._company = f"/companies/{quote(settings.company_slug, safe='')}"
        self.name = name

    # --- plumbing ----------------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request; an access token Fiken refuses (401) is refreshed and tried once more."""
        headers = {"X-Request-ID": str(uuid.uuid4())}  # the same for the retry after a 401
        path = self._company + path
        return self.tokens.send(
            lambda: self.client.request(method, path, headers=headers, **kwargs)
        )

    def json_of(self, response: requests.Response, where: str) -> Any:
        try:
            return response.json()
        except (ValueError, RecursionError):
            raise ParseError("Fiken answered with a body that is not JSON", file=where) from None

    def pages(self, path: str, params: Mapping[str, str | int]) -> Iterator[tuple[int, list[Any]]]:
        """Every page of a list, following Fiken-Api-Page-Count."""
        page = 0
        while True:
            query = {**params, "page": page, "pageSize": self.config.page_size}
            response = self.call("GET", path, params=query)
            body = self.json_of(response, path)
            if not isinstance(body, list):
                raise ParseError("expected a JSON array of records", file=path, field="body")
            yield page, body
            count = _header_int(response, "Fiken-Api-Page-Count", path)
            page += 1
            if count is not None and page >= count:
                return
            if count is None and len(body) < self.config.page_size:
                return

    def _get_optional(self, path: str) -> Any | None:
        try:
            return self.json_of(self.call("GET", path), path)
        except RemoteError as exc:
            if exc.status == 404:
                return None
            raise

    # --- streams ----------------------------------------------------------------------------

    def streams(self) -> Sequence[StreamSpec]:
        return _STREAMS

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        since = parse_cursor(cursor)
        new_cursor = make_cursor(self.context.today - dt.timedelta(days=self.config.lookback_days))
        path, params = self._list_query(stream.name, since)
        invoice_numbers: dict[int, str | None] = {}
        pages = self.pages(path, params)
        pending: Page | None = None
        for number, items in pages:
            if pending is not None:
                yield pending
            records = list(self._records(stream.name, number, items, invoice_numbers))
            pending = Page(records, None)
        yield Page(pending.records if pending else (), new_cursor)

    def _list_query(self, stream: str, since: dt.date | None) -> tuple[str, dict[str, str | int]]:
        """A first read takes what is open; later reads take what changed since the cursor."""
        params: dict[str, str | int] = {}
        if stream == "customers":
            path, params["customer"] = "/contacts", "true"
            if since is not None:
                params["lastModifiedGe"] = since.isoformat()
        elif stream in ("invoices", "payments", "credit_notes"):
            path = "/creditNotes" if stream == "credit_notes" else "/invoices"
            if since is None:
                params["settled"] = "false"
            elif stream == "credit_notes":  # no modification filter on credit notes
                params["issueDateGe"] = since.isoformat()
            else:
                params["lastModifiedGe"] = since.isoformat()
        else:
            raise ConnectorError(f"unknown stream {stream!r}", connector=self.name)
        return path, params

    def _records(
        self, stream: str, page: int, items: list[Any], numbers: dict[int, str | None]
    ) -> Iterator[RawRecord]:
        for index, item in enumerate(items):
            location = f"fiken:{stream}:page{page}[{index}]"
            if not isinstance(item, dict):
                yield invalid_record(item, location)
            elif stream == "payments":
                yield from _sale_payments(item, location)
            elif stream == "credit_notes":
                yield RawRecord(self._with_invoice_number(item, numbers), location)
            else:
                yield RawRecord(item, location)

    def _with_invoice_number(
        self, note: dict[str, Any], numbers: dict[int, str | None]
    ) -> dict[str, Any]:
        """Fiken gives a credit note's invoice by id; the canonical model wants its number."""
        invoice_id = note.get("associatedInvoiceId")
        if not isinstance(invoice_id, int) or isinstance(invoice_id, bool):
            return note
        if invoice_id not in numbers:
            invoice = self._get_optional(f"/invoices/{invoice_id}")
            number = invoice.get("invoiceNumber") if isinstance(invoice, dict) else None
            numbers[invoice_id] = str(number) if isinstance(number, int | str) else None
        return {**note, "associatedInvoiceNumber": numbers[invoice_id]}

    def fetch(self, stream: StreamSpec, ids: Sequence[str]) -> Iterator[RawRecord]:
        for record_id in ids:
            if not record_id.isdigit():
                continue  # Fiken's ids and invoice numbers are whole numbers
            location = f"fiken:{stream.name}:{record_id}"
            if stream.name == "invoices":
                params = {"invoiceNumber": record_id, "page": 0, "pageSize": 1}
                body = self.json_of(self.call("GET", "/invoices", params=params), "/invoices")
                found = body if isinstance(body, list) else []
                for item in found[:1]:
                    if isinstance(item, dict) and str(item.get("invoiceNumber")) == record_id:
                        yield RawRecord(item, location)
            elif stream.name in ("customers", "credit_notes"):
                kind = "contacts" if stream.name == "customers" else "creditNotes"
                item = self._get_optional(f"/{kind}/{record_id}")
                if isinstance(item, dict):
                    if stream.name == "credit_notes":
                        item = self._with_invoice_number(item, {})
                    yield RawRecord(item, location)
            else:
                raise ConnectorError(
                    f"fetching {stream.name} by id is not supported", connector=self.name
                )

    def normalize(self, stream: StreamSpec, record: RawRecord) -> Sequence[Canonical]:
        variables = {
            "company": self.config.company_slug,
            "default_currency": self.config.default_currency,
        }
        model = normalize_record(
            stream,
            record,
            models=_MODELS,
            variables=variables,
            max_text=MAX_TEXT,
            max_depth=MAX_DEPTH,
            connector=self.type_name,
        )
        return [model]  # type: ignore[list-item]

    # --- booking back (see _fiken_booking) --------------------------------------------------

    def register_payment(self, payment: Payment, claim: Claim) -> str:
        """Book ``payment`` on the claim's invoice; an equal payment already there is reused
        (Fiken's payments carry no reference of ours: date, amount and account identify it)."""
        return book_payment(self, payment, claim)

    def book_voucher(self, voucher: Voucher) -> str:
        """Post a general journal entry whose description carries our reference."""
        return book_journal_entry(self, voucher)

    def find_booking(self, external_ref: str) -> str | None:
        """The journal entry booked under ``external_ref`` in the last
        ``booking_search_days`` days. Payments carry no reference in Fiken: not found here."""
        return find_journal_entry(self, external_ref)

    # --- check ------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        company = self.config.company_slug
        return check_source(
            self.name,
            CheckItem(CheckKind.CONFIG, True, f"company {company}"),
            self.tokens,
            lambda: self.call("GET", ""),
            reachable="company reachable",
            not_found=f"company {company} not found, or not granted to the app",
        )

    def close(self) -> None:
        self.client.close()
        self.tokens.close()


# --- helpers ----------------------------------------------------------------------------------


def make_cursor(since: dt.date) -> str:
    return since_cursor(since.isoformat())


def parse_cursor(cursor: str | None) -> dt.date | None:
    """The date a cursor says to read changes from; None for a first, full read."""
    return read_since(cursor, dt.date.fromisoformat, "Fiken")


def _header_int(response: requests.Response, name: str, where: str) -> int | None:
    value = response.headers.get(name)
    if value is None:
        return None
    if not value.strip().isdigit() or len(value) > 12:
        raise ParseError(f"{name} header is not a whole number", file=where, field=name)
    return int(value)


def _sale_payments(invoice: dict[str, Any], location: str) -> Iterator[RawRecord]:
    """An invoice's payments, each with what identifies the invoice it paid."""
    sale = invoice.get("sale")
    payments = sale.get("salePayments") if isinstance(sale, dict) else None
    context = {
        "invoiceNumber": invoice.get("invoiceNumber"),
        "kid": invoice.get("kid"),
        "invoiceCurrency": invoice.get("currency"),
    }
    for index, item in enumerate(payments if isinstance(payments, list) else []):
        where = f"{location}.payment[{index}]"
        if isinstance(item, dict):
            yield RawRecord({**item, **context}, where)
        else:
            yield invalid_record(item, where)
