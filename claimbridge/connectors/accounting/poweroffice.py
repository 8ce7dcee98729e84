"""PowerOffice Go (API v2) as a source: customers, open invoices, payments and credit notes.

Go lists are paged with ``PageNumber``/``PageSize`` (the spec's ``ResourceParameters``); a page
shorter than the page size, or a 204, is the last. Incremental sync uses Go's own "changed
after" filters — ``lastChangedDateTimeOffsetGreaterThan`` on customers,
``balanceLastChangedDateTimeOffsetGreaterThan`` on invoices (a payment changes the balance),
``createdDateTimeOffsetGreaterThan`` on ledger entries — so a sync with nothing changed costs
one request per stream plus two for changed contact persons and delivery addresses.

Payments are booked back as a bank voucher whose customer line names the invoice number and
KID, so Go matches it against the invoice, and vouchers as manual journals; both carry our
reference in ``ExternalImportReference`` (unique per Go client), and the ledger is searched for
it before anything is posted (``_poweroffice_booking``).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from claimbridge.connectors.accounting._poweroffice_auth import TokenSource, poweroffice_error_info
from claimbridge.connectors.accounting._poweroffice_booking import (
    book_manual_voucher,
    book_payment,
    find_booked,
)
from claimbridge.connectors.accounting._poweroffice_cursor import Watermark, parse_timestamp
from claimbridge.connectors.accounting._poweroffice_json import json_list, json_object
from claimbridge.connectors.base import (
    Canonical,
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
from claimbridge.errors import (
    AuthError,
    ClaimbridgeError,
    NotFoundError,
    ParseError,
    RecordError,
    RemoteError,
)
from claimbridge.mappings import ConversionError, load_mapping, register_converter, to_model
from claimbridge.schemas import Claim, CreditNote, Party, Payment
from claimbridge.transport.http import HttpOptions, HttpSettings, check_base_url
from claimbridge.transport.tokens import TokenClients, token_endpoint_settings

__all__ = ["PowerOfficeSettings", "PowerOfficeSource"]

log = logging.getLogger("claimbridge.poweroffice")

CUSTOMERS = StreamSpec("customers", "Id", "LastChangedDateTimeOffset")
INVOICES = StreamSpec("invoices", "Id", "BalanceLastChangedDateTimeOffset")
PAYMENTS = StreamSpec("payments", "Id", "CreatedDateTimeOffset")
CREDIT_NOTES = StreamSpec("credit_notes", "Id", "CreatedDateTimeOffset")
STREAMS = (CUSTOMERS, INVOICES, PAYMENTS, CREDIT_NOTES)

_MAPPINGS: dict[str, tuple[str, type[Canonical]]] = {
    "customers": ("poweroffice_customer", Party),
    "invoices": ("poweroffice_invoice", Claim),
    "payments": ("poweroffice_payment", Payment),
    "credit_notes": ("poweroffice_credit_note", CreditNote),
}
_ID_BATCH = 100  # ids per "…Ids=" filter: keeps URLs short
_MAX_ID_LENGTH = 64
_CENT = Decimal("0.01")
_CREDIT_NOTE = "OutgoingCreditNote"
_NO_CLIENT = (
    "Go issued a token that opens no Go client: the client key belongs to no client the "
    "integration is added to (removed, or a key of the other environment: demo/production)"
)


def _negate(value: Any) -> Decimal:
    if isinstance(value, Decimal) and value.is_finite():
        return -value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(-value)
    raise ConversionError("expected an amount")


register_converter("po_negate", _negate)


class PowerOfficeSettings(ConnectorSettings):
    """One Go client (company) reached with the integration's keys."""

    application_key: SecretStr = Field(description="the integration's application key")
    client_key: SecretStr = Field(description="the key the Go client gave when adding it")
    subscription_key: SecretStr = Field(description="product subscription key (dev portal)")
    base_url: str = "https://goapi.poweroffice.net/v2"
    token_url: str = "https://goapi.poweroffice.net/OAuth/Token"  # noqa: S105 - a URL
    company: str = Field(
        default="",
        description="the Go client's id or name: kept in SourceRefs, and check() fails when "
        "the client key opens another client",
    )
    default_currency: str = Field(default="NOK", pattern=r"^[A-Z]{3}$")
    page_size: int = Field(default=5000, ge=1, le=20_000)
    lookback_s: int = Field(default=300, ge=0, le=86_400)
    history_days: int = Field(default=1200, ge=1, description="ledger days read on a first sync")
    payment_voucher_types: tuple[str, ...] = (
        "IncomingOcrGiro",
        "IncomingPayments",
        "IncomingBankRemittance",
        "BankJournal",
        "CashJournal",
    )
    bank_account_id: int | None = Field(
        default=None, description="general ledger account id of the bank, for booking back"
    )
    booking_search_days: int = Field(
        default=90, ge=1, le=3660, description="days back find_booking looks for vouchers"
    )
    http: HttpOptions = HttpOptions(rate_limit_per_s=10)

    @field_validator("base_url", "token_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return check_base_url(value)


class PowerOfficeSource(Source):
    """PowerOffice Go v2: Customers, OutgoingInvoices and the customer ledger."""

    type_name: ClassVar[str] = "poweroffice"
    Settings: ClassVar[type[ConnectorSettings]] = PowerOfficeSettings
    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities(
        incremental=True,
        fetch_by_id=True,
        can_book_payments=True,
        can_book_vouchers=True,
        idempotent_payments=True,  # found by our reference (ExternalImportReference)
    )
    config_example: ClassVar[str] = """\
# PowerOffice Go API v2. Keys: the application key of your integration, the client key the
# Go client shows when the integration is added (Settings > Extensions), and the product
# subscription key from developer.poweroffice.net. See docs/connectors/poweroffice.md.
application_key = "${CLAIMBRIDGE_POWEROFFICE_APPLICATION_KEY}"
client_key = "${CLAIMBRIDGE_POWEROFFICE_CLIENT_KEY}"
subscription_key = "${CLAIMBRIDGE_POWEROFFICE_SUBSCRIPTION_KEY}"
# The demo environment: https://goapi.poweroffice.net/Demo/v2 and …/Demo/OAuth/Token
# base_url = "https://goapi.poweroffice.net/v2"
# token_url = "https://goapi.poweroffice.net/OAuth/Token"
# company = "Demo AS"             # the Go client's id or name; check() verifies the key opens it
# default_currency = "NOK"
# page_size = 5000                 # PageSize per request; Go allows up to 20000
# lookback_s = 300                 # incremental syncs re-read this many seconds back
# history_days = 1200              # how far back a first sync reads payments and credit notes
# bank_account_id = 12345          # GL account id of the bank account; needed to book payments
# booking_search_days = 90         # how far back find_booking looks for booked vouchers
# [sources.ledger.http]
# rate_limit_per_s = 10            # client-side pace; Go answers 429 with Retry-After beyond it
"""

    def __init__(
        self,
        settings: ConnectorSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, PowerOfficeSettings)
        self.options = settings
        token_timing = {"clock": wall_clock} if wall_clock is not None else {}
        self._clients = TokenClients.connect(
            HttpSettings.from_options(settings.base_url, settings.http),
            token_endpoint_settings(settings.token_url, settings.http),
            lambda endpoint: TokenSource(
                endpoint,
                application_key=settings.application_key,
                client_key=settings.client_key,
                subscription_key=settings.subscription_key,
                store=context.credentials,
                key=f"poweroffice:{context.name}:access_token",
                name=self.type_name,
                **token_timing,
            ),
            auth=TokenSource.api_auth,
            error_parser=poweroffice_error_info,
            sleep=sleep or time.sleep,
            clock=clock or time.monotonic,
            name=self.type_name,
        )
        self.tokens = self._clients.tokens
        self.client = self._clients.api
        self._variables = {
            "company": settings.company,
            "default_currency": settings.default_currency,
        }
        self._lookback = dt.timedelta(seconds=settings.lookback_s)

    def close(self) -> None:
        self._clients.close()

    def streams(self) -> Sequence[StreamSpec]:
        return STREAMS

    # --- check ----------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Token (auth), then which Go client the token opens (config: the right client key,
        ``company``, ``bank_account_id``). Never raises: every failure is a typed item."""
        name = self.context.name
        try:
            self.tokens.token()
        except AuthError as exc:
            return _result(name, CheckItem(CheckKind.AUTH, False, str(exc)))
        except ClaimbridgeError as exc:
            return _result(name, CheckItem(CheckKind.REACHABILITY, False, str(exc)))
        items = [CheckItem(CheckKind.AUTH, True, "access token obtained")]
        path = "/ClientIntegrationInformation"
        try:
            info = json_object(self.client.get(path), path) or {}
        except AuthError as exc:
            if exc.status == 401:  # refused even with a token fresh from Go: it opens nothing
                items.append(CheckItem(CheckKind.CONFIG, False, _NO_CLIENT))
            else:
                items.append(CheckItem(CheckKind.PERMISSION, False, str(exc)))
            return _result(name, *items)
        except ParseError:
            message = "base_url answered, but not like the PowerOffice Go v2 API"
            items.append(CheckItem(CheckKind.CONFIG, False, message))
            return _result(name, *items)
        except ClaimbridgeError as exc:
            items.append(CheckItem(CheckKind.REACHABILITY, False, str(exc)))
            return _result(name, *items)
        items.append(CheckItem(CheckKind.REACHABILITY, True, "PowerOffice Go API answered"))
        items.append(self._check_client(info))
        if self.options.bank_account_id is not None:
            items.append(self._check_bank_account(self.options.bank_account_id))
        return _result(name, *items)

    def _check_client(self, info: Mapping[str, Any]) -> CheckItem:
        """The token names a Go client, and the one ``company`` names when it is set."""
        client_id, client_name = info.get("ClientId"), info.get("ClientName")
        if not isinstance(client_id, str) or not client_id.strip():
            return CheckItem(CheckKind.CONFIG, False, _NO_CLIENT)
        wanted = self.options.company.strip().casefold()
        known = {v.strip().casefold() for v in (client_id, client_name) if isinstance(v, str)}
        if wanted and wanted not in known:
            return CheckItem(
                CheckKind.CONFIG,
                False,
                f"the client key opens Go client {client_id[:_MAX_ID_LENGTH]}, which is not "
                "the configured company (its client id or name); is it another client's key?",
            )
        opened = f"client key opens Go client {client_id[:_MAX_ID_LENGTH]}"
        return CheckItem(CheckKind.CONFIG, True, opened)

    def _check_bank_account(self, account_id: int) -> CheckItem:
        """``bank_account_id`` names an active general ledger account of this client."""
        what = f"bank_account_id {account_id}"
        try:
            response = self.client.get(f"/GeneralLedgerAccounts/{account_id}")
            account = json_object(response, "/GeneralLedgerAccounts/{id}")
        except RemoteError as exc:
            if exc.status == 404:
                message = f"{what} is no general ledger account of this Go client"
                return CheckItem(CheckKind.CONFIG, False, message)
            return CheckItem(CheckKind.REACHABILITY, False, str(exc))
        except AuthError as exc:
            return CheckItem(CheckKind.PERMISSION, False, f"{what}: {exc}")
        except ClaimbridgeError as exc:
            return CheckItem(CheckKind.REACHABILITY, False, f"{what}: {exc}")
        if account is None:
            message = f"{what} is no general ledger account of this Go client"
            return CheckItem(CheckKind.CONFIG, False, message)
        if account.get("IsActive") is False:
            return CheckItem(CheckKind.CONFIG, False, f"{what} is an inactive account")
        return CheckItem(CheckKind.CONFIG, True, f"{what} is a general ledger account")

    # --- read -----------------------------------------------------------------------------

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        """Pages of records changed since ``cursor``; only the last page carries the new cursor
        (Go pages by number, not by time, so earlier pages are no safe resume point)."""
        watermark = Watermark.load(cursor)
        since = watermark.query_from(self._lookback)
        changes: dict[str, dt.datetime] = {}
        pending: list[RawRecord] | None = None
        for records in self._changed(stream, since, watermark):
            fresh = []
            for record in records:
                key = _record_key(record.data, stream)
                stamp = _change_time(record.data, stream)
                if watermark.is_repeat(key, stamp):
                    continue
                if stamp is not None:
                    changes[key] = stamp
                fresh.append(record)
            if not fresh:
                continue
            if pending is not None:
                yield Page(records=pending, cursor=None)
            pending = fresh
        final = watermark.advance(changes, self._lookback).dump()
        yield Page(records=pending or [], cursor=final)

    def _changed(
        self, stream: StreamSpec, since: dt.datetime | None, watermark: Watermark
    ) -> Iterator[list[RawRecord]]:
        if stream.name == "customers":
            yield from self._customers(since)
        elif stream.name == "invoices":
            params: dict[str, str | int] = (
                {"onlyUnpaidInvoices": "true"}
                if since is None
                else {"balanceLastChangedDateTimeOffsetGreaterThan": _iso(since)}
            )
            for page in self.pages("/OutgoingInvoices", params, stream):
                yield [r for r in page if r.data.get("VoucherType") != _CREDIT_NOTE]
        else:
            params = self._ledger_params(stream)
            if since is not None:
                params["createdDateTimeOffsetGreaterThan"] = _iso(since)
            yield from self.pages("/Customerledger/Statement", params, stream)

    def _ledger_params(self, stream: StreamSpec) -> dict[str, str | int]:
        """The customer-ledger query of ``stream``: its voucher types, the history window."""
        types = (
            ",".join(self.options.payment_voucher_types)
            if stream.name == "payments"
            else _CREDIT_NOTE
        )
        today = self.context.today
        return {
            "fromDate": (today - dt.timedelta(days=self.options.history_days)).isoformat(),
            "toDate": today.isoformat(),
            "voucherTypes": types,
        }

    def _customers(self, since: dt.datetime | None) -> Iterator[list[RawRecord]]:
        params: dict[str, str | int] = {}
        if since is not None:
            params["lastChangedDateTimeOffsetGreaterThan"] = _iso(since)
        seen: set[str] = set()
        for page in self.pages("/Customers", params, CUSTOMERS):
            seen.update(_record_key(r.data, CUSTOMERS) for r in page)
            yield self._with_contacts(page)
        if since is None:
            return
        # Go's customer timestamp ignores contact persons and addresses: ask for those apart.
        touched: set[str] = set()
        for path in ("/ContactPersons", "/ContactDeliveryAddresses"):
            filters = {"lastChangedDateTimeOffsetGreaterThan": _iso(since)}
            for page in self.pages(path, filters, CUSTOMERS):
                touched.update(str(r.data.get("ContactId")) for r in page)
        extra = sorted(touched - seen - {"None"})
        if extra:
            yield list(self.fetch(CUSTOMERS, extra))

    def _with_contacts(self, records: list[RawRecord]) -> list[RawRecord]:
        """Attach each customer's default contact person and primary delivery address."""
        ids = [str(r.data["Id"]) for r in records if _plain_id(r.data.get("Id"))]
        persons: dict[str, dict[str, Any]] = {}
        addresses: dict[str, dict[str, Any]] = {}
        for batch in _batches(ids, _ID_BATCH):
            contact_ids = {"contactIds": ",".join(batch)}
            for page in self.pages("/ContactPersons", contact_ids, CUSTOMERS):
                for row in (p.data for p in page):
                    owner = str(row.get("ContactId"))
                    if row.get("IsActive") is not False and (
                        owner not in persons or row.get("IsDefault") is True
                    ):
                        persons[owner] = dict(row)
            for page in self.pages("/ContactDeliveryAddresses", contact_ids, CUSTOMERS):
                for row in (p.data for p in page):
                    owner = str(row.get("ContactId"))
                    if owner not in addresses or row.get("IsPrimary") is True:
                        addresses[owner] = dict(row)
        enriched = []
        for record in records:
            data = dict(record.data)
            key = str(data.get("Id"))
            if key in persons:
                data["_ContactPerson"] = persons[key]
            if key in addresses:
                data["_DeliveryAddress"] = addresses[key]
            enriched.append(RawRecord(data=data, location=record.location))
        return enriched

    def pages(
        self, path: str, params: Mapping[str, str | int], stream: StreamSpec
    ) -> Iterator[list[RawRecord]]:
        """Every page of a Go list, one request each, until a short or empty page."""
        size = self.options.page_size
        number = 1
        while True:
            query = {**params, "PageNumber": number, "PageSize": size}
            response = self.client.get(path, params=query)
            rows = json_list(response, path)
            yield [
                RawRecord(data=row, location=f"poweroffice:{path}?page={number}#{index}")
                for index, row in enumerate(rows, start=1)
            ]
            if len(rows) < size:
                return
            number += 1

    # --- fetch ----------------------------------------------------------------------------

    def fetch(self, stream: StreamSpec, ids: Sequence[str]) -> Iterator[RawRecord]:
        """The records with ``ids`` (unknown ones skipped), as a full read yields them.

        Customers are read one by one (``/Customers/{id}``), invoices in batches
        (``invoiceIds``). Go has no by-id lookup for customer-ledger entries, so payments and
        credit notes are found by reading the stream's statement window until every id has
        turned up: one full read of the stream at worst.
        """
        wanted = [i for i in dict.fromkeys(str(i) for i in ids) if _plain_id(i, uuid=True)]
        if stream.name == "customers":
            yield from self._with_contacts(list(self._customers_by_id(wanted)))
        elif stream.name == "invoices":
            for batch in _batches(wanted, _ID_BATCH):
                query = {"invoiceIds": ",".join(batch)}
                for page in self.pages("/OutgoingInvoices", query, stream):
                    yield from (r for r in page if r.data.get("VoucherType") != _CREDIT_NOTE)
        elif stream.name in ("payments", "credit_notes"):
            missing = {i for i in wanted if i.isdigit()}
            params = self._ledger_params(stream)
            for page in self.pages("/Customerledger/Statement", params, stream):
                for record in page:
                    key = _record_key(record.data, stream)
                    if key in missing:
                        missing.discard(key)
                        yield record
                if not missing:
                    return
        else:
            raise NotSupportedError(f"PowerOffice Go has no stream {stream.name!r}")

    def _customers_by_id(self, wanted: Sequence[str]) -> Iterator[RawRecord]:
        for key in (i for i in wanted if i.isdigit()):
            try:
                response = self.client.get(f"/Customers/{key}")
            except RemoteError as exc:
                if exc.status == 404:
                    continue
                raise
            data = json_object(response, "/Customers/{id}")
            if data is not None:
                yield RawRecord(data=data, location=f"poweroffice:/Customers/{key}")

    # --- normalize ------------------------------------------------------------------------

    def normalize(self, stream: StreamSpec, record: RawRecord) -> Sequence[Canonical]:
        data = record.data
        record_id = _record_key(data, stream)
        if not isinstance(data, Mapping):
            raise RecordError(["record is not an object"], location=record.location)
        name, model = _MAPPINGS[stream.name]
        prepared = dict(data)
        if stream.name == "customers":
            if str(prepared.get("NationalIdNumber", "")).strip().lower() == "hidden":
                prepared.pop("NationalIdNumber")  # Go masks it without the privilege
        elif stream.name == "invoices":
            prepared["_Remaining"] = _remaining(prepared)
        result: Canonical = to_model(
            load_mapping(name),
            prepared,
            model,
            self._variables,
            location=record.location,
            record_id=record_id,
        )
        return (result,)

    # --- book back (see _poweroffice_booking) ----------------------------------------------

    def register_payment(self, payment: Payment, claim: Claim) -> str:
        """Post a bank voucher paying ``claim``; the id of an earlier one for the same payment
        if the ledger already has it (so a retry after a lost answer books nothing twice)."""
        return book_payment(self, payment, claim)

    def book_voucher(self, voucher: Voucher) -> str:
        """Post a manual journal carrying our reference in ``ExternalImportReference``."""
        return book_manual_voucher(self, voucher)

    def find_booking(self, external_ref: str) -> str | None:
        """The voucher, payment or manual journal, booked under ``external_ref`` (a payment id
        or a voucher's reference) and dated in the last ``booking_search_days`` days."""
        return find_booked(self, external_ref)

    def customer_for(self, claim: Claim) -> Mapping[str, Any]:
        """The customer record of ``claim``'s debtor, with its sub-ledger account."""
        record = next(iter(self.fetch(CUSTOMERS, [claim.debtor_id])), None)
        if record is None:
            raise NotFoundError(f"customer {claim.debtor_id} of the invoice is not in the ledger")
        data = record.data
        if not isinstance(data.get("SubledgerAccountId"), int):
            raise ParseError("the customer has no sub-ledger account", field="SubledgerAccountId")
        return data


