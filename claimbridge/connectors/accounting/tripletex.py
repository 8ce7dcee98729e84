"""The Tripletex source: customers, invoices, payments and credit notes from API v2.

Incremental sync as the API allows it (how each stream is read: ``_tripletex_streams``). A
sync with nothing changed costs one request per stream plus one for the payment postings.

Credit notes are invoices with ``isCreditNote``; reminders, their fees and the notice of debt
collection are the invoice's ``reminders``. The remaining principal is
``amountCurrencyOutstanding`` (without reminder fees), in the invoice's currency.

Booking back: payments on invoices (``_tripletex_booking``) and manual vouchers carrying our
reference in ``externalVoucherNumber`` (``_tripletex_vouchers``).

``check()`` tells apart tokens Tripletex refuses (AUTH) from a ``company_id`` the tokens
cannot act for (CONFIG): it asks as the token's own company first, then whether the
configured company is that company or one of its accountant clients.
"""

from __future__ import annotations

import datetime as dt
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
from claimbridge.connectors.accounting._tripletex_streams import (
    CREDIT_NOTES,
    CUSTOMERS,
    DERIVED,
    INVOICES,
    PAYMENTS,
    StreamReader,
    Window,
    list_pages,
    make_cursor,
    paged,
    parse_cursor,
)
from claimbridge.connectors.accounting._tripletex_vouchers import (
    book_voucher as post_voucher,
)
from claimbridge.connectors.accounting._tripletex_vouchers import find_voucher
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

__all__ = [
    "CREDIT_NOTES",
    "CUSTOMERS",
    "INVOICES",
    "PAYMENTS",
    "TripletexSettings",
    "TripletexSource",
]

