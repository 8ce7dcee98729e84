"""Fortnox (API v3): customers, open invoices, payments and credit invoices of one company.

Fortnox allows 25 requests per 5 seconds per access token (a sliding window), so everything
goes through one rate-limited :class:`HttpClient`, in sequence. Lists are paged with
``page``/``limit`` (at most 500) and the ``MetaInformation`` block (``@TotalPages``).

List rows are summaries: a customer row has no type, country, second phone, invoice e-mail,
delivery or visiting address; an invoice row has no reminder date, remarks, contract reference
or credit flag. So each stream lists what changed and then reads every listed record in full
(``GET /3/<resource>/<id>``); ``fetch`` reads the same full records by id. A run costs the list
pages plus one request per changed record; a run with nothing changed costs one request per
stream (plus the token refresh).

Incremental sync uses Fortnox's global ``lastmodified`` search (``YYYY-MM-DD HH:MM``, Swedish
local time). Records carry no modification stamp of their own, so the cursor is the time the
read started minus a look-back window (clock skew, daylight-saving changes); records changed
within the window are read again, which the pipeline tolerates. A first read takes unpaid
invoices and active customers, and payments and credit invoices of the last ``history_days``.

Booking back (invoice payments, vouchers in a voucher series): ``_fortnox_booking``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests
from pydantic import BaseModel, Field, SecretStr

from claimbridge.connectors.accounting._fortnox_auth import FORTNOX_OAUTH, fortnox_error_info
from claimbridge.connectors.accounting._fortnox_booking import book_payment, find_voucher
from claimbridge.connectors.accounting._fortnox_booking import book_voucher as post_voucher
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

__all__ = ["FortnoxSettings", "FortnoxSource", "make_cursor", "parse_cursor"]

MAX_PAGE_SIZE = 500  # Fortnox's documented maximum for ``limit``
DOCUMENTED_RATE_PER_S = 5.0  # "25 requests per 5 seconds" per access token
PACED_RATE_PER_S = 4.8  # a margin under the sliding window
MAX_TEXT = 5000  # Fortnox's own text fields are at most 1024 characters
MAX_DEPTH = 12
STOCKHOLM = ZoneInfo("Europe/Stockholm")
_STAMP = "%Y-%m-%d %H:%M"

_STREAMS = (
    StreamSpec("customers", "CustomerNumber", "lastmodified"),
    StreamSpec("invoices", "DocumentNumber", "lastmodified"),
    StreamSpec("payments", "Number", "lastmodified"),
    StreamSpec("credit_notes", "DocumentNumber", "lastmodified"),
)
_MODELS: dict[str, tuple[str, type[BaseModel]]] = {
    "customers": ("fortnox_customer", Party),
    "invoices": ("fortnox_invoice", Claim),
    "payments": ("fortnox_payment", Payment),
    "credit_notes": ("fortnox_credit_note", CreditNote),
}
# stream → (path, key of the list in a list answer, key of the record in a single answer)
_RESOURCES: dict[str, tuple[str, str, str]] = {
    "customers": ("/3/customers", "Customers", "Customer"),
    "invoices": ("/3/invoices", "Invoices", "Invoice"),
    "payments": ("/3/invoicepayments", "InvoicePayments", "InvoicePayment"),
    "credit_notes": ("/3/invoices", "Invoices", "Invoice"),
}


def _credit_amount(value: Any) -> Decimal:
    """A credit invoice's total (negative in Fortnox) → the positive amount it credits."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float | str):
        raise ConversionError("expected an amount")
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        raise ConversionError("not an amount") from None
    if not amount.is_finite():
        raise ConversionError("amount must be a finite number")
    return abs(amount)


register_converter("fortnox_credit_amount", _credit_amount)


def _http_defaults() -> HttpOptions:
    return HttpOptions(rate_limit_per_s=PACED_RATE_PER_S)


def _stockholm_now() -> dt.datetime:
    return dt.datetime.now(STOCKHOLM)


class FortnoxSettings(ConnectorSettings):
    """One Fortnox company, reached through an OAuth2 integration the company has authorized."""

    client_id: str = Field(min_length=1, description="the integration's client id")
    client_secret: SecretStr = Field(description="the integration's client secret")
    refresh_token: SecretStr = Field(
        description="first refresh token; rotated ones are kept in the credential store"
    )
    company: str = Field(
        default="fortnox",
        min_length=1,
        max_length=64,
        description="a name for the company in source references (e.g. its org number)",
    )
    base_url: str = Field(default="https://api.fortnox.se", description="API root")
    token_url: str = Field(
        default="https://apps.fortnox.se/oauth-v1/token", description="token endpoint"
    )
    default_currency: str = Field(default="SEK", pattern=r"^[A-Z]{3}$")
    default_country: str = Field(default="SE", pattern=r"^[A-Z]{2}$")
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    lookback_minutes: int = Field(
        default=90, ge=0, le=24 * 60, description="minutes of changes read again on each run"
    )
    history_days: int = Field(
        default=90, ge=0, le=3660, description="payments and credit invoices a first run reads"
    )
    mode_of_payment: str | None = Field(
        default=None, max_length=20, description="Fortnox payment method code for booked payments"
    )
    bookkeep_payments: bool = Field(
        default=True, description="book registered payments in the ledger (bookkeep)"
    )
    voucher_series: str = Field(
        default="A",
        pattern=r"^[A-ZÅÄÖ0-9]{1,10}$",
        description="voucher series vouchers are booked in (a series of its own is best)",
    )
    booking_search_days: int = Field(
        default=90, ge=1, le=3660, description="days back find_booking looks for vouchers"
    )
    http: HttpOptions = Field(default_factory=_http_defaults)


