"""The PowerOffice Go source against the in-memory Go ledger (tests/fakes/poweroffice.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses

from claimbridge.connectors.accounting.poweroffice import (
    CUSTOMERS,
    INVOICES,
    PAYMENTS,
    PowerOfficeSettings,
    PowerOfficeSource,
)
from claimbridge.connectors.base import CheckKind, ConnectorContext, RawRecord
from claimbridge.credentials import MemoryCredentialStore
from claimbridge.errors import AuthError, RecordError, RemoteError
from claimbridge.schemas import Claim, Party, Payment, SourceRef
from tests.fakes.poweroffice import (
    APP_KEY,
    BASE,
    CLIENT_KEY,
    SUBSCRIPTION_KEY,
    TOKEN_URL,
    FakePowerOffice,
)


def make_source(
    *, page_size: int = 2, sleeps: list[float] | None = None, **extra: Any
) -> PowerOfficeSource:
    settings = PowerOfficeSettings(
        application_key=APP_KEY,
        client_key=CLIENT_KEY,
        subscription_key=SUBSCRIPTION_KEY,
        base_url=BASE,
        token_url=TOKEN_URL,
        page_size=page_size,
        lookback_s=0,
        bank_account_id=1920,
        http={"rate_limit_per_s": None, "backoff_initial": 0},
        **extra,
    )
    context = ConnectorContext(
        name="ledger", today=dt.date(2026, 3, 1), credentials=MemoryCredentialStore()
    )
    record = sleeps if sleeps is not None else []
    return PowerOfficeSource(settings, context, sleep=record.append)


@pytest.fixture
def go() -> Iterator[FakePowerOffice]:
    fake = FakePowerOffice()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield fake


def ledger(go: FakePowerOffice, customers: int = 3) -> list[dict[str, Any]]:
    invoices = []
    for n in range(customers):
        customer = go.add_customer(10000 + n)
        go.add_contact_person(customer["Id"])
        invoices.append(go.add_invoice(customer, 500 + n))
    return invoices


def read_all(
    source: PowerOfficeSource, stream: Any, cursor: str | None = None
) -> tuple[list[RawRecord], str | None]:
    records: list[RawRecord] = []
    last = None
    for page in source.read(stream, cursor):
        records.extend(page.records)
        last = page.cursor
    return records, last


def test_pages_over_several_pages_and_maps_customers(go: FakePowerOffice) -> None:
    ledger(go, customers=5)
    source = make_source(page_size=2)
    records, cursor = read_all(source, CUSTOMERS)
    assert len(records) == 5
    assert cursor
    pages = [e.query["PageNumber"] for e in go.exchanges if e.path == "/Customers"]
    assert pages == ["1", "2", "3"]
    party = source.normalize(CUSTOMERS, records[0])[0]
    assert isinstance(party, Party)
    assert party.kind == "company"
    assert party.contact_person is not None
    assert party.contact_person.name == "Kari Nordmann"
    assert party.addresses[0].city == "Oslo"


def test_incremental_cursor_round_trip(go: FakePowerOffice) -> None:
    invoices = ledger(go)
    source = make_source()
    first, cursor = read_all(source, INVOICES)
    assert len(first) == 3
    again, cursor2 = read_all(source, INVOICES, cursor)
    assert again == []
    assert cursor2
    go.pay(invoices[1], "250.50")
    changed, _ = read_all(source, INVOICES, cursor2)
    assert [r.data["Id"] for r in changed] == [invoices[1]["Id"]]
    claim = source.normalize(INVOICES, changed[0])[0]
    assert isinstance(claim, Claim)
    assert claim.remaining_principal == Decimal("1000.00")


def test_nochange_sync_costs_a_fixed_number_of_requests(go: FakePowerOffice) -> None:
    ledger(go, customers=7)
    source = make_source(page_size=3)
    cursors = {s.name: read_all(source, s)[1] for s in source.streams()}
    before = go.api_requests
    for stream in source.streams():
        records, _ = read_all(source, stream, cursors[stream.name])
        assert records == []
    assert go.api_requests - before == 6


def test_changed_contact_person_brings_its_customer_back(go: FakePowerOffice) -> None:
    ledger(go)
    source = make_source()
    _, cursor = read_all(source, CUSTOMERS)
    customer = next(iter(go.customers.values()))
    go.add_contact_person(customer["Id"], FirstName="Per", LastName="Hansen")
    records, _ = read_all(source, CUSTOMERS, cursor)
    assert [r.data["Id"] for r in records] == [customer["Id"]]


def test_fetch_by_id(go: FakePowerOffice) -> None:
    invoices = ledger(go)
    source = make_source()
    got = list(source.fetch(INVOICES, [invoices[2]["Id"], "not-an-id!"]))
    assert [r.data["InvoiceNo"] for r in got] == [502]
    customers = list(source.fetch(CUSTOMERS, [str(invoices[0]["CustomerId"]), "999999"]))
    assert len(customers) == 1
    assert "_ContactPerson" in customers[0].data


def test_token_is_cached_and_renewed_after_a_401(go: FakePowerOffice) -> None:
    ledger(go)
    source = make_source()
    read_all(source, INVOICES)
    read_all(source, INVOICES)
    assert go.token_requests == 1
    go.revoke_tokens = True
    records, _ = read_all(source, INVOICES)
    assert len(records) == 3
    assert go.token_requests == 2


def test_expired_token_is_renewed_before_use(go: FakePowerOffice) -> None:
    ledger(go)
    now = [1000.0]
    source = make_source()
    source.tokens._clock = lambda: now[0]
    read_all(source, INVOICES)
    now[0] += 1200
    read_all(source, INVOICES)
    assert go.token_requests == 2


def test_wrong_keys_fail_auth_and_check_says_auth() -> None:
    fake = FakePowerOffice()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        source = make_source()
        source.tokens._client_key = type(source.tokens._client_key)("wrong")
        with pytest.raises(AuthError, match="invalid_client"):
            source.tokens.token()
        result = source.check()
        assert [(i.kind, i.ok) for i in result.items] == [(CheckKind.AUTH, False)]
        assert "wrong" not in str(result)


def test_check_ok_and_unreachable(go: FakePowerOffice) -> None:
    assert make_source().check().ok
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, TOKEN_URL, body=requests.exceptions.ConnectionError("refused"))
        result = make_source().check()
    assert [(i.kind, i.ok) for i in result.items] == [(CheckKind.REACHABILITY, False)]


def test_429_retry_after_is_waited_out(go: FakePowerOffice) -> None:
    ledger(go)
    sleeps: list[float] = []
    source = make_source(sleeps=sleeps)
    go.throttle_next, go.retry_after = 2, "7"
    records, _ = read_all(source, INVOICES)
    assert len(records) == 3
    assert sleeps == [7.0, 7.0]


def test_problem_details_become_remote_errors(go: FakePowerOffice) -> None:
    ledger(go)
    source = make_source()
    go.fail_next = (
        400,
        {
            "Title": "Validation error",
            "Detail": "fromDate is invalid",
            "Type": "validation",
            "Status": 400,
        },
    )
    with pytest.raises(RemoteError) as info:
        read_all(source, PAYMENTS)
    assert info.value.code == "validation"
    assert "fromDate is invalid" in str(info.value)


@pytest.mark.parametrize(
    "change",
    [
        {"InvoiceNo": None},
        {"DueDate": "not a date"},
        {"TotalAmount": "lots"},
        {"CustomerId": True},
        {"TotalAmount": "9" * 100_000},
        {"Balance": Decimal("99999")},
    ],
)
def test_hostile_invoices_are_record_errors(change: dict[str, Any]) -> None:
    data = {
        "Id": "0b7c0c4c-6a8e-4a39-9d1e-111111111111",
        "InvoiceNo": 7,
        "CustomerId": 3,
        "VoucherDate": "2026-01-01",
        "DueDate": "2026-01-15",
        "TotalAmount": Decimal("100.00"),
        "TotalPostedAmount": Decimal("100.00"),
        "Balance": Decimal("100.00"),
        **change,
    }
    source = make_source()
    with pytest.raises(RecordError) as info:
        source.normalize(INVOICES, RawRecord(data=data, location="poweroffice:x"))
    assert "9" * 50 not in str(info.value)


def test_amounts_are_exact_decimals(go: FakePowerOffice) -> None:
    customer = go.add_customer(10001)
    go.add_invoice(customer, 9, TotalAmount="0.30")
    inv = go.add_invoice(customer, 10, TotalAmount="1234567.89")
    go.pay(inv, "0.10")
    source = make_source(page_size=50)
    claims = [source.normalize(INVOICES, r)[0] for r in read_all(source, INVOICES)[0]]
    assert [c.original_amount for c in claims if isinstance(c, Claim)] == [
        Decimal("0.30"),
        Decimal("1234567.89"),
    ]
    assert [c.remaining_principal for c in claims if isinstance(c, Claim)][1] == Decimal(
        "1234567.79"
    )
    payment = source.normalize(PAYMENTS, read_all(source, PAYMENTS)[0][0])[0]
    assert isinstance(payment, Payment)
    assert payment.amount == Decimal("0.10")


def test_hidden_national_id_is_dropped(go: FakePowerOffice) -> None:
    go.add_customer(
        10001,
        IsPerson=True,
        Name=None,
        FirstName="Ola",
        LastName="Nordmann",
        NationalIdNumber="hidden",
    )
    source = make_source()
    party = source.normalize(CUSTOMERS, read_all(source, CUSTOMERS)[0][0])[0]
    assert isinstance(party, Party)
    assert party.kind == "person"
    assert party.name == "Ola Nordmann"
    assert party.national_id is None


def test_register_payment_shape_and_idempotency(go: FakePowerOffice) -> None:
    invoices = ledger(go)
    source = make_source()
    claim = source.normalize(INVOICES, RawRecord(data=invoices[0], location="x"))[0]
    assert isinstance(claim, Claim)
    payment = Payment(
        payment_id="agency-77",
        source=SourceRef(system="agency", record_id="77"),
        amount=Decimal("250.50"),
        currency="NOK",
        booking_date=dt.date(2026, 2, 20),
    )
    first = source.register_payment(payment, claim)
    posts = [e for e in go.exchanges if e.method == "POST"]
    assert len(posts) == 1
    body = posts[0].body
    assert body["ExternalImportReference"] == "claimbridge-agency-77"
    assert body["VoucherLines"][0] == {
        "PostingDate": "2026-02-20",
        "VatId": None,
        "Description": "claimbridge",
        "AccountId": 1920,
        "CurrencyAmount": 250.5,
    }
    assert body["VoucherLines"][1]["CurrencyAmount"] == -250.5
    assert body["VoucherLines"][1]["InvoiceNo"] == "500"
    assert body["VoucherLines"][1]["Cid"] == claim.kid
    second = source.register_payment(payment, claim)
    assert second == first
    assert len([e for e in go.exchanges if e.method == "POST"]) == 1
