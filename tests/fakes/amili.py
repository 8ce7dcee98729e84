"""Amili Norway's Collection API ("AutoCollect") and Identiverse token endpoint, faked.

It behaves like Amili as its public documentation describes it: client-credentials tokens
(form body, ``expires_in``), ``POST /orgs/{org}/invoices`` answered 202 with a ``QUEUED`` batch
that Amili processes a little later (``SUCCESS``, ``PARTIAL`` or ``FAILED`` with per-invoice
``succeeded``/``failed``), ``{"summary", "data"}`` envelopes, payments and corrections as
batches too (kept with the ``IdempotencyKey`` header they came with, which the batch list's
documented ``IdempotencyKey`` filter finds), case pause/withdraw/resume, paged settlements,
RFC 7807 problem details for refusals, and 429 with ``Retry-After``. Processing takes time:
a queued batch is processed once ``queued_requests`` more requests have reached the fake (each
request is a tick of the clock), so a poll may see ``QUEUED`` and a later run finds the
invoices.

Misbehaviour on demand: ``throttle_next`` (429), ``refuse_next`` (a 4xx problem), ``lose_next``
(the batch is stored, the answer times out) and ``refuse_invoice`` (one invoice fails inside an
otherwise good batch). Every exchange is kept for the shape tests.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import responses

from claimbridge.transport.signature import HmacScheme
from tests.fakes.exchange import Exchange
from tests.fakes.token_endpoint import bearer_of, form_of

API = "https://api.amili.test/collection/v1"
TOKEN_URL = "https://auth.amili.test/token"
ORG = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
CLIENT_ID, CLIENT_SECRET = "claimbridge-test", "s3cr3t-client"
WEBHOOK_SECRET = "whsec-test-1"

#: the invoice fields Amili's CreateInvoices documentation shows (example workflow, reference)
DOCUMENTED_INVOICE_FIELDS = frozenset(
    {
        "type",
        "invoiceNumber",
        "vat",
        "fees",
        "originalInvoiceAmount",
        "currency",
        "invoiceDate",
        "dueDate",
        "collectionNoticeDate",
        "uniqueSourceInvoiceId",
        "description",
    }
)
REQUIRED_INVOICE_FIELDS = frozenset(
    {"type", "invoiceNumber", "originalInvoiceAmount", "currency", "invoiceDate", "dueDate"}
)
BATCH_STATES = frozenset({"QUEUED", "SUCCESS", "PARTIAL", "FAILED"})
_ORG_PATH = re.compile(r"^/collection/v1/orgs/(?P<org>[^/]+)(?P<rest>/.*)$")


@dataclass
class FakeBatch:
    batch_id: str
    type: str
    items: list[dict[str, Any]]
    created_at: dt.datetime
    remaining: int
    idempotency_key: str | None = None  # the IdempotencyKey header it was created with
    status: str = "QUEUED"
    succeeded: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any] | None] = field(default_factory=list)

    def answer(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "batchId": self.batch_id,
            "type": self.type,
            "status": self.status,
            "createdAt": self.created_at.isoformat().replace("+00:00", "Z"),
            "finishedAt": None,
            "organizationId": ORG,
            "createdBy": "8a1b2c3d-4e5f-6789-abcd-ef0123456789",
            "succeeded": self.succeeded,
            "failed": self.failed,
        }
        if self.status != "QUEUED":
            data["finishedAt"] = data["createdAt"]
        return {"summary": {"status": self.status}, "data": data}


@dataclass
class FakeAmili:
    """Amili's side. ``install(rsps)`` wires the endpoints."""

    invoices: list[dict[str, Any]] = field(default_factory=list)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, FakeBatch] = field(default_factory=dict)
    payments: list[dict[str, Any]] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)
    settlements: list[dict[str, Any]] = field(default_factory=list)
    case_actions: list[tuple[str, str, Any]] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    requests: int = 0
    queued_requests: int = 1  # requests that pass before a queued batch is processed
    throttle_next: int = 0
    retry_after: int = 7
    refuse_next: tuple[int, str] | None = None
    lose_next: int = 0
    refuse_invoice: dict[str, tuple[str, str]] = field(default_factory=dict)
    clock: dt.datetime = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # --- wiring ---------------------------------------------------------------------------

    def install(self, rsps: responses.RequestsMock) -> None:
        rsps.add_callback(responses.POST, TOKEN_URL, callback=self._token)
        pattern = re.compile(re.escape(API) + r"/.*")
        for method in (responses.GET, responses.POST):
            rsps.add_callback(method, pattern, callback=self._api)

    def held_deliveries(self) -> int:
        """Deliveries Amili holds, processed or still queued: first invoices (``…-0``)."""
        queued = [
            item
            for batch in self.batches.values()
            if batch.type == "INVOICE" and batch.status == "QUEUED"
            for item in batch.items
        ]
        return sum(
            1 for i in [*self.invoices, *queued] if str(i["uniqueSourceInvoiceId"]).endswith("-0")
        )

    def finish_all(self) -> None:
        for batch in self.batches.values():
            if batch.status == "QUEUED":
                self._process(batch)

    def add_settlement(self, **record: Any) -> dict[str, Any]:
        self.settlements.append(record)
        return record

    def webhook(
        self,
        kind: str,
        data: dict[str, Any],
        *,
        key: str | None = None,
        scheme: HmacScheme | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """A signed webhook delivery as Amili documents it: headers and raw body."""
        event = {
            "id": str(uuid.uuid4()),
            "type" if kind in ("BATCH_COMPLETED", "SETTLEMENT_CREATED") else "eventType": kind,
            "source": "COLLECTION",
            "timeStamp": self.clock.isoformat().replace("+00:00", "Z"),
            "data": data,
        }
        body = json.dumps(event).encode()
        scheme = scheme or HmacScheme(secret=WEBHOOK_SECRET)  # type: ignore[arg-type]
        headers = {
            "X-Amili-Event": kind,
            "IdempotencyKey": key or str(uuid.uuid4()),
            "X-Amili-Request-Id": str(uuid.uuid4()),
            scheme.signature_header: scheme.sign(body),
            "Content-Type": "application/json",
        }
        return headers, body

    # --- token ----------------------------------------------------------------------------

    def _token(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.requests += 1
        self.token_requests += 1
        form = form_of(request)
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return _json(400, {"error": "invalid_client", "error_description": "bad credentials"})
        token = f"tok-{next(self._ids)}"
        self.tokens.add(token)
        now = int(self.clock.timestamp())
        return _json(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "not_before": now,
                "expires_in": 3600,
                "expires_on": now + 3600,
                "resource": "04468334-ec11-4ef8-9e7c-e124bacbd5c1",
            },
        )

    # --- the API --------------------------------------------------------------------------

    def _api(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.requests += 1
        for batch in list(self.batches.values()):  # time passes with every request
            if batch.status == "QUEUED":
                batch.remaining -= 1
                if batch.remaining <= 0:
                    self._process(batch)
        parts = urlsplit(request.url or "")
        query = dict(parse_qsl(parts.query))
        body = json.loads(request.body) if request.body else None
        status, answer, headers = self._route(request, parts.path, query, body)
        self.exchanges.append(
            Exchange(request.method or "", parts.path, query, body, status, answer)
        )
        if status == -1:  # stored, but the answer is lost on the way back
            raise requests.exceptions.ReadTimeout("read timed out", request=request)
        return status, {"Content-Type": "application/json", **headers}, json.dumps(answer)

    def _route(
        self, request: requests.PreparedRequest, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if bearer_of(request) not in self.tokens:
            return 401, _problem(401, "Unauthorized", "missing or invalid bearer token"), {}
        if self.throttle_next:
            self.throttle_next -= 1
            headers = {"Retry-After": str(self.retry_after)}
            return 429, _problem(429, "Too Many Requests", "slow down"), headers
        match = _ORG_PATH.match(path)
        if match is None or match["org"] != ORG:
            return 403, _problem(403, "Forbidden", "not your organization"), {}
        rest, method = match["rest"], request.method
        if method == "POST" and rest == "/invoices":
            if self.refuse_next is not None:
                code, detail = self.refuse_next
                self.refuse_next = None
                return code, _problem(code, "Unprocessable Entity", detail), {}
            return self._create_invoices(body)
        if method == "POST" and rest in ("/payments", "/corrections"):
            return self._create_corrections(rest[1:], body, request.headers.get("IdempotencyKey"))
        if method == "POST" and (
            action := re.fullmatch(r"/cases/([^/]+)/(pause|resume|withdraw)", rest)
        ):
            return self._case_action(action[1], action[2], body)
        if method == "GET" and (found := re.fullmatch(r"/batches/([^/]+)", rest)):
            batch = self.batches.get(found[1])
            if batch is None:
                return 404, _problem(404, "Not Found", "no such batch"), {}
            return 200, batch.answer(), {}
        if method == "GET" and rest == "/batches":  # documented filters: State, Type, key
            wanted = {
                "status": query.get("State"),
                "type": query.get("Type"),
                "idempotency_key": query.get("IdempotencyKey"),
            }
            chosen = [
                b
                for b in self.batches.values()
                if all(value is None or getattr(b, name) == value for name, value in wanted.items())
            ]
            page = [b.answer()["data"] for b in chosen][: int(query.get("PageSize", 50))]
            return 200, {"summary": {"status": "SUCCESS", "nextPageToken": None}, "data": page}, {}
        if method == "GET" and rest == "/invoices":
            wanted = query.get("uniqueSourceInvoiceId")
            data = [
                i for i in self.invoices if wanted is None or i["uniqueSourceInvoiceId"] == wanted
            ]
            return 200, {"summary": {"status": "SUCCESS", "nextPageToken": None}, "data": data}, {}
        if method == "GET" and rest == "/settlements":
            return self._settlement_page(query)
        if method == "GET" and (found := re.fullmatch(r"/settlements/([^/]+)", rest)):
            records = [s for s in self.settlements if s.get("settlementId") == found[1]]
            if not records:
                return 404, _problem(404, "Not Found", "no such settlement"), {}
            return 200, {"summary": {"status": "SUCCESS"}, "data": records}, {}
        return 404, _problem(404, "Not Found", f"{method} {rest}"), {}

    def _create_invoices(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        invoices = body.get("invoices") if isinstance(body, dict) else None
        if not isinstance(invoices, list) or not invoices:
            return 400, _problem(400, "Bad Request", "invoices must be a non-empty list"), {}
        for index, invoice in enumerate(invoices):
            missing = sorted(REQUIRED_INVOICE_FIELDS - set(invoice))
            if missing:
                errors = {f"invoices[{index}].{name}": ["required"] for name in missing}
                return 400, _problem(400, "Bad Request", "invalid invoice", errors), {}
        batch = self._new_batch("INVOICE", invoices)
        if self.lose_next:
            self.lose_next -= 1
            return -1, batch.answer(), {}
        return 202, batch.answer(), {}

    def _create_corrections(
        self, kind: str, body: Any, key: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        items = body.get(kind) if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return 400, _problem(400, "Bad Request", f"{kind} must be a non-empty list"), {}
        known = {i["invoiceId"]: i for i in self.invoices}
        for item in items:
            if item.get("invoiceId") not in known:
                return 404, _problem(404, "Not Found", "unknown invoiceId"), {}
        (self.payments if kind == "payments" else self.corrections).extend(items)
        batch = self._new_batch(kind.upper().rstrip("S"), items)
        batch.idempotency_key = key
        return 202, batch.answer(), {}

    def _case_action(self, case_id: str, action: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        case = self.cases.get(case_id)
        if case is None:
            return 404, _problem(404, "Not Found", "no such case"), {}
        case["status"] = {"pause": "PAUSED", "resume": "OPEN", "withdraw": "WITHDRAWN"}[action]
        self.case_actions.append((case_id, action, body))
        return 202, {"summary": {"status": "SUCCESS"}, "data": {"caseId": case_id}}, {}

    def _settlement_page(self, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        start = query.get("fromDate", "0000-00-00")
        size = int(query.get("pageSize", 50))
        offset = int(query.get("pageToken", "0"))
        chosen = [s for s in self.settlements if str(s.get("settlementDate", "")) >= start]
        page = chosen[offset : offset + size]
        following = str(offset + size) if offset + size < len(chosen) else None
        return 200, {"summary": {"status": "SUCCESS", "nextPageToken": following}, "data": page}, {}

    # --- processing -----------------------------------------------------------------------

    def _new_batch(self, kind: str, items: list[dict[str, Any]]) -> FakeBatch:
        batch = FakeBatch(str(uuid.uuid4()), kind, items, self.clock, self.queued_requests)
        self.batches[batch.batch_id] = batch
        return batch

    def _process(self, batch: FakeBatch) -> None:
        if batch.type != "INVOICE":
            batch.succeeded = [
                {"invoiceId": i["invoiceId"], "invoiceNumber": self._number_of(i["invoiceId"])}
                for i in batch.items
            ]
            batch.status = "SUCCESS"
            return
        case_of: dict[str, str] = {}
        for item in batch.items:
            number = str(item["invoiceNumber"])
            if number in self.refuse_invoice:
                code, message = self.refuse_invoice[number]
                batch.failed.append(
                    {"invoiceNumber": number, "errors": [{"code": code, "message": message}]}
                )
                continue
            debtor = json.dumps(item.get("debtor"), sort_keys=True)
            case_id = case_of.setdefault(debtor, str(uuid.uuid4()))
            self.cases.setdefault(case_id, {"caseId": case_id, "status": "OPEN", "invoices": []})
            invoice = {
                "invoiceId": str(uuid.uuid4()),
                "invoiceNumber": number,
                "caseId": case_id,
                "batchId": batch.batch_id,
                "invoiceDate": item["invoiceDate"],
                "dueDate": item["dueDate"],
                "originalAmount": item["originalInvoiceAmount"],
                "remainingAmount": item.get("remainingAmount", item["originalInvoiceAmount"]),
                "uniqueSourceInvoiceId": item.get("uniqueSourceInvoiceId"),
                "currency": item["currency"],
            }
            self.invoices.append(invoice)
            self.cases[case_id]["invoices"].append(invoice["invoiceId"])
            batch.succeeded.append(
                {
                    "$type": "invoiceSuccess",
                    "invoiceNumber": number,
                    "caseId": case_id,
                    "invoiceId": invoice["invoiceId"],
                }
            )
        if not batch.succeeded:
            batch.status = "FAILED"
        elif batch.failed:
            batch.status = "PARTIAL"
        else:
            batch.status = "SUCCESS"

    def _number_of(self, invoice_id: str) -> str:
        return next(str(i["invoiceNumber"]) for i in self.invoices if i["invoiceId"] == invoice_id)


def _problem(
    status: int, title: str, detail: str, errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    problem: dict[str, Any] = {
        "type": "https://tools.ietf.org/html/rfc9110",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        problem["errors"] = errors
    return problem


def _json(status: int, body: Any) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps(body)
