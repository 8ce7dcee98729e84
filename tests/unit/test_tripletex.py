"""The Tripletex source against the in-memory fake of its API."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimbridge.connectors.accounting._tripletex_streams import paged
from claimbridge.connectors.accounting.tripletex import (
    CREDIT_NOTES,
    CUSTOMERS,
    INVOICES,
    PAYMENTS,
    TripletexSettings,
    TripletexSource,
)
from claimbridge.connectors.base import CheckKind, ConnectorContext, RawRecord, StreamSpec
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.errors import AuthError, ConfigError, RecordError, RemoteError
from claimbridge.schemas import Claim, CreditNote, Party, Payment, PaymentKind, SourceRef
from tests.fakes.tripletex import BASE_URL, CONSUMER_TOKEN, EMPLOYEE_TOKEN, FakeTripletex

TODAY = dt.date(2026, 3, 31)


class Clock:
    """A fake clock whose sleep moves time forward, so waits are recorded, not slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> Iterator[FakeTripletex]:
    ledger = FakeTripletex(today=TODAY)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        ledger.install(rsps)
        yield ledger


def make_source(
    clock: Clock | None = None,
    store: MemoryCredentialStore | None = None,
    today: dt.date = TODAY,
    **overrides: Any,
) -> TripletexSource:
    clock = clock or Clock()
    values: dict[str, Any] = {
        "consumer_token": CONSUMER_TOKEN,
        "employee_token": EMPLOYEE_TOKEN,
        "base_url": BASE_URL,
        "page_size": 2,
        "requests_per_second": 1000,
        "payment_type_id": 7,
        **overrides,
    }
    context = ConnectorContext(
        name="ledger", today=today, credentials=store or MemoryCredentialStore()
    )
    return TripletexSource(
        TripletexSettings(**values),
        context,
        sleep=clock.sleep,
        clock=clock,
        now=lambda: dt.datetime(today.year, today.month, today.day, 12, tzinfo=dt.UTC),
    )


def read_all(source: TripletexSource, stream: StreamSpec, cursor: str | None = None):
    pages = list(source.read(stream, cursor))
    records = [r for p in pages for r in p.records]
    return pages, records


def seed(fake: FakeTripletex, invoices: int = 5) -> None:
    for cid in range(1, 4):
        fake.add_customer(cid)
    for n in range(1, invoices + 1):
        fake.add_invoice(100 + n, customer=1 + n % 3)


# --- paging and incremental sync ----------------------------------------------------------


def test_pages_follow_from_and_count(fake: FakeTripletex) -> None:
    seed(fake, invoices=5)
    pages, records = read_all(make_source(), INVOICES)
    assert [r.data["invoiceNumber"] for r in records] == [101, 102, 103, 104, 105]
    assert len(pages) == 3
    assert pages[-1].cursor is not None
    assert all(p.cursor is None for p in pages[:-1])  # a cursor only once the window is read
    froms = [c.query["from"] for c in fake.requests_to("/invoice")]
    assert froms == ["0", "2", "4"]


def test_full_sync_skips_paid_invoices_and_credit_notes(fake: FakeTripletex) -> None:
    seed(fake, invoices=3)
    fake.pay(101, "1250.50", TODAY)
    fake.add_invoice(200, customer=1, isCreditNote=True, creditedInvoice=102)
    _, records = read_all(make_source(), INVOICES)
    assert [r.data["invoiceNumber"] for r in records] == [102, 103]


def test_incremental_round_trip(fake: FakeTripletex) -> None:
    seed(fake, invoices=4)
    source = make_source()
    cursors = {s.name: list(source.read(s, None))[-1].cursor for s in source.streams()}
    fake.calls.clear()
    unchanged = {s.name: read_all(source, s, cursors[s.name])[1] for s in source.streams()}
    assert all(records == [] for records in unchanged.values())
    assert len(fake.calls) == 5  # one per stream, plus the payment postings of invoices

    fake.pay(102, "250.50", TODAY)  # an old invoice changes without a new invoice date
    fake.add_invoice(150, customer=2, invoiceDate="2026-03-30", invoiceDueDate="2026-04-14")
    _, changed = read_all(source, INVOICES, cursors["invoices"])
    assert sorted(r.data["invoiceNumber"] for r in changed) == [102, 150]
    (claim,) = [m for r in changed if r.data["id"] == 102 for m in source.normalize(INVOICES, r)]
    assert isinstance(claim, Claim)
    assert claim.remaining_principal == Decimal("1000.00")


