"""An in-memory Fiken (API v2) company served through ``responses``.

It behaves as Fiken's public OpenAPI document describes: paging with ``page``/``pageSize`` (both
needed, at most 100, default 25) and the ``Fiken-Api-*`` headers, date filters with the
``Le/Lt/Ge/Gt`` suffixes, amounts in øre, invoices that embed their customer and sale, payments
posted on sales with a ``Location`` header, general journal entries (``POST
/generalJournalEntries``, each line moving an amount in øre from its ``creditAccount`` to its
``debitAccount``; refused with 400 for an account the chart does not have) read back from
``GET /journalEntries`` with the ``date``/``createdDate`` filters, OAuth2 refresh with rotating
refresh tokens, and the OAuth-shaped error body ``{"error", "error_description"}``. Tests can
expire tokens, queue failures such as 429 with ``Retry-After``, and lose the answer to the next
write (it happens; the client sees a read timeout).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses

from tests.fakes.token_endpoint import RefreshTokenEndpoint

BASE_URL = "https://api.fiken.no/api/v2"
TOKEN_URL = "https://fiken.no/oauth/token"
PAGE_HEADERS = (
    "Fiken-Api-Page",
    "Fiken-Api-Page-Size",
    "Fiken-Api-Page-Count",
    "Fiken-Api-Result-Count",
)

Reply = tuple[int, dict[str, str], str]

_DATE_FILTERS = {
    "date": "date",
    "lastModified": "lastModifiedDate",
    "issueDate": "issueDate",
    "createdDate": "createdDate",
}
_SUFFIXES: dict[str, Callable[[str, str], bool]] = {
    "": lambda a, b: a == b,
    "Le": lambda a, b: a <= b,
    "Lt": lambda a, b: a < b,
    "Ge": lambda a, b: a >= b,
    "Gt": lambda a, b: a > b,
}
_LIST_PARAMS = {
    "contacts": {"customer", "supplier", "inactive", "customerNumber", "name", "email"},
    "invoices": {"settled", "invoiceNumber", "customerId"},
    "creditNotes": {"settled", "customerId"},
    "journalEntries": set(),
}
_LIST_DATES = {
    "contacts": ("lastModified", "createdDate"),
    "invoices": ("lastModified", "issueDate"),
    "creditNotes": ("issueDate",),
    "journalEntries": ("date", "lastModified", "createdDate"),
}
CHART = {"1500", "1920:10001", "2400", "3000", "3900", "7770", "8050"}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps({"error": code, "error_description": message})
    return status, {"Content-Type": "application/json", **(headers or {})}, body


_FIKEN_REFUSALS = {
    "invalid_client": "Client authentication failed",
    "invalid_request": "Token requests must be form encoded",
    "unsupported_grant_type": "Only refresh_token is supported here",
    "invalid_grant": "The refresh token is invalid or expired.",
}


class FikenFake(RefreshTokenEndpoint):
    """One Fiken company and its OAuth app. ``install`` it on a ``responses`` mock."""

    def __init__(
        self,
        slug: str = "acme-as",
        *,
        client_id: str = "app-id",
        client_secret: str = "app-secret",
        refresh_token: str = "rt-0",
        rotate: bool = True,
        today: dt.date = dt.date(2026, 3, 31),
        token_lifetime: int = 3600,
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            token_lifetime=token_lifetime,
            rotate=rotate,
        )
        self.slug = slug
        self.today = today
        self.contacts: dict[int, dict[str, Any]] = {}
        self.invoices: dict[int, dict[str, Any]] = {}
        self.credit_notes: dict[int, dict[str, Any]] = {}
        self.journal_entries: dict[int, dict[str, Any]] = {}
        self.accounts = set(CHART)
        self.lose_next = False
        self.failures: list[Reply] = []
        self.api_requests = 0
        self._ids = itertools.count(1000)
        self._numbers = itertools.count(10001)

    # --- building the ledger ----------------------------------------------------------------

    def add_customer(self, name: str = "Kari Nordmann", **fields: Any) -> dict[str, Any]:
        contact_id = next(self._ids)
        contact: dict[str, Any] = {
            "contactId": contact_id,
            "createdDate": self.today.isoformat(),
            "lastModifiedDate": self.today.isoformat(),
            "name": name,
            "customerNumber": 10000 + contact_id,
            "customerAccountCode": f"1500:{10000 + contact_id}",
            "customer": True,
            "supplier": False,
            "inactive": False,
            "address": {
                "streetAddress": "Storgata 1",
                "city": "Oslo",
                "postCode": "0155",
                "country": "Norway",
            },
            **fields,
        }
        self.contacts[contact_id] = contact
        return contact

    def add_invoice(
        self,
        customer: dict[str, Any],
        gross: int = 125000,
        *,
        paid: int = 0,
        issue: dt.date | None = None,
        due: dt.date | None = None,
        modified: dt.date | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        issue = issue or self.today - dt.timedelta(days=30)
        due = due or issue + dt.timedelta(days=14)
        invoice_id, sale_id = next(self._ids), next(self._ids)
        number = next(self._numbers)
        stamp = (modified or self.today).isoformat()
        invoice: dict[str, Any] = {
            "invoiceId": invoice_id,
            "createdDate": issue.isoformat(),
            "lastModifiedDate": stamp,
            "invoiceNumber": number,
            "kid": f"{number:08d}5",
            "issueDate": issue.isoformat(),
            "dueDate": due.isoformat(),
            "net": gross * 4 // 5,
            "vat": gross - gross * 4 // 5,
            "gross": gross,
            "netInNok": gross * 4 // 5,
            "vatInNok": gross - gross * 4 // 5,
            "grossInNok": gross,
            "cash": False,
            "invoiceText": "Consulting, March",
            "currency": "NOK",
            "sentManually": False,
            "customerId": customer["contactId"],
            "sale": {
                "saleId": sale_id,
                "lastModifiedDate": stamp,
                "saleNumber": str(number),
                "date": issue.isoformat(),
                "kind": "invoice",
                "netAmount": gross * 4 // 5,
                "vatAmount": gross - gross * 4 // 5,
                "settled": paid >= gross,
                "writeOff": False,
                "totalPaid": paid,
                "totalPaidInCurrency": paid,
                "outstandingBalance": gross - paid,
                "currency": "NOK",
                "dueDate": due.isoformat(),
                "kid": f"{number:08d}5",
                "salePayments": [],
                "deleted": False,
            },
            **fields,
        }
        if paid:
            invoice["sale"]["salePayments"].append(
                {
                    "paymentId": next(self._ids),
                    "date": issue.isoformat(),
                    "account": "1920:10001",
                    "amount": paid,
                }
            )
        self.invoices[invoice_id] = invoice
        return invoice

    def add_credit_note(self, invoice: dict[str, Any], gross: int, **fields: Any) -> dict[str, Any]:
        note_id = next(self._ids)
        note: dict[str, Any] = {
            "creditNoteId": note_id,
            "creditNoteNumber": next(self._numbers),
            "customer": self.contacts[invoice["customerId"]],
            "net": gross * 4 // 5,
            "vat": gross - gross * 4 // 5,
            "gross": gross,
            "netInNok": gross * 4 // 5,
            "vatInNok": gross - gross * 4 // 5,
            "grossInNok": gross,
            "address": {"country": "Norway"},
            "currency": "NOK",
            "issueDate": self.today.isoformat(),
            "settled": False,
            "associatedInvoiceId": invoice["invoiceId"],
            **fields,
        }
        self.credit_notes[note_id] = note
        return note

    def touch(self, invoice: dict[str, Any]) -> None:
        invoice["lastModifiedDate"] = invoice["sale"]["lastModifiedDate"] = self.today.isoformat()

    def lose_next_answer(self) -> None:
        self.lose_next = True

    def fail_next(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self.failures.append(_error(status, code, message, headers))

    # --- serving ----------------------------------------------------------------------------

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, TOKEN_URL, callback=self.token)
        pattern = re.compile(re.escape(BASE_URL) + r"/.*")
        for method in (responses.GET, responses.POST):
            mock.add_callback(method, pattern, callback=self._api)

    def refused(self, code: str) -> Reply:
        status = 401 if code == "invalid_client" else 400
        return _error(status, code, _FIKEN_REFUSALS[code])

    def _api(self, request: requests.PreparedRequest) -> Reply | Exception:
        reply = self._serve(request)
        if self.lose_next and request.method == "POST" and reply[0] < 400:
            self.lose_next = False
            return requests.exceptions.ReadTimeout("the answer was lost")
        return reply

    def _serve(self, request: requests.PreparedRequest) -> Reply:
        self.api_requests += 1
        if self.failures:
            return self.failures.pop(0)
        if not self.authorized(request):
            return _error(401, "invalid_token", "The access token is invalid or has expired")
        parts = urlsplit(request.url or "")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        prefix = urlsplit(BASE_URL).path + f"/companies/{self.slug}"
        if not parts.path.startswith(prefix):
            return _error(404, "not_found", "Company not found")
        route = parts.path[len(prefix) :].strip("/").split("/") if parts.path != prefix else []
        if request.method == "POST":
            return self._post(route, request)
        return self._get(route, query)

    def _get(self, route: list[str], query: dict[str, str]) -> Reply:
        if not route:
            return _json({"name": "Acme AS", "slug": self.slug, "organizationNumber": "913312465"})
        kind, rest = route[0], route[1:]
        if not rest and kind in _LIST_PARAMS:
            return self._list(kind, query)
        if len(rest) == 1 and rest[0].isdigit():
            found = {
                "contacts": self.contacts,
                "invoices": self.invoices,
                "creditNotes": self.credit_notes,
                "journalEntries": self.journal_entries,
            }.get(kind, {}).get(int(rest[0]))
            if found is None:
                return _error(404, "not_found", f"No such {kind[:-1]}")
            return _json(self._view(kind, found))
        if kind == "sales" and len(rest) == 2 and rest[1] == "payments" and rest[0].isdigit():
            sale = self._sale(int(rest[0]))
            if sale is None:
                return _error(404, "not_found", "No such sale")
            return _json(sale["sale"]["salePayments"])
        return _error(404, "not_found", "No such resource")

    def _list(self, kind: str, query: dict[str, str]) -> Reply:
        allowed = _LIST_PARAMS[kind] | {"page", "pageSize"}
        allowed |= {f"{d}{s}" for d in _LIST_DATES[kind] for s in _SUFFIXES}
        unknown = set(query) - allowed
        if unknown:
            return _error(400, "invalid_parameter", f"Unknown query parameter {sorted(unknown)[0]}")
        page, size = 0, 25
        if "page" in query and "pageSize" in query:
            if not (query["page"].isdigit() and query["pageSize"].isdigit()):
                return _error(400, "invalid_parameter", "page and pageSize must be whole numbers")
            page, size = int(query["page"]), int(query["pageSize"])
            if not 1 <= size <= 100:
                return _error(400, "invalid_parameter", "pageSize must be between 1 and 100")
        store = {
            "contacts": self.contacts,
            "invoices": self.invoices,
            "creditNotes": self.credit_notes,
            "journalEntries": self.journal_entries,
        }[kind]
        rows = [r for r in store.values() if self._matches(kind, r, query)]
        count = math.ceil(len(rows) / size)
        body = [self._view(kind, r) for r in rows[page * size : (page + 1) * size]]
        headers = {
            "Fiken-Api-Page": str(page),
            "Fiken-Api-Page-Size": str(size),
            "Fiken-Api-Page-Count": str(count),
            "Fiken-Api-Result-Count": str(len(rows)),
        }
        return _json(body, headers)

    def _matches(self, kind: str, row: dict[str, Any], query: dict[str, str]) -> bool:
        for name, value in query.items():
            base = next(
                (
                    d
                    for d in _LIST_DATES[kind]
                    if name.startswith(d) and name[len(d) :] in _SUFFIXES
                ),
                None,
            )
            if base is not None:
                if not _SUFFIXES[name[len(base) :]](row.get(_DATE_FILTERS[base], ""), value):
                    return False
            elif name == "settled":
                settled = (
                    row["sale"]["settled"] if kind == "invoices" else row.get("settled", False)
                )
                if settled != (value == "true"):
                    return False
            elif name in ("customer", "supplier", "inactive"):
                if bool(row.get(name, False)) != (value == "true"):
                    return False
            elif name == "invoiceNumber":
                if str(row["invoiceNumber"]) != value:
                    return False
            elif name == "customerId" and str(row.get("customerId")) != value:
                return False
        return True

    def _view(self, kind: str, row: dict[str, Any]) -> dict[str, Any]:
        if kind == "invoices":
            view = {k: v for k, v in row.items() if k != "customerId"}
            view["customer"] = self.contacts[row["customerId"]]
            return view
        return row

    def _sale(self, sale_id: int) -> dict[str, Any] | None:
        for invoice in self.invoices.values():
            if invoice["sale"]["saleId"] == sale_id:
                return invoice
        return None

    def _post(self, route: list[str], request: requests.PreparedRequest) -> Reply:
        if route == ["generalJournalEntries"]:
            return self._post_journal(request)
        if not (
            len(route) == 3
            and route[0] == "sales"
            and route[2] == "payments"
            and route[1].isdigit()
        ):
            return _error(405, "method_not_allowed", "Method not allowed")
        invoice = self._sale(int(route[1]))
        if invoice is None:
            return _error(404, "not_found", "No such sale")
        if request.headers.get("Content-Type") != "application/json":
            return _error(415, "unsupported_media_type", "We accept application/json only")
        try:
            body = json.loads(request.body or b"")
        except ValueError:
            return _error(400, "invalid_body", "Body is not JSON")
        if not isinstance(body, dict) or not {"date", "account", "amount"} <= set(body):
            return _error(400, "invalid_body", "date, account and amount are required")
        if not isinstance(body["amount"], int) or body["amount"] <= 0:
            return _error(400, "invalid_body", "amount must be a positive whole number of cents")
        sale = invoice["sale"]
        payment = {"paymentId": next(self._ids), **body}
        sale["salePayments"].append(payment)
        sale["totalPaid"] += body["amount"]
        sale["totalPaidInCurrency"] += body["amount"]
        sale["outstandingBalance"] = max(0, invoice["gross"] - sale["totalPaid"])
        sale["settled"] = sale["outstandingBalance"] == 0
        self.touch(invoice)
        location = (
            f"{BASE_URL}/companies/{self.slug}/sales/{sale['saleId']}"
            f"/payments/{payment['paymentId']}"
        )
        return 201, {"Location": location}, ""

    def _post_journal(self, request: requests.PreparedRequest) -> Reply:
        """A general journal entry as Fiken books one: two-sided lines in øre on accounts of
        the chart; each journal entry of the request becomes one entry with its own id."""
        if request.headers.get("Content-Type") != "application/json":
            return _error(415, "unsupported_media_type", "We accept application/json only")
        try:
            body = json.loads(request.body or b"")
        except ValueError:
            return _error(400, "invalid_body", "Body is not JSON")
        entries = body.get("journalEntries") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not entries:
            return _error(400, "invalid_body", "journalEntries is required")
        made = []
        for entry in entries:
            if not isinstance(entry, dict) or not {"description", "date", "lines"} <= set(entry):
                return _error(400, "invalid_body", "description, date and lines are required")
            if len(entry["description"]) > 200:
                return _error(400, "invalid_body", "description is longer than 200 characters")
            lines = []
            for line in entry["lines"]:
                amount = line.get("amount") if isinstance(line, dict) else None
                if not isinstance(amount, int) or amount <= 0:
                    return _error(400, "invalid_body", "amount must be a positive number of øre")
                sides = [line.get("debitAccount"), line.get("creditAccount")]
                if None in sides:
                    return _error(400, "invalid_body", "lines need a debit and a credit account")
                if any(side not in self.accounts for side in sides):
                    return _error(400, "invalid_account", "The account does not exist")
                lines.append({"amount": amount, "account": sides[0]})
                lines.append({"amount": -amount, "account": sides[1]})
            made.append((entry, lines))
        for entry, lines in made:
            entry_id = next(self._ids)
            self.journal_entries[entry_id] = {
                "journalEntryId": entry_id,
                "createdDate": self.today.isoformat(),
                "lastModifiedDate": self.today.isoformat(),
                "transactionId": entry_id + 500_000,
                "journalEntryNumber": len(self.journal_entries) + 1,
                "description": entry["description"],
                "date": entry["date"],
                "lines": lines,
            }
        location = f"{BASE_URL}/companies/{self.slug}/generalJournalEntries/{entry_id}"
        return 201, {"Location": location}, ""


def _json(body: Any, headers: dict[str, str] | None = None) -> Reply:
    return 200, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body)
