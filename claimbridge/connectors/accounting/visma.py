"""Visma eAccounting (API v2): customers, open invoices and credit invoices of one company.

Lists are paged OData-style with ``$page`` (from 1) and ``$pagesize``; every answer is
``{"Meta": {CurrentPage, PageSize, TotalNumberOfPages, TotalNumberOfResults, ServerTimeUtc},
"Data": [...]}``, and paging follows ``Meta`` rather than our own arithmetic, so a server that
caps the page size is still read to the end.

Visma allows 600 requests a minute per client *and endpoint*, so each resource
(``/v2/customers``, ``/v2/customerinvoices``, …) gets its own rate-limited
:class:`HttpClient`. Incremental sync uses the spec's ``modifiedSinceUtc`` on invoices and a
``$filter`` on ``ChangedUtc`` for customers; the cursor is the server's own clock
(``Meta.ServerTimeUtc`` of the first page) minus a short look-back, so a run with nothing
changed costs one request per stream whatever the size of the ledger.

Visma's API lists no payments of customer invoices: a payment shows up as an invoice whose
``RemainingAmountInvoiceCurrency`` fell, which the invoice stream carries. Credit notes are
customer invoices with ``IsCreditInvoice`` and a ``ReferringInvoiceId``.

Booking back: payments on invoices (``_visma_booking``), vouchers (``_visma_vouchers``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import requests
from pydantic import BaseModel, Field, SecretStr

from claimbridge.connectors.accounting._records import (
    invalid_record,
    normalize_record,
)
from claimbridge.connectors.accounting._since import read_since, since_cursor
from claimbridge.connectors.accounting._visma_auth import VISMA_OAUTH, visma_error_info
from claimbridge.connectors.accounting._visma_booking import book_payment
from claimbridge.connectors.accounting._visma_vouchers import book_voucher as post_voucher
from claimbridge.connectors.accounting._visma_vouchers import find_voucher
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
    ConfigProblem,
    ConnectorError,
    ParseError,
    RemoteError,
)
from claimbridge.mappings.converters import ConversionError, register_converter
from claimbridge.schemas import Claim, CreditNote, Party, Payment
from claimbridge.transport.http import HttpClient, HttpOptions
from claimbridge.transport.oauth import check_source, connect_app

__all__ = ["VismaSettings", "VismaSource", "make_cursor", "parse_cursor"]

DOCUMENTED_RATE_PER_S = 10.0  # "600 requests per minute", per client and endpoint
MAX_PAGE_SIZE = 1000
MAX_TEXT = 5000  # Visma's longest text field (a customer note) holds 4000 characters
MAX_DEPTH = 12
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

CUSTOMERS = StreamSpec("customers", "Id", "ChangedUtc")
INVOICES = StreamSpec("invoices", "Id", "ModifiedUtc")
CREDIT_NOTES = StreamSpec("credit_notes", "Id", "ModifiedUtc")
_STREAMS = (CUSTOMERS, INVOICES, CREDIT_NOTES)
_MODELS: dict[str, tuple[str, type[BaseModel]]] = {
    "customers": ("visma_customer", Party),
    "invoices": ("visma_invoice", Claim),
    "credit_notes": ("visma_credit_note", CreditNote),
}


def _visma_date(value: Any) -> dt.date:
    """Visma sends dates as ``2026-03-31`` or as midnight timestamps ``2026-03-31T00:00:00``."""
    text = value.strip() if isinstance(value, str) else ""
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        if 19 <= len(text) <= 33 and text[10] == "T":
            return dt.datetime.fromisoformat(text).date()
    except ValueError:
        pass
    raise ConversionError("is not a valid Visma date")


def _magnitude(value: Any) -> Decimal:
    """A credit invoice's amounts are negative; the canonical credit note wants its size."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float | str):
        raise ConversionError("is not an amount")
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        raise ConversionError("is not an amount") from None
    if not amount.is_finite():
        raise ConversionError("amount must be a finite number")
    return abs(amount)


register_converter("visma_date", _visma_date)
register_converter("visma_magnitude", _magnitude)


