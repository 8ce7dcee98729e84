"""The Tripletex source: customers, invoices, payments and credit notes from API v2.

Incremental sync as the API allows it. ``/customer`` has ``changedSince``. ``/invoice`` has
no change filter, only an invoice-date window, so an invoice that changed because money moved
is found through the payment postings of the window (``/ledger/posting?type=INCOMING_PAYMENT``)
and credited invoices through the credit notes of the window; both are then fetched again.
Each window starts ``lookback_days`` before the previous sync, for postings booked late.
A sync with nothing changed costs one request per stream plus one for the postings.

Credit notes are invoices with ``isCreditNote``; reminders, their fees and the notice of debt
collection are the invoice's ``reminders``. The remaining principal is
``amountCurrencyOutstanding`` (without reminder fees), in the invoice's currency.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import requests
from pydantic import Field, SecretStr, field_validator

from claimbridge.connectors.accounting._tripletex_booking import (
    register_payment as book_payment,
)
from claimbridge.connectors.accounting._tripletex_http import (
    RateBudget,
    SessionAuth,
    StoredSession,
    load_session,
    parse_tripletex_error,
    save_session,
)
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
)
from claimbridge.errors import (
    AuthError,
    ClaimbridgeError,
    ConfigError,
    ConnectorError,
    ParseError,
    RecordError,
    UnreachableError,
)
from claimbridge.mappings import load_mapping, to_model
from claimbridge.schemas import Claim, CreditNote, Party, Payment
from claimbridge.transport.http import HttpClient, HttpOptions, HttpSettings, check_base_url

__all__ = ["TripletexSettings", "TripletexSource"]

CUSTOMERS = StreamSpec(name="customers", primary_key="id", cursor_field="changedSince")
INVOICES = StreamSpec(name="invoices", primary_key="invoiceNumber", cursor_field="invoiceDate")
PAYMENTS = StreamSpec(name="payments", primary_key="id", cursor_field="date")
CREDIT_NOTES = StreamSpec(name="credit_notes", primary_key="id", cursor_field="invoiceDate")

DEFAULT_RATE_PER_S = 5.0
DERIVED = "_claimbridge"  # derived values added to a raw record before mapping
PAYMENT_POSTING = "INCOMING_PAYMENT"
NOTICE_TYPES = frozenset({"NOTICE_OF_DEBT_COLLECTION"})
REMINDER_TYPES = frozenset({"SOFT_REMINDER", "REMINDER"})

_ADDRESS = "addressLine1,addressLine2,postalCode,city,country(isoAlpha2Code)"
CUSTOMER_FIELDS = (
    "id,version,customerNumber,name,organizationNumber,isPrivateIndividual,isInactive,email,"
    "invoiceEmail,overdueNoticeEmail,phoneNumber,phoneNumberMobile,language,"
    f"postalAddress({_ADDRESS}),physicalAddress({_ADDRESS}),deliveryAddress({_ADDRESS})"
)
INVOICE_FIELDS = (
    "id,version,invoiceNumber,invoiceDate,invoiceDueDate,kid,comment,invoiceComment,amount,"
    "amountCurrency,amountOutstanding,amountCurrencyOutstanding,isCreditNote,creditedInvoice,"
    "currency(code),customer(id),reminders(id,reminderDate,type,charge,chargeCurrency)"
)
POSTING_FIELDS = (
    "id,date,description,amount,amountCurrency,currency(code),invoiceNumber,externalRef,"
    "customer(id),type"
)
PAYMENT_POSTING_FIELDS = "id,invoiceNumber"
_MAX_ID_BATCH = 100


class TripletexSettings(ConnectorSettings):
    """One Tripletex company, reached with the integration's consumer token and the
    company's employee token."""

    consumer_token: SecretStr = Field(description="the integration's consumer token")
    employee_token: SecretStr = Field(description="the employee token the company created")
    base_url: str = Field(default="https://tripletex.no/v2", description="API root")
    company_id: int = Field(
        default=0, ge=0, description="0 for the token's own company; a client's id (accountant)"
    )
    company: str = Field(default="", description="company id recorded on every record")
    default_currency: str = Field(default="NOK", pattern=r"^[A-Z]{3}$")
    history_start: dt.date = Field(
        default=dt.date(2000, 1, 1), description="oldest invoice date a full sync reads"
    )
    lookback_days: int = Field(default=3, ge=0, le=90, description="overlap of sync windows")
    changed_lookback_minutes: int = Field(
        default=120, ge=0, le=1440, description="overlap of changedSince (covers the UTC offset)"
    )
    page_size: int = Field(default=1000, ge=1, le=10_000)
    session_days: int = Field(default=2, ge=2, le=30, description="validity of a session token")
    requests_per_second: float = Field(
        default=DEFAULT_RATE_PER_S, gt=0, description="client-side pace; headers pace as well"
    )
    payment_type_id: int | None = Field(
        default=None, ge=1, description="invoice payment type used to book payments"
    )
    http: HttpOptions = Field(default_factory=HttpOptions)

    @field_validator("base_url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        return check_base_url(value)

    @field_validator("consumer_token", "employee_token")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value


class TripletexSource(Source):
    """Customers, open invoices, payments and credit notes from Tripletex API v2."""

    type_name: ClassVar[str] = "tripletex"
    Settings: ClassVar[type[ConnectorSettings]] = TripletexSettings
    capabilities: ClassVar[SourceCapabilities] = SourceCapabilities(
        incremental=True, fetch_by_id=True, can_book_payments=True
    )
    config_example: ClassVar[str] = """\
# Tripletex API v2. The consumer token comes with the integration; the company creates an
# employee token for it (see docs/connectors/tripletex.md). Both are secrets: keep them in
# the environment or in 0600 files, never in this file.
consumer_token = "${TRIPLETEX_CONSUMER_TOKEN}"
employee_token = "${TRIPLETEX_EMPLOYEE_TOKEN}"
# base_url = "https://tripletex.no/v2"     # the test environment has its own root
# company_id = 0                            # 0: the token's own company; else a client's id
# payment_type_id = 12345                   # payment type for booking payments back
# history_start = "2000-01-01"              # oldest invoice date the first sync reads
# lookback_days = 3                         # overlap between incremental windows
# requests_per_second = 5                   # client-side pace; rate headers are also obeyed
"""

    def __init__(
        self,
        settings: ConnectorSettings,
        context: ConnectorContext,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        super().__init__(settings, context)
        if not isinstance(settings, TripletexSettings):
            raise ConfigError("tripletex: settings must be TripletexSettings")
        self.cfg = settings
        self._now = now or (lambda: dt.datetime.now(dt.UTC))
        options = settings.http
        if options.rate_limit_per_s is None:
            options = options.model_copy(update={"rate_limit_per_s": settings.requests_per_second})
        self._auth = SessionAuth(settings.company_id)
        self.budget = RateBudget(clock=clock, sleep=sleep, max_wait=options.retry_after_cap)
        self.http = HttpClient(
            HttpSettings.from_options(settings.base_url, options),
            auth=self._auth,
            error_parser=parse_tripletex_error,
            sleep=sleep,
            clock=clock,
            name=self.type_name,
        )
        self.http.session.hooks["response"].append(self.budget.hook)
        self._session_key = f"tripletex:{context.name}:{settings.company_id}:session"
        self._variables = {
            "company": settings.company or str(settings.company_id),
            "default_currency": settings.default_currency,
        }

    # --- requests and the session token -----------------------------------------------

    def _ensure_session(self) -> None:
        if self._auth.has_token:
            return
        stored = load_session(self.context.credentials, self._session_key)
        if stored is None or not stored.usable_on(self.context.today):
            stored = self._create_session()
        self._auth.set_token(stored.token)

    def _create_session(self) -> StoredSession:
        expires = self.context.today + dt.timedelta(days=self.cfg.session_days)
        self._auth.set_token(None)
        self.budget.wait()
        response = self.http.put(
            "/token/session/:create",
            params={
                "consumerToken": self.cfg.consumer_token.get_secret_value(),
                "employeeToken": self.cfg.employee_token.get_secret_value(),
                "expirationDate": expires.isoformat(),
            },
        )
        value = _json(response, "/token/session/:create").get("value")
        token = value.get("token") if isinstance(value, dict) else None
        if not isinstance(token, str) or not token:
            raise ParseError("no session token in the answer", file="/token/session/:create")
        session = StoredSession(SecretStr(token), expires)
        save_session(self.context.credentials, self._session_key, session)
        return session

    def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """One API call with a session; a rejected session is renewed once and retried."""
        self._ensure_session()
        for attempt in (1, 2):
            self.budget.wait()
            try:
                response = self.http.request(method, path, params=params, idempotent=idempotent)
            except AuthError as exc:
                if attempt == 2 or exc.code not in (None, "3000"):
                    raise
                self._auth.set_token(self._create_session().token)
                continue
            return _json(response, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def _pages(
        self, path: str, params: Mapping[str, str | int], *, at_most: int | None = None
    ) -> Iterator[list[RawRecord]]:
        """Tripletex's ``from``/``count`` paging over the ``values`` envelope.

        ``at_most``: the query cannot match more (a list of ids), so one page of that size
        is the whole answer.
        """
        start, count = 0, at_most or self.cfg.page_size
        while True:
            body = self._call("GET", path, {**params, "from": start, "count": count})
            values = body.get("values")
            if not isinstance(values, list):
                raise ParseError("the answer has no 'values' list", file=path)
            yield [_raw(value, path, start + i) for i, value in enumerate(values)]
            if len(values) < count or at_most is not None:
                return
            start += len(values)

    # --- the streams ----------------------------------------------------------------------

    def streams(self) -> Sequence[StreamSpec]:
        return (CUSTOMERS, INVOICES, CREDIT_NOTES, PAYMENTS)

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        since = _parse_cursor(cursor)
        if stream.name == CUSTOMERS.name:
            pages = self._read_customers(since)
        elif stream.name == INVOICES.name:
            pages = self._read_invoices(since)
        elif stream.name == CREDIT_NOTES.name:
            pages = self._read_credit_notes(since)
        elif stream.name == PAYMENTS.name:
            pages = self._read_payments(since)
        else:
            raise ConnectorError(f"unknown stream {stream.name!r}", connector=self.type_name)
        return self._with_cursor(pages)

    def _with_cursor(self, pages: Iterator[list[RawRecord]]) -> Iterator[Page]:
        """The new cursor goes on the last page only: a crash midway re-reads the window."""
        started = self._now()
        cursor = json.dumps({"v": 1, "at": started.isoformat(), "date": self._today().isoformat()})
        previous: list[RawRecord] | None = None
        for records in pages:
            if previous is not None:
                yield Page(previous, None)
            previous = records
        yield Page(previous or [], cursor)

    def _today(self) -> dt.date:
        return self.context.today

    def _window_start(self, since: _Since | None) -> dt.date:
        if since is None:
            return self.cfg.history_start
        return since.date - dt.timedelta(days=self.cfg.lookback_days)

    def _read_customers(self, since: _Since | None) -> Iterator[list[RawRecord]]:
        params: dict[str, str | int] = {"fields": CUSTOMER_FIELDS}
        if since is not None:
            changed = since.at - dt.timedelta(minutes=self.cfg.changed_lookback_minutes)
            params["changedSince"] = changed.strftime("%Y-%m-%dT%H:%M:%S")
        yield from self._pages("/customer", params)

    def _invoice_window(self, start: dt.date) -> dict[str, str | int]:
        end = self._today() + dt.timedelta(days=1)  # invoiceDateTo excludes its day
        return {
            "invoiceDateFrom": start.isoformat(),
            "invoiceDateTo": end.isoformat(),
            "fields": INVOICE_FIELDS,
        }

    def _read_invoices(self, since: _Since | None) -> Iterator[list[RawRecord]]:
        seen: set[str] = set()
        credited: set[str] = set()
        for records in self._pages("/invoice", self._invoice_window(self._window_start(since))):
            page = []
            for record in records:
                data = record.data
                if data.get("isCreditNote") is True:
                    if isinstance(data.get("creditedInvoice"), int):
                        credited.add(str(data["creditedInvoice"]))
                    continue
                if since is None and not _is_open(data):
                    continue  # a full sync wants open items; later changes come incrementally
                seen.add(str(data.get("invoiceNumber", "")))
                page.append(record)
            yield page
        if since is None:
            return
        # Invoices from before the window that money moved on, or that a credit note credits.
        numbers = self._paid_invoice_numbers(self._window_start(since)) - seen
        for chunk in _chunks(sorted(credited), _MAX_ID_BATCH):
            records = self._invoices_by_id(chunk)
            fresh = [r for r in records if str(r.data.get("invoiceNumber", "")) not in seen]
            seen.update(str(r.data.get("invoiceNumber", "")) for r in fresh)
            numbers -= {str(r.data.get("invoiceNumber", "")) for r in fresh}
            yield fresh
        for chunk in _chunks(sorted(numbers, key=_numeric_key), _MAX_ID_BATCH):
            yield list(self.fetch(INVOICES, chunk))

    def _paid_invoice_numbers(self, start: dt.date) -> set[str]:
        params = self._posting_window(start, PAYMENT_POSTING_FIELDS)
        numbers: set[str] = set()
        for records in self._pages("/ledger/posting", params):
            for record in records:
                number = record.data.get("invoiceNumber")
                if isinstance(number, str | int) and str(number).strip():
                    numbers.add(str(number).strip())
        return numbers

    def _posting_window(self, start: dt.date, fields: str) -> dict[str, str | int]:
        end = self._today() + dt.timedelta(days=1)
        return {
            "dateFrom": start.isoformat(),
            "dateTo": end.isoformat(),
            "type": PAYMENT_POSTING,
            "fields": fields,
        }

    def _read_payments(self, since: _Since | None) -> Iterator[list[RawRecord]]:
        params = self._posting_window(self._window_start(since), POSTING_FIELDS)
        yield from self._pages("/ledger/posting", params)

    def _read_credit_notes(self, since: _Since | None) -> Iterator[list[RawRecord]]:
        for records in self._pages("/invoice", self._invoice_window(self._window_start(since))):
            notes = [r for r in records if r.data.get("isCreditNote") is True]
            yield self._with_credited_numbers(notes)

    def _with_credited_numbers(self, notes: list[RawRecord]) -> list[RawRecord]:
        """A credit note names the credited invoice by id; the claim knows it by number."""
        ids = sorted(
            {str(n.data["creditedInvoice"]) for n in notes if _int(n.data, "creditedInvoice")}
        )
        numbers: dict[str, str] = {}
        for chunk in _chunks(ids, _MAX_ID_BATCH):
            for record in self._invoices_by_id(chunk, fields="id,invoiceNumber"):
                numbers[str(record.data.get("id"))] = str(record.data.get("invoiceNumber", ""))
        result = []
        for note in notes:
            derived = {
                "credited_invoice_number": numbers.get(str(note.data.get("creditedInvoice")))
            }
            result.append(RawRecord({**note.data, DERIVED: derived}, note.location))
        return result

    def _invoices_by_id(self, ids: Sequence[str], fields: str = INVOICE_FIELDS) -> list[RawRecord]:
        params = self._invoice_window(self.cfg.history_start)
        params.update(id=",".join(ids), fields=fields)
        return [r for page in self._pages("/invoice", params, at_most=len(ids)) for r in page]

    # --- fetch by id ----------------------------------------------------------------------

    def fetch(self, stream: StreamSpec, ids: Sequence[str]) -> Iterator[RawRecord]:
        wanted = [i for i in dict.fromkeys(str(x).strip() for x in ids) if i.isdigit()]
        if stream.name == CUSTOMERS.name:
            for chunk in _chunks(wanted, _MAX_ID_BATCH):
                params: dict[str, str | int] = {"id": ",".join(chunk), "fields": CUSTOMER_FIELDS}
                for page in self._pages("/customer", params, at_most=len(chunk)):
                    yield from page
        elif stream.name == INVOICES.name:
            # /invoice filters by one invoice number at a time (its ``invoiceNumber`` is Equals).
            for number in wanted:
                params = self._invoice_window(self.cfg.history_start)
                params["invoiceNumber"] = number
                for page in self._pages("/invoice", params):
                    yield from (r for r in page if r.data.get("isCreditNote") is not True)
        else:
            yield from super().fetch(stream, ids)

    # --- normalize ------------------------------------------------------------------------

    def normalize(self, stream: StreamSpec, record: RawRecord) -> Sequence[Canonical]:
        data = record.data
        record_id = str(data.get("id", ""))[:40]
        if "_problem" in data:
            raise RecordError(
                [str(data["_problem"])], record_id=record_id, location=record.location
            )
        if stream.name == CUSTOMERS.name:
            model: type[Party | Claim | Payment | CreditNote] = Party
            mapped = {**data, DERIVED: _customer_derived(data)}
        elif stream.name == INVOICES.name:
            model = Claim
            mapped = {**data, DERIVED: _invoice_derived(data)}
        elif stream.name == PAYMENTS.name:
            model = Payment
            mapped = {**data, DERIVED: {"amount": _negated(data.get("amountCurrency"))}}
        elif stream.name == CREDIT_NOTES.name:
            model = CreditNote
            derived = dict(data.get(DERIVED) or {})
            derived["amount"] = _absolute(data.get("amountCurrency"))
            mapped = {**data, DERIVED: derived}
        else:
            raise ConnectorError(f"unknown stream {stream.name!r}", connector=self.type_name)
        mapping = load_mapping(f"tripletex_{_MAPPING_NAMES[stream.name]}")
        return [
            to_model(
                mapping,
                mapped,
                model,
                self._variables,
                location=record.location,
                record_id=record_id,
            )
        ]

    # --- booking payments -----------------------------------------------------------------

    def register_payment(self, payment: Payment, claim: Claim) -> str:
        if self.cfg.payment_type_id is None:
            raise ConfigError(
                "tripletex: set payment_type_id (an invoice payment type) to book payments"
            )
        return book_payment(self._call, payment, claim, self.cfg.payment_type_id)

    # --- check ----------------------------------------------------------------------------

    def check(self) -> CheckResult:
        items = [CheckItem(CheckKind.CONFIG, True, f"settings valid for {self.cfg.base_url}")]
        try:
            self._auth.set_token(None)
            self._ensure_session()
            self._call("GET", "/token/session/>whoAmI", {"fields": "company(id)"})
        except AuthError as exc:
            items.append(CheckItem(CheckKind.REACHABILITY, True, "Tripletex answered"))
            items.append(CheckItem(CheckKind.AUTH, False, str(exc)))
        except UnreachableError as exc:
            items.append(CheckItem(CheckKind.REACHABILITY, False, str(exc)))
        except ClaimbridgeError as exc:
            items.append(CheckItem(CheckKind.REACHABILITY, True, "Tripletex answered"))
            items.append(CheckItem(CheckKind.AUTH, False, str(exc)))
        else:
            items.append(CheckItem(CheckKind.REACHABILITY, True, "Tripletex answered"))
            items.append(CheckItem(CheckKind.AUTH, True, "session token accepted"))
        return CheckResult(self.context.name, tuple(items))

    def close(self) -> None:
        self.http.close()


_MAPPING_NAMES = {
    CUSTOMERS.name: "customer",
    INVOICES.name: "invoice",
    PAYMENTS.name: "payment",
    CREDIT_NOTES.name: "credit_note",
}


class _Since:
    __slots__ = ("at", "date")

    def __init__(self, at: dt.datetime, date: dt.date) -> None:
        self.at = at
        self.date = date


def _parse_cursor(cursor: str | None) -> _Since | None:
    if cursor is None:
        return None
    try:
        data = json.loads(cursor)
        return _Since(dt.datetime.fromisoformat(data["at"]), dt.date.fromisoformat(data["date"]))
    except (ValueError, KeyError, TypeError):
        raise ParseError("unreadable tripletex cursor; reset the stream", field="cursor") from None


def _json(response: requests.Response, path: str) -> dict[str, Any]:
    try:
        data = response.json(parse_float=Decimal)
    except ValueError:
        raise ParseError("the answer is not JSON", file=path) from None
    if not isinstance(data, dict):
        raise ParseError("the answer is not a JSON object", file=path)
    return data


def _raw(value: Any, path: str, index: int) -> RawRecord:
    if not isinstance(value, dict):
        return RawRecord({"_problem": "record is not a JSON object"}, f"{path}#{index}")
    ident = value.get("id")
    where = f"{path}/{ident}" if isinstance(ident, int) else f"{path}#{index}"
    return RawRecord(value, where)


def _int(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    return isinstance(value, int) and not isinstance(value, bool)


def _is_open(data: Mapping[str, Any]) -> bool:
    outstanding = data.get("amountCurrencyOutstanding")
    if not isinstance(outstanding, int | Decimal) or isinstance(outstanding, bool):
        return True  # let normalize say what is wrong with it
    return outstanding > 0


def _negated(value: Any) -> Any:
    return -value if isinstance(value, int | Decimal) and not isinstance(value, bool) else value


def _absolute(value: Any) -> Any:
    return abs(value) if isinstance(value, int | Decimal) and not isinstance(value, bool) else value


def _numeric_key(text: str) -> tuple[int, str]:
    return (int(text), text) if text.isdigit() else (0, text)


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _invoice_derived(data: Mapping[str, Any]) -> dict[str, Any]:
    """Reminders (fees in the invoice's currency) and the notice of debt collection."""
    reminders = data.get("reminders")
    entries = [r for r in reminders if isinstance(r, dict)] if isinstance(reminders, list) else []
    plain = sorted(
        (r for r in entries if r.get("type") in REMINDER_TYPES),
        key=lambda r: str(r.get("reminderDate") or ""),
    )
    notices = sorted(
        str(r.get("reminderDate"))
        for r in entries
        if r.get("type") in NOTICE_TYPES and r.get("reminderDate")
    )
    return {
        "reminders": [
            {"date": r.get("reminderDate"), "fee": r.get("chargeCurrency", r.get("charge"))}
            for r in plain
        ],
        "notice_date": notices[0] if notices else None,
    }


def _customer_derived(data: Mapping[str, Any]) -> dict[str, Any]:
    private = data.get("isPrivateIndividual")
    language = data.get("language")
    return {
        "kind": "person" if private is True else "company",
        "language": {"NO": "nb", "EN": "en"}.get(language) if isinstance(language, str) else None,
    }