def test_customers_changed_since(fake: FakeTripletex) -> None:
    seed(fake)
    source = make_source()
    cursor = list(source.read(CUSTOMERS, None))[-1].cursor
    fake.now = dt.datetime(2026, 4, 10, 9, 0)
    fake.add_customer(2, name="Renamed AS")
    _, records = read_all(source, CUSTOMERS, cursor)
    assert [r.data["id"] for r in records] == [2]
    assert fake.requests_to("/customer")[-1].query["changedSince"] == "2026-03-31T10:00:00"


def test_unreadable_cursor_is_a_parse_error(fake: FakeTripletex) -> None:
    from claimbridge.errors import ParseError

    with pytest.raises(ParseError, match="cursor"):
        list(make_source().read(INVOICES, "not json"))


def test_fetch_by_id(fake: FakeTripletex) -> None:
    seed(fake)
    source = make_source()
    customers = list(source.fetch(CUSTOMERS, ["3", "1", "999", "x; drop"]))
    assert sorted(r.data["id"] for r in customers) == [1, 3]
    assert len(fake.requests_to("/customer")) == 1
    invoices = list(source.fetch(INVOICES, ["103", "404"]))
    assert [r.data["invoiceNumber"] for r in invoices] == [103]


def test_fetch_credit_notes_and_payments_equal_what_is_read(fake: FakeTripletex) -> None:
    seed(fake, invoices=3)
    first, second = fake.pay(101, "100.00", TODAY), fake.pay(102, "50.00", TODAY)
    fake.add_invoice(300, customer=2, isCreditNote=True, creditedInvoice=102)
    fake.add_invoice(301, customer=3, isCreditNote=True, creditedInvoice=103)
    source = make_source()
    notes = {r.data["id"]: r.data for r in read_all(source, CREDIT_NOTES)[1]}
    fetched = list(source.fetch(CREDIT_NOTES, ["301", "101", "999", "x"]))  # 101: an invoice
    assert [r.data for r in fetched] == [notes[301]]
    assert fetched[0].data["_claimbridge"] == {"credited_invoice_number": "103"}
    postings = {r.data["id"]: r.data for r in read_all(source, PAYMENTS)[1]}
    fetched = list(source.fetch(PAYMENTS, [str(second), "404", str(first), str(second)]))
    assert [r.data for r in fetched] == [postings[second], postings[first]]
    assert fetched[0].location == f"/ledger/posting/{second}"


def test_fetch_skips_postings_that_are_not_payments(fake: FakeTripletex) -> None:
    seed(fake, invoices=1)
    posting = fake.pay(101, "10.00", TODAY)
    fake.postings[posting]["type"] = "OUTGOING_PAYMENT"
    assert list(make_source().fetch(PAYMENTS, [str(posting)])) == []


def test_fetch_passes_on_errors_other_than_not_found(fake: FakeTripletex) -> None:
    seed(fake, invoices=1)
    posting = fake.pay(101, "10.00", TODAY)
    source = make_source()
    read_all(source, CUSTOMERS)  # the session exists, so the injected error hits the fetch
    fake.fail_next(422, 15000, "Validation failed")
    with pytest.raises(RemoteError):
        list(source.fetch(PAYMENTS, [str(posting)]))


def test_credit_notes_come_in_full_pages_without_empty_ones(fake: FakeTripletex) -> None:
    seed(fake, invoices=7)  # ordinary invoices fill the first /invoice pages
    for n in range(5):
        fake.add_invoice(400 + n, customer=1, isCreditNote=True, creditedInvoice=101)
    pages, records = read_all(make_source(), CREDIT_NOTES)
    assert [len(p.records) for p in pages] == [2, 2, 1]
    assert [r.data["id"] for r in records] == [400, 401, 402, 403, 404]
    assert [p.cursor is not None for p in pages] == [False, False, True]


def test_a_stream_without_records_is_one_empty_page_with_the_cursor(fake: FakeTripletex) -> None:
    seed(fake, invoices=5)
    (page,) = list(make_source().read(CREDIT_NOTES, None))
    assert page.records == []
    assert page.cursor is not None


