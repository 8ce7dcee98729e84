"""An in-memory Visma eAccounting (API v2) company served through ``responses``.

It behaves as Visma's Swagger document and developer docs describe: lists answer
``{"Meta": {...}, "Data": [...]}`` paged with ``$page`` (from 1) and ``$pagesize`` (default 50,
at most 1000 — a larger size is capped, and ``Meta.PageSize`` says so), a small OData
``$filter`` (``eq ne gt ge lt le`` joined by ``and``), ``modifiedSinceUtc`` on customer
invoices, amounts as decimal numbers, payments posted on invoices, OAuth2 refresh on
another host where every refresh spends the refresh token, Visma's error body
``{"ErrorCode", "DeveloperErrorMessage", "ErrorId"}`` and its 429 (``ErrorCode`` 4010) when an
endpoint gets more than 600 requests a minute; manual vouchers (``POST /v2/vouchers``, refused
unless their rows balance on accounts of the chart) listed with a ``$filter`` on
``VoucherDate``. Tests can expire tokens, move the clock, queue failures and lose the answer to
the next write (it happens; the client sees a read timeout).
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import json
import math
import re
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import requests
import responses

from tests.fakes.token_endpoint import RefreshTokenEndpoint

BASE_URL = "https://eaccountingapi.vismaonline.com"
TOKEN_URL = "https://identity.vismaonline.com/connect/token"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
RATE_PER_MINUTE = 600

Reply = tuple[int, dict[str, str], str]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "ge": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "le": lambda a, b: a is not None and a <= b,
}
_CLAUSE = re.compile(r"(\w+) (eq|ne|gt|ge|lt|le) (\S+)")
_FILTERABLE = {
    "customers": {"ChangedUtc", "IsActive", "CustomerNumber", "Id", "IsPrivatePerson"},
    "customerinvoices": {
        "IsCreditInvoice",
        "RemainingAmount",
        "RemainingAmountInvoiceCurrency",
        "ModifiedUtc",
        "CustomerId",
        "InvoiceNumber",
        "Id",
    },
    "vouchers": {"VoucherDate", "ModifiedUtc", "NumberSeries"},
}
CHART = {1510: "Kundfordringar", 1930: "Företagskonto", 3990: "Övriga ersättningar"}
CHART |= {6570: "Bankkostnader", 8310: "Ränteintäkter"}


def visma_error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> Reply:
    body = json.dumps(
        {"ErrorCode": code, "DeveloperErrorMessage": message, "ErrorId": str(uuid.uuid4())}
    )
    return status, {"Content-Type": "application/json", **(headers or {})}, body


def _oauth_error(code: str, message: str) -> Reply:
    body = json.dumps({"error": code, "error_description": message})
    return 400, {"Content-Type": "application/json"}, body


def stamp(when: dt.datetime) -> str:
    """Visma's timestamps: ISO 8601 without an offset, in UTC."""
    return when.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _json(body: Any) -> Reply:
    text = json.dumps(body, default=lambda v: float(v) if isinstance(v, Decimal) else str(v))
    return 200, {"Content-Type": "application/json; charset=utf-8"}, text


_VISMA_REFUSALS = {
    "invalid_client": "Client authentication failed",
    "invalid_request": "Token requests must be form encoded",
    "unsupported_grant_type": "Only refresh_token is supported here",
    "invalid_grant": "invalid_grant",
}


