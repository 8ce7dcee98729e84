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
    CREDIT_NOTES,
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
    BANK_ACCOUNT_ID,
    BASE,
    CLIENT_ID,
    CLIENT_KEY,
    ORPHAN_CLIENT_KEY,
    SUBSCRIPTION_KEY,
    TOKEN_URL,
    FakePowerOffice,
)


def make_source(
    *, page_size: int = 2, sleeps: list[float] | None = None, **extra: Any
) -> PowerOfficeSource:
    values: dict[str, Any] = {
        "application_key": APP_KEY,
        "client_key": CLIENT_KEY,
        "subscription_key": SUBSCRIPTION_KEY,
        "base_url": BASE,
        "token_url": TOKEN_URL,
        "page_size": page_size,
        "lookback_s": 0,
        "bank_account_id": BANK_ACCOUNT_ID,
        "http": {"rate_limit_per_s": None, "backoff_initial": 0},
        **extra,
    }
    settings = PowerOfficeSettings(**values)
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
    result = make_source(company="Demo AS").check()
    assert result.ok
    assert [i.kind for i in result.items] == [
        CheckKind.AUTH,
        CheckKind.REACHABILITY,
        CheckKind.CONFIG,
        CheckKind.CONFIG,
    ]
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, TOKEN_URL, body=requests.exceptions.ConnectionError("refused"))
        result = make_source().check()
    assert [(i.kind, i.ok) for i in result.items] == [(CheckKind.REACHABILITY, False)]


def kinds(source: PowerOfficeSource) -> list[tuple[CheckKind, bool]]:
    return [(i.kind, i.ok) for i in source.check().items]


def test_check_a_client_key_of_no_client_is_config(go: FakePowerOffice) -> None:
    source = make_source(client_key=ORPHAN_CLIENT_KEY)
    assert kinds(source) == [(CheckKind.AUTH, True), (CheckKind.CONFIG, False)]
    assert ORPHAN_CLIENT_KEY not in str(source.check())


def test_check_a_token_without_client_id_is_config(go: FakePowerOffice) -> None:
    go.client = {"ClientId": None, "ClientName": None}
    assert (CheckKind.CONFIG, False) in kinds(make_source())


@pytest.mark.parametrize("company", ["Other AS", "00000000-0000-0000-0000-000000000000"])
def test_check_a_company_of_another_client_is_config(go: FakePowerOffice, company: str) -> None:
    result = make_source(company=company).check()
    assert not result.ok
    failing = [i for i in result.items if not i.ok]
    assert [i.kind for i in failing] == [CheckKind.CONFIG]
    assert CLIENT_ID in failing[0].message


@pytest.mark.parametrize("company", ["demo as", CLIENT_ID.upper(), ""])
def test_check_company_matches_id_or_name(go: FakePowerOffice, company: str) -> None:
    assert make_source(company=company).check().ok


def test_check_bank_account_missing_or_inactive_is_config(go: FakePowerOffice) -> None:
    assert kinds(make_source(bank_account_id=4242))[-1] == (CheckKind.CONFIG, False)
    go.accounts[BANK_ACCOUNT_ID]["IsActive"] = False
    assert kinds(make_source())[-1] == (CheckKind.CONFIG, False)
    go.accounts.clear()
    assert kinds(make_source(bank_account_id=None)) == [
        (CheckKind.AUTH, True),
        (CheckKind.REACHABILITY, True),
        (CheckKind.CONFIG, True),
    ]


def test_check_a_forbidden_call_is_permission(go: FakePowerOffice) -> None:
    go.fail_next = (403, {"Title": "Forbidden", "Status": 403})
    assert kinds(make_source()) == [(CheckKind.AUTH, True), (CheckKind.PERMISSION, False)]


def test_check_a_wrong_subscription_key_is_auth(go: FakePowerOffice) -> None:
    assert kinds(make_source(subscription_key="nope")) == [(CheckKind.AUTH, False)]


def test_check_never_raises_on_an_answer_that_is_not_go() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        body = {"access_token": "t", "expires_in": 60}
        rsps.add(responses.POST, TOKEN_URL, json=body)
        rsps.add(responses.GET, f"{BASE}/ClientIntegrationInformation", body="<html>hi</html>")
        assert kinds(make_source()) == [(CheckKind.AUTH, True), (CheckKind.CONFIG, False)]


def test_check_a_server_error_is_reachability() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, TOKEN_URL, json={"access_token": "t", "expires_in": 60})
        rsps.add(responses.GET, f"{BASE}/ClientIntegrationInformation", status=503)
        result = make_source().check()
    assert [(i.kind, i.ok) for i in result.items][-1] == (CheckKind.REACHABILITY, False)


def test_fetch_ledger_entries_by_id(go: FakePowerOffice) -> None:
    invoices = ledger(go)
    paid = [go.pay(invoice, "10.00") for invoice in invoices]
    note = go.add_entry(invoices[0], Decimal("-50"), "OutgoingCreditNote")
    source = make_source(page_size=1)
    wanted = [str(paid[2]["Id"]), str(paid[0]["Id"]), "12345678", "x1", str(note["Id"])]
    got = list(source.fetch(PAYMENTS, wanted))
    assert sorted(r.data["Id"] for r in got) == sorted([paid[0]["Id"], paid[2]["Id"]])
    read = {r.data["Id"]: r.data for r in read_all(source, PAYMENTS)[0]}
    assert all(r.data == read[r.data["Id"]] for r in got)
    notes = list(source.fetch(CREDIT_NOTES, [str(note["Id"]), str(paid[1]["Id"])]))
    assert [r.data["Id"] for r in notes] == [note["Id"]]


def test_fetch_of_ledger_entries_stops_when_all_are_found(go: FakePowerOffice) -> None:
    invoices = ledger(go, customers=6)
    first = go.pay(invoices[0], "1.00")
    for invoice in invoices[1:]:
        go.pay(invoice, "1.00")
    source = make_source(page_size=1)
    before = go.api_requests
    assert len(list(source.fetch(PAYMENTS, [str(first["Id"])]))) == 1
    assert go.api_requests - before == 1
    assert list(source.fetch(PAYMENTS, [])) == []


def test_fetch_of_invoices_leaves_credit_notes_out(go: FakePowerOffice) -> None:
    invoices = ledger(go)
    note = go.add_invoice(
        go.customers[invoices[0]["CustomerId"]], 900, VoucherType="OutgoingCreditNote"
    )
    got = list(make_source().fetch(INVOICES, [note["Id"], invoices[0]["Id"]]))
    assert [r.data["Id"] for r in got] == [invoices[0]["Id"]]


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
