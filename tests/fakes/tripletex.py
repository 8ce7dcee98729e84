"""An in-memory Tripletex API v2 behind ``responses``: a ledger that behaves like the vendor.

What it reproduces: session tokens from ``PUT /token/session/:create`` with an expiration
date, HTTP Basic auth ``<company id>:<token>`` and 401 with code 3000 for an unknown or expired
token or a company the session may not act for (its own, user name ``0``, or an accountant
client listed by ``/company/>withLoginAccess``); ``from``/``count`` paging in the
``{fullResultSize, from, count, versionDigest, values}`` envelope; ``changedSince`` on
/customer, the required date windows of /invoice and /ledger/posting, and postings by id;
the ``X-Rate-Limit-*`` headers and 429 until the period resets (no ``Retry-After``, as
Tripletex); error bodies ``{status, code, message, validationMessages, requestId}``;
``PUT /invoice/{id}/:payment`` adding a payment posting; a chart of accounts
(``GET /ledger/account?number=``) and manual vouchers (``POST /ledger/voucher``, refused with
a validation error when the postings do not balance or name no known account, and found again
by ``GET /ledger/voucher/>externalVoucherNumber``). ``lose_next_answer`` makes the next write
happen but its answer never arrive (the client sees a read timeout).

Every request (with its JSON body) and answer is kept in ``calls`` so the contract test can
check them against the vendor's OpenAPI document.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
import responses

BASE_URL = "https://tripletex.test/v2"
CONSUMER_TOKEN = "consumer-test-token"
EMPLOYEE_TOKEN = "employee-test-token"

Reply = tuple[int, dict[str, str], str]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    status: int  # 0: the answer was lost (see ``FakeTripletex.lose_next_answer``)
    body: Any
    sent: Any = None  # the request's JSON body


CHART = {1500: "Kundefordringer", 1920: "Bankinnskudd", 3900: "Annen driftsrelatert inntekt"}
CHART |= {7770: "Bank- og kortgebyrer", 8050: "Annen renteinntekt"}


@dataclass
class FakeTripletex:
    today: dt.date = dt.date(2026, 3, 31)
    now: dt.datetime = dt.datetime(2026, 3, 30, 8, 0, 0)  # when records were last edited
    rate_limit: int = 10_000  # requests per period
    rate_period_s: int = 60
    clock: Callable[[], float] = time.monotonic  # share the client's fake clock in tests
    company_id: int = 1  # the employee token's own company
    clients: dict[int, str] = field(default_factory=dict)  # accountant clients: id -> name
    locked_clients: set[int] = field(default_factory=set)  # listed, but their login refused
    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    customer_changed: dict[int, dt.datetime] = field(default_factory=dict)
    invoices: dict[int, dict[str, Any]] = field(default_factory=dict)
    postings: dict[int, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[int, dict[str, Any]] = field(
        default_factory=lambda: {
            50_000 + number: {"id": 50_000 + number, "number": number, "name": name}
            for number, name in CHART.items()
        }
    )
    vouchers: dict[int, dict[str, Any]] = field(default_factory=dict)
    locked_until: dt.date | None = None  # vouchers dated on or before it are refused
    lose_next: bool = False
    sessions: dict[str, dt.date] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    injected: list[Reply] = field(default_factory=list)
    sessions_created: int = 0
    _used: int = 0
    _period_start: float | None = None
    _next_id: int = 900_000

    # --- building the ledger --------------------------------------------------------------

    def add_customer(self, cid: int, **fields: Any) -> dict[str, Any]:
        record = {
            "id": cid,
            "version": 1,
            "customerNumber": 10_000 + cid,
            "name": f"Customer {cid}",
            "isPrivateIndividual": False,
            "organizationNumber": "923609016",
            "email": f"c{cid}@example.no",
            "phoneNumberMobile": "+4791234567",
            "language": "NO",
            "postalAddress": {
                "addressLine1": f"Gate {cid}",
                "postalCode": "0150",
                "city": "Oslo",
                "country": {"isoAlpha2Code": "NO"},
            },
        }
        record.update(fields)
        self.customers[cid] = record
        self.customer_changed[cid] = self.now
        return record

    def add_invoice(self, iid: int, customer: int, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": iid,
            "version": 1,
            "invoiceNumber": iid,
            "invoiceDate": "2026-01-15",
            "invoiceDueDate": "2026-02-01",
            "kid": f"{iid:08d}",
            "comment": f"Services {iid}",
            "amount": Decimal("1250.50"),
            "amountCurrency": Decimal("1250.50"),
            "amountOutstanding": Decimal("1250.50"),
            "amountCurrencyOutstanding": Decimal("1250.50"),
            "isCreditNote": False,
            "currency": {"code": "NOK"},
            "customer": {"id": customer},
            "reminders": [],
        }
        record.update(fields)
        self.invoices[iid] = record
        return record

    def pay(self, iid: int, amount: str, date: dt.date) -> int:
        """Register a payment as a user in Tripletex would: a posting and a lower balance."""
        invoice = self.invoices[iid]
        paid = Decimal(amount)
        for key in ("amountOutstanding", "amountCurrencyOutstanding"):
            invoice[key] = Decimal(invoice[key]) - paid
        self._next_id += 1
        self.postings[self._next_id] = {
            "id": self._next_id,
            "date": date.isoformat(),
            "description": "Innbetaling",
            "amount": -paid,
            "amountCurrency": -paid,
            "currency": {"code": invoice["currency"]["code"]},
            "invoiceNumber": str(invoice["invoiceNumber"]),
            "externalRef": invoice.get("kid"),
            "customer": {"id": invoice["customer"]["id"]},
            "type": "INCOMING_PAYMENT",
            "_invoice": iid,
        }
        return self._next_id

    def fail_next(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self.injected.append((status, headers or {}, json.dumps(_error(status, code, message))))

    def expire_sessions(self) -> None:
        self.sessions.clear()

    def lose_next_answer(self) -> None:
        self.lose_next = True

    # --- wiring ---------------------------------------------------------------------------

    def install(self, rsps: responses.RequestsMock) -> None:
        pattern = re.compile(re.escape(BASE_URL) + r"/.*")
        for method in ("GET", "PUT", "POST"):
            rsps.add_callback(method, pattern, callback=self._handle)

    def _handle(self, request: requests.PreparedRequest) -> Reply | Exception:
        parts = urlsplit(str(request.url))
        path = unquote(parts.path).removeprefix(urlsplit(BASE_URL).path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        sent = json.loads(request.body) if request.body else None
        method = str(request.method)
        status, headers, body = self._route(method, path, query, request, sent)
        write = method in ("POST", "PUT") and path != "/token/session/:create"
        if self.lose_next and write and status < 400:
            self.lose_next = False
            self.calls.append(Call(method, path, query, 0, None, sent))
            return requests.exceptions.ReadTimeout("the answer was lost")
        self.calls.append(
            Call(method, path, query, status, json.loads(body) if body else None, sent)
        )
        headers = {"Content-Type": "application/json", **headers}
        return status, headers, body

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        request: requests.PreparedRequest,
        sent: Any,
    ) -> Reply:
        now = self.clock()
        if self._period_start is None or now - self._period_start >= self.rate_period_s:
            self._period_start, self._used = now, 0
        self._used += 1
        left = max(0, math.ceil(self._period_start + self.rate_period_s - now))
        limits = {
            "X-Rate-Limit-Limit": str(self.rate_limit),
            "X-Rate-Limit-Remaining": str(max(0, self.rate_limit - self._used)),
            "X-Rate-Limit-Reset": str(left),
        }
        if self._used > self.rate_limit:  # 429 for the rest of the period, no Retry-After
            return 429, limits, json.dumps(_error(429, 0, "Request rate limit hit"))
        if self.injected:
            status, headers, body = self.injected.pop(0)
            return status, {**limits, **headers}, body
        if method == "PUT" and path == "/token/session/:create":
            return self._create_session(query, limits)
        company = self._authorized(request)
        if company is None:
            return 401, limits, json.dumps(_error(401, 3000, "Authentication required"))
        reply = self._dispatch(method, path, query, company, sent)
        if reply is None:
            return 404, limits, json.dumps(_error(404, 6000, "Object not found"))
        status, body = reply
        return status, limits, json.dumps(body, default=_encode)

    def _create_session(self, query: dict[str, str], limits: dict[str, str]) -> Reply:
        if (
            query.get("consumerToken") != CONSUMER_TOKEN
            or query.get("employeeToken") != EMPLOYEE_TOKEN
        ):
            return 403, limits, json.dumps(_error(403, 9000, "Invalid consumer or employee token"))
        try:
            expires = dt.date.fromisoformat(query.get("expirationDate", ""))
        except ValueError:
            return (
                422,
                limits,
                json.dumps(_error(422, 15000, "Validation failed", "expirationDate")),
            )
        token = secrets.token_hex(16)
        self.sessions[token] = expires
        self.sessions_created += 1
        value = {"id": self.sessions_created, "token": token, "expirationDate": expires.isoformat()}
        return 200, limits, json.dumps({"value": value})

    def _authorized(self, request: requests.PreparedRequest) -> int | None:
        """The company the request acts for, or None when its session or company is refused."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, token = base64.b64decode(header[6:]).decode().partition(":")
        expires = self.sessions.get(token)
        if expires is None or self.today >= expires:
            return None
        if user in ("", "0", str(self.company_id)):
            return self.company_id
        client = int(user) if user.isdigit() else None
        if client in self.clients and client not in self.locked_clients:
            return client
        return None

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], company: int, sent: Any
    ) -> tuple[int, Any] | None:
        if method == "GET" and path == "/ledger/account":
            return self._list_accounts(query)
        if method == "POST" and path == "/ledger/voucher":
            return self._post_voucher(sent)
        if method == "GET" and path == "/ledger/voucher/>externalVoucherNumber":
            wanted = query.get("externalVoucherNumber")
            found = [v for v in self.vouchers.values() if v["externalVoucherNumber"] == wanted]
            return self._page(found, query)
        if method == "GET" and path == "/customer":
            return self._list_customers(query)
        if method == "GET" and path == "/invoice":
            return self._list_invoices(query)
        if method == "GET" and path == "/ledger/posting":
            return self._list_postings(query)
        if method == "GET" and path == "/token/session/>whoAmI":
            return 200, {"value": {"employeeId": 1, "companyId": company}}
        if method == "GET" and path == "/company/>withLoginAccess":
            clients = [{"id": cid, "name": name} for cid, name in sorted(self.clients.items())]
            return self._page(clients, query)
        posting = re.fullmatch(r"/ledger/posting/(\d+)", path)
        if method == "GET" and posting and int(posting.group(1)) in self.postings:
            return 200, {"value": _public(self.postings[int(posting.group(1))])}
        match = re.fullmatch(r"/invoice/(\d+)(/:payment)?", path)
        if match and int(match.group(1)) in self.invoices:
            iid = int(match.group(1))
            if method == "GET" and not match.group(2):
                return 200, {"value": self._with_postings(iid)}
            if method == "PUT" and match.group(2):
                return self._register_payment(iid, query)
        return None

    def _list_customers(self, query: dict[str, str]) -> tuple[int, Any]:
        rows = sorted(self.customers)
        if "id" in query:
            wanted = {int(i) for i in query["id"].split(",") if i.isdigit()}
            rows = [c for c in rows if c in wanted]
        if "changedSince" in query:
            since = dt.datetime.fromisoformat(query["changedSince"])
            rows = [c for c in rows if self.customer_changed[c] >= since]
        return self._page([self.customers[c] for c in rows], query)

    def _list_invoices(self, query: dict[str, str]) -> tuple[int, Any]:
        missing = [p for p in ("invoiceDateFrom", "invoiceDateTo") if not query.get(p)]
        if missing:
            return 422, _error(422, 15000, "Validation failed", missing[0])
        low, high = query["invoiceDateFrom"], query["invoiceDateTo"]
        rows = [i for i in sorted(self.invoices) if low <= self.invoices[i]["invoiceDate"] < high]
        if "id" in query:
            wanted = {int(i) for i in query["id"].split(",") if i.isdigit()}
            rows = [i for i in rows if i in wanted]
        if "invoiceNumber" in query:
            rows = [
                i for i in rows if str(self.invoices[i]["invoiceNumber"]) == query["invoiceNumber"]
            ]
        return self._page([self.invoices[i] for i in rows], query)

    def _list_postings(self, query: dict[str, str]) -> tuple[int, Any]:
        missing = [p for p in ("dateFrom", "dateTo") if not query.get(p)]
        if missing:
            return 422, _error(422, 15000, "Validation failed", missing[0])
        rows = [
            p
            for p in self.postings.values()
            if query["dateFrom"] <= p["date"] < query["dateTo"]
            and query.get("type", p["type"]) == p["type"]
        ]
        return self._page([_public(p) for p in rows], query)

    def _page(self, rows: list[dict[str, Any]], query: dict[str, str]) -> tuple[int, Any]:
        start, count = int(query.get("from", 0)), int(query.get("count", 1000))
        values = rows[start : start + count]
        envelope: dict[str, Any] = {
            "fullResultSize": len(rows),
            "from": start,
            "count": len(values),
        }
        if rows:  # Tripletex: "Hash of full result, null if no result"
            envelope["versionDigest"] = f"{len(rows):x}-{rows[-1]['id']:x}"
        envelope["values"] = values
        return 200, envelope

    def _with_postings(self, iid: int) -> dict[str, Any]:
        postings = [_public(p) for p in self.postings.values() if p.get("_invoice") == iid]
        return {**self.invoices[iid], "postings": postings}

    def _list_accounts(self, query: dict[str, str]) -> tuple[int, Any]:
        rows = sorted(self.accounts.values(), key=lambda a: a["number"])
        if "number" in query:
            wanted = set(query["number"].split(","))
            rows = [a for a in rows if str(a["number"]) in wanted]
        return self._page(rows, query)

    def _post_voucher(self, sent: Any) -> tuple[int, Any]:
        """A voucher as Tripletex books one: postings by account id with row numbers from 1,
        gross amounts that sum to zero, a voucher number within the year."""
        if not isinstance(sent, dict) or not sent.get("date"):
            return 422, _error(422, 15000, "Validation failed", "date")
        if self.locked_until and dt.date.fromisoformat(sent["date"]) <= self.locked_until:
            return 422, _error(422, 15000, "Perioden er låst for postering.", "date")
        postings = sent.get("postings")
        if not isinstance(postings, list) or len(postings) < 2:
            return 422, _error(422, 15000, "Validation failed", "postings")
        stored = []
        for posting in postings:
            account = self.accounts.get((posting.get("account") or {}).get("id"))
            if account is None:
                return 422, _error(422, 15000, "Validation failed", "postings.account")
            if not isinstance(posting.get("row"), int) or posting["row"] < 1:
                return 422, _error(422, 15000, "Validation failed", "postings.row")
            self._next_id += 1
            amount = Decimal(str(posting["amountGross"]))
            stored.append(
                {
                    **posting,
                    "id": self._next_id,
                    "account": {"id": account["id"], "number": account["number"]},
                    "amount": amount,
                    "amountGross": amount,
                    "amountGrossCurrency": Decimal(str(posting["amountGrossCurrency"])),
                }
            )
        if sum(p["amountGross"] for p in stored) != 0:
            return 422, _error(422, 15000, "Summen av posteringene er ikke 0.", "postings")
        self._next_id += 1
        voucher = {
            "id": self._next_id,
            "version": 0,
            "date": sent["date"],
            "number": len(self.vouchers) + 1,
            "year": int(sent["date"][:4]),
            "description": sent.get("description", ""),
            "externalVoucherNumber": sent.get("externalVoucherNumber"),
            "postings": stored,
        }
        self.vouchers[voucher["id"]] = voucher
        return 200, {"value": voucher}

    def _register_payment(self, iid: int, query: dict[str, str]) -> tuple[int, Any]:
        for name in ("paymentDate", "paymentTypeId", "paidAmount"):
            if not query.get(name):
                return 422, _error(422, 15000, "Validation failed", name)
        invoice = self.invoices[iid]
        paid = query.get("paidAmountCurrency") or query["paidAmount"]
        if Decimal(paid) > Decimal(invoice["amountCurrencyOutstanding"]):
            return 422, _error(422, 18000, "Beløpet er større enn utestående", "paidAmount")
        self.pay(iid, paid, dt.date.fromisoformat(query["paymentDate"]))
        return 200, {"value": self.invoices[iid]}

    # --- views for tests ------------------------------------------------------------------

    def requests_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # a JSON number; amounts have two decimals, so it round-trips
    raise TypeError(type(value).__name__)


def _public(posting: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in posting.items() if not k.startswith("_")}


def _error(status: int, code: int, message: str, field_name: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status,
        "code": code,
        "message": message,
        "link": "https://tripletex.no/v2-docs/",
        "requestId": "7d1c0e5e-0000-4000-8000-000000000000",
    }
    if field_name:
        body["validationMessages"] = [{"field": field_name, "message": "Kan ikke være null."}]
    return body
