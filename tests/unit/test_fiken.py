"""The Fiken source against the in-memory Fiken fake (tests/fakes/fiken.py)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from claimbridge.connectors.accounting.fiken import FikenSettings, FikenSource, make_cursor
from claimbridge.connectors.base import CheckKind, ConnectorContext, RawRecord, StreamSpec
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.errors import AuthError, ParseError, RateLimitedError, RecordError, RemoteError
from claimbridge.schemas import Claim, CreditNote, Party, Payment, SourceRef
from claimbridge.transport.http import HttpOptions
from tests.fakes.fiken import BASE_URL, TOKEN_URL, FikenFake

TODAY = dt.date(2026, 3, 31)
OLD = TODAY - dt.timedelta(days=10)


@pytest.fixture
def fake() -> FikenFake:
    return FikenFake(today=TODAY)


@pytest.fixture
def mock(fake: FikenFake) -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield rsps


def make_source(
    fake: FikenFake,
    *,
    store: Any = None,
    sleeps: list[float] | None = None,
    **overrides: Any,
) -> FikenSource:
    options: dict[str, Any] = {
        "company_slug": fake.slug,
        "client_id": fake.client_id,
        "client_secret": SecretStr(fake.client_secret),
        "refresh_token": SecretStr("rt-0"),
        "payment_account": "1920:10001",
        "http": HttpOptions(rate_limit_per_s=None, backoff_initial=0),
        **overrides,
    }
    context = ConnectorContext(
        name="ledger", today=TODAY, credentials=store or MemoryCredentialStore()
    )
    sink = sleeps if sleeps is not None else []
    return FikenSource(FikenSettings(**options), context, sleep=sink.append)


def stream(source: FikenSource, name: str) -> StreamSpec:
    return next(s for s in source.streams() if s.name == name)


def read_all(
    source: FikenSource, name: str, cursor: str | None = None
) -> tuple[list[RawRecord], str | None]:
    records: list[RawRecord] = []
    last: str | None = None
    for page in source.read(stream(source, name), cursor):
        records.extend(page.records)
        last = page.cursor if page.cursor is not None else last
    return records, last


def api_calls(mock: Any) -> list[tuple[str, str, dict[str, str]]]:
    calls = []
    for call in mock.calls:
        parts = urlsplit(call.request.url)
        if call.request.url.startswith(BASE_URL):
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            calls.append((call.request.method, parts.path, query))
    return calls


# --- reading --------------------------------------------------------------------------------


def test_pagination_follows_page_count(fake: FikenFake, mock: Any) -> None:
    customer = fake.add_customer()
    for _ in range(250):
        fake.add_invoice(customer, modified=OLD)
    source = make_source(fake)
    records, cursor = read_all(source, "invoices")
    assert len(records) == 250
    assert len({r.data["invoiceNumber"] for r in records}) == 250
    pages = [q for m, p, q in api_calls(mock) if p.endswith("/invoices")]
    assert [q["page"] for q in pages] == ["0", "1", "2"]
    assert all(q["pageSize"] == "100" and q["settled"] == "false" for q in pages)
    assert cursor == make_cursor(TODAY - dt.timedelta(days=1))


def test_only_the_last_page_carries_the_cursor(fake: FikenFake, mock: Any) -> None:
    customer = fake.add_customer()
    for _ in range(5):
        fake.add_invoice(customer)
    pages = list(make_source(fake, page_size=2).read(stream(make_source(fake), "invoices"), None))
    assert [len(p.records) for p in pages] == [2, 2, 1]
    assert [p.cursor is not None for p in pages] == [False, False, True]


def test_empty_stream_still_advances_the_cursor(fake: FikenFake, mock: Any) -> None:
    pages = list(make_source(fake).read(stream(make_source(fake), "credit_notes"), None))
    assert len(pages) == 1
    assert not pages[0].records
    assert pages[0].cursor is not None


def test_incremental_round_trip(fake: FikenFake, mock: Any) -> None:
    customer = fake.add_customer(lastModifiedDate=OLD.isoformat())
    invoices = [fake.add_invoice(customer, modified=OLD) for _ in range(30)]
    source = make_source(fake)
    cursors = {}
    for name in ("customers", "invoices", "payments", "credit_notes"):
        _, cursors[name] = read_all(source, name)
    before = len(api_calls(mock))
    for name in cursors:
        records, cursors[name] = read_all(source, name, cursors[name])
        assert records == []
    assert len(api_calls(mock)) - before == 4  # one request per stream, whatever the size
    fake.touch(invoices[7])
    records, _ = read_all(source, "invoices", cursors["invoices"])
    assert [r.data["invoiceNumber"] for r in records] == [invoices[7]["invoiceNumber"]]
    query = api_calls(mock)[-1][2]
    assert query["lastModifiedGe"] == (TODAY - dt.timedelta(days=1)).isoformat()
    assert "settled" not in query  # a change to settled must come through too


def test_a_bad_cursor_is_a_parse_error(fake: FikenFake, mock: Any) -> None:
    source = make_source(fake)
    with pytest.raises(ParseError, match="cursor"):
        read_all(source, "invoices", "{not json")
    with pytest.raises(ParseError):
        read_all(source, "invoices", json.dumps({"v": 99, "since": "2026-01-01"}))


def test_fetch_by_id(fake: FikenFake, mock: Any) -> None:
    customer = fake.add_customer()
    invoice = fake.add_invoice(customer)
    note = fake.add_credit_note(invoice, 5000)
    source = make_source(fake)
    found = list(
        source.fetch(stream(source, "invoices"), [str(invoice["invoiceNumber"]), "99999", "x/../1"])
    )
    assert [r.data["invoiceNumber"] for r in found] == [invoice["invoiceNumber"]]
    people = list(source.fetch(stream(source, "customers"), [str(customer["contactId"]), "424242"]))
    assert [r.data["contactId"] for r in people] == [customer["contactId"]]
    notes = list(source.fetch(stream(source, "credit_notes"), [str(note["creditNoteId"])]))
    assert notes[0].data["associatedInvoiceNumber"] == str(invoice["invoiceNumber"])


# --- auth -----------------------------------------------------------------------------------


def test_expired_token_is_refreshed_and_the_request_retried_once(
    fake: FikenFake, mock: Any
) -> None:
    fake.add_invoice(fake.add_customer())
    source = make_source(fake)
    read_all(source, "invoices")
    assert fake.token_requests == 1
    fake.expire_tokens()
    records, _ = read_all(source, "invoices")
    assert len(records) == 1
    assert fake.token_requests == 2
    statuses = [c.response.status_code for c in mock.calls if c.request.url.startswith(BASE_URL)]
    assert statuses[-2:] == [401, 200]


def test_refused_after_refresh_is_an_auth_error(fake: FikenFake, mock: Any) -> None:
    source = make_source(fake)
    fake.fail_next(401, "invalid_token", "token revoked")
    fake.fail_next(401, "invalid_token", "token revoked")
    with pytest.raises(AuthError, match="token revoked"):
        read_all(source, "invoices")


def test_rotated_refresh_token_is_persisted_before_use(fake: FikenFake, mock: Any) -> None:
    order: list[str] = []

    class Store(MemoryCredentialStore):
        def put(self, key: str, value: str) -> None:
            order.append(f"put@{fake.api_requests}")
            super().put(key, value)

    store = Store()
    source = make_source(fake, store=store)
    read_all(source, "customers")
    assert order == ["put@0"]  # stored before the first API request used the new token
    assert store.get("fiken:ledger:refresh_token") == fake.refresh_token == "rt-1"
    # a new process starts from the stored token: the configured rt-0 is dead by now
    again = make_source(fake, store=store)
    read_all(again, "customers")
    assert fake.refresh_token == "rt-2"
    assert store.get("fiken:ledger:refresh_token") == "rt-2"


def test_token_endpoint_request_shape(fake: FikenFake, mock: Any) -> None:
    read_all(make_source(fake), "customers")
    call = next(c for c in mock.calls if c.request.url == TOKEN_URL)
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(call.request.body) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["rt-0"],
    }
    assert call.request.headers["Authorization"].startswith("Basic ")


def test_invalid_refresh_token_gives_the_vendor_code(fake: FikenFake, mock: Any) -> None:
    source = make_source(fake, refresh_token=SecretStr("rt-wrong"))
    with pytest.raises(AuthError) as caught:
        read_all(source, "customers")
    assert caught.value.code == "invalid_grant"
    assert "invalid or expired" in str(caught.value)
    assert "rt-wrong" not in str(caught.value)


# --- limits and errors ----------------------------------------------------------------------


def test_429_waits_out_retry_after(fake: FikenFake, mock: Any) -> None:
    sleeps: list[float] = []
    source = make_source(fake, sleeps=sleeps)
    fake.fail_next(429, "too_many_requests", "One request at a time", {"Retry-After": "7"})
    _records, _ = read_all(source, "customers")
    assert sleeps == [7.0]


def test_429_that_persists_is_rate_limited(fake: FikenFake, mock: Any) -> None:
    source = make_source(fake, http=HttpOptions(rate_limit_per_s=None, max_retries=1))
    for _ in range(3):
        fake.fail_next(429, "too_many_requests", "slow down", {"Retry-After": "2"})
    with pytest.raises(RateLimitedError) as caught:
        read_all(source, "customers")
    assert caught.value.code == "too_many_requests"
    assert caught.value.retry_after == 2.0


def test_vendor_error_body_becomes_remote_error(fake: FikenFake, mock: Any) -> None:
    source = make_source(fake)
    fake.fail_next(400, "invalid_parameter", "pageSize must be between 1 and 100")
    with pytest.raises(RemoteError) as caught:
        read_all(source, "invoices")
    assert caught.value.code == "invalid_parameter"
    assert caught.value.status == 400
    assert "pageSize must be between 1 and 100" in str(caught.value)


def test_a_body_that_is_not_a_list_is_a_parse_error(fake: FikenFake, mock: Any) -> None:
    source = make_source(fake)
    fake.failures.append((200, {"Content-Type": "application/json"}, '{"oops": 1}'))
    with pytest.raises(ParseError, match="/invoices"):
        read_all(source, "invoices")
    fake.failures.append((200, {"Content-Type": "application/json"}, "[" * 100_000))
    with pytest.raises(ParseError, match="not JSON"):
        read_all(source, "invoices")


# --- check ----------------------------------------------------------------------------------


def test_check_ok(fake: FikenFake, mock: Any) -> None:
    result = make_source(fake).check()
    assert result.ok
    assert [i.kind for i in result.items] == [
        CheckKind.CONFIG,
        CheckKind.AUTH,
        CheckKind.REACHABILITY,
    ]


def test_check_tells_failures_apart(fake: FikenFake, mock: Any) -> None:
    bad_auth = make_source(fake, refresh_token=SecretStr("nope")).check()
    assert not bad_auth.ok
    assert bad_auth.items[-1].kind is CheckKind.AUTH
    wrong_company = make_source(fake, company_slug="other-company").check()
    assert next((i.kind, i.ok) for i in wrong_company.items) == (CheckKind.CONFIG, False)


def test_check_unreachable_never_raises(fake: FikenFake) -> None:
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, TOKEN_URL, body=requests.ConnectionError("no route"))
        result = make_source(fake).check()
    assert not result.ok
    assert result.items[-1].kind is CheckKind.REACHABILITY


# --- normalizing ----------------------------------------------------------------------------


def test_invoice_maps_to_claim_with_exact_minor_units(fake: FikenFake, mock: Any) -> None:
    customer = fake.add_customer()
    invoice = fake.add_invoice(customer, 1234501, paid=100001)
    source = make_source(fake)
    [record], _ = read_all(source, "invoices")
    [claim] = source.normalize(stream(source, "invoices"), record)
    assert isinstance(claim, Claim)
    assert claim.original_amount == Decimal("12345.01")
    assert claim.remaining_principal == Decimal("11345.00")
    assert claim.invoice_number == str(invoice["invoiceNumber"])
    assert claim.debtor_id == str(customer["contactId"])
    assert claim.kid == invoice["kid"]
    assert claim.currency == "NOK"
    assert claim.source == SourceRef(
        system="fiken", company=fake.slug, record_id=claim.invoice_number, record_type="invoice"
    )


@given(st.integers(min_value=1, max_value=10**15))
@settings(max_examples=200)
def test_minor_units_are_exact(ore: int) -> None:
    source = make_source(FikenFake())
    record = RawRecord(_invoice_data(gross=ore, outstanding=ore), "t")
    [claim] = source.normalize(stream(source, "invoices"), record)
    assert isinstance(claim, Claim)
    assert claim.original_amount * 100 == ore


def _invoice_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "invoiceNumber": 10001,
        "issueDate": "2026-01-01",
        "dueDate": "2026-01-15",
        "gross": over.pop("gross", 10000),
        "currency": "NOK",
        "customer": {"contactId": 5, "name": "X"},
        "sale": {"outstandingBalance": over.pop("outstanding", 10000)},
    }
    data.update(over)
    return data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"dueDate": None}, "due_date"),
        ({"gross": "12,5"}, "original_amount"),
        ({"gross": 12.5}, "original_amount"),
        ({"sale": None}, "remaining_principal"),
        ({"issueDate": "2026-02-30"}, "invoice_date"),
        ({"invoiceText": "x" * 1_000_000}, "invoiceText: text longer"),
        ({"customer": "not an object"}, "debtor_id"),
        ({"currency": "XXQ"}, "currency"),
    ],
)
def test_malformed_invoices_are_record_errors(data: dict[str, Any], reason: str) -> None:
    source = make_source(FikenFake())
    with pytest.raises(RecordError) as caught:
        source.normalize(
            stream(source, "invoices"), RawRecord(_invoice_data(**data), "fiken:invoices:page0[3]")
        )
    assert any(reason in r for r in caught.value.reasons)
    assert caught.value.location == "fiken:invoices:page0[3]"


def test_hostile_records_through_read_are_quarantinable(fake: FikenFake, mock: Any) -> None:
    customer = fake.add_customer()
    fake.add_invoice(customer)
    broken = fake.add_invoice(customer)
    del broken["gross"]
    deep: Any = "x"
    for _ in range(50):
        deep = {"a": deep}
    fake.add_invoice(customer, invoiceText=deep)
    source = make_source(fake)
    records, _ = read_all(source, "invoices")
    outcomes = []
    for record in records:
        try:
            source.normalize(stream(source, "invoices"), record)
            outcomes.append("ok")
        except RecordError as exc:
            outcomes.append(exc.reasons[0])
    assert outcomes[0] == "ok"
    assert "original_amount: missing (required)" in outcomes[1]
    assert "nested too deeply" in outcomes[2]


def test_non_object_records_are_record_errors(fake: FikenFake, mock: Any) -> None:
    fake.failures.append((200, {"Content-Type": "application/json"}, '[1, "two", null]'))
    source = make_source(fake)
    records, _ = read_all(source, "invoices")
    for record in records:
        with pytest.raises(RecordError, match="not an object"):
            source.normalize(stream(source, "invoices"), record)


def test_customer_maps_all_contact_data(fake: FikenFake, mock: Any) -> None:
    fake.add_customer(
        "Fjord Bygg AS",
        organizationNumber="913312465",
        email="post@fjordbygg.example",
        language="ENGLISH",
        groups=["vip"],
        contactPerson=[
            {
                "contactPersonId": 1,
                "name": "Ola",
                "email": "ola@fjordbygg.example",
                "phoneNumber": "98573564",
            }
        ],
    )
    fake.add_customer("Kari Nordmann", address={"country": "Norway"})
    source = make_source(fake)
    records, _ = read_all(source, "customers")
    company, person = (source.normalize(stream(source, "customers"), r)[0] for r in records)
    assert isinstance(company, Party)
    assert isinstance(person, Party)
    assert company.kind == "company"
    assert company.organization_number == "913312465"
    assert company.addresses[0].postal_code == "0155"
    assert company.addresses[0].country == "NO"
    assert company.emails[0].address == "post@fjordbygg.example"
    assert company.contact_person is not None
    assert company.contact_person.phones[0].number == "98573564"
    assert company.language == "en"
    assert company.tags == ("vip",)
    assert person.kind == "person"
    assert person.addresses == ()


def test_payments_and_credit_notes(fake: FikenFake, mock: Any) -> None:
    customer = fake.add_customer()
    invoice = fake.add_invoice(customer, 50000, paid=20000)
    fake.add_credit_note(invoice, 10000, creditNoteText="Wrong hours")
    source = make_source(fake)
    [payment_record], _ = read_all(source, "payments")
    [payment] = source.normalize(stream(source, "payments"), payment_record)
    assert isinstance(payment, Payment)
    assert payment.amount == Decimal("200.00")
    assert payment.invoice_number == str(invoice["invoiceNumber"])
    assert payment.reference == invoice["kid"]
    [note_record], _ = read_all(source, "credit_notes")
    [note] = source.normalize(stream(source, "credit_notes"), note_record)
    assert isinstance(note, CreditNote)
    assert note.amount == Decimal("100.00")
    assert note.invoice_number == str(invoice["invoiceNumber"])


# --- booking --------------------------------------------------------------------------------


def _claim_for(invoice: dict[str, Any], source: FikenSource) -> Claim:
    record = RawRecord({**invoice, "customer": {"contactId": invoice["customerId"]}}, "t")
    claim = source.normalize(stream(source, "invoices"), record)[0]
    assert isinstance(claim, Claim)
    return claim


def test_register_payment_shape_and_idempotency(fake: FikenFake, mock: Any) -> None:
    invoice = fake.add_invoice(fake.add_customer(), 50000)
    source = make_source(fake)
    claim = _claim_for(invoice, source)
    payment = Payment(
        payment_id="agency-77",
        source=SourceRef(system="agency", record_id="77"),
        amount=Decimal("150.25"),
        currency="NOK",
        booking_date=dt.date(2026, 4, 2),
    )
    first = source.register_payment(payment, claim)
    second = source.register_payment(payment, claim)
    assert first == second
    posts = [
        c for c in mock.calls if c.request.method == "POST" and c.request.url.startswith(BASE_URL)
    ]
    assert len(posts) == 1
    assert posts[0].request.url.endswith(f"/sales/{invoice['sale']['saleId']}/payments")
    assert json.loads(posts[0].request.body) == {
        "date": "2026-04-02",
        "account": "1920:10001",
        "amount": 15025,
    }
    assert invoice["sale"]["outstandingBalance"] == 50000 - 15025
    assert [p["paymentId"] for p in invoice["sale"]["salePayments"]] == [int(first)]


def test_register_payment_refuses_what_fiken_cannot_book(fake: FikenFake, mock: Any) -> None:
    invoice = fake.add_invoice(fake.add_customer(), 50000)
    source = make_source(fake, payment_account=None)
    claim = _claim_for(invoice, source)
    payment = Payment(
        payment_id="p",
        source=SourceRef(system="a", record_id="p"),
        amount=Decimal("1.00"),
        currency="NOK",
        booking_date=TODAY,
    )
    with pytest.raises(Exception, match="payment_account"):
        source.register_payment(payment, claim)
    euro = payment.model_copy(update={"currency": "EUR"})
    with pytest.raises(Exception, match="NOK"):
        make_source(fake).register_payment(euro, claim)


def test_benchmark_keeps_to_the_rate_and_a_fixed_nochange_cost() -> None:
    """Never faster than the limit allows (how much slower is the benchmark's to measure)."""
    from benchmarks.source_fiken import run

    small, large = run(300, rate_per_s=40.0), run(1500, rate_per_s=40.0)
    assert small["ratio"] >= 0.98
    assert large["ratio"] >= 0.98
    assert small["nochange_requests"] == large["nochange_requests"] == 4
