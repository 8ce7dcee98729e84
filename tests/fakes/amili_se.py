"""Amili Sweden's ADA API behind ``responses``, as its public documentation describes it.

``/authenticates/api-code`` (GET with a signed JWT in ``X-API-Key``, or POST with the API code
from a registered IP), ``X-API-Key`` access tokens, ``POST /case--registrations`` answered 201
with ``_cases``, ``_ocr_numbers`` and ``_ocr_numbers_ocr`` (one case and one OCR number per
debt), Eve-style lists (``_items``, ``_meta``, ``where``), ``POST /creditor--payments`` and
``/creditor--creditings`` with ``origin: creditor_system`` (and their documented ``GET`` lists,
filtered the same way), and Eve-style refusals
(``_status: ERR``, ``_error``, ``_issues``). Faults on demand as in the Norwegian fake.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from stdnum import luhn

from tests.fakes.exchange import Exchange

API = "https://api.amili-se.test"
API_CODE = "api-code-1"
ACCOUNT, CREDITOR = "674dbeaf08847b9501cc9132", "674dbeb208847b9501cc9138"

#: documented request properties of POST /case--registrations (and its nested objects)
REGISTRATION_FIELDS = frozenset(
    {"account", "creditor", "first_action", "currency", "customer", "debts"}
)
CUSTOMER_FIELDS = frozenset(
    {
        "name",
        "customer_number",
        "id_number",
        "is_person",
        "is_company",
        "is_foreign",
        "address",
        "mobile_number",
        "email",
    }
)
ADDRESS_FIELDS = frozenset({"address_line_1", "address_line_2", "zip_code", "city", "country"})
DEBT_FIELDS = frozenset(
    {
        "invoice_number",
        "debt_description",
        "invoice_date",
        "capital_to_claim",
        "invoice_due_days_after_invoice_date",
        "fees_included_in_capital_to_claim",
        "fees_already_claimed",
        "reference_number",
    }
)
PAYMENT_FIELDS = frozenset(
    {
        "account",
        "creditor",
        "case",
        "invoice_number",
        "currency",
        "amount",
        "bank_transaction_date",
        "client_registration_date",
        "creditor_payment_reference",
        "origin",
    }
)
CREDITING_FIELDS = frozenset(
    {
        "account",
        "creditor",
        "case",
        "invoice_number",
        "currency",
        "amount",
        "credit_invoice",
        "client_registration_date",
        "creditor_reference",
        "origin",
    }
)


def make_key() -> tuple[str, str]:
    """A fresh EC P-521 key pair (ES512) as PEM: (private, public)."""
    key = ec.generate_private_key(ec.SECP521R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@dataclass
class FakeAmiliSweden:
    public_key: str
    registrations: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    creditings: list[dict[str, Any]] = field(default_factory=list)
    entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # as GET lists them
    exchanges: list[Exchange] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    requests: int = 0
    throttle_next: int = 0
    retry_after: int = 7
    refuse_next: tuple[str, str] | None = None  # (field, message) for a 422
    lose_next: int = 0
    now: dt.datetime = dt.datetime(2025, 7, 4, 13, 43, 19, tzinfo=dt.UTC)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def install(self, rsps: responses.RequestsMock) -> None:
        pattern = re.compile(re.escape(API) + r"/.*")
        for method in (responses.GET, responses.POST):
            rsps.add_callback(method, pattern, callback=self._handle)

    def held_cases(self) -> int:
        return len(self.registrations)

    def case_ids(self) -> list[str]:
        return [c for r in self.registrations for c in r["_cases"]]

    # --- dispatch -------------------------------------------------------------------------

    def _handle(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.requests += 1
        parts = urlsplit(request.url or "")
        query = dict(parse_qsl(parts.query))
        body = json.loads(request.body) if request.body else None
        status, answer, headers = self._route(request, parts.path, query, body)
        self.exchanges.append(
            Exchange(request.method or "", parts.path, query, body, status, answer)
        )
        if status == -1:
            raise requests.exceptions.ReadTimeout("read timed out", request=request)
        return status, {"Content-Type": "application/json", **headers}, json.dumps(answer)

    def _route(
        self, request: requests.PreparedRequest, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if path == "/authenticates/api-code":
            return self._authenticate(request, body)
        if request.headers.get("X-API-Key") not in self.tokens:
            return 401, _error(401, "Please provide proper credentials"), {}
        if self.throttle_next:
            self.throttle_next -= 1
            return 429, _error(429, "Too many requests"), {"Retry-After": str(self.retry_after)}
        if request.method == "POST" and path == "/case--registrations":
            if self.refuse_next is not None:
                name, message = self.refuse_next
                self.refuse_next = None
                return (
                    422,
                    _error(
                        422, "Insertion failure: 1 document(s) contain(s) error(s)", {name: message}
                    ),
                    {},
                )
            return self._register(body)
        if request.method == "GET" and path == "/case--registrations":
            return 200, self._list(query, self.registrations, "case--registrations"), {}
        if request.method == "POST" and path in ("/creditor--payments", "/creditor--creditings"):
            return self._creditor_entry(path, body)
        if request.method == "GET" and path in ("/creditor--payments", "/creditor--creditings"):
            return 200, self._list(query, self.entries.get(path, []), path.lstrip("/")), {}
        return 404, _error(404, "The requested URL was not found on the server."), {}

    def _authenticate(
        self, request: requests.PreparedRequest, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        self.token_requests += 1
        if request.method == "GET":
            try:
                claims = jwt.decode(
                    request.headers.get("X-API-Key", ""),
                    self.public_key,
                    algorithms=["ES256", "ES384", "ES512"],
                )
            except jwt.PyJWTError:
                return 401, _error(401, "Please provide proper credentials"), {}
            code = claims.get("api_code")
        else:
            code = body.get("api_code") if isinstance(body, dict) else None
        if code != API_CODE:
            return 401, _error(401, "Please provide proper credentials"), {}
        token = f"access-{next(self._ids)}"
        self.tokens.add(token)
        return 200, {"token": token}, {}

    # --- resources ------------------------------------------------------------------------

    def _register(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        issues = _missing(
            body, ("account", "creditor", "first_action", "currency", "customer", "debts")
        )
        if not issues:
            if not isinstance(body["debts"], list) or not body["debts"]:
                issues["debts"] = "must be a non-empty list"
            for index, debt in enumerate(body["debts"] if isinstance(body["debts"], list) else []):
                for name, why in _missing(
                    debt, ("invoice_number", "invoice_date", "capital_to_claim")
                ).items():
                    issues[f"debts.{index}.{name}"] = why
                if "invoice_date" in debt:
                    try:
                        parsedate_to_datetime(debt["invoice_date"])
                    except (TypeError, ValueError):
                        issues[f"debts.{index}.invoice_date"] = "must be an RFC 1123 date"
        if issues:
            return (
                422,
                _error(422, "Insertion failure: 1 document(s) contain(s) error(s)", issues),
                {},
            )
        stamp = format_datetime(self.now, usegmt=True)
        cases = [f"{0x6867DA7788B9226BB78D0000 + next(self._ids):024x}" for _ in body["debts"]]
        ocr_ids = [f"{0x6867DA77EAA52B3FF5950000 + next(self._ids):024x}" for _ in body["debts"]]
        ocrs = [_ocr(next(self._ids)) for _ in body["debts"]]
        answer = {
            "_updated": stamp,
            "_created": stamp,
            "_etag": f"{next(self._ids):040x}",
            "_id": f"{0x6867DA77EAA52B3FF5950000 + next(self._ids):024x}",
            "_status": "OK",
            "_cases": cases,
            "_ocr_numbers": ocr_ids,
            "_ocr_numbers_ocr": ocrs,
        }
        self.registrations.append({**body, **answer})
        if self.lose_next:
            self.lose_next -= 1
            return -1, answer, {}
        return 201, answer, {}

    def _list(
        self, query: dict[str, str], items: list[dict[str, Any]], resource: str
    ) -> dict[str, Any]:
        if "where" in query:
            where = json.loads(query["where"])
            items = [r for r in items if all(_matches(r, k, v) for k, v in where.items())]
        size = int(query.get("max_results", 25))
        page = items[:size]
        return {
            "_items": page,
            "_links": {"self": {"href": resource, "title": resource}},
            "_meta": {"page": 1, "max_results": size, "total": len(items)},
        }

    def _creditor_entry(self, path: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        issues = _missing(body, ("creditor", "currency", "amount", "origin"))
        if isinstance(body, dict) and body.get("origin") != "creditor_system":
            issues["origin"] = "unallowed value"
        if isinstance(body, dict) and ("case" in body) == ("invoice_number" in body):
            issues["case"] = "give case or invoice_number, not both"
        if isinstance(body, dict) and "case" in body and body["case"] not in self.case_ids():
            issues["case"] = "value does not exist"
        if (
            path == "/creditor--payments"
            and isinstance(body, dict)
            and "bank_transaction_date" not in body
        ):
            issues["bank_transaction_date"] = "required field"
        if issues:
            return (
                422,
                _error(422, "Insertion failure: 1 document(s) contain(s) error(s)", issues),
                {},
            )
        (self.payments if path == "/creditor--payments" else self.creditings).append(body)
        stamp = format_datetime(self.now, usegmt=True)
        answer = {
            "_updated": stamp,
            "_created": stamp,
            "_etag": f"{next(self._ids):040x}",
            "_id": f"{0x6867E6B174DFC89E00600000 + next(self._ids):024x}",
            "_status": "OK",
            "_payment_status": "completed",
        }
        self.entries.setdefault(path, []).append({**body, **answer})
        return 201, answer, {}


def _matches(record: dict[str, Any], dotted: str, value: Any) -> bool:
    head, _, rest = dotted.partition(".")
    inner = record.get(head)
    if not rest:
        return bool(inner == value)
    if isinstance(inner, list):
        return any(isinstance(i, dict) and _matches(i, rest, value) for i in inner)
    return isinstance(inner, dict) and _matches(inner, rest, value)


def _missing(body: Any, names: tuple[str, ...]) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"_body": "must be a JSON object"}
    return {name: "required field" for name in names if name not in body}


def _ocr(seed: int) -> str:
    body = f"2025{seed:015d}"
    return body + luhn.calc_check_digit(body)


def _error(code: int, message: str, issues: dict[str, str] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"_status": "ERR", "_error": {"code": code, "message": message}}
    if issues:
        answer["_issues"] = issues
    return answer