def _http_defaults() -> HttpOptions:
    return HttpOptions(rate_limit_per_s=DOCUMENTED_RATE_PER_S)


class VismaSettings(ConnectorSettings):
    """One Visma eAccounting company, reached through an OAuth2 app its user authorized."""

    client_id: str = Field(min_length=1, description="the OAuth2 app's client id")
    client_secret: SecretStr = Field(description="the OAuth2 app's client secret")
    refresh_token: SecretStr = Field(
        description="first refresh token; rotated ones are kept in the credential store"
    )
    company: str = Field(
        default="", max_length=100, description="a label for the company in source references"
    )
    base_url: str = Field(default="https://eaccountingapi.vismaonline.com", description="API root")
    token_url: str = Field(
        default="https://identity.vismaonline.com/connect/token", description="token endpoint"
    )
    bank_account_id: str | None = Field(
        default=None,
        pattern=UUID.pattern,
        description="id of the company bank account payments are booked to (/v2/bankaccounts)",
    )
    default_currency: str = Field(default="SEK", pattern=r"^[A-Z]{3}$")
    default_country: str = Field(default="SE", pattern=r"^[A-Z]{2}$")
    page_size: int = Field(default=500, ge=1, le=MAX_PAGE_SIZE)
    lookback_seconds: int = Field(
        default=300, ge=0, le=86_400, description="changes read again on every run"
    )
    booking_search_days: int = Field(
        default=90, ge=1, le=3660, description="days back find_booking looks for vouchers"
    )
    http: HttpOptions = Field(default_factory=_http_defaults)


