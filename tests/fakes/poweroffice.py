"""An in-memory PowerOffice Go v2 client ledger behind ``responses``.

It behaves like Go as far as claimbridge uses it: the client-credentials token endpoint (Basic
application/client key, subscription key header, tokens that expire), ``PageNumber``/
``PageSize`` paging (204 past the end), the "changed after" filters, ``ProblemDetails`` error
bodies, 429 with ``Retry-After`` on demand, a chart of general ledger accounts, and bank and
manual vouchers whose ``ExternalImportReference`` must be unique on the client (a duplicate is
a 400); every voucher posts its lines as account transactions (``GET /AccountTransactions``),
and a bank voucher's customer line also lands in the customer ledger. ``lose_next_answer``
makes the next POST happen but its answer never arrive (a read timeout). A client key in
``orphan_client_keys`` gets a token that opens no Go client (every API call answers 401): a key
whose client removed the integration, or keys of the demo and production environments mixed.
Every request and the answer to it are kept in ``exchanges`` so the spec contract test can
check both against the OpenAPI document.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import responses

from tests.fakes.exchange import Exchange
from tests.fakes.token_endpoint import basic_authorization, bearer_of, form_of

BASE = "https://goapi.poweroffice.test/v2"
TOKEN_URL = "https://goapi.poweroffice.test/OAuth/Token"
APP_KEY, CLIENT_KEY, SUBSCRIPTION_KEY = "app-key-1", "client-key-1", "sub-key-1"
ORPHAN_CLIENT_KEY = "client-key-of-no-client"
CLIENT_ID = "5b0a4a8e-3f7c-4d2e-9a61-0c7d2b9e1f00"
BANK_ACCOUNT_ID = 1920
CHART = {1500: "Kundefordringer", 3900: "Annen driftsrelatert inntekt", 3990: "Nedlagt konto"}
CHART |= {7770: "Bank- og kortgebyrer", 8050: "Annen renteinntekt"}
T0 = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def stamp(moment: dt.datetime) -> str:
    return moment.isoformat(sep=" ")


@dataclass
class FakePowerOffice:
    """The ledger. Add records with the helpers; ``install(rsps)`` wires the endpoints."""

    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    contact_persons: list[dict[str, Any]] = field(default_factory=list)
    delivery_addresses: list[dict[str, Any]] = field(default_factory=list)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    vouchers: dict[str, dict[str, Any]] = field(default_factory=dict)
    client: dict[str, Any] = field(
        default_factory=lambda: {"ClientId": CLIENT_ID, "ClientName": "Demo AS"}
    )
    accounts: dict[int, dict[str, Any]] = field(
        default_factory=lambda: {
            BANK_ACCOUNT_ID: {
                "Id": BANK_ACCOUNT_ID,
                "AccountNo": 1920,
                "Name": "Bankinnskudd",
                "IsActive": True,
                "CurrencyCode": "NOK",
            },
            **{
                70_000 + number: {
                    "Id": 70_000 + number,
                    "AccountNo": number,
                    "Name": name,
                    "IsActive": number != 3990,
                }
                for number, name in CHART.items()
            },
        }
    )
    transactions: list[dict[str, Any]] = field(default_factory=list)
    lose_next: bool = False
    orphan_client_keys: set[str] = field(default_factory=lambda: {ORPHAN_CLIENT_KEY})
    token_lifetime: int = 1200
    throttle_next: int = 0  # answer this many API calls with 429
    retry_after: str = "2"
    fail_next: tuple[int, dict[str, Any]] | None = None
    revoke_tokens: bool = False
    exchanges: list[Exchange] = field(default_factory=list)
    token_requests: int = 0
    api_requests: int = 0
    now: dt.datetime = T0
    _tokens: set[str] = field(default_factory=set)
    _orphan_tokens: set[str] = field(default_factory=set)
    _ids: Any = field(default_factory=lambda: itertools.count(1000))

    # --- ledger helpers -------------------------------------------------------------------

    def tick(self, seconds: float = 60) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now

    def add_customer(self, number: int, **fields: Any) -> dict[str, Any]:
        cid = next(self._ids)
        record = {
            "Id": cid,
            "Number": number,
            "Name": f"Customer {number} AS",
            "IsPerson": False,
            "OrganizationNumber": "923609016",
            "EmailAddress": f"post{number}@example.no",
            "PhoneNumber": "+4722334455",
            "MailAddress": {
                "AddressLine1": "Storgata 1",
                "ZipCode": "0155",
                "City": "Oslo",
                "CountryCode": "NO",
            },
            "SubledgerAccountId": 500000 + number,
            "LastChangedDateTimeOffset": stamp(self.tick(1)),
            **fields,
        }
        self.customers[cid] = record
        return record

    def add_contact_person(self, customer_id: int, **fields: Any) -> dict[str, Any]:
        person = {
            "Id": next(self._ids),
            "ContactId": customer_id,
            "FirstName": "Kari",
            "LastName": "Nordmann",
            "PhoneNumber": "+4791234567",
            "EmailAddress": "kari@example.no",
            "IsDefault": True,
            "IsActive": True,
            "LastChangedDateTimeOffset": stamp(self.tick(1)),
            **fields,
        }
        self.contact_persons.append(person)
        return person

    def add_invoice(self, customer: dict[str, Any], number: int, **fields: Any) -> dict[str, Any]:
        total = Decimal(fields.pop("TotalAmount", "1250.50"))
        changed = stamp(self.tick(1))
        record = {
            "Id": str(uuid.uuid4()),
            "InvoiceNo": number,
            "CustomerId": customer["Id"],
            "CustomerNo": customer["Number"],
            "VoucherDate": "2026-01-10",
            "DueDate": "2026-01-24",
            "CurrencyCode": "NOK",
            "TotalAmount": total,
            "TotalPostedAmount": total,
            "NetAmount": total,
            "NetPostedAmount": total,
            "Balance": total,
            "Cid": f"{number:010d}",
            "VoucherNo": number,
            "VoucherType": "OutgoingInvoice",
            "IsReversed": False,
            "CreatedDateTimeOffset": changed,
            "LastChangedDateTimeOffset": changed,
            "BalanceLastChangedDateTimeOffset": changed,
            **fields,
        }
        self.invoices[record["Id"]] = record
        return record

    def pay(self, invoice: dict[str, Any], amount: str) -> dict[str, Any]:
        """A bank payment on the invoice: a ledger entry, and a lower balance."""
        invoice["Balance"] = invoice["Balance"] - Decimal(amount)
        invoice["BalanceLastChangedDateTimeOffset"] = stamp(self.tick(1))
        return self.add_entry(invoice, -Decimal(amount), "IncomingOcrGiro", Cid=invoice["Cid"])

    def add_entry(
        self, invoice: dict[str, Any], amount: Decimal, voucher_type: str, **fields: Any
    ) -> dict[str, Any]:
        created = stamp(self.tick(1))
        entry = {
            "Id": next(self._ids),
            "Amount": amount,
            "CurrencyAmount": amount,
            "CurrencyCode": "NOK",
            "Balance": Decimal("0"),
            "CustomerId": invoice["CustomerId"],
            "CustomerAccountNo": invoice["CustomerNo"],
            "PostingDate": "2026-02-01",
            "VoucherDate": "2026-02-01",
            "VoucherNo": next(self._ids),
            "VoucherId": str(uuid.uuid4()),
            "VoucherType": voucher_type,
            "CreatedDateTimeOffset": created,
            "LastChangedDateTimeOffset": created,
            **fields,
        }
        self.entries.append(entry)
        return entry

    # --- wiring ---------------------------------------------------------------------------

    def install(self, rsps: responses.RequestsMock) -> None:
        rsps.add_callback(responses.POST, TOKEN_URL, callback=self._token)
        pattern = re.compile(re.escape(BASE) + r"/.*")
        for method in (responses.GET, responses.POST):
            rsps.add_callback(method, pattern, callback=self._api)

    def _token(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        self.token_requests += 1
        granted = {
            basic_authorization(APP_KEY, key): key for key in {CLIENT_KEY, *self.orphan_client_keys}
        }
        form = form_of(request)
        if request.headers.get("Ocp-Apim-Subscription-Key") != SUBSCRIPTION_KEY:
            return (
                401,
                {},
                json.dumps(
                    {"statusCode": 401, "message": "Access denied due to missing subscription key."}
                ),
            )
        client_key = granted.get(str(request.headers.get("Authorization")))
        if client_key is None or form.get("grant_type") != "client_credentials":
            return 400, {}, json.dumps({"error": "invalid_client"})
        token = f"tok-{uuid.uuid4().hex}"
        (self._tokens if client_key == CLIENT_KEY else self._orphan_tokens).add(token)
        body = {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def lose_next_answer(self) -> None:
        self.lose_next = True

    def _api(
        self, request: requests.PreparedRequest
    ) -> tuple[int, dict[str, str], str] | Exception:
        self.api_requests += 1
        parts = urlsplit(str(request.url))
        path = parts.path[len(urlsplit(BASE).path) :]
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        body = json.loads(request.body) if request.body else None
        status, payload, headers = self._answer(request, path, query, body)
        if self.lose_next and request.method == "POST" and status < 400:
            self.lose_next = False
            self.exchanges.append(Exchange(str(request.method), path, query, body, 0, None))
            return requests.exceptions.ReadTimeout("the answer was lost")
        self.exchanges.append(Exchange(str(request.method), path, query, body, status, payload))
        text = "" if payload is None else json.dumps(payload, default=_number)
        if payload is not None:
            headers = {"Content-Type": "application/json", **headers}
        return status, headers, text

    def _answer(
        self, request: requests.PreparedRequest, path: str, query: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        if request.headers.get("Ocp-Apim-Subscription-Key") != SUBSCRIPTION_KEY:
            return 401, None, {}
        token = bearer_of(request)
        if token in self._orphan_tokens:
            return 401, None, {}
        if token not in self._tokens or self.revoke_tokens:
            self.revoke_tokens = False
            self._tokens.clear()
            return 401, None, {}
        if self.throttle_next > 0:
            self.throttle_next -= 1
            return 429, None, {"Retry-After": self.retry_after}
        if self.fail_next is not None:
            status, problem = self.fail_next
            self.fail_next = None
            return status, problem, {}
        if request.method == "POST" and path == "/Vouchers/BankJournals":
            return self._post_voucher(body)
        if request.method == "POST" and path == "/Vouchers/ManualJournals":
            return self._post_manual(body)
        if path == "/ClientIntegrationInformation":
            return 200, dict(self.client), {}
        match = re.fullmatch(r"/GeneralLedgerAccounts/(\d+)", path)
        if match:
            account = self.accounts.get(int(match.group(1)))
            if account is None:
                return 404, _problem(404, "Object(s) not found", "Account not found."), {}
            return 200, account, {}
        match = re.fullmatch(r"/Customers/(\d+)", path)
        if match:
            customer = self.customers.get(int(match.group(1)))
            if customer is None:
                return 404, _problem(404, "Object(s) not found", "Customer not found."), {}
            return 200, customer, {}
        rows = self._list(path, query)
        if rows is None:
            return 404, _problem(404, "Not found", f"No route {path}"), {}
        size = int(query.get("PageSize", "5000"))
        number = int(query.get("PageNumber", "1"))
        if size > 20000:
            return 400, _problem(400, "Validation error", "PageSize exceeds MaxPageSize."), {}
        chunk = rows[(number - 1) * size : number * size]
        return (200, chunk, {}) if chunk else (204, None, {})

    def _list(self, path: str, query: dict[str, str]) -> list[dict[str, Any]] | None:
        after = _after(query)
        if path == "/GeneralLedgerAccounts":
            rows = sorted(self.accounts.values(), key=lambda a: a["AccountNo"])
            if "accountNos" in query:
                wanted = set(query["accountNos"].split(","))
                rows = [a for a in rows if str(a["AccountNo"]) in wanted]
            return rows
        if path == "/AccountTransactions":
            low, high = query["fromDate"], query["toDate"]
            rows = [t for t in self.transactions if low <= t["PostingDate"] <= high]
            types = set(query.get("voucherTypes", "").split(",")) - {""}
            return [t for t in rows if not types or t["VoucherType"] in types]
        if path == "/Customers":
            rows = list(self.customers.values())
            return _changed(rows, "LastChangedDateTimeOffset", after.get("lastChanged"))
        if path in ("/ContactPersons", "/ContactDeliveryAddresses"):
            source = self.contact_persons if path == "/ContactPersons" else self.delivery_addresses
            rows = _changed(source, "LastChangedDateTimeOffset", after.get("lastChanged"))
            if "contactIds" in query:
                ids = {int(i) for i in query["contactIds"].split(",")}
                rows = [r for r in rows if r["ContactId"] in ids]
            return rows
        if path == "/OutgoingInvoices":
            rows = list(self.invoices.values())
            if query.get("onlyUnpaidInvoices") == "true":
                rows = [r for r in rows if r["Balance"] != 0]
            if "invoiceIds" in query:
                invoice_ids = set(query["invoiceIds"].split(","))
                rows = [r for r in rows if r["Id"] in invoice_ids]
            return _changed(rows, "BalanceLastChangedDateTimeOffset", after.get("balance"))
        if path == "/Customerledger/Statement":
            rows = _changed(self.entries, "CreatedDateTimeOffset", after.get("created"))
            types = set(query.get("voucherTypes", "").split(",")) - {""}
            if types:
                rows = [r for r in rows if r["VoucherType"] in types]
            if "customerNos" in query:
                rows = [r for r in rows if str(r["CustomerAccountNo"]) == query["customerNos"]]
            low, high = query["fromDate"], query["toDate"]
            return [r for r in rows if low <= r["PostingDate"] <= high]
        return None

    def _duplicate(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]] | None:
        reference = body.get("ExternalImportReference")
        if any(v.get("ExternalImportReference") == reference for v in self.vouchers.values()):
            detail = "A voucher with the same ExternalImportReference already exists."
            return 400, _problem(400, "Duplicate", detail), {}
        return None

    def _book(self, body: dict[str, Any], voucher_type: str) -> dict[str, Any]:
        """Store a voucher and post its lines as account transactions."""
        voucher_id = str(uuid.uuid4())
        created = stamp(self.tick(1))
        voucher = {
            **body,
            "Id": voucher_id,
            "VoucherNo": next(self._ids),
            "IsReversed": False,
            "CreatedDateTimeOffset": created,
        }
        self.vouchers[voucher_id] = voucher
        for line in body["VoucherLines"]:
            account = self.accounts.get(line["AccountId"], {})
            amount = Decimal(str(line["CurrencyAmount"]))
            self.transactions.append(
                {
                    "Id": next(self._ids),
                    "AccountId": line["AccountId"],
                    "AccountNo": account.get("AccountNo", line["AccountId"]),
                    "Amount": amount,
                    "CurrencyAmount": amount,
                    "CurrencyCode": body["CurrencyCode"],
                    "Description": line.get("Description"),
                    "PostingDate": line["PostingDate"],
                    "VoucherDate": body["VoucherDate"],
                    "VoucherId": voucher_id,
                    "VoucherNo": voucher["VoucherNo"],
                    "VoucherType": voucher_type,
                    "ExternalImportReference": body.get("ExternalImportReference"),
                    "CreatedDateTimeOffset": created,
                    "LastChangedDateTimeOffset": created,
                }
            )
        return voucher

    def _post_manual(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """A manual journal as Go posts one: lines on active accounts, amounts not zero and
        summing to zero, a VatId on every line (null for none)."""
        if not body.get("CurrencyCode") or not body.get("VoucherDate"):
            return 400, _problem(400, "Validation error", "CurrencyCode and VoucherDate."), {}
        lines = body.get("VoucherLines") or []
        for line in lines:
            account = self.accounts.get(line.get("AccountId"))
            if account is None or not account.get("IsActive", True):
                return 400, _problem(400, "Object(s) not found", "Account not found."), {}
            if "VatId" not in line or not line.get("PostingDate"):
                return 400, _problem(400, "Validation error", "VatId and PostingDate."), {}
            if not line.get("CurrencyAmount"):
                return 400, _problem(400, "Validation error", "Amount must not be 0."), {}
        if len(lines) < 2 or sum(Decimal(str(x["CurrencyAmount"])) for x in lines) != 0:
            return 400, _problem(400, "Validation error", "The voucher does not balance."), {}
        duplicate = self._duplicate(body)
        if duplicate is not None:
            return duplicate
        return 201, self._book(body, "ManualJournal"), {}

    def _post_voucher(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        duplicate = self._duplicate(body)
        if duplicate is not None:
            return duplicate
        voucher = self._book(body, "BankJournal")
        voucher_id = voucher["Id"]
        reference = body.get("ExternalImportReference")
        customer_line = body["VoucherLines"][1]
        invoice = next(
            (
                i
                for i in self.invoices.values()
                if str(i["InvoiceNo"]) == customer_line["InvoiceNo"]
            ),
            None,
        )
        if invoice is not None:
            amount = Decimal(str(customer_line["CurrencyAmount"]))
            invoice["Balance"] += amount
            self.add_entry(
                invoice,
                amount,
                "BankJournal",
                PostingDate=body["VoucherDate"],
                VoucherId=voucher_id,
                ExternalImportReference=reference,
            )
        return 201, voucher, {}


def _number(value: object) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {
        "Type": f"https://httpstatuses.io/{status}",
        "Title": title,
        "Status": status,
        "Detail": detail,
    }


def _after(query: dict[str, str]) -> dict[str, dt.datetime]:
    names = {
        "lastChangedDateTimeOffsetGreaterThan": "lastChanged",
        "balanceLastChangedDateTimeOffsetGreaterThan": "balance",
        "createdDateTimeOffsetGreaterThan": "created",
    }
    return {
        short: dt.datetime.fromisoformat(query[name])
        for name, short in names.items()
        if name in query
    }


def _changed(
    rows: list[dict[str, Any]], field_name: str, after: dt.datetime | None
) -> list[dict[str, Any]]:
    if after is None:
        return list(rows)
    return [r for r in rows if dt.datetime.fromisoformat(r[field_name]) > after]
