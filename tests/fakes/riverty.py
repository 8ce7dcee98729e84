"""An in-memory Riverty collection API (and its Auth0 token endpoint) served through ``responses``.

It behaves as docs.riverty.com/back_in_flow describes the API: a handover (``POST /v1/claims``)
is answered with a ``requestId`` only and the claim waits ``IN_CREATION`` until it is
processed (:meth:`RivertyFake.process`), which confirms each invoice and cost — or rejects the
claim — as transactions (``GET /v1/transactions?from&to``, a bare array ordered by
``sortNumber``). Direct payments and credit waivers are processed once per number, a recall
closes the claim (a second total recall is rejected), and debtor payments to Riverty become
``AGENCY_PAYMENTS`` accounting documents. Every body the client sends is checked against the
documented shapes (``tests/fixtures/riverty/collection-api.schema.json``) and refused with a
400 problem body when it does not fit.

Faults are queued (:meth:`fail_next`): a 429 with ``Retry-After``, a 4xx with the agency's
reason, a 401. :attr:`lose_answers` makes the API store handovers but time out before
answering — until the next claim search, as a network outage that ends before the next run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema
import requests
import responses
from referencing import Registry, Resource

from tests.fakes.token_endpoint import bearer_of, form_of

BASE_URL = "https://collection.riverty.test"
TOKEN_URL = "https://identity.riverty.test/oauth/token"
AUDIENCE = "https://api-test.horizonafs.io"
CLIENT_ID = "claimbridge-test-client"
CLIENT_SECRET = "riverty-test-secret"
SCHEMA_PATH = (
    Path(__file__).resolve().parents[1] / "fixtures" / "riverty" / "collection-api.schema.json"
)
SCHEMA_ID = "urn:claimbridge:test:riverty-collection-api"

Reply = tuple[int, dict[str, str], Any]


@functools.cache
def load_schema() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return document


@functools.cache
def validator(definition: str) -> jsonschema.Draft202012Validator:
    """A validator for one ``$defs`` entry of the documented shapes."""
    registry: Registry[Any] = Registry().with_resource(
        SCHEMA_ID, Resource.from_contents(load_schema())
    )
    return jsonschema.Draft202012Validator(
        {"$ref": f"{SCHEMA_ID}#/$defs/{definition}"}, registry=registry
    )


def problem(
    status: int, title: str, detail: str = "", errors: dict[str, list[str]] | None = None
) -> Reply:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return status, {"Content-Type": "application/problem+json"}, json.dumps(body)


def _json(body: Any, status: int = 200) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(body, default=_number)


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


@dataclass
class Exchange:
    """One request the fake answered (or dropped), with the answer it gave."""

    method: str
    path: str
    params: dict[str, str]
    body: Any
    status: int | None
    answer: Any


@dataclass
class Claim:
    number: str
    request_id: str
    body: dict[str, Any]
    status: str = "IN_CREATION"
    remaining: dict[str, Decimal] = field(default_factory=dict)  # per invoice number
    recalled: bool = False

    @property
    def customer_number(self) -> str:
        return str(self.body["customer"]["customerNumber"])

    @property
    def contract_numbers(self) -> list[str]:
        return [str(c.get("contractNumber", "")) for c in self.body["contracts"]]

    @property
    def invoices(self) -> list[dict[str, Any]]:
        return [i for c in self.body["contracts"] for i in c["invoices"]]

    def contract_of(self, invoice_number: str) -> str:
        for contract in self.body["contracts"]:
            if any(i["invoiceNumber"] == invoice_number for i in contract["invoices"]):
                return str(contract.get("contractNumber", ""))
        return ""


class RivertyFake:
    """One Riverty client's claims. ``install`` it on a ``responses`` mock."""

    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        audience: str = AUDIENCE,
        now: dt.datetime = dt.datetime(2026, 3, 31, 9, 0, tzinfo=dt.UTC),
        country: str = "NO",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.audience = audience
        self.now = now
        self.country = country
        self.access_tokens: set[str] = set()
        self.claims: dict[str, Claim] = {}
        self.transactions: list[tuple[dt.datetime, dict[str, Any]]] = []
        self.numbers: dict[tuple[str, str], dict[str, Any]] = {}  # (kind, number) -> body
        self.pending: list[tuple[str, str, dict[str, Any]]] = []  # (kind, claim, body)
        self.taken: list[tuple[str, str, dict[str, Any]]] = []  # every correction it will apply
        self.failures: list[tuple[str, Reply]] = []  # (path prefix, reply)
        self._skips: dict[int, int] = {}
        self.lose_answers = False
        self.drop_correction_answers = 0  # corrections stored, then a timeout (this many)
        self.search_list_name = "items"
        self.exchanges: list[Exchange] = []
        self.calls = 0
        self.token_calls = 0
        self._claim_numbers = itertools.count(242243324001)
        self._ids = itertools.count(1)
        self._validators = {
            name: validator(name)
            for name in ("ClaimRequest", "Payment", "CreditWaiver", "Recall", "TokenRequest")
        }

    # --- the agency side ------------------------------------------------------------------

    def install(self, mock: responses.RequestsMock) -> None:
        routes: list[tuple[str, str, Callable[[requests.PreparedRequest], Reply]]] = [
            ("POST", re.escape(TOKEN_URL), self._token),
            ("POST", re.escape(BASE_URL) + r"/v1/claims$", self._handover),
            ("GET", re.escape(BASE_URL) + r"/v1/claims/search(\?.*)?$", self._search),
            ("GET", re.escape(BASE_URL) + r"/v1/transactions(\?.*)?$", self._transactions),
            ("GET", re.escape(BASE_URL) + r"/v1/claims/[^/?]+/invoices(\?.*)?$", self._invoices),
            (
                "POST",
                re.escape(BASE_URL) + r"/v1/claims/[^/?]+/(payments|creditWaivers|recalls)$",
                self._correction,
            ),
        ]
        for method, pattern, handler in routes:
            mock.add_callback(method, re.compile(pattern), callback=self._serve(handler))

    def _serve(
        self, handler: Callable[[requests.PreparedRequest], Reply]
    ) -> Callable[[requests.PreparedRequest], Reply]:
        def serve(request: requests.PreparedRequest) -> Reply:
            self.calls += 1
            parts = urlsplit(request.url or "")
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            body = _body(request)
            reply = self._fault(parts.path) or handler(request)
            answer: Any = reply[2]
            if isinstance(answer, str):
                with contextlib.suppress(ValueError):
                    answer = json.loads(answer)
            status = None if isinstance(reply[2], Exception) else reply[0]
            self.exchanges.append(
                Exchange(request.method or "", parts.path, params, body, status, answer)
            )
            return reply

        return serve

    def _fault(self, path: str) -> Reply | None:
        fire = None
        for i, (prefix, reply) in enumerate(self.failures):
            if not path.startswith(prefix):
                continue
            if self._skips.get(id(reply), 0) > 0:  # let this many matching requests through
                self._skips[id(reply)] -= 1
            elif fire is None:
                fire = i
        return None if fire is None else self.failures.pop(fire)[1]

    def fail_next(
        self, status: int, *, path: str = "/v1/claims", skip: int = 0, **kwargs: Any
    ) -> str:
        """Queue one failure for the next request under ``path`` (after ``skip`` of them go
        through); returns the reason the agency gives."""
        if status == 429:
            retry_after = str(kwargs.get("retry_after", 7))
            reply = problem(429, "Too Many Requests")
            reply[1]["Retry-After"] = retry_after
        else:
            title = str(kwargs.get("title", "Validation failed"))
            detail = str(kwargs.get("detail", "The claim does not meet the handover requirements"))
            reply = problem(status, title, detail, kwargs.get("errors"))
            if status in (401, 403):
                reply = problem(status, "Unauthorized" if status == 401 else "Forbidden")
        self.failures.append((path, reply))
        if skip:
            self._skips[id(reply)] = skip
        return str(kwargs.get("detail", "The claim does not meet the handover requirements"))

    # --- token ------------------------------------------------------------------------------

    def _token(self, request: requests.PreparedRequest) -> Reply:
        self.token_calls += 1
        form = form_of(request)
        errors = list(self._validators["TokenRequest"].iter_errors(form))
        if errors:
            return (
                400,
                {},
                json.dumps({"error": "invalid_request", "error_description": "bad form"}),
            )
        if (form["client_id"], form["client_secret"]) != (self.client_id, self.client_secret):
            body = {"error": "access_denied", "error_description": "Unauthorized"}
            return 401, {"Content-Type": "application/json"}, json.dumps(body)
        if form["audience"] != self.audience:
            body = {"error": "access_denied", "error_description": "Service not found"}
            return 403, {"Content-Type": "application/json"}, json.dumps(body)
        token = f"at-{uuid.uuid4().hex}"
        self.access_tokens.add(token)
        return _json(
            {
                "access_token": token,
                "scope": "collection",
                "expires_in": 86400,
                "token_type": "Bearer",
            }
        )

    def _authorized(self, request: requests.PreparedRequest) -> bool:
        return bearer_of(request) in self.access_tokens

    def expire_tokens(self) -> None:
        self.access_tokens.clear()

    # --- handover ---------------------------------------------------------------------------

    def _handover(self, request: requests.PreparedRequest) -> Reply:
        if not self._authorized(request):
            return problem(401, "Unauthorized")
        body = _body(request)
        refused = self._refuse(body, "ClaimRequest")
        if refused:
            return refused
        number = f"{self.country}-S{next(self._claim_numbers)}"
        claim = Claim(number, str(uuid.uuid4()), body)
        claim.remaining = {
            i["invoiceNumber"]: Decimal(str(i["remainingAmount"])) for i in claim.invoices
        }
        self.claims[number] = claim
        if self.lose_answers:  # stored, and the answer never arrives
            return 0, {}, requests.exceptions.ReadTimeout("read timed out")
        return _json({"requestId": claim.request_id})

    def _refuse(self, body: Any, definition: str) -> Reply | None:
        errors = sorted(self._validators[definition].iter_errors(body), key=lambda e: list(e.path))
        if not errors:
            return None
        fields = {
            ".".join(str(p) for p in e.absolute_path) or "body": [e.validator] for e in errors[:10]
        }
        return problem(400, "Validation failed", "The request does not match the schema", fields)

    def holding(self) -> list[Claim]:
        """The claims that count as held: every claim not rejected."""
        return [c for c in self.claims.values() if c.status != "REJECTED"]

    # --- processing (what happens at Riverty between two runs) -----------------------------

    def process(self, *, reject: dict[str, str] | None = None) -> None:
        """Validate every waiting claim and correction; ``reject`` maps contract numbers to
        the description of their rejection."""
        reject = reject or {}
        for claim in self.claims.values():
            if claim.status != "IN_CREATION":
                continue
            contract = claim.contract_numbers[0]
            if contract in reject:
                claim.status = "REJECTED"
                first = claim.invoices[0]
                self._record(
                    claim,
                    "REJECTION",
                    "rejection",
                    {
                        "date": self.now.date().isoformat(),
                        "type": "INVOICE",
                        "description": reject[contract],
                        "number": first["invoiceNumber"],
                        "contractNumber": contract,
                        "amount": first["remainingAmount"],
                        "currency": first["currency"],
                    },
                )
                continue
            claim.status = "PROCESSING"
            for invoice in claim.invoices:
                self._record(
                    claim,
                    "CONFIRMATION",
                    "confirmation",
                    {
                        "date": self.now.date().isoformat(),
                        "type": "INVOICE",
                        "number": invoice["invoiceNumber"],
                        "contractNumber": claim.contract_of(invoice["invoiceNumber"]),
                        "amount": invoice["remainingAmount"],
                        "currency": invoice["currency"],
                        "additionalProperties": {},
                    },
                )
            for cost in claim.body.get("costs", []):
                self._record(
                    claim,
                    "CONFIRMATION",
                    "confirmation",
                    {
                        "date": self.now.date().isoformat(),
                        "type": "CLIENT_COSTS",
                        "number": str(next(self._ids)),
                        "amount": cost["remainingAmount"],
                        "currency": cost["currency"],
                        "additionalProperties": {},
                    },
                )
        pending, self.pending = self.pending, []
        for kind, claim_number, body in pending:
            self._apply(kind, self.claims[claim_number], body)

    def _apply(self, kind: str, claim: Claim, body: dict[str, Any]) -> None:
        day = self.now.date().isoformat()
        if kind == "recalls" and not body:
            if claim.recalled:
                self._record(
                    claim,
                    "REJECTION",
                    "rejection",
                    {
                        "date": day,
                        "type": "RECALL",
                        "description": "The claim has already been recalled by the client",
                    },
                )
                return
            claim.recalled, claim.status = True, "CLOSED"
            total = sum(claim.remaining.values(), Decimal("0"))
            claim.remaining = dict.fromkeys(claim.remaining, Decimal("0"))
            self._record(
                claim,
                "CONFIRMATION",
                "confirmation",
                {
                    "date": day,
                    "type": "RECALL",
                    "number": claim.customer_number,
                    "contractNumber": "",
                    "amount": total,
                },
            )
            self._record(claim, "CLOSING", "closing", {"date": day, "type": "RECALLED_BY_CLIENT"})
            return
        invoice = body.get("invoiceNumber")
        amount = Decimal(str(body["amount"]))
        if invoice not in claim.remaining:
            what = {"payments": "DIRECT_PAYMENT", "creditWaivers": "CREDIT_WAIVER"}.get(
                kind, "RECALL"
            )
            self._record(
                claim,
                "REJECTION",
                "rejection",
                {
                    "date": day,
                    "type": what,
                    "number": body.get("paymentNumber") or body.get("creditWaiverNumber") or "",
                    "description": "Unknown invoice number",
                },
            )
            return
        claim.remaining[invoice] = max(Decimal("0"), claim.remaining[invoice] - amount)
        if kind == "recalls":
            self._record(
                claim,
                "CONFIRMATION",
                "confirmation",
                {
                    "date": day,
                    "type": "RECALL",
                    "number": invoice,
                    "contractNumber": body.get("contractNumber", ""),
                    "amount": amount,
                    "currency": body.get("currency", "NOK"),
                },
            )
            return
        doc_type = "DIRECT_PAYMENT" if kind == "payments" else "CREDIT_WAIVER"
        number = body.get("paymentNumber") or body.get("creditWaiverNumber")
        self._record(
            claim,
            "CONFIRMATION",
            "confirmation",
            {
                "date": day,
                "type": doc_type,
                "number": number,
                "contractNumber": body.get("contractNumber", ""),
                "amount": amount,
                "currency": body["currency"],
            },
        )
        self._record(
            claim,
            "ACCOUNTING_DOCUMENT",
            "accountingDocument",
            {
                "date": body["date"],
                "type": doc_type,
                "number": number,
                "amount": -amount,
                "currency": body["currency"],
                "lineItems": [
                    {
                        "id": str(next(self._ids)),
                        "amount": -amount,
                        "allocateTo": "principalClaim",
                        "invoiceNumber": invoice,
                        "contractNumber": body.get("contractNumber", ""),
                    }
                ],
            },
        )

    def collect(
        self,
        claim_number: str,
        invoice_number: str,
        principal: Decimal,
        *,
        interest: Decimal = Decimal("0"),
        costs: Decimal = Decimal("0"),
    ) -> None:
        """The debtor pays Riverty: an ``AGENCY_PAYMENTS`` accounting document."""
        claim = self.claims[claim_number]
        contract = claim.contract_of(invoice_number)
        items = [
            {
                "id": str(next(self._ids)),
                "amount": -amount,
                "allocateTo": bucket,
                "invoiceNumber": invoice_number,
                "contractNumber": contract,
            }
            for bucket, amount in (
                ("principalClaim", principal),
                ("clientInterests", interest),
                ("clientCosts", costs),
            )
            if amount
        ]
        total = principal + interest + costs
        claim.remaining[invoice_number] -= principal
        self._record(
            claim,
            "ACCOUNTING_DOCUMENT",
            "accountingDocument",
            {
                "date": self.now.date().isoformat(),
                "type": "AGENCY_PAYMENTS",
                "number": f"AP{next(self._ids)}",
                "amount": -total,
                "currency": claim.invoices[0]["currency"],
                "lineItems": items,
            },
        )

    def close(self, claim_number: str, reason: str = "FULL_PAYMENT") -> None:
        claim = self.claims[claim_number]
        claim.status = "CLOSED"
        self._record(
            claim, "CLOSING", "closing", {"date": self.now.date().isoformat(), "type": reason}
        )

    def _record(self, claim: Claim, kind: str, key: str, body: dict[str, Any]) -> None:
        self.transactions.append(
            (
                self.now,
                {
                    "id": str(uuid.uuid4()),
                    "type": kind,
                    "customerNumber": claim.customer_number,
                    "claimNumber": claim.number,
                    key: body,
                },
            )
        )

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)

    # --- reading --------------------------------------------------------------------------

    def _search(self, request: requests.PreparedRequest) -> Reply:
        if not self._authorized(request):
            return problem(401, "Unauthorized")
        self.lose_answers = False  # the outage is over by the next run's first lookup
        query = {k: v[-1] for k, v in parse_qs(urlsplit(request.url or "").query).items()}
        page, size = int(query.get("page", "1")), int(query.get("pageSize", "10"))
        hits = [c for c in self.claims.values() if self._matches(c, query)]
        items = [
            {
                "claimNumber": c.number,
                "customerNumber": c.customer_number,
                "invoices": [],
                "customerDisplayName": "",
                "status": c.status,
                "actions": [],
                "claimType": "STAND_ALONE",
            }
            for c in hits[(page - 1) * size : page * size]
        ]
        pages = max(1, -(-len(hits) // size))
        paging = {
            "totalItems": len(hits),
            "pageSize": size,
            "currentPage": page,
            "totalPages": pages,
        }
        return _json({self.search_list_name: items, "pagination": paging})

    @staticmethod
    def _matches(claim: Claim, query: dict[str, str]) -> bool:
        checks = {
            "claimNumber": lambda v: claim.number == v,
            "customerNumber": lambda v: claim.customer_number == v,
            "contractNumber": lambda v: v in claim.contract_numbers,
            "invoiceNumber": lambda v: any(i["invoiceNumber"] == v for i in claim.invoices),
        }
        return all(check(query[name]) for name, check in checks.items() if name in query)

    def _transactions(self, request: requests.PreparedRequest) -> Reply:
        if not self._authorized(request):
            return problem(401, "Unauthorized")
        query = {k: v[-1] for k, v in parse_qs(urlsplit(request.url or "").query).items()}
        if "from" not in query or "to" not in query:
            return problem(400, "Validation failed", "from and to are required")
        low, high = _stamp(query["from"]), _stamp(query["to"])
        wanted = query.get("type", "").replace("_", "").upper()
        found = [
            tx
            for at, tx in self.transactions
            if low <= at < high and (not wanted or tx["type"].replace("_", "") == wanted)
        ]
        return _json([{"sortNumber": i, **tx} for i, tx in enumerate(found)])

    def _invoices(self, request: requests.PreparedRequest) -> Reply:
        if not self._authorized(request):
            return problem(401, "Unauthorized")
        claim = self.claims.get(unquote(urlsplit(request.url or "").path.split("/")[3]))
        if claim is None:
            return problem(404, "Not Found", "no such claim")
        items = [
            {
                **{k: v for k, v in i.items() if k != "additionalProperties"},
                "remainingAmount": claim.remaining[i["invoiceNumber"]],
            }
            for i in claim.invoices
        ]
        paging = {"totalItems": len(items), "pageSize": 50, "currentPage": 1, "totalPages": 1}
        return _json({"items": items, "pagination": paging})

    # --- corrections ------------------------------------------------------------------------

    def _correction(self, request: requests.PreparedRequest) -> Reply:
        if not self._authorized(request):
            return problem(401, "Unauthorized")
        parts = urlsplit(request.url or "").path.split("/")
        claim_number, kind = unquote(parts[3]), parts[4]
        claim = self.claims.get(claim_number)
        if claim is None or claim.status in ("IN_CREATION", "REJECTED"):
            return problem(404, "Not Found", "no claim with this number can take corrections")
        body = _body(request)
        definition = {"payments": "Payment", "creditWaivers": "CreditWaiver", "recalls": "Recall"}[
            kind
        ]
        refused = self._refuse(body, definition)
        if refused:
            return refused
        number = body.get("paymentNumber") or body.get("creditWaiverNumber")
        if number and (kind, number) in self.numbers:
            return _json({"requestId": str(uuid.uuid4())})  # "sent twice, processed once"
        if number:
            self.numbers[(kind, number)] = body
        self.pending.append((kind, claim.number, body))
        self.taken.append((kind, claim.number, body))
        if self.drop_correction_answers > 0:
            self.drop_correction_answers -= 1
            return 0, {}, requests.exceptions.ReadTimeout("read timed out")
        return _json({"requestId": str(uuid.uuid4())})


def _body(request: requests.PreparedRequest) -> Any:
    raw = request.body
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _stamp(value: str) -> dt.datetime:
    if len(value) == 10:
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