class FortnoxSource(Source):
    """Reads one Fortnox company and registers payments on its invoices."""

    type_name: ClassVar[str] = "fortnox"
    Settings: ClassVar[type[ConnectorSettings]] = FortnoxSettings
    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities(
        incremental=True,
        fetch_by_id=True,
        can_book_payments=True,
        can_book_vouchers=True,
        idempotent_payments=True,  # an earlier payment is recognized by invoice, date and amount
    )
    config_example: ClassVar[str] = """\
# A Fortnox integration (Developer portal -> your app). Scopes: customer, invoice, payment,
# companyinformation (and bookkeeping to book payments). The company authorizes it once.
client_id = "${CLAIMBRIDGE_FORTNOX_CLIENT_ID}"
client_secret = "${CLAIMBRIDGE_FORTNOX_CLIENT_SECRET}"
# The refresh token from that authorization. Fortnox replaces it on EVERY refresh: claimbridge
# keeps the new one in its credential store, and that one wins over this value from then on.
refresh_token = "${CLAIMBRIDGE_FORTNOX_REFRESH_TOKEN}"
# How the company is named in source references (its organisation number is a good choice).
company = "556677-8899"
# Payment method code used when payments are registered back (e.g. "BG"); optional.
# mode_of_payment = "BG"
# Voucher series for interest, fees and commission booked back (a series of its own is best).
# voucher_series = "A"
# Minutes of changes read again on every run, and days of payments a first run reads.
# lookback_minutes = 90
# history_days = 90
# Fortnox allows 25 requests per 5 seconds; claimbridge paces itself just under that.
# [sources.ledger.http]
# rate_limit_per_s = 4.8
"""

    def __init__(
        self,
        settings: ConnectorSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = _stockholm_now,
    ) -> None:
        super().__init__(settings, context)
        if not isinstance(settings, FortnoxSettings):
            raise ConfigError("fortnox: settings must be FortnoxSettings")
        self.config = settings
        name = context.name or self.type_name
        api, self.tokens = connect_app(
            FORTNOX_OAUTH, settings, context, self.type_name, sleep=sleep, clock=clock
        )
        self.client = HttpClient(
            api,
            auth=self.tokens,
            error_parser=fortnox_error_info,
            sleep=sleep,
            clock=clock,
            name=name,
        )
        self._now = now
        self.name = name

    # --- plumbing ----------------------------------------------------------------------------

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request; an access token Fortnox refuses (401) is refreshed and tried once more."""
        return self.tokens.send(lambda: self.client.request(method, path, **kwargs))

    def json_of(self, response: requests.Response, where: str) -> dict[str, Any]:
        try:
            body = response.json(parse_float=Decimal)  # amounts stay exact
        except (ValueError, RecursionError):
            raise ParseError("Fortnox answered with a body that is not JSON", file=where) from None
        if not isinstance(body, dict):
            raise ParseError("expected a JSON object", file=where, field="body")
        return body

    def _get_item(self, stream: str, record_id: str) -> dict[str, Any] | None:
        """One full record by id; None when Fortnox does not have it."""
        path, _, key = _RESOURCES[stream]
        where = f"{path}/{{id}}"
        try:
            response = self.call("GET", f"{path}/{quote(record_id, safe='')}")
        except RemoteError as exc:
            if exc.status == 404:
                return None
            raise
        item = self.json_of(response, where).get(key)
        return item if isinstance(item, dict) else None

    def _pages(self, stream: str, params: Mapping[str, str]) -> Iterator[tuple[int, list[Any]]]:
        path, key, _ = _RESOURCES[stream]
        return self.pages_of(path, key, params)

    def list_items(
        self, path: str, key: str, params: Mapping[str, str]
    ) -> Iterator[dict[str, Any]]:
        """Every record of a list, page after page (rows that are not objects skipped)."""
        for _page, items in self.pages_of(path, key, params):
            yield from (item for item in items if isinstance(item, dict))

    def pages_of(
        self, path: str, key: str, params: Mapping[str, str]
    ) -> Iterator[tuple[int, list[Any]]]:
        """Every page of a list, following MetaInformation's ``@TotalPages``."""
        page = 1
        while True:
            query = {**params, "page": page, "limit": self.config.page_size}
            body = self.json_of(self.call("GET", path, params=query), path)
            items = body.get(key, [])
            if not isinstance(items, list):
                raise ParseError("expected a list of records", file=path, field=key)
            yield page, items
            total = _total_pages(body.get("MetaInformation"), path)
            if total is None:
                if len(items) < self.config.page_size:
                    return
            elif page >= total:
                return
            page += 1

    # --- streams ----------------------------------------------------------------------------

    def streams(self) -> Sequence[StreamSpec]:
        return _STREAMS

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        if stream.name not in _RESOURCES:
            raise ConnectorError(f"unknown stream {stream.name!r}", connector=self.name)
        since = parse_cursor(cursor)
        started = self._now()
        if started.tzinfo is not None:  # naive times are Stockholm time already
            started = started.astimezone(STOCKHOLM).replace(tzinfo=None)
        new_cursor = make_cursor(started - dt.timedelta(minutes=self.config.lookback_minutes))
        params = self._list_query(stream.name, since, started)
        pending: Page | None = None
        for number, items in self._pages(stream.name, params):
            if pending is not None:
                yield pending
            pending = Page(list(self._records(stream.name, number, items)), None)
        yield Page(pending.records if pending else (), new_cursor)

    def _list_query(
        self, stream: str, since: dt.datetime | None, started: dt.datetime
    ) -> dict[str, str]:
        """A first read takes what is open; later reads take what changed since the cursor."""
        if since is None and stream == "customers":
            return {"filter": "active"}
        if since is None and stream == "invoices":
            return {"filter": "unpaid"}
        if since is None:
            since = started - dt.timedelta(days=self.config.history_days)
        params = {"lastmodified": since.strftime(_STAMP)}
        if stream == "credit_notes":
            params["credit"] = "true"
        return params

    def _records(self, stream: str, page: int, items: list[Any]) -> Iterator[RawRecord]:
        """The full record behind each list row of a page."""
        _, _key, _ = _RESOURCES[stream]
        primary = next(s.primary_key for s in _STREAMS if s.name == stream)
        for index, item in enumerate(items):
            location = f"fortnox:{stream}:page{page}[{index}]"
            record_id = item.get(primary) if isinstance(item, dict) else None
            if not isinstance(record_id, str | int) or isinstance(record_id, bool):
                yield invalid_record(item, location)
                continue
            if stream == "invoices" and _negative(item.get("Total")):
                continue  # a credit invoice: the credit_notes stream reads it
            full = self._get_item(stream, str(record_id))
            if full is not None and _belongs(stream, full):
                yield RawRecord(full, location)

    def fetch(self, stream: StreamSpec, ids: Sequence[str]) -> Iterator[RawRecord]:
        if stream.name not in _RESOURCES:
            raise ConnectorError(f"unknown stream {stream.name!r}", connector=self.name)
        for record_id in ids:
            if not record_id or len(record_id) > 64:
                continue
            full = self._get_item(stream.name, record_id)
            if full is not None and _belongs(stream.name, full):
                yield RawRecord(full, f"fortnox:{stream.name}:{record_id}")

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
            connector=self.type_name,
        )
        return [model]  # type: ignore[list-item]

    # --- booking back (see _fortnox_booking) -----------------------------------------------

    def register_payment(self, payment: Payment, claim: Claim) -> str:
        """Register ``payment`` on the claim's invoice and book it; returns its Fortnox number.
        An earlier payment on the invoice with the same date and amount is reused."""
        return book_payment(self, payment, claim)

    def book_voucher(self, voucher: Voucher) -> str:
        """Post a voucher in ``voucher_series`` whose description carries our reference."""
        return post_voucher(self, voucher)

    def find_booking(self, external_ref: str) -> str | None:
        """The voucher booked under ``external_ref`` (financial years of the last
        ``booking_search_days`` days). Payments carry no reference in Fortnox: not found."""
        return find_voucher(self, external_ref)

    # --- check ------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        return check_source(
            self.name,
            CheckItem(CheckKind.CONFIG, True, f"company {self.config.company}"),
            self.tokens,
            lambda: self.call("GET", "/3/companyinformation"),
            reachable="company reachable",
            not_found="base_url does not lead to the Fortnox API (HTTP 404)",
        )

    def close(self) -> None:
        self.client.close()
        self.tokens.close()


# --- helpers ----------------------------------------------------------------------------------


def make_cursor(since: dt.datetime) -> str:
    return since_cursor(since.strftime(_STAMP))


def parse_cursor(cursor: str | None) -> dt.datetime | None:
    """The Swedish local time a cursor says to read changes from; None for a first read."""
    return read_since(cursor, lambda stamp: dt.datetime.strptime(stamp, _STAMP), "Fortnox")


def _total_pages(meta: Any, where: str) -> int | None:
    if meta is None:
        return None
    total = meta.get("@TotalPages") if isinstance(meta, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise ParseError("MetaInformation has no page count", file=where, field="@TotalPages")
    return total


def _belongs(stream: str, record: Mapping[str, Any]) -> bool:
    """Credit invoices are invoices in Fortnox; each goes to exactly one of the two streams."""
    credit = str(record.get("Credit", "")).lower() == "true"
    if stream == "invoices":
        return not credit
    if stream == "credit_notes":
        return credit
    return True


def _negative(value: Any) -> bool:
    return isinstance(value, int | Decimal | float) and not isinstance(value, bool) and value < 0