@settings(max_examples=80)
@given(
    st.lists(st.lists(st.integers(0, 10**6), max_size=7), max_size=8),
    st.integers(1, 5),
)
def test_paged_packs_batches_into_pages(batches: list[list[int]], size: int) -> None:
    raw = [[RawRecord({"id": n}, f"/x/{n}") for n in batch] for batch in batches]
    pages = list(paged(iter(raw), size, "cursor"))
    flat = [n for batch in batches for n in batch]
    assert [r.data["id"] for p in pages for r in p.records] == flat
    assert all(0 < len(p.records) <= size for p in pages) or (not flat and len(pages) == 1)
    assert [p.cursor for p in pages] == [None] * (len(pages) - 1) + ["cursor"]
    assert all(len(p.records) == size for p in pages[:-1])


# --- auth ---------------------------------------------------------------------------------


def test_session_token_is_reused_the_same_day(fake: FakeTripletex) -> None:
    seed(fake)
    store = MemoryCredentialStore()
    read_all(make_source(store=store), CUSTOMERS)
    read_all(make_source(store=store), CUSTOMERS)  # a second run the same day
    assert fake.sessions_created == 1
    stored = json.loads(store.get("tripletex:ledger:0:session") or "{}")
    assert stored["expires"] == "2026-04-02"
    read_all(make_source(store=store, today=TODAY + dt.timedelta(days=1)), CUSTOMERS)
    assert fake.sessions_created == 2  # less than a day left: renewed


def test_expired_session_is_renewed_and_the_call_retried_once(fake: FakeTripletex) -> None:
    seed(fake)
    source = make_source()
    read_all(source, CUSTOMERS)
    fake.expire_sessions()
    _, records = read_all(source, CUSTOMERS)
    assert len(records) == 3
    assert fake.sessions_created == 2
    statuses = [c.status for c in fake.calls]
    assert statuses.count(401) == 1


def test_rejected_tokens_are_an_auth_error_without_secrets(fake: FakeTripletex) -> None:
    source = make_source(employee_token="wrong-employee-token")
    with pytest.raises(AuthError) as info:
        list(source.read(CUSTOMERS, None))
    assert info.value.code == "9000"
    assert "Invalid consumer or employee token" in str(info.value)
    assert "wrong-employee-token" not in str(info.value)


def test_settings_refuse_blank_tokens_and_plain_http() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        TripletexSettings(consumer_token=" ", employee_token="x")
    with pytest.raises(ValueError, match="https"):
        TripletexSettings(consumer_token="a", employee_token="b", base_url="http://tripletex.no")


# --- rate limits and errors ---------------------------------------------------------------


def test_429_waits_out_the_period_from_the_reset_header(fake: FakeTripletex) -> None:
    seed(fake)
    clock = Clock()
    fake.fail_next(429, 0, "Request rate limit hit", {"X-Rate-Limit-Reset": "17"})
    _, records = read_all(make_source(clock), CUSTOMERS)
    assert len(records) == 3
    assert 17.0 in clock.slept


def test_429_with_retry_after_is_honoured(fake: FakeTripletex) -> None:
    seed(fake)
    clock = Clock()
    fake.fail_next(429, 0, "Request rate limit hit", {"Retry-After": "4"})
    read_all(make_source(clock), CUSTOMERS)
    assert 4.0 in clock.slept


def test_spent_budget_is_waited_out_before_the_next_request(fake: FakeTripletex) -> None:
    seed(fake, invoices=5)
    clock = Clock()
    fake.rate_limit, fake.rate_period_s, fake.clock = 3, 30, clock
    _, records = read_all(make_source(clock), INVOICES)
    assert len(records) == 5
    assert 30.0 in clock.slept
    assert not [c for c in fake.calls if c.status == 429]


def test_vendor_error_body_becomes_remote_error(fake: FakeTripletex) -> None:
    seed(fake)
    fake.fail_next(422, 15000, "Validation failed")
    with pytest.raises(RemoteError) as info:
        list(make_source().read(CUSTOMERS, None))
    assert info.value.code == "15000"
    assert info.value.status == 422
    assert "Validation failed" in str(info.value)


def test_server_errors_are_retried(fake: FakeTripletex) -> None:
    seed(fake)
    fake.fail_next(503, 1000, "Unavailable")
    _, records = read_all(make_source(), CUSTOMERS)
    assert len(records) == 3


# --- check --------------------------------------------------------------------------------


def test_check_ok(fake: FakeTripletex) -> None:
    result = make_source().check()
    assert result.ok
    assert {i.kind for i in result.items} >= {CheckKind.CONFIG, CheckKind.AUTH}


