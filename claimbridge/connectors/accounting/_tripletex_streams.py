"""Tripletex's four streams: which endpoint each reads, with which window, and by id.

``/customer`` has ``changedSince``. ``/invoice`` has no change filter, only an invoice-date
window, so an invoice that changed because money moved is found through the payment postings
of the window (``/ledger/posting?type=INCOMING_PAYMENT``) and credited invoices through the
credit notes of the window; both are then fetched again. Each window starts ``lookback_days``
before the previous sync, for postings booked late.

Credit notes are invoices with ``isCreditNote``, and ``/invoice`` cannot filter on it, so the
credit-note reader pages through invoices and keeps the notes. Readers yield whatever each
request gave, empty lists included; :func:`paged` packs that into pages of the configured
size, so a consumer never sees an empty page unless the whole stream is empty.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from claimbridge.connectors.accounting._tripletex_booking import Caller
from claimbridge.connectors.base import Page, RawRecord, StreamSpec
from claimbridge.errors import ConnectorError, ParseError, RemoteError

__all__ = [
    "CREDIT_NOTES",
    "CUSTOMERS",
    "DERIVED",
    "INVOICES",
    "PAYMENTS",
    "Since",
    "StreamReader",
    "Window",
    "make_cursor",
    "paged",
    "parse_cursor",
    "raw_record",
]

CUSTOMERS = StreamSpec(name="customers", primary_key="id", cursor_field="changedSince")
INVOICES = StreamSpec(name="invoices", primary_key="invoiceNumber", cursor_field="invoiceDate")
PAYMENTS = StreamSpec(name="payments", primary_key="id", cursor_field="date")
CREDIT_NOTES = StreamSpec(name="credit_notes", primary_key="id", cursor_field="invoiceDate")

DERIVED = "_claimbridge"  # derived values added to a raw record before mapping
PAYMENT_POSTING = "INCOMING_PAYMENT"

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


@dataclass(frozen=True, slots=True)
class Window:
    """What bounds a read: today, the oldest invoice date, and the overlaps of sync windows."""

    today: dt.date
    history_start: dt.date
    lookback_days: int
    changed_lookback_minutes: int
    page_size: int


@dataclass(frozen=True, slots=True)
class Since:
    """A stored cursor: when the previous sync started, and its day."""

    at: dt.datetime
    date: dt.date


def make_cursor(started: dt.datetime, today: dt.date) -> str:
    return json.dumps({"v": 1, "at": started.isoformat(), "date": today.isoformat()})


def parse_cursor(cursor: str | None) -> Since | None:
    if cursor is None:
        return None
    try:
        data = json.loads(cursor)
        return Since(dt.datetime.fromisoformat(data["at"]), dt.date.fromisoformat(data["date"]))
    except (ValueError, KeyError, TypeError):
        raise ParseError("unreadable tripletex cursor; reset the stream", field="cursor") from None


def paged(batches: Iterator[list[RawRecord]], size: int, cursor: str) -> Iterator[Page]:
    """Pack the readers' batches into pages of ``size``; the cursor goes on the last page
    only, so a crash midway re-reads the window. Holds at most one page plus one batch."""
    held: list[RawRecord] = []
    for batch in batches:
        held.extend(batch)
        while len(held) > size:  # keep something back for the page that carries the cursor
            yield Page(held[:size], None)
            held = held[size:]
    yield Page(held, cursor)


def raw_record(value: Any, path: str, index: int) -> RawRecord:
    """A value from an answer, located by its id (``/invoice/101``) or its position."""
    if not isinstance(value, dict):
        return RawRecord({"_problem": "record is not a JSON object"}, f"{path}#{index}")
    ident = value.get("id")
    where = f"{path}/{ident}" if isinstance(ident, int) else f"{path}#{index}"
    return RawRecord(value, where)


def list_pages(
    call: Caller,
    path: str,
    params: Mapping[str, str | int],
    page_size: int,
    *,
    at_most: int | None = None,
) -> Iterator[list[RawRecord]]:
    """Tripletex's ``from``/``count`` paging over the ``values`` envelope.

    ``at_most``: the query cannot match more (a list of ids), so one page of that size is
    the whole answer.
    """
    start, count = 0, at_most or page_size
    while True:
        body = call("GET", path, {**params, "from": start, "count": count})
        values = body.get("values")
        if not isinstance(values, list):
            raise ParseError("the answer has no 'values' list", file=path)
        yield [raw_record(value, path, start + i) for i, value in enumerate(values)]
        if len(values) < count or at_most is not None:
            return
        start += len(values)


class StreamReader:
    """Reads and fetches the streams through ``call`` (one authenticated API call)."""

    def __init__(self, call: Caller, window: Window) -> None:
        self._call = call
        self._window = window

    def read(self, stream: StreamSpec, since: Since | None) -> Iterator[list[RawRecord]]:
        """Batches of records changed since ``since`` (None: a full read)."""
        if stream.name == CUSTOMERS.name:
            return self._customers(since)
        if stream.name == INVOICES.name:
            return self._invoices(since)
        if stream.name == CREDIT_NOTES.name:
            return self._credit_notes(since)
        if stream.name == PAYMENTS.name:
            return self._payments(since)
        raise ConnectorError(f"unknown stream {stream.name!r}", connector="tripletex")

    def fetch(self, stream: StreamSpec, ids: Sequence[str]) -> Iterator[RawRecord]:
        """Records by primary key, equal to those a read yields; unknown ids are skipped."""
        wanted = [i for i in dict.fromkeys(str(x).strip() for x in ids) if i.isdigit()]
        if stream.name == CUSTOMERS.name:
            return self._customers_by_id(wanted)
        if stream.name == INVOICES.name:
            return self._invoices_by_number(wanted)
        if stream.name == CREDIT_NOTES.name:
            return self._credit_notes_by_id(wanted)
        if stream.name == PAYMENTS.name:
            return self._payments_by_id(wanted)
        raise ConnectorError(f"unknown stream {stream.name!r}", connector="tripletex")

    # --- reading ----------------------------------------------------------------------------

    def _pages(
        self, path: str, params: Mapping[str, str | int], *, at_most: int | None = None
    ) -> Iterator[list[RawRecord]]:
        return list_pages(self._call, path, params, self._window.page_size, at_most=at_most)

    def _window_start(self, since: Since | None) -> dt.date:
        if since is None:
            return self._window.history_start
        return since.date - dt.timedelta(days=self._window.lookback_days)

    def _invoice_window(self, start: dt.date) -> dict[str, str | int]:
        end = self._window.today + dt.timedelta(days=1)  # invoiceDateTo excludes its day
        return {
            "invoiceDateFrom": start.isoformat(),
            "invoiceDateTo": end.isoformat(),
            "fields": INVOICE_FIELDS,
        }

    def _posting_window(self, start: dt.date, fields: str) -> dict[str, str | int]:
        end = self._window.today + dt.timedelta(days=1)
        return {
            "dateFrom": start.isoformat(),
            "dateTo": end.isoformat(),
            "type": PAYMENT_POSTING,
            "fields": fields,
        }

    def _customers(self, since: Since | None) -> Iterator[list[RawRecord]]:
        params: dict[str, str | int] = {"fields": CUSTOMER_FIELDS}
        if since is not None:
            changed = since.at - dt.timedelta(minutes=self._window.changed_lookback_minutes)
            params["changedSince"] = changed.strftime("%Y-%m-%dT%H:%M:%S")
        yield from self._pages("/customer", params)

    def _invoices(self, since: Since | None) -> Iterator[list[RawRecord]]:
        seen: set[str] = set()
        credited: set[str] = set()
        for records in self._pages("/invoice", self._invoice_window(self._window_start(since))):
            batch = []
            for record in records:
                data = record.data
                if data.get("isCreditNote") is True:
                    if _is_int(data.get("creditedInvoice")):
                        credited.add(str(data["creditedInvoice"]))
                    continue
                if since is None and not _is_open(data):
                    continue  # a full sync wants open items; later changes come incrementally
                seen.add(str(data.get("invoiceNumber", "")))
                batch.append(record)
            yield batch
        if since is None:
            return
        # Invoices from before the window that money moved on, or that a credit note credits.
        numbers = self._paid_invoice_numbers(self._window_start(since)) - seen
        for chunk in _chunks(sorted(credited), _MAX_ID_BATCH):
            fresh = [
                r
                for r in self._invoices_by_id(chunk)
                if str(r.data.get("invoiceNumber", "")) not in seen
            ]
            seen.update(str(r.data.get("invoiceNumber", "")) for r in fresh)
            numbers -= {str(r.data.get("invoiceNumber", "")) for r in fresh}
            yield fresh
        for number in sorted(numbers, key=_numeric_key):
            yield list(self._invoices_by_number([number]))

    def _paid_invoice_numbers(self, start: dt.date) -> set[str]:
        params = self._posting_window(start, PAYMENT_POSTING_FIELDS)
        numbers: set[str] = set()
        for records in self._pages("/ledger/posting", params):
            for record in records:
                number = record.data.get("invoiceNumber")
                if isinstance(number, str | int) and str(number).strip():
                    numbers.add(str(number).strip())
        return numbers

    def _payments(self, since: Since | None) -> Iterator[list[RawRecord]]:
        params = self._posting_window(self._window_start(since), POSTING_FIELDS)
        yield from self._pages("/ledger/posting", params)

    def _credit_notes(self, since: Since | None) -> Iterator[list[RawRecord]]:
        for records in self._pages("/invoice", self._invoice_window(self._window_start(since))):
            notes = [r for r in records if r.data.get("isCreditNote") is True]
            if notes:
                yield self._with_credited_numbers(notes)

    def _with_credited_numbers(self, notes: list[RawRecord]) -> list[RawRecord]:
        """A credit note names the credited invoice by id; the claim knows it by number."""
        credited = (n.data.get("creditedInvoice") for n in notes)
        ids = sorted({str(value) for value in credited if _is_int(value)})
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

    # --- by id ------------------------------------------------------------------------------

    def _invoices_by_id(self, ids: Sequence[str], fields: str = INVOICE_FIELDS) -> list[RawRecord]:
        params = self._invoice_window(self._window.history_start)
        params.update(id=",".join(ids), fields=fields)
        return [r for page in self._pages("/invoice", params, at_most=len(ids)) for r in page]

    def _customers_by_id(self, ids: list[str]) -> Iterator[RawRecord]:
        for chunk in _chunks(ids, _MAX_ID_BATCH):
            params: dict[str, str | int] = {"id": ",".join(chunk), "fields": CUSTOMER_FIELDS}
            for page in self._pages("/customer", params, at_most=len(chunk)):
                yield from page

    def _invoices_by_number(self, numbers: list[str]) -> Iterator[RawRecord]:
        # /invoice filters by one invoice number at a time (its ``invoiceNumber`` is Equals).
        for number in numbers:
            params = self._invoice_window(self._window.history_start)
            params["invoiceNumber"] = number
            for page in self._pages("/invoice", params):
                yield from (r for r in page if r.data.get("isCreditNote") is not True)

    def _credit_notes_by_id(self, ids: list[str]) -> Iterator[RawRecord]:
        """Credit notes are invoices: a batch of ids per request, ordinary invoices dropped."""
        for chunk in _chunks(ids, _MAX_ID_BATCH):
            notes = [r for r in self._invoices_by_id(chunk) if r.data.get("isCreditNote") is True]
            yield from self._with_credited_numbers(notes)

    def _payments_by_id(self, ids: list[str]) -> Iterator[RawRecord]:
        """Payments are ledger postings: one ``GET /ledger/posting/{id}`` each (the list
        endpoint filters by no id); postings of another type are not payments."""
        for ident in ids:
            path = f"/ledger/posting/{ident}"
            try:
                body = self._call("GET", path, {"fields": POSTING_FIELDS})
            except RemoteError as exc:
                if exc.status == 404:
                    continue
                raise
            value = body.get("value")
            if isinstance(value, dict) and value.get("type") == PAYMENT_POSTING:
                yield raw_record(value, "/ledger/posting", 0)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_open(data: Mapping[str, Any]) -> bool:
    outstanding = data.get("amountCurrencyOutstanding")
    if not isinstance(outstanding, int | Decimal) or isinstance(outstanding, bool):
        return True  # let normalize say what is wrong with it
    return outstanding > 0


def _numeric_key(text: str) -> tuple[int, str]:
    return (int(text), text) if text.isdigit() else (0, text)


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
