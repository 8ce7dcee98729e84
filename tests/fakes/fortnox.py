"""An in-memory Fortnox (API v3) company served through ``responses``.

It behaves as Fortnox's OpenAPI document and its recorded answers show: lists paged with
``page`` (from 1) and ``limit`` (at most 500) and a ``MetaInformation`` block, summary rows in
lists and full records behind ``/3/<resource>/<id>`` wrapped in their singular name, the
``filter`` and global ``lastmodified`` searches, ``null`` for unset fields, amounts as decimal
numbers, OAuth2 refresh with a refresh token that rotates on every use, the bare
``{"message": "unauthorized"}`` for a refused token and lower-case ``ErrorInformation`` bodies
for the rest; financial years (``GET /3/financialyears?Date=``), a chart of accounts, and
vouchers (``POST /3/vouchers``, numbered per series and financial year, refused unless their
rows balance on accounts of the chart within the year) listed per series
(``GET /3/vouchers/sublist/{series}``). Tests can expire tokens, move the clock, queue failures
such as 429, and lose the answer to the next write (it happens; the client sees a timeout).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

import requests
import responses

from tests.fakes.token_endpoint import RefreshTokenEndpoint

BASE_URL = "https://api.fortnox.se"
TOKEN_URL = "https://apps.fortnox.se/oauth-v1/token"
MAX_LIMIT = 500
DEFAULT_LIMIT = 100

Reply = tuple[int, dict[str, str], str]

_CUSTOMER_ROW = [
    "@url",
    "Address1",
    "Address2",
    "City",
    "CustomerNumber",
    "Email",
    "Name",
    "OrganisationNumber",
    "Phone",
    "ZipCode",
]
_INVOICE_ROW = [
    "@url",
    "Balance",
    "Booked",
    "Cancelled",
    "CostCenter",
    "Currency",
    "CurrencyRate",
    "CurrencyUnit",
    "CustomerName",
    "CustomerNumber",
    "DocumentNumber",
    "DueDate",
    "ExternalInvoiceReference1",
    "ExternalInvoiceReference2",
    "InvoiceDate",
    "InvoiceType",
    "NoxFinans",
    "OCR",
    "VoucherNumber",
    "VoucherSeries",
    "VoucherYear",
    "WayOfDelivery",
    "TermsOfPayment",
    "Project",
    "Sent",
    "Total",
    "FinalPayDate",
]
_PAYMENT_ROW = [
    "@url",
    "Amount",
    "Booked",
    "Currency",
    "CurrencyRate",
    "CurrencyUnit",
    "InvoiceNumber",
    "Number",
    "PaymentDate",
    "Source",
    "WriteOffExist",
]
_LIST_PARAMS = {
    "customers": {"filter", "customernumber", "lastmodified", "sortby"},
    "invoices": {"filter", "lastmodified", "credit", "customernumber", "documentnumber", "sortby"},
    "invoicepayments": {"invoicenumber", "lastmodified", "sortby"},
}
_FILTERS = {
    "customers": {"active", "inactive"},
    "invoices": {"cancelled", "fullypaid", "unpaid", "unpaidoverdue", "unbooked"},
}


CHART = {1510, 1930, 3590, 3990, 6570, 8310, 8313}
SERIES = {"A": "Redovisning", "K": "Inkasso"}
YEARS = [
    {"Id": 1, "FromDate": "2025-01-01", "ToDate": "2025-12-31", "AccountingMethod": "ACCRUAL"},
    {"Id": 2, "FromDate": "2026-01-01", "ToDate": "2026-12-31", "AccountingMethod": "ACCRUAL"},
]


def error_body(code: int, message: str) -> str:
    """Fortnox's error body as the live API writes it (lower-case keys)."""
    return json.dumps({"ErrorInformation": {"error": 1, "message": message, "code": code}})


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        error_body(code, message),
    )


def _json(body: Any, status: int = 200) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(body, default=_number)


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(type(value).__name__)


def _money(value: Decimal | int | str) -> float:
    return float(Decimal(value).quantize(Decimal("0.01")))