def test_check_tells_auth_from_reachability(fake: FakeTripletex) -> None:
    result = make_source(consumer_token="nope").check()
    kinds = {i.kind: i.ok for i in result.items}
    assert kinds == {CheckKind.CONFIG: True, CheckKind.REACHABILITY: True, CheckKind.AUTH: False}


def test_check_reports_an_unreachable_company_as_config(fake: FakeTripletex) -> None:
    fake.clients = {555: "Klient AS"}
    result = make_source(company_id=4242).check()
    kinds = {i.kind: i for i in result.items}
    assert {k: i.ok for k, i in kinds.items()} == {
        CheckKind.CONFIG: False,
        CheckKind.REACHABILITY: True,
        CheckKind.AUTH: True,
    }
    assert "company_id 4242" in kinds[CheckKind.CONFIG].message
    assert "own company (1)" in kinds[CheckKind.CONFIG].message
    (listing,) = fake.requests_to("/company/>withLoginAccess")
    assert listing.status == 200


@pytest.mark.parametrize("company_id", [0, 1, 555])
def test_check_accepts_the_own_company_and_clients(fake: FakeTripletex, company_id: int) -> None:
    fake.clients = {555: "Klient AS"}
    result = make_source(company_id=company_id).check()
    assert result.ok, result.items
    listed = bool(fake.requests_to("/company/>withLoginAccess"))
    assert listed is (company_id == 555)


def test_check_a_client_refusing_the_session_is_config(fake: FakeTripletex) -> None:
    fake.clients, fake.locked_clients = {555: "Klient AS"}, {555}
    result = make_source(company_id=555).check()
    kinds = {i.kind: i for i in result.items}
    assert {k: i.ok for k, i in kinds.items()} == {
        CheckKind.CONFIG: False,
        CheckKind.REACHABILITY: True,
        CheckKind.AUTH: True,
    }
    assert "cannot act for company_id 555" in kinds[CheckKind.CONFIG].message


def test_check_without_a_company_in_the_answer_fails_auth_without_raising() -> None:
    source = make_source()
    with responses.RequestsMock() as rsps:
        rsps.put(f"{BASE_URL}/token/session/:create", json={"value": {"token": "t"}})
        rsps.get(f"{BASE_URL}/token/session/>whoAmI", json={"value": {"employeeId": 1}})
        result = source.check()
    kinds = {i.kind: i.ok for i in result.items}
    assert kinds == {CheckKind.CONFIG: True, CheckKind.REACHABILITY: True, CheckKind.AUTH: False}


def test_check_unreachable() -> None:
    with responses.RequestsMock():  # nothing registered: the connection is refused
        result = make_source(http={"max_retries": 0}).check()
    kinds = {i.kind: i.ok for i in result.items}
    assert kinds[CheckKind.REACHABILITY] is False
    assert CheckKind.AUTH not in kinds


# --- normalize ----------------------------------------------------------------------------


def test_invoice_maps_amounts_reminders_and_notice(fake: FakeTripletex) -> None:
    fake.add_customer(1)
    fake.add_invoice(
        101,
        customer=1,
        currency={"code": "EUR"},
        amount=Decimal("11890.00"),
        amountCurrency=Decimal("1000.10"),
        amountCurrencyOutstanding=Decimal("600.01"),
        reminders=[
            {"reminderDate": "2026-02-20", "type": "REMINDER", "chargeCurrency": Decimal("35")},
            {"reminderDate": "2026-03-20", "type": "NOTICE_OF_DEBT_COLLECTION", "charge": 70},
            {"reminderDate": "2026-02-05", "type": "SOFT_REMINDER", "chargeCurrency": 0},
        ],
    )
    source = make_source()
    (record,) = read_all(source, INVOICES)[1]
    (claim,) = source.normalize(INVOICES, record)
    assert isinstance(claim, Claim)
    assert (claim.currency, claim.original_amount) == ("EUR", Decimal("1000.10"))
    assert claim.remaining_principal == Decimal("600.01")
    assert [(r.sent_on.isoformat(), r.fee) for r in claim.reminders] == [
        ("2026-02-05", Decimal("0")),
        ("2026-02-20", Decimal("35")),
    ]
    assert claim.collection_notice_date == dt.date(2026, 3, 20)
    assert (claim.debtor_id, claim.source.record_id, claim.kid) == ("1", "101", "00000101")


