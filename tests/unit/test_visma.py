"""The Visma eAccounting source against the in-memory Visma fake (tests/fakes/visma.py)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from claimbridge.connectors.accounting.visma import (
    VismaSettings,
    VismaSource,
    make_cursor,
    parse_cursor,
)
from claimbridge.connectors.base import CheckKind, ConnectorContext, RawRecord, StreamSpec
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    NotFoundError,
    ParseError,
    RateLimitedError,
    RecordError,
    RemoteError,
)
from claimbridge.schemas import Claim, CreditNote, Party, Payment, SourceRef
from claimbridge.transport.http import HttpOptions
from tests.fakes.visma import BASE_URL, TOKEN_URL, VismaFake

BANK = "0a1b2c3d-0000-4000-8000-000000000001"


@pytest.fixture
def fake() -> VismaFake:
    return VismaFake()


@pytest.fixture
def mock(fake: VismaFake) -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield rsps


def make_source(
    fake: VismaFake, *, store: Any = None, sleeps: list[float] | None = None, **overrides: Any
) -> VismaSource:
    options: dict[str, Any] = {
        "client_id": fake.client_id,
        "client_secret": SecretStr(fake.client_secret),
        "refresh_token": SecretStr("rt-0"),
        "bank_account_id": BANK,
        "company": "556036-0793",
        "http": HttpOptions(rate_limit_per_s=None, backoff_initial=0),
        **overrides,
    }
    context = ConnectorContext(name="ledger", credentials=store or MemoryCredentialStore())
    sink = sleeps if sleeps is not None else []
    return VismaSource(VismaSettings(**options), context, sleep=sink.append)


def stream(source: VismaSource, name: str) -> StreamSpec:
    return next(s for s in source.streams() if s.name == name)


def read_all(
    source: VismaSource, name: str, cursor: str | None = None
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
        if call.request.url.startswith(BASE_URL):
            parts = urlsplit(call.request.url)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            calls.append((call.request.method, parts.path, query))
    return calls


def claim_for(invoice: dict[str, Any], source: VismaSource) -> Claim:
    raw = RawRecord(invoice, "test")
    claim = source.normalize(stream(source, "invoices"), raw)[0]
    assert isinstance(claim, Claim)
    return claim


def payment(
    amount: str = "100.00", payment_id: str = "agency-77", currency: str = "SEK"
) -> Payment:
    return Payment(
        payment_id=payment_id,
        source=SourceRef(system="agency", record_id=payment_id),
        amount=Decimal(amount),
        currency=currency,
        booking_date=dt.date(2026, 3, 30),
    )


# --- reading --------------------------------------------------------------------------------


def test_pagination_follows_meta(fake: VismaFake, mock: Any) -> None:
    customer = fake.add_customer()
    for _ in range(25):
        fake.add_invoice(customer)
    source = make_source(fake, page_size=10)
    pages = list(source.read(stream(source, "invoices"), None))
    assert [len(p.records) for p in pages] == [10, 10, 5]
    assert [p.cursor is not None for p in pages] == [False, False, True]
    queries = [q for _, path, q in api_calls(mock) if path == "/v2/customerinvoices"]
    assert [q["$page"] for q in queries] == ["1", "2", "3"]
    assert all(q["$pagesize"] == "10" for q in queries)
    assert queries[0]["$filter"] == "IsCreditInvoice eq false and RemainingAmount gt 0"


def test_a_server_capped_page_size_is_still_read_to_the_end(fake: VismaFake, mock: Any) -> None:
    customer = fake.add_customer()
    for _ in range(1205):
        fake.add_invoice(customer, "10.00")
    records, _ = read_all(make_source(fake, page_size=1000), "invoices")
    assert len({r.data["Id"] for r in records}) == 1205  # the fake caps pages at 1000


def test_first_read_takes_open_invoices_only(fake: VismaFake, mock: Any) -> None:
    customer = fake.add_customer()
    open_one = fake.add_invoice(customer, "500.00", paid="100.00")
    fake.add_invoice(customer, "500.00", paid="500.00")
    records, _ = read_all(make_source(fake), "invoices")
    assert [r.data["Id"] for r in records] == [open_one["Id"]]


def test_empty_stream_still_gives_a_cursor(fake: VismaFake, mock: Any) -> None:
    source = make_source(fake)
    pages = list(source.read(stream(source, "credit_notes"), None))
    assert len(pages) == 1
    assert not pages[0].records
    assert pages[0].cursor is not None


def test_incremental_cursor_round_trip(fake: VismaFake, mock: Any) -> None:
    customer = fake.add_customer()
    invoices = [fake.add_invoice(customer) for _ in range(5)]
    fake.tick()  # the ledger was last changed an hour before the first run
    source = make_source(fake)
    cursors = {s.name: read_all(source, s.name)[1] for s in source.streams()}
    assert cursors["invoices"] == make_cursor(fake.now - dt.timedelta(seconds=300))
    fake.tick()
    before = len(api_calls(mock))
    for name, cursor in cursors.items():
        records, _ = read_all(source, name, cursor)
        assert records == [], name
    assert len(api_calls(mock)) - before == 3  # one request per stream, whatever the size
    fake.pay(invoices[2], "100.00")
    records, _ = read_all(source, "invoices", cursors["invoices"])
    assert [r.data["Id"] for r in records] == [invoices[2]["Id"]]
    assert records[0].data["RemainingAmountInvoiceCurrency"] == Decimal("1150.00")
    calls = [q for _, p, q in api_calls(mock) if p == "/v2/customerinvoices"]
    assert calls[-1]["modifiedSinceUtc"] == "2026-03-31T08:55:00Z"
    assert calls[-1]["$filter"] == "IsCreditInvoice eq false"


def test_changed_customers_are_filtered_on_changed_utc(fake: VismaFake, mock: Any) -> None:
    fake.add_customer("Old AB")
    fake.tick()
    source = make_source(fake)
    _, cursor = read_all(source, "customers")
    fake.tick()
    changed = fake.add_customer("New AB")
    records, _ = read_all(source, "customers", cursor)
    assert [r.data["Id"] for r in records] == [changed["Id"]]
    last = [q for _, p, q in api_calls(mock) if p == "/v2/customers"][-1]
    assert last["$filter"] == "ChangedUtc ge 2026-03-31T08:55:00Z"


def test_a_foreign_cursor_is_a_parse_error() -> None:
    for bad in ("{", '{"v":9}', '{"v":1,"since":"2026-03-31"}', "[]"):
        with pytest.raises(ParseError):
            parse_cursor(bad)


def test_fetch_by_id(fake: VismaFake, mock: Any) -> None:
    customer = fake.add_customer()
    invoice = fake.add_invoice(customer)
    note = fake.add_invoice(customer, "10.00", credit_of=invoice)
    source = make_source(fake)
    unknown = "11111111-2222-4333-8444-555555555555"
    got = list(source.fetch(stream(source, "invoices"), [invoice["Id"], unknown, "x/../y"]))
    assert [r.data["Id"] for r in got] == [invoice["Id"]]
    assert [r.data["Id"] for r in source.fetch(stream(source, "customers"), [customer["Id"]])]
    notes = list(source.fetch(stream(source, "credit_notes"), [note["Id"], invoice["Id"]]))
    assert [r.data["ReferringInvoiceNumber"] for r in notes] == [str(invoice["InvoiceNumber"])]
    paths = {p for _, p, _ in api_calls(mock)}
    assert not any(".." in p for p in paths)


# --- normalizing ----------------------------------------------------------------------------


def test_customer_maps_every_contact_field(fake: VismaFake, mock: Any) -> None:
    customer = fake.add_customer(
        "Sven Svensson",
        IsPrivatePerson=True,
        CorporateIdentityNumber="19811218-9876",
        InvoiceAddress2="c/o Berg",
        DeliveryAddress1="Lagergatan 5",
        DeliveryPostalCode="41101",
        DeliveryCity="Göteborg",
        DeliveryCountryCode="SE",
        Telephone="08-123 456",
        EmailAddresses=["sven@hem.example"],
        ContactPersonName="Karin",
        ContactPersonMobile="070-999 88 77",
        ContactPersonEmail="karin@hem.example",
        CustomerLabels=[{"Id": "x", "Name": "VIP"}],
    )
    party = make_source(fake).normalize(CUSTOMERS_SPEC, RawRecord(customer, "t"))[0]
    assert isinstance(party, Party)
    assert party.kind == "person"
    assert party.national_id == "19811218-9876"
    assert party.organization_number is None
    assert [a.kind for a in party.addresses] == ["invoice", "delivery"]
    assert party.addresses[0].lines == ("Storgatan 1", "c/o Berg")
    assert party.addresses[1].city == "Göteborg"
    assert [p.number for p in party.phones] == ["070-123 45 67", "08-123 456"]
    assert [e.address for e in party.emails] == ["faktura@kund.example", "sven@hem.example"]
    assert party.contact_person is not None
    assert party.contact_person.name == "Karin"
    assert party.tags == ("VIP",)
    assert party.language == "sv"
    assert party.id_country == "SE"


CUSTOMERS_SPEC = StreamSpec("customers", "Id", "ChangedUtc")


def test_amounts_are_exact_decimals_in_the_invoice_currency(fake: VismaFake, mock: Any) -> None:
    customer = fake.add_customer()
    fake.add_invoice(customer, "1234567.89", paid="0.10", CurrencyCode="EUR")
    source = make_source(fake)
    records, _ = read_all(source, "invoices")
    claim = source.normalize(stream(source, "invoices"), records[0])[0]
    assert isinstance(claim, Claim)
    assert claim.original_amount == Decimal("1234567.89")
    assert claim.remaining_principal == Decimal("1234567.79")
    assert claim.currency == "EUR"
    assert claim.debtor_id == customer["Id"]
    assert claim.kid == records[0].data["PaymentReferenceNumber"]
    assert claim.due_date == dt.date(2026, 3, 21)


def test_credit_note_carries_the_credited_invoice_number(fake: VismaFake, mock: Any) -> None:
    customer = fake.add_customer()
    invoice = fake.add_invoice(customer)
    fake.add_invoice(customer, "200.50", credit_of=invoice)
    source = make_source(fake)
    records, _ = read_all(source, "credit_notes")
    note = source.normalize(stream(source, "credit_notes"), records[0])[0]
    assert isinstance(note, CreditNote)
    assert note.amount == Decimal("200.50")
    assert note.invoice_number == str(invoice["InvoiceNumber"])


@pytest.mark.parametrize(
    "change",
    [
        {"InvoiceDate": None},
        {"TotalAmountInvoiceCurrency": "lots"},
        {"DueDate": "2026-13-45T00:00:00"},
        {"CustomerId": None},
        {"Rows": [{"Text": "x" * 100_000}]},
        {"RemainingAmountInvoiceCurrency": Decimal("99999999")},
        {"InvoiceNumber": [[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]},
    ],
)
def test_malformed_records_are_record_errors(
    fake: VismaFake, mock: Any, change: dict[str, Any]
) -> None:
    invoice = {**fake.add_invoice(fake.add_customer()), **change}
    source = make_source(fake)
    with pytest.raises(RecordError) as err:
        source.normalize(stream(source, "invoices"), RawRecord(invoice, "visma:invoices:page1[0]"))
    assert err.value.reasons
    assert err.value.location == "visma:invoices:page1[0]"
    assert "Konsulttjänster" not in str(err.value)


def test_a_record_that_is_not_an_object_is_quarantined(fake: VismaFake, mock: Any) -> None:
    source = make_source(fake)
    with pytest.raises(RecordError):
        source.normalize(stream(source, "customers"), RawRecord({"__invalid__": "list"}, "x"))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "Id",
                "CustomerId",
                "InvoiceNumber",
                "InvoiceDate",
                "DueDate",
                "TotalAmountInvoiceCurrency",
                "RemainingAmountInvoiceCurrency",
                "CurrencyCode",
                "Name",
                "IsPrivatePerson",
                "ReferringInvoiceNumber",
            ]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=30),
            st.lists(st.integers(), max_size=2),
            st.decimals(allow_nan=True),
        ),
    )
)
def test_hostile_records_never_crash(fake: VismaFake, data: dict[str, Any]) -> None:
    source = make_source(fake)
    for spec in source.streams():
        try:
            source.normalize(spec, RawRecord(data, "x"))
        except RecordError as exc:
            reasons = exc.reasons
        else:
            reasons = ["normalized"]
        assert reasons


# --- auth -----------------------------------------------------------------------------------


def test_expired_token_is_refreshed_and_the_request_retried_once(
    fake: VismaFake, mock: Any
) -> None:
    fake.add_customer()
    source = make_source(fake)
    read_all(source, "customers")
    fake.expire_tokens()
    records, _ = read_all(source, "customers")
    assert len(records) == 1
    statuses = [c.response.status_code for c in mock.calls if c.request.url.startswith(BASE_URL)]
    assert statuses == [200, 401, 200]
    assert fake.token_requests == 2


def test_rotated_refresh_token_is_persisted_and_wins(fake: VismaFake, mock: Any) -> None:
    store = MemoryCredentialStore()
    make_source(fake, store=store).tokens.access_token()
    assert store.get("visma:ledger:refresh_token") == "rt-1" == fake.refresh_token
    # a new process with the stale configured token still works: the stored one wins
    make_source(fake, store=store).tokens.access_token()
    assert store.get("visma:ledger:refresh_token") == "rt-2"
    form = parse_qs(mock.calls[-1].request.body)
    assert form["refresh_token"] == ["rt-1"]
    assert form["grant_type"] == ["refresh_token"]


def test_a_refused_refresh_token_is_an_auth_error_without_secrets(
    fake: VismaFake, mock: Any
) -> None:
    source = make_source(fake, refresh_token=SecretStr("stolen-or-spent"))
    with pytest.raises(AuthError) as err:
        read_all(source, "customers")
    assert err.value.code == "invalid_grant"
    assert "stolen-or-spent" not in str(err.value)
    assert "app-secret" not in str(err.value)
    assert "stolen" not in repr(source.tokens)


# --- rate limits and errors -----------------------------------------------------------------


def test_429_with_retry_after_is_waited_out(fake: VismaFake, mock: Any) -> None:
    fake.add_customer()
    message = "API calls quota exceeded! maximum admitted 600 per Minute. Try again in 7 seconds."
    fake.fail_next(429, 4010, message, {"Retry-After": "7"})
    sleeps: list[float] = []
    records, _ = read_all(make_source(fake, sleeps=sleeps), "customers")
    assert len(records) == 1
    assert 7.0 in sleeps


def test_429_exhausted_is_rate_limited_error_with_visma_code(fake: VismaFake, mock: Any) -> None:
    for _ in range(3):
        fake.fail_next(429, 4010, "API calls quota exceeded!", {"Retry-After": "1"})
    source = make_source(fake, http=HttpOptions(rate_limit_per_s=None, max_retries=2))
    with pytest.raises(RateLimitedError) as err:
        read_all(source, "customers")
    assert err.value.code == "4010"
    assert "quota exceeded" in str(err.value)


def test_each_endpoint_is_paced_on_its_own(fake: VismaFake, mock: Any) -> None:
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    options = VismaSettings(
        client_id="app-id",
        client_secret=SecretStr("app-secret"),
        refresh_token=SecretStr("rt-0"),
        http=HttpOptions(rate_limit_per_s=10),
    )
    source = VismaSource(options, ConnectorContext(name="l"), sleep=sleep, clock=lambda: clock[0])
    read_all(source, "customers")
    read_all(source, "invoices")  # another endpoint: its first request does not wait
    assert sleeps == []
    read_all(source, "invoices")
    assert sleeps == [pytest.approx(0.1)]


def test_vendor_error_body_becomes_remote_error(fake: VismaFake, mock: Any) -> None:
    fake.fail_next(400, 2000, "The field InvoiceDate is invalid")
    with pytest.raises(RemoteError) as err:
        read_all(make_source(fake), "invoices")
    assert err.value.code == "2000"
    assert err.value.status == 400
    assert "The field InvoiceDate is invalid" in str(err.value)


def test_forbidden_scope_is_auth_error(fake: VismaFake, mock: Any) -> None:
    fake.fail_next(403, 4003, "Missing scope ea:sales")
    with pytest.raises(AuthError) as err:
        read_all(make_source(fake), "invoices")
    assert err.value.code == "4003"


@pytest.mark.parametrize(
    "body",
    [
        b"<html>",
        b'{"Meta": {}, "Data": {}}',
        b"[]",
        b'{"Meta": {"TotalNumberOfPages": "x"}, "Data": []}',
    ],
)
def test_unreadable_list_bodies_are_parse_errors(fake: VismaFake, mock: Any, body: bytes) -> None:
    fake.failures.append((200, {"Content-Type": "application/json"}, body.decode()))
    with pytest.raises(ParseError):
        read_all(make_source(fake), "customers")


# --- check ----------------------------------------------------------------------------------


def test_check_ok(fake: VismaFake, mock: Any) -> None:
    result = make_source(fake).check()
    assert result.ok
    assert [i.kind for i in result.items] == [
        CheckKind.CONFIG,
        CheckKind.AUTH,
        CheckKind.REACHABILITY,
    ]


def test_check_failed_auth(fake: VismaFake, mock: Any) -> None:
    result = make_source(fake, client_secret=SecretStr("wrong")).check()
    assert not result.ok
    assert result.items[-1].kind is CheckKind.AUTH


def test_check_unreachable() -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, TOKEN_URL, body=requests.ConnectionError("refused"))
        result = make_source(VismaFake()).check()
    assert not result.ok
    assert result.items[-1].kind is CheckKind.REACHABILITY


def test_check_missing_scope_is_permission(fake: VismaFake, mock: Any) -> None:
    source = make_source(fake)
    source.tokens.access_token()
    fake.fail_next(403, 4003, "Missing scope")
    result = source.check()
    assert not result.ok
    assert result.items[-1].kind is CheckKind.PERMISSION


def test_bad_config_is_config_error() -> None:
    with pytest.raises(ConfigError):
        make_source(VismaFake(), base_url="http://example.com")
    with pytest.raises(ValueError):
        VismaSettings(
            client_id="a",
            client_secret=SecretStr("b"),
            refresh_token=SecretStr("c"),
            bank_account_id="not-a-uuid",
        )


# --- booking --------------------------------------------------------------------------------


def test_register_payment_request_shape(fake: VismaFake, mock: Any) -> None:
    invoice = fake.add_invoice(fake.add_customer(), "1250.00")
    source = make_source(fake)
    ledger_id = source.register_payment(payment("100.05"), claim_for(invoice, source))
    assert ledger_id == f"{invoice['Id']}:agency-77"
    post = next(
        c for c in mock.calls if c.request.method == "POST" and "/payments" in c.request.url
    )
    assert urlsplit(post.request.url).path == f"/v2/customerinvoices/{invoice['Id']}/payments"
    assert json.loads(post.request.body) == {
        "CompanyBankAccountId": BANK,
        "PaymentDate": "2026-03-30T00:00:00",
        "PaymentAmount": 100.05,
        "PaymentCurrency": "SEK",
        "PaymentType": 1,
        "Reference": "agency-77",
    }
    assert invoice["RemainingAmountInvoiceCurrency"] == Decimal("1149.95")


def test_a_payment_that_settles_the_invoice_is_complete_and_not_booked_twice(
    fake: VismaFake, mock: Any
) -> None:
    invoice = fake.add_invoice(fake.add_customer(), "300.00")
    source = make_source(fake)
    claim = claim_for(invoice, source)
    source.register_payment(payment("300.00"), claim)
    assert fake.payments[-1]["PaymentType"] == 2
    with pytest.raises(ConnectorError, match="booked already"):
        source.register_payment(payment("300.00"), claim)
    assert len(fake.payments) == 1


def test_register_payment_refuses_what_cannot_be_booked(fake: VismaFake, mock: Any) -> None:
    invoice = fake.add_invoice(fake.add_customer(), "300.00")
    source = make_source(fake)
    claim = claim_for(invoice, source)
    with pytest.raises(ConnectorError, match="EUR"):
        source.register_payment(payment(currency="EUR"), claim)
    with pytest.raises(ConfigError):
        make_source(fake, bank_account_id=None).register_payment(payment(), claim)
    gone = claim.model_copy(update={"source": claim.source.model_copy(update={"record_id": BANK})})
    with pytest.raises(NotFoundError, match="not found"):
        source.register_payment(payment(), gone)
    assert fake.payments == []


def test_an_unanswered_booking_is_not_resent(fake: VismaFake, mock: Any) -> None:
    invoice = fake.add_invoice(fake.add_customer(), "300.00")
    source = make_source(fake)
    claim = claim_for(invoice, source)
    fake.fail_next(503, 5000, "Service unavailable")  # the invoice read is retried...
    source.register_payment(payment("10.00"), claim)
    posts = [c for c in mock.calls if c.request.method == "POST" and "/payments" in c.request.url]
    assert len(posts) == 1


def test_tokens_and_personal_data_stay_out_of_logs(
    fake: VismaFake, mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    customer = fake.add_customer("Hemlig Person", EmailAddress="hemlig@privat.example")
    fake.add_invoice(customer)
    source = make_source(fake)
    for name in ("customers", "invoices"):
        read_all(source, name)
    text = caplog.text
    for secret in ("at-1", "rt-0", "rt-1", "app-secret", "Hemlig", "hemlig@", "$filter"):
        assert secret not in text


@pytest.mark.slow
def test_benchmark_holds_the_floor_and_a_fixed_nochange_cost() -> None:
    from benchmarks.source_visma import run

    small = run(300, rate_per_s=10.0, page_size=20)
    large = run(2000, rate_per_s=10.0, page_size=100)
    assert small["ratio"] <= 1.10
    assert large["ratio"] <= 1.10
    assert small["nochange_requests"] == large["nochange_requests"] == 3
    assert small["nochange_records"] == large["nochange_records"] == 0


def test_config_example_is_valid_toml_for_the_settings() -> None:
    import tomllib

    example = tomllib.loads(VismaSource.config_example)
    assert example["client_secret"] == "${CLAIMBRIDGE_VISMA_CLIENT_SECRET}"
    VismaSettings(**example)  # placeholders are strings here; interpolation happens in config