class VismaSource(Source):
    """Reads one Visma eAccounting company and books payments on its invoices."""

    type_name: ClassVar[str] = "visma"
    Settings: ClassVar[type[ConnectorSettings]] = VismaSettings
    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities(
        incremental=True,
        fetch_by_id=True,
        can_book_payments=True,
        can_book_vouchers=True,
        # Visma cannot list an invoice's payments: a partial payment registered again is
        # booked again, so an interrupted one goes to a person (reconcile/booking.py)
        idempotent_payments=False,
    )
    config_example: ClassVar[str] = """\
# An OAuth2 app from the Visma Developer Portal, authorized once by a user of the company
# with the scopes ea:api offline_access ea:sales (ea:sales_readonly if you will not book),
# and ea:accounting to book interest, fees and commission as vouchers.
client_id = "${CLAIMBRIDGE_VISMA_CLIENT_ID}"
client_secret = "${CLAIMBRIDGE_VISMA_CLIENT_SECRET}"
# The refresh token from that authorization. Visma spends it on every refresh: claimbridge
# keeps each new one in its credential store, and that one wins over this value.
refresh_token = "${CLAIMBRIDGE_VISMA_REFRESH_TOKEN}"
# A label for the company in source references (e.g. its organization number).
# company = "556677-8899"
# Bank account (id from GET /v2/bankaccounts) that booked-back payments go to (reconcile).
# bank_account_id = "00000000-0000-0000-0000-000000000000"
# Seconds of changes read again on every run.
# lookback_seconds = 300
# Visma allows 600 requests a minute per endpoint; claimbridge paces each endpoint.
# [sources.ledger.http]
# rate_limit_per_s = 10
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
        if not isinstance(settings, VismaSettings):
            raise ConfigError("visma: settings must be VismaSettings")
        self.config = settings
        self._name = context.name or self.type_name
        self._sleep = sleep
        self._clock = clock
        self._api, self.tokens = connect_app(
            VISMA_OAUTH, settings, context, self.type_name, sleep=sleep, clock=clock
        )
        self._clients: dict[str, HttpClient] = {}

    # --- plumbing ----------------------------------------------------------------------------

    def _client(self, path: str) -> HttpClient:
        """One client per endpoint: Visma counts its limit per endpoint, so we pace each."""
        resource = path.strip("/").split("/")[1] if path.count("/") >= 2 else path
        client = self._clients.get(resource)
        if client is None:
            client = HttpClient(
                self._api,
                auth=self.tokens,
                error_parser=visma_error_info,
                sleep=self._sleep,
                clock=self._clock,
                name=self._name,
            )
            self._clients[resource] = client
        return client

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request; an access token Visma refuses (401) is refreshed and tried once more."""
        client = self._client(path)
        return self.tokens.send(lambda: client.request(method, path, **kwargs))

    def json_of(self, response: requests.Response, where: str) -> Any:
        """The body, with numbers as ``Decimal``: money never passes through a float."""
        try:
            return json.loads(response.content, parse_float=Decimal)
        except (ValueError, RecursionError):
            raise ParseError("Visma answered with a body that is not JSON", file=where) from None

    def get_optional(self, path: str) -> Any | None:
        try:
            return self.json_of(self.call("GET", path), path)
        except RemoteError as exc:
            if exc.status == 404:
                return None
            raise

    def pages(
        self, path: str, params: Mapping[str, str]
    ) -> Iterator[tuple[int, list[Any], Mapping[str, Any]]]:
        """Every page of a list, following ``Meta.TotalNumberOfPages``."""
        page = 1
        while True:
            query = {**params, "$page": str(page), "$pagesize": str(self.config.page_size)}
            body = self.json_of(self.call("GET", path, params=query), path)
            meta = body.get("Meta") if isinstance(body, dict) else None
            data = body.get("Data") if isinstance(body, dict) else None
            if not isinstance(meta, dict) or not isinstance(data, list):
                raise ParseError("expected an object with Meta and Data", file=path, field="body")
            yield page, data, meta
            total = meta.get("TotalNumberOfPages")
            if not isinstance(total, int) or isinstance(total, bool) or total < 0:
                raise ParseError("Meta.TotalNumberOfPages is not a whole number", file=path)
            if page >= total or not data:
                return
            page += 1

    # --- streams ----------------------------------------------------------------------------

    def streams(self) -> Sequence[StreamSpec]:
        return _STREAMS

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        since = parse_cursor(cursor)
        path, params = self._list_query(stream.name, since)
        numbers: dict[str, str | None] = {}
        new_cursor: str | None = None
        pending: Page | None = None
        for number, items, meta in self.pages(path, params):
            if new_cursor is None:
                new_cursor = make_cursor(self._server_time(meta) - self._lookback)
            if pending is not None:
                yield pending
            pending = Page(list(self._records(stream.name, number, items, numbers)), None)
        yield Page(pending.records if pending else (), new_cursor)

    @property
    def _lookback(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.config.lookback_seconds)

    def _server_time(self, meta: Mapping[str, Any]) -> dt.datetime:
        """Visma's clock from ``Meta.ServerTimeUtc``; ours only when it sends none."""
        value = meta.get("ServerTimeUtc")
        if isinstance(value, str):
            try:
                stamp = dt.datetime.fromisoformat(value.strip())
            except ValueError:
                raise ParseError("Meta.ServerTimeUtc is not a timestamp", field="Meta") from None
            return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp
        return dt.datetime.now(dt.UTC)

    def _list_query(self, stream: str, since: dt.datetime | None) -> tuple[str, dict[str, str]]:
        """A first read takes what is open; later reads take what changed since the cursor."""
        if stream == "customers":
            if since is None:
                return "/v2/customers", {}
            return "/v2/customers", {"$filter": f"ChangedUtc ge {_odata_time(since)}"}
        if stream in ("invoices", "credit_notes"):
            credit = "true" if stream == "credit_notes" else "false"
            kind = f"IsCreditInvoice eq {credit}"
            if since is None:
                open_items = "RemainingAmount ne 0" if credit == "true" else "RemainingAmount gt 0"
                return "/v2/customerinvoices", {"$filter": f"{kind} and {open_items}"}
            return "/v2/customerinvoices", {
                "modifiedSinceUtc": _odata_time(since),
                "$filter": kind,
            }
        raise ConnectorError(f"unknown stream {stream!r}", connector=self._name)

    def _records(
        self, stream: str, page: int, items: list[Any], numbers: dict[str, str | None]
    ) -> Iterator[RawRecord]:
        for index, item in enumerate(items):
            location = f"visma:{stream}:page{page}[{index}]"
            if not isinstance(item, dict):
                yield invalid_record(item, location)
            elif stream == "credit_notes":
                yield RawRecord(self._with_credited_number(item, numbers), location)
            else:
                yield RawRecord(item, location)

    def _with_credited_number(
        self, note: dict[str, Any], numbers: dict[str, str | None]
    ) -> dict[str, Any]:
        """Visma names the credited invoice by id; the canonical model wants its number."""
        invoice_id = note.get("ReferringInvoiceId")
        if not isinstance(invoice_id, str) or not UUID.fullmatch(invoice_id):
            return note
        if invoice_id not in numbers:
            invoice = self.get_optional(f"/v2/customerinvoices/{invoice_id}")
            number = invoice.get("InvoiceNumber") if isinstance(invoice, dict) else None
            ok = isinstance(number, int | str) and not isinstance(number, bool)
            numbers[invoice_id] = str(number) if ok else None
        return {**note, "ReferringInvoiceNumber": numbers[invoice_id]}

    def fetch(self, stream: StreamSpec, ids: Sequence[str]) -> Iterator[RawRecord]:
        if stream.name not in _MODELS:
            raise ConnectorError(
                f"fetching {stream.name} by id is not supported", connector=self._name
            )
        kind = "customers" if stream.name == "customers" else "customerinvoices"
        for record_id in ids:
            if not UUID.fullmatch(record_id):
                continue  # Visma's ids are UUIDs; anything else cannot be there
            item = self.get_optional(f"/v2/{kind}/{record_id}")
            if not isinstance(item, dict):
                continue
            if stream.name != "customers" and bool(item.get("IsCreditInvoice")) != (
                stream.name == "credit_notes"
            ):
                continue
            if stream.name == "credit_notes":
                item = self._with_credited_number(item, {})
            yield RawRecord(item, f"visma:{stream.name}:{record_id}")

    def normalize(self, stream: StreamSpec, record: RawRecord) -> Sequence[Canonical]:
        variables = {
            "company": self.config.company,
            "default_currency": self.config.default_currency,
            "default_country": self.config.default_country,
        }
        model = normalize_record(
            stream,
            record,
            models=_MODELS,
            variables=variables,
            max_text=MAX_TEXT,
            max_depth=MAX_DEPTH,
            connector=self._name,
        )
        return [model]  # type: ignore[list-item]

    # --- booking ----------------------------------------------------------------------------

    def register_payment(self, payment: Payment, claim: Claim) -> str:
        """Book ``payment`` on the claim's invoice (see :func:`book_payment`)."""
        account = self.config.bank_account_id
        if account is None:
            raise ConfigError(
                "visma: bank_account_id is needed to book payments",
                [ConfigProblem("bank_account_id", "set the id of a bank account")],
            )
        return book_payment(self, payment, claim, account)

    def book_voucher(self, voucher: Voucher) -> str:
        """Post a voucher whose ``VoucherText`` carries our reference (``_visma_vouchers``)."""
        return post_voucher(self, voucher)

    def find_booking(self, external_ref: str) -> str | None:
        """The voucher booked under ``external_ref`` and dated in the last
        ``booking_search_days`` days. Visma cannot list an invoice's payments, so a payment id
        finds nothing."""
        return find_voucher(self, external_ref)

    # --- check ------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        return check_source(
            self._name,
            CheckItem(CheckKind.CONFIG, True, f"API at {self.config.base_url}"),
            self.tokens,
            lambda: self.call("GET", "/v2/companysettings"),
            reachable="company settings readable",
            not_found="no Visma API at base_url (HTTP 404)",
        )

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self.tokens.close()


# --- helpers ----------------------------------------------------------------------------------


def make_cursor(since: dt.datetime) -> str:
    return since_cursor(since.astimezone(dt.UTC).replace(microsecond=0).isoformat())


def parse_cursor(cursor: str | None) -> dt.datetime | None:
    """The moment a cursor says to read changes from; None for a first, full read."""
    return read_since(cursor, _aware, "Visma")


def _aware(stamp: str) -> dt.datetime:
    since = dt.datetime.fromisoformat(stamp)
    if since.tzinfo is None:
        raise ValueError("a cursor's moment has its offset")
    return since


def _odata_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