def test_customer_maps_contact_data(fake: FakeTripletex) -> None:
    fake.add_customer(
        1,
        isPrivateIndividual=True,
        organizationNumber=None,
        phoneNumber="22 33 44 55",
        invoiceEmail="faktura@example.no",
        physicalAddress={"addressLine1": "Besøksveien 1", "city": "Bergen"},
        language="EN",
    )
    source = make_source()
    (record,) = read_all(source, CUSTOMERS)[1]
    (party,) = source.normalize(CUSTOMERS, record)
    assert isinstance(party, Party)
    assert party.kind.value == "person"
    assert party.language == "en"
    assert [a.kind.value for a in party.addresses] == ["postal", "visiting"]
    assert [p.number for p in party.phones] == ["22 33 44 55", "+4791234567"]
    assert [e.address for e in party.emails] == ["c1@example.no", "faktura@example.no"]
    assert party.source.record_id == "1"
    assert party.customer_number == "10001"


def test_payments_and_credit_notes(fake: FakeTripletex) -> None:
    seed(fake, invoices=2)
    fake.pay(101, "200.25", dt.date(2026, 3, 2))
    fake.add_invoice(
        300,
        customer=2,
        isCreditNote=True,
        creditedInvoice=102,
        amountCurrency=Decimal("-100.00"),
        amountCurrencyOutstanding=Decimal("0"),
    )
    source = make_source()
    (posting,) = read_all(source, PAYMENTS)[1]
    (payment,) = source.normalize(PAYMENTS, posting)
    assert isinstance(payment, Payment)
    assert (payment.amount, payment.invoice_number) == (Decimal("200.25"), "101")
    (note_record,) = read_all(source, CREDIT_NOTES)[1]
    (note,) = source.normalize(CREDIT_NOTES, note_record)
    assert isinstance(note, CreditNote)
    assert (note.amount, note.invoice_number, note.credit_note_number) == (
        Decimal("100.00"),
        "102",
        "300",
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"invoiceDate": None}, "invoice_date: missing"),
        ({"amountCurrency": "lots"}, "original_amount"),
        ({"amountCurrency": Decimal("10.001")}, "original_amount"),
        ({"customer": None}, "debtor_id: missing"),
        ({"invoiceDueDate": "2026-13-45"}, "due_date"),
        ({"amountCurrencyOutstanding": Decimal("99999")}, "exceeds"),
        ({"reminders": "x" * 100_000}, None),
        ({"comment": "x" * 1_000_000}, None),
    ],
)
def test_bad_invoices_are_record_errors(change: dict[str, Any], reason: str | None) -> None:
    record = _invoice_record() | change
    source = make_source()
    if reason is None:  # odd but harmless content maps
        source.normalize(INVOICES, RawRecord(record, "/invoice/101"))
        return
    with pytest.raises(RecordError) as info:
        source.normalize(INVOICES, RawRecord(record, "/invoice/101"))
    assert any(reason in r for r in info.value.reasons)
    assert info.value.location == "/invoice/101"


def test_non_object_values_are_quarantined(fake: FakeTripletex) -> None:
    source = make_source()
    with responses.RequestsMock() as rsps:
        rsps.put(f"{BASE_URL}/token/session/:create", json={"value": {"token": "t"}})
        rsps.get(f"{BASE_URL}/customer", json={"from": 0, "count": 1, "values": [42]})
        (record,) = read_all(source, CUSTOMERS)[1]
    with pytest.raises(RecordError, match="not a JSON object"):
        source.normalize(CUSTOMERS, record)


def test_non_json_answer_is_a_parse_error() -> None:
    from claimbridge.errors import ParseError

    source = make_source()
    with responses.RequestsMock() as rsps:
        rsps.put(f"{BASE_URL}/token/session/:create", json={"value": {"token": "t"}})
        rsps.get(f"{BASE_URL}/customer", body="<html>maintenance</html>")
        with pytest.raises(ParseError, match="/customer"):
            list(source.read(CUSTOMERS, None))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(
            sorted(
                _FIELDS := [
                    "id",
                    "invoiceNumber",
                    "invoiceDate",
                    "invoiceDueDate",
                    "amountCurrency",
                    "amountCurrencyOutstanding",
                    "customer",
                    "currency",
                    "reminders",
                    "kid",
                ]
            )
        ),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=30),
            st.lists(st.integers()),
            st.dictionaries(st.text(max_size=5), st.integers()),
        ),
    )
)
def test_hostile_invoices_never_crash(change: dict[str, Any]) -> None:
    source = make_source()
    with contextlib.suppress(RecordError):
        source.normalize(INVOICES, RawRecord(_invoice_record() | change, "/invoice/1"))