class FortnoxFake(RefreshTokenEndpoint):
    """One Fortnox company and its OAuth integration. ``install`` it on a ``responses`` mock.

    Fortnox rotates the refresh token on every refresh.
    """

    answer_fields: ClassVar[dict[str, Any]] = {
        "scope": "companyinformation customer invoice payment bookkeeping"
    }

    def __init__(
        self,
        *,
        client_id: str = "client-id",
        client_secret: str = "client-secret",
        refresh_token: str = "rt-0",
        now: dt.datetime = dt.datetime(2026, 3, 31, 9, 0),
        token_lifetime: int = 3600,
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            token_lifetime=token_lifetime,
        )
        self.now = now
        self.customers: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.vouchers: dict[tuple[int, str, int], dict[str, Any]] = {}
        self.accounts = set(CHART)
        self.lose_next = False
        self.modified: dict[tuple[str, str], dt.datetime] = {}
        self.failures: list[Reply] = []
        self.exchanges: list[tuple[requests.PreparedRequest, Reply]] = []
        self.api_requests = 0
        self._customer_numbers = itertools.count(1)
        self._invoice_numbers = itertools.count(1001)
        self._payment_numbers = itertools.count(1)

    # --- building the ledger ----------------------------------------------------------------

    def _stamp(self, kind: str, key: str) -> None:
        self.modified[(kind, key)] = self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)

    def add_customer(self, name: str = "Anna Andersson", **fields: Any) -> dict[str, Any]:
        number = str(fields.pop("CustomerNumber", next(self._customer_numbers)))
        customer: dict[str, Any] = {
            "@url": f"{BASE_URL}/3/customers/{number}",
            "Active": True,
            "Address1": "Storgatan 1",
            "Address2": None,
            "City": "Stockholm",
            "Comments": None,
            "CostCenter": None,
            "Country": "Sverige",
            "CountryCode": "SE",
            "Currency": "SEK",
            "CustomerNumber": number,
            "DeliveryAddress1": None,
            "DeliveryAddress2": None,
            "DeliveryCity": None,
            "DeliveryCountry": None,
            "DeliveryCountryCode": None,
            "DeliveryFax": None,
            "DeliveryName": None,
            "DeliveryPhone1": None,
            "DeliveryPhone2": None,
            "DeliveryZipCode": None,
            "Email": "",
            "EmailInvoice": "",
            "EmailInvoiceBCC": "",
            "EmailInvoiceCC": "",
            "ExternalReference": None,
            "Fax": None,
            "GLN": None,
            "GLNDelivery": None,
            "InvoiceRemark": "",
            "Name": name,
            "OrganisationNumber": "",
            "OurReference": "",
            "Phone1": None,
            "Phone2": None,
            "PriceList": "A",
            "Project": "",
            "ShowPriceVATIncluded": False,
            "TermsOfPayment": "30",
            "Type": "PRIVATE",
            "VATNumber": "",
            "VATType": "SEVAT",
            "VisitingAddress": None,
            "VisitingCity": None,
            "VisitingCountry": None,
            "VisitingCountryCode": None,
            "VisitingZipCode": None,
            "WWW": "",
            "YourReference": "",
            "ZipCode": "11122",
            **fields,
        }
        self.customers[number] = customer
        self._stamp("customers", number)
        return customer

    def add_invoice(
        self,
        customer: dict[str, Any],
        total: Decimal | int | str = "1250.00",
        *,
        paid: Decimal | int | str = 0,
        invoice_date: dt.date | None = None,
        due_date: dt.date | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        number = str(fields.pop("DocumentNumber", next(self._invoice_numbers)))
        issued = invoice_date or self.now.date() - dt.timedelta(days=45)
        due = due_date or issued + dt.timedelta(days=30)
        amount = Decimal(total)
        invoice: dict[str, Any] = {
            "@url": f"{BASE_URL}/3/invoices/{number}",
            "Address1": customer.get("Address1"),
            "Address2": None,
            "AdministrationFee": 0,
            "Balance": _money(amount - Decimal(paid)),
            "Booked": True,
            "Cancelled": False,
            "City": customer.get("City"),
            "Comments": "",
            "ContractReference": 0,
            "CostCenter": "",
            "Country": "Sverige",
            "Credit": "false",
            "CreditInvoiceReference": "0",
            "Currency": "SEK",
            "CurrencyRate": 1,
            "CurrencyUnit": 1,
            "CustomerName": customer["Name"],
            "CustomerNumber": customer["CustomerNumber"],
            "DocumentNumber": number,
            "DueDate": due.isoformat(),
            "ExternalInvoiceReference1": "",
            "ExternalInvoiceReference2": "",
            "FinalPayDate": None,
            "InvoiceDate": issued.isoformat(),
            "InvoiceType": "INVOICE",
            "Language": "SV",
            "LastRemindDate": None,
            "Net": _money(amount * 4 / 5),
            "NoxFinans": False,
            "OCR": _ocr(number),
            "OrderReference": "",
            "OrganisationNumber": customer.get("OrganisationNumber") or "",
            "Project": "",
            "Remarks": "Konsulttjänster, mars",
            "Reminders": 0,
            "Sent": True,
            "TermsOfPayment": "30",
            "Total": _money(amount),
            "TotalToPay": _money(amount),
            "TotalVAT": _money(amount / 5),
            "VoucherNumber": int(number) if number.isdigit() else 0,
            "VoucherSeries": "B",
            "VoucherYear": 1,
            "WayOfDelivery": "",
            "YourOrderNumber": "",
            "YourReference": "",
            "ZipCode": customer.get("ZipCode"),
            **fields,
        }
        self.invoices[number] = invoice
        self._stamp("invoices", number)
        return invoice

    def add_credit_invoice(
        self, invoice: dict[str, Any], amount: Decimal | int | str, **fields: Any
    ) -> dict[str, Any]:
        """A credit invoice against ``invoice``; the invoice's balance drops by ``amount``."""
        customer = self.customers[invoice["CustomerNumber"]]
        credit = self.add_invoice(
            customer,
            -Decimal(amount),
            Credit="true",
            CreditInvoiceReference=invoice["DocumentNumber"],
            Remarks="Kreditering",
            **fields,
        )
        credit["Balance"] = 0.0
        invoice["Balance"] = _money(Decimal(str(invoice["Balance"])) - Decimal(amount))
        self._stamp("invoices", invoice["DocumentNumber"])
        return credit

    def add_payment(
        self, invoice: dict[str, Any], amount: Decimal | int | str, *, on: dt.date | None = None
    ) -> dict[str, Any]:
        return self._register(
            {
                "InvoiceNumber": int(invoice["DocumentNumber"]),
                "Amount": _money(Decimal(amount)),
                "PaymentDate": (on or self.now.date()).isoformat(),
            }
        )

    def _register(self, body: dict[str, Any]) -> dict[str, Any]:
        invoice = self.invoices[str(body["InvoiceNumber"])]
        number = str(next(self._payment_numbers))
        amount = Decimal(str(body["Amount"]))
        payment: dict[str, Any] = {
            "@url": f"{BASE_URL}/3/invoicepayments/{number}",
            "Amount": _money(amount),
            "AmountCurrency": _money(Decimal(str(body.get("AmountCurrency", body["Amount"])))),
            "Booked": False,
            "Currency": invoice["Currency"],
            "CurrencyRate": 1,
            "CurrencyUnit": 1,
            "ExternalInvoiceReference1": "",
            "ExternalInvoiceReference2": "",
            "InvoiceCustomerName": invoice["CustomerName"],
            "InvoiceCustomerNumber": invoice["CustomerNumber"],
            "InvoiceDueDate": invoice["DueDate"],
            "InvoiceNumber": int(invoice["DocumentNumber"]),
            "InvoiceOCR": invoice["OCR"],
            "InvoiceTotal": str(invoice["Total"]),
            "ModeOfPayment": body.get("ModeOfPayment", ""),
            "ModeOfPaymentAccount": 1930,
            "Number": number,
            "PaymentDate": body["PaymentDate"],
            "Source": "manual",
            "VoucherNumber": None,
            "VoucherSeries": None,
            "VoucherYear": None,
            "WriteOffs": [],
        }
        self.payments[number] = payment
        invoice["Balance"] = _money(Decimal(str(invoice["Balance"])) - amount)
        self._stamp("invoicepayments", number)
        self._stamp("invoices", invoice["DocumentNumber"])
        return payment

    def touch(self, kind: str, key: str) -> None:
        self._stamp(kind, key)

    def lose_next_answer(self) -> None:
        self.lose_next = True

    def fail_next(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self.failures.append(_error(status, code, message, headers))

    # --- serving ----------------------------------------------------------------------------

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, TOKEN_URL, callback=self._logged(self.token))
        pattern = re.compile(re.escape(BASE_URL) + r"/.*")
        for method in (responses.GET, responses.POST, responses.PUT):
            mock.add_callback(method, pattern, callback=self._logged(self._api))

    def _logged(
        self, handler: Callable[[requests.PreparedRequest], Reply]
    ) -> Callable[[requests.PreparedRequest], Reply | Exception]:
        def serve(request: requests.PreparedRequest) -> Reply | Exception:
            reply = handler(request)
            api = (request.url or "").startswith(BASE_URL)
            if self.lose_next and api and request.method != "GET" and reply[0] < 400:
                self.lose_next = False
                self.exchanges.append((request, (0, {}, "")))
                return requests.exceptions.ReadTimeout("the answer was lost")
            self.exchanges.append((request, reply))
            return reply

        return serve

    def refused(self, code: str) -> Reply:
        """Fortnox names a bad client, and any other refusal a bad grant."""
        if code == "invalid_client":
            body = {"error": code, "error_description": "Invalid client credentials"}
            return 401, {"Content-Type": "application/json"}, json.dumps(body)
        if code != "invalid_request":
            code = "invalid_grant"
        body = {"error": code, "error_description": "Invalid refresh token"}
        return 400, {"Content-Type": "application/json"}, json.dumps(body)

    def _api(self, request: requests.PreparedRequest) -> Reply:
        self.api_requests += 1
        if self.failures:
            return self.failures.pop(0)
        if not self.authorized(request):
            return (
                401,
                {"Content-Type": "application/json"},
                json.dumps({"message": "unauthorized"}),
            )
        parts = urlsplit(request.url or "")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        route = [unquote(p) for p in parts.path.strip("/").split("/")]
        if route[:1] != ["3"] or len(route) < 2:
            return _error(404, 2000000, "Resursen kunde inte hittas.")
        kind, rest = route[1], route[2:]
        if request.method == "POST" and kind == "invoicepayments" and not rest:
            return self._post_payment(request)
        if request.method == "PUT" and kind == "invoicepayments" and rest[1:] == ["bookkeep"]:
            return self._bookkeep(rest[0])
        if request.method == "POST" and kind == "vouchers" and not rest:
            return self._post_voucher(request, query)
        if request.method != "GET":
            return _error(405, 2000000, "Metoden stöds inte.")
        if kind == "companyinformation" and not rest:
            return _json({"CompanyInformation": {"CompanyName": "Exempel AB"}})
        if kind == "financialyears" and not rest:
            day = query.get("Date")
            years = [y for y in YEARS if day is None or y["FromDate"] <= day <= y["ToDate"]]
            return _json({"FinancialYears": years})
        if kind == "vouchers" and len(rest) == 2 and rest[0] == "sublist":
            return self._voucher_list(rest[1], query)
        if kind in _LIST_PARAMS and not rest:
            return self._list(kind, query)
        if kind in _LIST_PARAMS and len(rest) == 1:
            return self._one(kind, rest[0])
        return _error(404, 2000000, "Resursen kunde inte hittas.")

    def _store(self, kind: str) -> dict[str, dict[str, Any]]:
        return {
            "customers": self.customers,
            "invoices": self.invoices,
            "invoicepayments": self.payments,
        }[kind]

    def _one(self, kind: str, key: str) -> Reply:
        found = self._store(kind).get(key)
        if found is None:
            names = {
                "customers": "kunden",
                "invoices": "fakturan",
                "invoicepayments": "betalningen",
            }
            return _error(404, 2000433, f"Kan inte hitta {names[kind]}.")
        wrap = {"customers": "Customer", "invoices": "Invoice", "invoicepayments": "InvoicePayment"}
        return _json({wrap[kind]: found})

    def _list(self, kind: str, query: dict[str, str]) -> Reply:
        unknown = set(query) - _LIST_PARAMS[kind] - {"page", "limit"}
        if unknown:
            return _error(400, 2000588, f"Ogiltig parameter: {sorted(unknown)[0]}")
        if "filter" in query and query["filter"] not in _FILTERS.get(kind, set()):
            return _error(400, 2000587, "Ogiltigt filter.")
        page_text, limit_text = query.get("page", "1"), query.get("limit", str(DEFAULT_LIMIT))
        if not (page_text.isdigit() and limit_text.isdigit()) or int(page_text) < 1:
            return _error(400, 2000589, "Ogiltig sida eller gräns.")
        page, limit = int(page_text), int(limit_text)
        if not 1 <= limit <= MAX_LIMIT:
            return _error(400, 2000589, f"limit måste vara mellan 1 och {MAX_LIMIT}.")
        since = None
        if "lastmodified" in query:
            try:
                since = dt.datetime.fromisoformat(query["lastmodified"])
            except ValueError:
                return _error(400, 2000590, "Ogiltigt datum i lastmodified.")
        rows = [
            (key, row)
            for key, row in self._store(kind).items()
            if self._matches(kind, key, row, query, since)
        ]
        pages = math.ceil(len(rows) / limit)
        chosen = rows[(page - 1) * limit : page * limit]
        columns = {"customers": _CUSTOMER_ROW, "invoices": _INVOICE_ROW}.get(kind, _PAYMENT_ROW)
        body_key = {"customers": "Customers", "invoices": "Invoices"}.get(kind, "InvoicePayments")
        items = [self._row(kind, row, columns) for _, row in chosen]
        meta = {"@TotalResources": len(rows), "@TotalPages": pages, "@CurrentPage": page}
        return _json({"MetaInformation": meta, body_key: items})

    def _row(self, kind: str, row: dict[str, Any], columns: list[str]) -> dict[str, Any]:
        out = {c: row.get(c) for c in columns if c in row or c in ("Phone", "WriteOffExist")}
        if kind == "customers":
            out["Phone"] = row.get("Phone1")
        if kind == "invoices":
            out["CurrencyRate"] = str(row.get("CurrencyRate"))  # as the live list sends it
        if kind == "invoicepayments":
            out["WriteOffExist"] = bool(row.get("WriteOffs"))
        return out

    def _matches(
        self,
        kind: str,
        key: str,
        row: dict[str, Any],
        query: dict[str, str],
        since: dt.datetime | None,
    ) -> bool:
        if since is not None and self.modified.get((kind, key), self.now) < since:
            return False
        wanted = query.get("filter")
        if kind == "customers" and wanted is not None:
            return bool(row.get("Active")) == (wanted == "active")
        if kind == "invoices":
            balance = Decimal(str(row.get("Balance", 0)))
            open_ = balance != 0 and not row.get("Cancelled")
            overdue = str(row.get("DueDate", "")) < self.now.date().isoformat()
            checks: dict[str | None, bool] = {
                None: True,
                "unpaid": open_,
                "unpaidoverdue": open_ and overdue,
                "fullypaid": balance == 0 and not row.get("Cancelled"),
                "cancelled": bool(row.get("Cancelled")),
                "unbooked": not row.get("Booked"),
            }
            if not checks[wanted]:
                return False
            if "credit" in query and (str(row.get("Credit")) == "true") != (
                query["credit"] == "true"
            ):
                return False
            if "documentnumber" in query and key != query["documentnumber"]:
                return False
        if "customernumber" in query and str(row.get("CustomerNumber")) != query["customernumber"]:
            return False
        return not (
            kind == "invoicepayments"
            and "invoicenumber" in query
            and str(row.get("InvoiceNumber")) != query["invoicenumber"]
        )

    def _post_payment(self, request: requests.PreparedRequest) -> Reply:
        try:
            body = json.loads(request.body or b"")
        except ValueError:
            return _error(400, 2000001, "Ogiltig JSON.")
        payment = body.get("InvoicePayment") if isinstance(body, dict) else None
        if not isinstance(payment, dict) or not isinstance(payment.get("InvoiceNumber"), int):
            return _error(400, 2000359, "Fakturanummer saknas.")
        if str(payment["InvoiceNumber"]) not in self.invoices:
            return _error(400, 2000433, "Kan inte hitta fakturan.")
        amount = payment.get("Amount")
        if not isinstance(amount, int | float) or amount <= 0:
            return _error(400, 2000360, "Belopp saknas.")
        if not isinstance(payment.get("PaymentDate"), str):
            return _error(400, 2000361, "Betaldatum saknas.")
        return _json({"InvoicePayment": self._register(payment)}, status=201)

    def _year(self, query: dict[str, str], day: str | None = None) -> dict[str, Any] | None:
        wanted = query.get("financialyear")
        for year in YEARS:
            if wanted is not None and str(year["Id"]) == wanted:
                return year
            if wanted is None and day is not None and year["FromDate"] <= day <= year["ToDate"]:
                return year
        return None

    def _post_voucher(self, request: requests.PreparedRequest, query: dict[str, str]) -> Reply:
        """A voucher as Fortnox books one: the next number in its series and financial year,
        rows on accounts of the chart whose debits equal their credits."""
        try:
            body = json.loads(request.body or b"", parse_float=Decimal)
        except ValueError:
            return _error(400, 2000001, "Ogiltig JSON.")
        voucher = body.get("Voucher") if isinstance(body, dict) else None
        if not isinstance(voucher, dict):
            return _error(400, 2000001, "Verifikation saknas.")
        day, series = voucher.get("TransactionDate"), voucher.get("VoucherSeries")
        year = self._year(query, day)
        if (
            year is None
            or not isinstance(day, str)
            or not year["FromDate"] <= day <= year["ToDate"]
        ):
            return _error(400, 2000057, "Datumet ligger inte inom räkenskapsåret.")
        if series not in SERIES:
            return _error(400, 2000360, "Verifikationsserien finns inte.")
        description = voucher.get("Description")
        if not isinstance(description, str) or not 1 <= len(description) <= 200:
            return _error(400, 2000361, "Beskrivning saknas eller är för lång.")
        rows = voucher.get("VoucherRows") or []
        if len(rows) < 2 or any(row.get("Account") not in self.accounts for row in rows):
            return _error(400, 2000423, "Kontot finns inte i kontoplanen.")
        debit = sum(Decimal(str(row.get("Debit", 0))) for row in rows)
        credit = sum(Decimal(str(row.get("Credit", 0))) for row in rows)
        if debit != credit or debit == 0:
            return _error(400, 2000550, "Verifikationen är inte i balans.")
        number = 1 + sum(1 for key in self.vouchers if key[:2] == (year["Id"], series))
        stored = {
            "@url": f"{BASE_URL}/3/vouchers/{series}/{number}?financialyear={year['Id']}",
            "Comments": None,
            "CostCenter": "",
            "Description": description,
            "Project": "",
            "ReferenceNumber": "",
            "ReferenceType": "MANUAL",
            "TransactionDate": day,
            "VoucherNumber": number,
            "VoucherRows": [
                {
                    "Account": row["Account"],
                    "CostCenter": "",
                    "Credit": _money(Decimal(str(row.get("Credit", 0)))),
                    "Debit": _money(Decimal(str(row.get("Debit", 0)))),
                    "Description": "",
                    "Project": "",
                    "Removed": False,
                    "TransactionInformation": row.get("TransactionInformation", ""),
                    "Quantity": 0,
                }
                for row in rows
            ],
            "VoucherSeries": series,
            "Year": year["Id"],
        }
        self.vouchers[(year["Id"], series, number)] = stored
        return _json({"Voucher": stored}, status=201)

    def _voucher_list(self, series: str, query: dict[str, str]) -> Reply:
        if series not in SERIES:
            return _error(400, 2000360, "Verifikationsserien finns inte.")
        year = self._year(query, self.now.date().isoformat())
        if year is None:
            return _error(400, 2000057, "Räkenskapsåret finns inte.")
        rows = [v for key, v in sorted(self.vouchers.items()) if key[:2] == (year["Id"], series)]
        page, limit = int(query.get("page", "1")), int(query.get("limit", str(DEFAULT_LIMIT)))
        chosen = rows[(page - 1) * limit : page * limit]
        listed = ("@url", "Comments", "Description", "ReferenceNumber", "ReferenceType")
        listed += ("TransactionDate", "VoucherNumber", "VoucherSeries", "Year")
        items = [{k: v[k] for k in listed} for v in chosen]
        pages = math.ceil(len(rows) / limit)
        meta = {"@TotalResources": len(rows), "@TotalPages": pages, "@CurrentPage": page}
        return _json({"MetaInformation": meta, "Vouchers": items})

    def _bookkeep(self, number: str) -> Reply:
        payment = self.payments.get(number)
        if payment is None:
            return _error(404, 2000433, "Kan inte hitta betalningen.")
        if payment["Booked"]:
            return _error(400, 2000755, "Betalningen är redan bokförd.")
        payment["Booked"] = True
        payment["VoucherNumber"], payment["VoucherSeries"], payment["VoucherYear"] = 1, "C", 1
        self._stamp("invoicepayments", number)
        return _json({"InvoicePayment": payment})


def _ocr(number: str) -> str:
    """An OCR reference as Fortnox issues them: the number, a length digit and a Luhn digit."""
    digits = "".join(ch for ch in number if ch.isdigit()) or "0"
    body = digits + str((len(digits) + 2) % 10)
    total = 0
    for index, ch in enumerate(reversed(body)):
        value = int(ch) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str((10 - total % 10) % 10)