class VismaFake(RefreshTokenEndpoint):
    """One Visma eAccounting company and its OAuth app. ``install`` it on a ``responses`` mock.

    Visma spends a refresh token on every use; its identity server answers every refusal 400.
    """

    answer_fields: ClassVar[dict[str, Any]] = {"id_token": "not-used"}
    token_type = "Bearer"

    def __init__(
        self,
        *,
        client_id: str = "app-id",
        client_secret: str = "app-secret",
        refresh_token: str = "rt-0",
        now: dt.datetime = dt.datetime(2026, 3, 31, 8, 0, tzinfo=dt.UTC),
        token_lifetime: int = 3600,
        enforce_rate_limit: bool = False,
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            token_lifetime=token_lifetime,
        )
        self.now = now
        self.enforce_rate_limit = enforce_rate_limit
        self.customers: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.payments: list[dict[str, Any]] = []
        self.vouchers: dict[str, dict[str, Any]] = {}
        self.accounts = dict(CHART)
        self.lose_next = False
        self.failures: list[Reply] = []
        self.api_requests = 0
        self._ids = itertools.count(1)
        self._numbers = itertools.count(10001)
        self._recent: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )

    # --- building the ledger ----------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=next(self._ids) * 7919 + 0x5EED))

    def tick(self, seconds: float = 3600) -> None:
        self.now += dt.timedelta(seconds=seconds)

    def add_customer(self, name: str = "Anna Andersson", **fields: Any) -> dict[str, Any]:
        customer_id = self.new_id()
        customer: dict[str, Any] = {
            "Id": customer_id,
            "CustomerNumber": str(1000 + len(self.customers)),
            "CorporateIdentityNumber": "556036-0793",
            "Name": name,
            "InvoiceAddress1": "Storgatan 1",
            "InvoicePostalCode": "111 22",
            "InvoiceCity": "Stockholm",
            "InvoiceCountryCode": "SE",
            "EmailAddress": "faktura@kund.example",
            "EmailAddresses": [],
            "MobilePhone": "070-123 45 67",
            "TermsOfPaymentId": "8f9a8f2c-4e8c-4f49-9ef5-111111111111",
            "IsPrivatePerson": False,
            "IsActive": True,
            "CurrencyCode": "SEK",
            "SalesDocumentLanguage": "sv",
            "CustomerLabels": [],
            "ChangedUtc": stamp(self.now),
            **fields,
        }
        self.customers[customer_id] = customer
        return customer

    def add_invoice(
        self,
        customer: dict[str, Any],
        total: Decimal | str = Decimal("1250.00"),
        *,
        paid: Decimal | str = Decimal("0"),
        issued: dt.date | None = None,
        due: dt.date | None = None,
        credit_of: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        issued = issued or self.now.date() - dt.timedelta(days=40)
        due = due or issued + dt.timedelta(days=30)
        amount = Decimal(total)
        remaining = amount - Decimal(paid)
        if credit_of is not None:
            amount, remaining = -amount, -remaining
        number = next(self._numbers)
        invoice: dict[str, Any] = {
            "Id": self.new_id(),
            "EuThirdParty": False,
            "IsCreditInvoice": credit_of is not None,
            "CurrencyCode": "SEK",
            "CurrencyRate": Decimal(1),
            "TotalAmount": amount,
            "TotalVatAmount": amount / 5,
            "TotalAmountInvoiceCurrency": amount,
            "TotalVatAmountInvoiceCurrency": amount / 5,
            "CustomerId": customer["Id"],
            "Rows": [{"LineNumber": 0, "Text": "Konsulttjänster mars", "IsTextRow": False}],
            "InvoiceDate": f"{issued.isoformat()}T00:00:00",
            "DueDate": f"{due.isoformat()}T00:00:00",
            "RotReducedInvoicingType": 0,
            "InvoiceCustomerName": customer["Name"],
            "InvoiceNumber": number,
            "CustomerNumber": customer["CustomerNumber"],
            "PaymentReferenceNumber": _ocr(str(number)),
            "RemainingAmount": remaining,
            "RemainingAmountInvoiceCurrency": remaining,
            "CreatedUtc": stamp(self.now),
            "ModifiedUtc": stamp(self.now),
            **fields,
        }
        if credit_of is not None:
            invoice["ReferringInvoiceId"] = credit_of["Id"]
        self.invoices[invoice["Id"]] = invoice
        return invoice

    def touch(self, record: dict[str, Any]) -> None:
        key = "ChangedUtc" if record["Id"] in self.customers else "ModifiedUtc"
        record[key] = stamp(self.now)

    def pay(self, invoice: dict[str, Any], amount: Decimal | str) -> None:
        """A payment booked in Visma's own UI: only the invoice's remaining amount shows it."""
        for key in ("RemainingAmount", "RemainingAmountInvoiceCurrency"):
            invoice[key] -= Decimal(amount)
        self.touch(invoice)

    def lose_next_answer(self) -> None:
        self.lose_next = True

    def fail_next(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self.failures.append(visma_error(status, code, message, headers))

    # --- serving ----------------------------------------------------------------------------

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, TOKEN_URL, callback=self.token)
        pattern = re.compile(re.escape(BASE_URL) + r"/.*")
        for method in (responses.GET, responses.POST):
            mock.add_callback(method, pattern, callback=self._api)

    def refused(self, code: str) -> Reply:
        return _oauth_error(code, _VISMA_REFUSALS[code])

    def _api(self, request: requests.PreparedRequest) -> Reply | Exception:
        reply = self._serve(request)
        if self.lose_next and request.method == "POST" and reply[0] < 400:
            self.lose_next = False
            return requests.exceptions.ReadTimeout("the answer was lost")
        return reply

    def _serve(self, request: requests.PreparedRequest) -> Reply:
        self.api_requests += 1
        parts = urlsplit(request.url or "")
        route = parts.path.strip("/").split("/")
        if self.failures:
            return self.failures.pop(0)
        if self.enforce_rate_limit and (limited := self._rate_limited(route)):
            return limited
        if not self.authorized(request):
            return visma_error(401, 4001, "Authorization has been denied for this request.")
        if route[:1] != ["v2"] or len(route) < 2:
            return visma_error(404, 4004, "Resource not found")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if request.method == "POST" and route[1:] == ["vouchers"]:
            return self._post_voucher(request)
        if request.method == "POST":
            return self._post(route[1:], request)
        return self._get(route[1:], query)

    def _rate_limited(self, route: list[str]) -> Reply | None:
        endpoint = "/".join(route[:2])
        moment = time.monotonic()
        recent = self._recent[endpoint]
        while recent and recent[0] <= moment - 60:
            recent.popleft()
        if len(recent) >= RATE_PER_MINUTE:
            wait = max(1, math.ceil(recent[0] + 60 - moment))
            return visma_error(
                429,
                4010,
                f"API calls quota exceeded! maximum admitted {RATE_PER_MINUTE} per Minute. "
                f"Try again in {wait} seconds.",
            )
        recent.append(moment)
        return None

    def _get(self, route: list[str], query: dict[str, str]) -> Reply:
        kind, rest = route[0], route[1:]
        if kind == "companysettings" and not rest:
            return _json(
                {
                    "Name": "Exempel AB",
                    "CountryCode": "SE",
                    "CurrencyCode": "SEK",
                    "CorporateIdentityNumber": "556036-0793",
                }
            )
        store = {
            "customers": self.customers,
            "customerinvoices": self.invoices,
            "vouchers": self.vouchers,
        }.get(kind)
        if store is None:
            return visma_error(404, 4004, "Resource not found")
        if not rest:
            return self._list(kind, store, query)
        if len(rest) == 1:
            found = store.get(rest[0].lower())
            if found is None:
                return visma_error(404, 4004, "The requested resource was not found")
            return _json(found)
        return visma_error(404, 4004, "Resource not found")

    def _list(self, kind: str, store: dict[str, dict[str, Any]], query: dict[str, str]) -> Reply:
        allowed = {"$page", "$pagesize", "$filter", "$orderby"}
        if kind == "customerinvoices":
            allowed.add("modifiedSinceUtc")
        unknown = set(query) - allowed
        if unknown:
            return visma_error(400, 2000, f"Unknown query parameter {sorted(unknown)[0]}")
        try:
            page = int(query.get("$page", "1"))
            size = min(int(query.get("$pagesize", str(DEFAULT_PAGE_SIZE))), MAX_PAGE_SIZE)
            tests = _parse_filter(query.get("$filter", ""), _FILTERABLE[kind])
            since = query.get("modifiedSinceUtc")
            if since is not None:
                tests.append(("ModifiedUtc", _OPS["ge"], _when(since)))
        except ValueError as exc:
            return visma_error(400, 2000, f"The query is not valid: {exc}")
        if page < 1 or size < 1:
            return visma_error(400, 2000, "$page and $pagesize must be positive")
        rows = [r for r in store.values() if all(op(_value(r, f), v) for f, op, v in tests)]
        pages = math.ceil(len(rows) / size)
        meta = {
            "CurrentPage": page,
            "PageSize": size,
            "TotalNumberOfPages": pages,
            "TotalNumberOfResults": len(rows),
            "ServerTimeUtc": stamp(self.now),
        }
        return _json({"Meta": meta, "Data": rows[(page - 1) * size : page * size]})

    def _post(self, route: list[str], request: requests.PreparedRequest) -> Reply:
        if not (len(route) == 3 and route[0] == "customerinvoices" and route[2] == "payments"):
            return visma_error(405, 4005, "The requested resource does not support this method")
        invoice = self.invoices.get(route[1].lower())
        if invoice is None:
            return visma_error(404, 4004, "The requested resource was not found")
        try:
            body = json.loads(request.body or b"", parse_float=Decimal)
        except ValueError:
            return visma_error(400, 2000, "The request body is not valid JSON")
        required = {
            "CompanyBankAccountId",
            "PaymentDate",
            "PaymentAmount",
            "PaymentCurrency",
            "PaymentType",
        }
        if not isinstance(body, dict) or not required <= set(body):
            return visma_error(400, 2000, "CompanyBankAccountId, PaymentDate, PaymentAmount, …")
        amount = body["PaymentAmount"]
        if not isinstance(amount, int | Decimal) or amount <= 0:
            return visma_error(400, 2000, "PaymentAmount must be positive")
        if amount > invoice["RemainingAmountInvoiceCurrency"]:
            return visma_error(400, 2000, "The payment exceeds the remaining amount")
        if body["PaymentCurrency"] != invoice["CurrencyCode"]:
            return visma_error(400, 2000, "PaymentCurrency must be the invoice's currency")
        self.payments.append({"InvoiceId": invoice["Id"], **body})
        self.pay(invoice, Decimal(amount))
        return _json(body)

    def _post_voucher(self, request: requests.PreparedRequest) -> Reply:
        """A manual voucher as Visma books one: rows on accounts of the chart, amounts of two
        decimals at most, debits equal to credits; numbered in series A."""
        try:
            body = json.loads(request.body or b"", parse_float=Decimal)
        except ValueError:
            return visma_error(400, 2000, "The request body is not valid JSON")
        if not isinstance(body, dict) or not {"VoucherDate", "VoucherText", "Rows"} <= set(body):
            return visma_error(400, 2000, "VoucherDate, VoucherText and Rows are required")
        if len(body["VoucherText"]) > 100:
            return visma_error(400, 2000, "VoucherText: max length 100 characters")
        rows = body["Rows"]
        if not isinstance(rows, list) or len(rows) < 2:
            return visma_error(400, 2000, "A voucher needs at least two rows")
        debit = credit = Decimal(0)
        for row in rows:
            if row.get("AccountNumber") not in self.accounts:
                return visma_error(400, 4004, "The account number does not exist")
            for key in ("DebitAmount", "CreditAmount"):
                amount = Decimal(row.get(key, 0))
                if amount < 0 or amount != amount.quantize(Decimal("0.01")):
                    return visma_error(400, 2000, f"{key}: format is max 2 decimals")
            debit += Decimal(row.get("DebitAmount", 0))
            credit += Decimal(row.get("CreditAmount", 0))
        if debit != credit:
            return visma_error(400, 2000, "The voucher is not balanced")
        number = len(self.vouchers) + 1
        voucher = {
            "Id": self.new_id(),
            "VoucherDate": f"{dt.date.fromisoformat(body['VoucherDate'][:10])}T00:00:00",
            "VoucherText": body["VoucherText"],
            "Rows": [
                {**row, "AccountDescription": self.accounts[row["AccountNumber"]]} for row in rows
            ],
            "NumberAndNumberSeries": f"A{number}",
            "NumberSeries": "A",
            "ModifiedUtc": stamp(self.now),
            "VoucherType": 2,
        }
        self.vouchers[voucher["Id"]] = voucher
        return _json(voucher)


def _parse_filter(text: str, fields: set[str]) -> list[tuple[str, Callable[[Any, Any], bool], Any]]:
    tests: list[tuple[str, Callable[[Any, Any], bool], Any]] = []
    for clause in filter(None, (c.strip() for c in text.split(" and "))):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise ValueError(f"cannot read {clause[:40]!r}")
        name, op, literal = match.groups()
        if name not in fields:
            raise ValueError(f"{name} cannot be filtered on")
        tests.append((name, _OPS[op], _literal(name, literal)))
    return tests


def _literal(name: str, text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    if name.endswith(("Utc", "Date")):
        return _when(text)
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1]
    return Decimal(text)


def _when(text: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _value(row: dict[str, Any], name: str) -> Any:
    value = row.get(name)
    if name.endswith(("Utc", "Date")) and isinstance(value, str):
        return _when(value)
    return value


def _ocr(digits: str) -> str:
    """A Swedish OCR reference: the digits, a length digit and a Luhn check digit."""
    body = digits + str((len(digits) + 2) % 10)
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return body + str((10 - total % 10) % 10)