@pytest.mark.parametrize("cents", [1, 10, 99, 100, 12_345_678_901, 1_999_999_99])
def test_amounts_are_exact(cents: int) -> None:
    amount = Decimal(cents).scaleb(-2)
    text = json.dumps({"v": float(amount)})  # what a JSON number on the wire looks like
    parsed = json.loads(text, parse_float=Decimal)["v"]
    record = _invoice_record() | {"amountCurrency": parsed, "amountCurrencyOutstanding": parsed}
    (claim,) = make_source().normalize(INVOICES, RawRecord(record, "/invoice/1"))
    assert isinstance(claim, Claim)
    assert claim.original_amount == amount


# --- booking payments ---------------------------------------------------------------------


def _claim(invoice_id: int, currency: str = "NOK") -> Claim:
    return Claim(
        source=SourceRef(system="tripletex", record_id=str(invoice_id), record_type="invoice"),
        debtor_id="1",
        invoice_number=str(invoice_id),
        invoice_date=dt.date(2026, 1, 15),
        due_date=dt.date(2026, 2, 1),
        currency=currency,
        original_amount=Decimal("1250.50"),
        remaining_principal=Decimal("1250.50"),
    )


def _payment(amount: str, currency: str = "NOK") -> Payment:
    return Payment(
        payment_id="settlement-1",
        source=SourceRef(system="agency", record_id="s1"),
        kind=PaymentKind.SETTLEMENT,
        amount=Decimal(amount),
        currency=currency,
        booking_date=dt.date(2026, 3, 30),
    )


def test_register_payment_request_shape_and_idempotency(fake: FakeTripletex) -> None:
    seed(fake, invoices=1)
    source = make_source()
    ledger_id = source.register_payment(_payment("300.25"), _claim(101))
    (put,) = [c for c in fake.calls if c.method == "PUT" and c.path == "/invoice/101/:payment"]
    assert put.query == {"paymentDate": "2026-03-30", "paymentTypeId": "7", "paidAmount": "300.25"}
    assert fake.invoices[101]["amountCurrencyOutstanding"] == Decimal("950.25")
    again = source.register_payment(_payment("300.25"), _claim(101))
    assert again == ledger_id
    assert ledger_id.isdigit()
    assert len([c for c in fake.calls if c.path == "/invoice/101/:payment"]) == 1


def test_register_payment_in_foreign_currency_sends_both_amounts(fake: FakeTripletex) -> None:
    fake.add_customer(1)
    fake.add_invoice(
        101,
        customer=1,
        currency={"code": "EUR"},
        amount=Decimal("11500.00"),
        amountCurrency=Decimal("1000.00"),
        amountCurrencyOutstanding=Decimal("1000.00"),
    )
    make_source().register_payment(_payment("100.00", "EUR"), _claim(101, "EUR"))
    (put,) = fake.requests_to("/invoice/101/:payment")
    assert (put.query["paidAmount"], put.query["paidAmountCurrency"]) == ("1150.00", "100.00")


def test_register_payment_refusals(fake: FakeTripletex) -> None:
    seed(fake, invoices=1)
    with pytest.raises(ConfigError, match="payment_type_id"):
        make_source(payment_type_id=None).register_payment(_payment("1.00"), _claim(101))
    with pytest.raises(RemoteError) as info:
        make_source().register_payment(_payment("5000.00"), _claim(101))
    assert info.value.code == "18000"
    from claimbridge.errors import ConnectorError

    with pytest.raises(ConnectorError, match="EUR"):
        make_source().register_payment(_payment("1.00", "EUR"), _claim(101))


def _invoice_record() -> dict[str, Any]:
    return {
        "id": 101,
        "invoiceNumber": 101,
        "invoiceDate": "2026-01-15",
        "invoiceDueDate": "2026-02-01",
        "amountCurrency": Decimal("100.00"),
        "amountCurrencyOutstanding": Decimal("100.00"),
        "currency": {"code": "NOK"},
        "customer": {"id": 1},
        "reminders": [],
    }


def test_benchmark_nochange_sync_costs_a_fixed_number_of_requests() -> None:
    from benchmarks.source_tripletex import run

    small, large = run(60, rate=10_000), run(2_500, rate=10_000)
    assert small["nochange_requests"] == large["nochange_requests"] == 5
    assert large["requests"] > small["requests"]