# --- helpers ------------------------------------------------------------------------------


def _result(name: str, *items: CheckItem) -> CheckResult:
    return CheckResult(connector=name, items=items)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _plain_id(value: object, *, uuid: bool = False) -> bool:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    allowed = set("0123456789abcdefABCDEF-") if uuid else set("0123456789")
    return 0 < len(text) <= _MAX_ID_LENGTH and set(text) <= allowed


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _record_key(data: Mapping[str, Any], stream: StreamSpec) -> str:
    value = data.get(stream.primary_key) if isinstance(data, Mapping) else None
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    return text[:_MAX_ID_LENGTH]


def _change_time(data: Mapping[str, Any], stream: StreamSpec) -> dt.datetime | None:
    if stream.name == "customers":  # the customer's own stamp ignores its sub-entities
        parts = [data, data.get("_ContactPerson"), data.get("_DeliveryAddress")]
        stamps = [
            parse_timestamp(p.get("LastChangedDateTimeOffset"))
            for p in parts
            if isinstance(p, Mapping)
        ]
        return max((s for s in stamps if s is not None), default=None)
    fields: Iterable[str] = (stream.cursor_field or "", "LastChangedDateTimeOffset")
    if stream.name == "invoices":
        fields = (*fields, "CreatedDateTimeOffset")
    for name in fields:
        stamp = parse_timestamp(data.get(name))
        if stamp is not None:
            return stamp
    return None


def _remaining(data: Mapping[str, Any]) -> Decimal | None:
    """What is left to pay in the invoice's currency: Go's Balance is in the client's."""
    balance, total = data.get("Balance"), data.get("TotalAmount")
    posted = data.get("TotalPostedAmount")
    if not isinstance(balance, Decimal | int) or isinstance(balance, bool):
        return None
    balance = Decimal(balance)
    if not isinstance(total, Decimal) or not isinstance(posted, Decimal) or not posted:
        return balance
    if total == posted:
        return balance
    return (total * balance / posted).quantize(_CENT, rounding=ROUND_HALF_EVEN)