DEFAULT_RATE_PER_S = 5.0
NOTICE_TYPES = frozenset({"NOTICE_OF_DEBT_COLLECTION"})
REMINDER_TYPES = frozenset({"SOFT_REMINDER", "REMINDER"})
WHO_AM_I = "/token/session/>whoAmI"
CLIENTS = "/company/>withLoginAccess"


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
        incremental=True,
        fetch_by_id=True,
        can_book_payments=True,
        can_book_vouchers=True,
        idempotent_payments=True,  # an earlier payment is recognized by invoice, date and amount
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
        window = Window(
            today=context.today,
            history_start=settings.history_start,
            lookback_days=settings.lookback_days,
            changed_lookback_minutes=settings.changed_lookback_minutes,
            page_size=settings.page_size,
        )
        self._reader = StreamReader(self._call, window)

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
        company_id: int | None = None,
        json: Any = None,
    ) -> dict[str, Any]:
        """One API call with a session; a rejected session is renewed once and retried.

        ``company_id`` acts for another company than the configured one (``0``: the token's);
        ``json`` is the request body.
        """
        self._ensure_session()
        for attempt in (1, 2):
            self.budget.wait()
            auth = None if company_id is None else self._auth.for_company(company_id)
            try:
                response = self.http.request(
                    method, path, params=params, json=json, auth=auth, idempotent=idempotent
                )
            except AuthError as exc:
                if attempt == 2 or exc.code not in (None, "3000"):
                    raise
                self._auth.set_token(self._create_session().token)
                continue
            return _json(response, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def _call_own(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """A call as the token's own company, whatever company the settings name."""
        return self._call(method, path, params, idempotent=idempotent, company_id=0)

    # --- the streams ----------------------------------------------------------------------

    def streams(self) -> Sequence[StreamSpec]:
        return (CUSTOMERS, INVOICES, CREDIT_NOTES, PAYMENTS)

    def read(self, stream: StreamSpec, cursor: str | None) -> Iterator[Page]:
        batches = self._reader.read(stream, parse_cursor(cursor))
        return paged(batches, self.cfg.page_size, make_cursor(self._now(), self.context.today))

    def fetch(self, stream: StreamSpec, ids: Sequence[str]) -> Iterator[RawRecord]:
        return self._reader.fetch(stream, ids)

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

    def book_voucher(self, voucher: Voucher) -> str:
        """Post a manual voucher with our reference as its ``externalVoucherNumber``."""
        return post_voucher(self._call, voucher, self.cfg.default_currency)

    def find_booking(self, external_ref: str) -> str | None:
        """The voucher booked under ``external_ref``. Payments booked on invoices carry no
        reference in Tripletex, so they are not found here (``register_payment`` finds its
        own by invoice, date and amount)."""
        return find_voucher(self._call, external_ref)

    # --- check ----------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """Reachability, the tokens (AUTH), then the company they should act for (CONFIG).

        Never raises: a failure becomes the item it belongs to.
        """
        config = CheckItem(CheckKind.CONFIG, True, f"settings valid for {self.cfg.base_url}")
        answered = CheckItem(CheckKind.REACHABILITY, True, "Tripletex answered")
        tokens = CheckItem(CheckKind.AUTH, True, "session token accepted")
        try:
            self._auth.set_token(None)
            own = self._own_company_id()
        except UnreachableError as exc:
            return self._result(config, CheckItem(CheckKind.REACHABILITY, False, str(exc)))
        except ClaimbridgeError as exc:
            return self._result(config, answered, CheckItem(CheckKind.AUTH, False, str(exc)))
        try:
            problem = self._company_problem(own)
        except UnreachableError as exc:
            return self._result(config, CheckItem(CheckKind.REACHABILITY, False, str(exc)), tokens)
        except ClaimbridgeError as exc:
            problem = f"the tokens cannot act for company_id {self.cfg.company_id}: {exc}"
        if problem is not None:
            config = CheckItem(CheckKind.CONFIG, False, problem)
        return self._result(config, answered, tokens)

    def _result(self, *items: CheckItem) -> CheckResult:
        return CheckResult(self.context.name, items)

    def _own_company_id(self) -> int:
        """The id of the company the employee token belongs to (``whoAmI`` as company 0)."""
        value = self._call_own("GET", WHO_AM_I, {"fields": "companyId"}).get("value")
        company = value.get("companyId") if isinstance(value, dict) else None
        if not isinstance(company, int) or isinstance(company, bool):
            raise ParseError("the answer names no company", file=WHO_AM_I, field="companyId")
        return company

    def _company_problem(self, own: int) -> str | None:
        """Why the tokens cannot act for the configured company, or None when they can.

        Tripletex: user name ``0`` is the token's own company; any other is an accountant
        client, listed by ``/company/>withLoginAccess``.
        """
        wanted = self.cfg.company_id
        if wanted in (0, own):
            return None
        clients: set[int] = set()
        for records in list_pages(self._call_own, CLIENTS, {"fields": "id"}, self.cfg.page_size):
            clients.update(r.data["id"] for r in records if isinstance(r.data.get("id"), int))
        if wanted not in clients:
            return (
                f"company_id {wanted} is neither the tokens' own company ({own}) nor one of "
                f"the {len(clients)} client companies they have login access to"
            )
        self._call("GET", WHO_AM_I, {"fields": "companyId"})  # acting for the client works
        return None

    def close(self) -> None:
        self.http.close()


_MAPPING_NAMES = {
    CUSTOMERS.name: "customer",
    INVOICES.name: "invoice",
    PAYMENTS.name: "payment",
    CREDIT_NOTES.name: "credit_note",
}


def _json(response: requests.Response, path: str) -> dict[str, Any]:
    try:
        data = response.json(parse_float=Decimal)
    except ValueError:
        raise ParseError("the answer is not JSON", file=path) from None
    if not isinstance(data, dict):
        raise ParseError("the answer is not a JSON object", file=path)
    return data


def _negated(value: Any) -> Any:
    return -value if isinstance(value, int | Decimal) and not isinstance(value, bool) else value


def _absolute(value: Any) -> Any:
    return abs(value) if isinstance(value, int | Decimal) and not isinstance(value, bool) else value


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
