"""The Fortnox source against the in-memory Fortnox fake (tests/fakes/fortnox.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from claimbridge.connectors.accounting.fortnox import (
    FortnoxSettings,
    FortnoxSource,
    make_cursor,
    parse_cursor,
)
from claimbridge.connectors.base import CheckKind, ConnectorContext, RawRecord, StreamSpec
from claimbridge.credentials import FileCredentialStore, MemoryCredentialStore
from claimbridge.errors import (
    AuthError,
    ParseError,
    RateLimitedError,
    RecordError,
    RemoteError,
)
from claimbridge.mappings.engine import load_mapping
from claimbridge.schemas import Claim, CreditNote, Party, Payment, SourceRef
from claimbridge.transport.http import HttpOptions
from tests.fakes.fortnox import BASE_URL, TOKEN_URL, FortnoxFake

NOW = dt.datetime(2026, 3, 31, 9, 0)
STORE_KEY = "fortnox:ledger:refresh_token"


@pytest.fixture
def fake() -> FortnoxFake:
    return FortnoxFake(now=NOW - dt.timedelta(days=1))


@pytest.fixture
def mock(fake: FortnoxFake) -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield rsps


class Clock:
    """The connector's idea of 'now' in Stockholm, moved by the test."""

    def __init__(self, at: dt.datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


def make_source(
    fake: FortnoxFake,
    *,
    store: Any = None,
    sleeps: list[float] | None = None,
    now: Clock | None = None,
    **overrides: Any,
) -> FortnoxSource:
    options: dict[str, Any] = {
        "client_id": fake.client_id,
        "client_secret": SecretStr(fake.client_secret),
        "refresh_token": SecretStr("rt-0"),
        "company": "5566778899",
        "http": HttpOptions(rate_limit_per_s=None, backoff_initial=0),
        **overrides,
    }
    context = ConnectorContext(name="ledger", credentials=store or MemoryCredentialStore())
    recorded = sleeps if sleeps is not None else []
    return FortnoxSource(
        FortnoxSettings(**options), context, sleep=recorded.append, now=now or Clock()
    )


def stream(source: FortnoxSource, name: str) -> StreamSpec:
    return next(s for s in source.streams() if s.name == name)


def read(source: FortnoxSource, name: str, cursor: str | None = None) -> list[RawRecord]:
    return [r for page in source.read(stream(source, name), cursor) for r in page.records]


def last_cursor(source: FortnoxSource, name: str, cursor: str | None = None) -> str | None:
    return [page.cursor for page in source.read(stream(source, name), cursor)][-1]


def api_queries(fake: FortnoxFake, path: str) -> list[dict[str, str]]:
    out = []
    for request, _ in fake.exchanges:
        parts = urlsplit(request.url or "")
        if parts.path == path and request.method == "GET":
            out.append({k: v[-1] for k, v in parse_qs(parts.query).items()})
    return out


def ledger(fake: FortnoxFake, invoices: int = 3) -> list[dict[str, Any]]:
    customer = fake.add_customer(
        "Bertil Berg AB",
        Type="COMPANY",
        OrganisationNumber="556677-8899",
        Phone1="08-123 456 78",
        Email="info@berg.example",
    )
    return [fake.add_invoice(customer, f"{1000 + i}.50") for i in range(invoices)]


# --- reading ------------------------------------------------------------------------------


def test_pagination_follows_meta_information(fake: FortnoxFake, mock: Any) -> None:
    ledger(fake, invoices=5)
    source = make_source(fake, page_size=2)
    pages = list(source.read(stream(source, "invoices"), None))
    assert [len(p.records) for p in pages] == [2, 2, 1]
    assert [p.cursor is None for p in pages] == [True, True, False]
    lists = api_queries(fake, "/3/invoices")
    assert [q["page"] for q in lists] == ["1", "2", "3"]
    assert all(q == {"filter": "unpaid", "page": q["page"], "limit": "2"} for q in lists)
    # every listed invoice is read in full: reminders and remarks live only there
    assert all("Remarks" in r.data for p in pages for r in p.records)


def test_first_read_of_customers_is_complete(fake: FortnoxFake, mock: Any) -> None:
    ledger(fake)
    source = make_source(fake)
    (record,) = read(source, "customers")
    (party,) = source.normalize(stream(source, "customers"), record)
    assert isinstance(party, Party)
    assert party.kind == "company"
    assert party.organization_number == "556677-8899"
    assert party.national_id is None
    assert party.id_country == "SE"
    assert [p.number for p in party.phones] == ["08-123 456 78"]
    assert [e.address for e in party.emails] == ["info@berg.example"]
    assert api_queries(fake, "/3/customers")[0]["filter"] == "active"


def test_every_contact_field_is_mapped(fake: FortnoxFake, mock: Any) -> None:
    fake.add_customer(
        "Cecilia Ek",
        Address2="Lgh 1102",
        Phone1="070-123 45 67",
        Phone2="08-765 43 21",
        Email="cecilia@ek.example",
        EmailInvoice="faktura@ek.example",
        OrganisationNumber="19811218-9876",
        DeliveryName="c/o Ek",
        DeliveryAddress1="Lagergatan 4",
        DeliveryZipCode="41101",
        DeliveryCity="Göteborg",
        DeliveryCountryCode="SE",
        DeliveryPhone1="031-12 34 56",
        VisitingAddress="Torget 2",
        VisitingZipCode="21120",
        VisitingCity="Malmö",
        YourReference="Cecilia",
    )
    source = make_source(fake)
    (party,) = source.normalize(stream(source, "customers"), read(source, "customers")[0])
    assert isinstance(party, Party)
    assert party.kind == "person"
    assert party.national_id == "19811218-9876"
    assert party.organization_number is None
    postal, delivery, visiting = party.addresses
    assert (postal.kind, postal.lines, postal.postal_code, postal.city, postal.country) == (
        "postal",
        ("Storgatan 1", "Lgh 1102"),
        "11122",
        "Stockholm",
        "SE",
    )
    assert (delivery.kind, delivery.care_of, delivery.lines, delivery.city) == (
        "delivery",
        "c/o Ek",
        ("Lagergatan 4",),
        "Göteborg",
    )
    assert (visiting.kind, visiting.lines, visiting.postal_code) == (
        "visiting",
        ("Torget 2",),
        "21120",
    )
    assert [p.number for p in party.phones] == ["070-123 45 67", "08-765 43 21", "031-12 34 56"]
    assert [e.address for e in party.emails] == ["cecilia@ek.example", "faktura@ek.example"]
    assert party.contact_person is not None
    assert party.contact_person.name == "Cecilia"


def test_invoice_maps_reminders_references_and_exact_amounts(fake: FortnoxFake, mock: Any) -> None:
    customer = fake.add_customer()
    fake.add_invoice(
        customer,
        "0.30",
        Balance=0.1,
        Reminders=2,
        LastRemindDate="2026-03-10",
        ContractReference=77,
        YourOrderNumber="PO-9",
        Currency="EUR",
    )
    fake.add_invoice(customer, "123456789.99", Cancelled=True)
    source = make_source(fake)
    claims = [
        m for r in read(source, "invoices") for m in source.normalize(stream(source, "invoices"), r)
    ]
    first = claims[0]
    assert isinstance(first, Claim)
    assert (first.original_amount, first.remaining_principal) == (Decimal("0.30"), Decimal("0.1"))
    assert first.currency == "EUR"
    assert [(r.sent_on, r.fee) for r in first.reminders] == [(dt.date(2026, 3, 10), Decimal(0))]
    assert (first.agreement_ref, first.order_ref) == ("77", "PO-9")
    assert first.kid == fake.invoices[first.invoice_number]["OCR"]
    assert first.debtor_id == customer["CustomerNumber"]
    assert first.source == SourceRef(
        system="fortnox", company="5566778899", record_id="1001", record_type="invoice"
    )
    assert first.agreement_ref is not None


def test_cancelled_invoice_owes_nothing(fake: FortnoxFake, mock: Any) -> None:
    invoice = fake.add_invoice(fake.add_customer(), "100.00", Cancelled=True)
    source = make_source(fake)
    (claim,) = source.normalize(stream(source, "invoices"), RawRecord(invoice, "x"))
    assert isinstance(claim, Claim)
    assert claim.remaining_principal == 0


@pytest.mark.parametrize(
    ("total", "expected"),
    [(0.1, "0.1"), (1234.1, "1234.1"), (99999999.99, "99999999.99"), (0.3, "0.3")],
)
def test_amounts_from_the_wire_stay_exact(
    fake: FortnoxFake, mock: Any, total: float, expected: str
) -> None:
    """JSON doubles are read as Decimal from their text, never through binary floats."""
    fake.add_invoice(fake.add_customer(), "1", Total=total, Balance=total)
    source = make_source(fake)
    (claim,) = source.normalize(stream(source, "invoices"), read(source, "invoices")[0])
    assert isinstance(claim, Claim)
    assert claim.original_amount == Decimal(expected) == claim.remaining_principal
    assert str(claim.original_amount) == expected


def test_payments_and_credit_invoices(fake: FortnoxFake, mock: Any) -> None:
    invoice = ledger(fake, invoices=1)[0]
    fake.add_payment(invoice, "200.25", on=dt.date(2026, 3, 20))
    credit = fake.add_credit_invoice(invoice, "50.00")
    source = make_source(fake)
    (payment_record,) = read(source, "payments")
    (payment,) = source.normalize(stream(source, "payments"), payment_record)
    assert isinstance(payment, Payment)
    assert (payment.amount, payment.currency, payment.booking_date) == (
        Decimal("200.25"),
        "SEK",
        dt.date(2026, 3, 20),
    )
    assert (payment.invoice_number, payment.reference) == (
        invoice["DocumentNumber"],
        invoice["OCR"],
    )
    (note_record,) = read(source, "credit_notes")
    (note,) = source.normalize(stream(source, "credit_notes"), note_record)
    assert isinstance(note, CreditNote)
    assert (note.credit_note_number, note.invoice_number, note.amount) == (
        credit["DocumentNumber"],
        invoice["DocumentNumber"],
        Decimal("50.00"),
    )
    # a credit invoice never shows up as a claim, even when it is listed among invoices
    numbers = {
        r.data["DocumentNumber"]
        for r in read(source, "invoices", make_cursor(NOW.replace(year=2025)))
    }
    assert credit["DocumentNumber"] not in numbers
    assert api_queries(fake, "/3/invoices")[-1].get("lastmodified") == "2025-03-31 09:00"


def test_incremental_round_trip_costs_one_request_per_stream(fake: FortnoxFake, mock: Any) -> None:
    invoices = ledger(fake, invoices=4)
    clock = Clock()
    source = make_source(fake, now=clock)
    cursors = {s.name: last_cursor(source, s.name) for s in source.streams()}
    assert cursors["invoices"] == make_cursor(NOW - dt.timedelta(minutes=90))
    clock.at = NOW + dt.timedelta(hours=3)
    before = fake.api_requests
    again = {s.name: read(source, s.name, cursors[s.name]) for s in source.streams()}
    assert again == {"customers": [], "invoices": [], "payments": [], "credit_notes": []}
    assert fake.api_requests - before == 4  # one list request per stream, nothing else
    fake.now = NOW + dt.timedelta(hours=1)
    fake.add_payment(invoices[1], "10.00")
    changed = read(source, "invoices", cursors["invoices"])
    assert [r.data["DocumentNumber"] for r in changed] == [invoices[1]["DocumentNumber"]]
    assert len(read(source, "payments", cursors["payments"])) == 1
    assert read(source, "customers", cursors["customers"]) == []


def test_cursor_is_validated() -> None:
    assert parse_cursor(None) is None
    assert parse_cursor(make_cursor(NOW)) == NOW
    for bad in ("", "{}", '{"v": 2, "since": "2026-01-01 00:00"}', '{"v":1,"since":"x"}', "[[["):
        with pytest.raises(ParseError):
            parse_cursor(bad)


def test_fetch_by_id(fake: FortnoxFake, mock: Any) -> None:
    invoices = ledger(fake, invoices=2)
    credit = fake.add_credit_invoice(invoices[0], "5.00")
    source = make_source(fake)
    numbers = [invoices[1]["DocumentNumber"], "999999", credit["DocumentNumber"], "x" * 100]
    fetched = list(source.fetch(stream(source, "invoices"), numbers))
    assert [r.data["DocumentNumber"] for r in fetched] == [invoices[1]["DocumentNumber"]]
    notes = list(source.fetch(stream(source, "credit_notes"), numbers))
    assert [r.data["DocumentNumber"] for r in notes] == [credit["DocumentNumber"]]
    customers = list(source.fetch(stream(source, "customers"), ["1", "404"]))
    assert [r.data["CustomerNumber"] for r in customers] == ["1"]
    assert dict(customers[0].data) == dict(read(source, "customers")[0].data)


# --- auth ---------------------------------------------------------------------------------


def test_expired_token_is_refreshed_and_retried_once(
    fake: FortnoxFake, mock: Any, external_fixtures: Path
) -> None:
    """The recorded 401 of an expired token drives the refresh."""
    cassette = yaml.safe_load(
        (external_fixtures / "fortnox-recorded/auth-expired-token.yml").read_text()
    )
    recorded = cassette["http_interactions"][0]["response"]
    ledger(fake)
    source = make_source(fake)
    assert len(read(source, "customers")) == 1
    fake.expire_tokens()
    fake.failures.append(
        (
            recorded["status"]["code"],
            {"Content-Type": "application/json"},
            recorded["body"]["string"],
        )
    )
    assert len(read(source, "customers")) == 1
    assert fake.token_requests == 2
    fake.expire_tokens()
    fake.refresh_token = "revoked"
    with pytest.raises(AuthError, match="refused the refresh token"):
        read(source, "customers")


def test_rotated_refresh_token_is_persisted_and_wins(
    fake: FortnoxFake, mock: Any, tmp_path: Path
) -> None:
    store = FileCredentialStore(tmp_path / "creds")
    ledger(fake)
    make_source(fake, store=store).check()
    assert store.get(STORE_KEY) == "rt-1" == fake.refresh_token
    assert (store._path(STORE_KEY).stat().st_mode & 0o777) == 0o600
    # a new process reads the stored token, not the configured (dead) one
    assert make_source(fake, store=store).check().ok
    assert store.get(STORE_KEY) == "rt-2"


def test_crash_while_persisting_keeps_the_old_token_and_uses_no_new_access_token(
    fake: FortnoxFake, mock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileCredentialStore(tmp_path / "creds")
    store.put(STORE_KEY, "rt-0")
    ledger(fake)

    def crash(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    source = make_source(fake, store=store)
    with pytest.raises(AuthError, match="could not be stored"):
        read(source, "customers")
    assert store.get(STORE_KEY) == "rt-0"  # the old token is still on disk, intact
    assert fake.api_requests == 0  # the new access token was never used
    assert not [p for p in (tmp_path / "creds").iterdir() if p.name.startswith(".tmp-")]


def test_secrets_never_reach_the_log(
    fake: FortnoxFake, mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ledger(fake)
    caplog.set_level(logging.DEBUG)
    source = make_source(fake)
    read(source, "customers")
    text = caplog.text + repr(source.tokens)
    for secret in ("rt-0", "rt-1", "at-1", fake.client_secret, "Bertil", "556677"):
        assert secret not in text


# --- errors and limits --------------------------------------------------------------------


def test_429_waits_out_retry_after(fake: FortnoxFake, mock: Any) -> None:
    ledger(fake)
    sleeps: list[float] = []
    store = MemoryCredentialStore()
    source = make_source(fake, sleeps=sleeps, store=store)
    fake.fail_next(429, 2000000, "Too many requests", {"Retry-After": "3"})
    assert len(read(source, "customers")) == 1
    assert sleeps == [3.0]
    for _ in range(7):
        fake.fail_next(429, 2000000, "Too many requests", {"Retry-After": "1"})
    with pytest.raises(RateLimitedError) as caught:
        read(
            make_source(fake, store=store, http=HttpOptions(max_retries=2, rate_limit_per_s=None)),
            "customers",
        )
    assert caught.value.retry_after == 1.0


@pytest.mark.parametrize(
    "body",
    [
        {"ErrorInformation": {"error": 1, "message": "Kan inte hitta kunden.", "code": 2000433}},
        {"ErrorInformation": {"Error": 1, "Message": "Kan inte hitta kunden.", "Code": 2000433}},
    ],
)
def test_vendor_error_bodies_become_remote_errors(
    fake: FortnoxFake, mock: Any, body: dict[str, Any]
) -> None:
    ledger(fake)
    fake.failures.append((400, {"Content-Type": "application/json"}, json.dumps(body)))
    with pytest.raises(RemoteError) as caught:
        read(make_source(fake), "customers")
    assert caught.value.code == "2000433"
    assert caught.value.status == 400
    assert "Kan inte hitta kunden." in str(caught.value)


def test_a_body_that_is_not_json_is_a_parse_error(fake: FortnoxFake, mock: Any) -> None:
    fake.failures.append((200, {"Content-Type": "application/json"}, "<html>"))
    with pytest.raises(ParseError, match="not JSON"):
        read(make_source(fake), "customers")


def test_check_tells_config_auth_and_reachability_apart(fake: FortnoxFake, mock: Any) -> None:
    good = make_source(fake).check()
    assert good.ok
    assert {i.kind for i in good.items} == {
        CheckKind.CONFIG,
        CheckKind.AUTH,
        CheckKind.REACHABILITY,
    }
    fake.refresh_token = "someone-else"
    bad_auth = make_source(fake).check()
    assert [(i.kind, i.ok) for i in bad_auth.items] == [
        (CheckKind.CONFIG, True),
        (CheckKind.AUTH, False),
    ]
    fake.refresh_token = "rt-0"
    wrong_root = make_source(fake, base_url=BASE_URL + "/wrong").check()
    assert (CheckKind.CONFIG, False) in [(i.kind, i.ok) for i in wrong_root.items]
    mock.replace(responses.POST, TOKEN_URL, body=requests.exceptions.ConnectTimeout())
    down = make_source(fake).check()
    assert [(i.kind, i.ok) for i in down.items][-1] == (CheckKind.REACHABILITY, False)


# --- hostile records ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"InvoiceDate": None}, "invoice_date"),
        ({"Total": "lots"}, "original_amount"),
        ({"DueDate": "2026-02-31"}, "due_date"),
        ({"CustomerNumber": None}, "debtor_id"),
        ({"Remarks": "x" * 100_000}, "Remarks: text longer"),
        ({"Total": -5}, "original_amount"),
        ({"Balance": 99999}, "exceeds"),
    ],
)
def test_malformed_invoices_are_record_errors(
    fake: FortnoxFake, changes: dict[str, Any], reason: str
) -> None:
    invoice = fake.add_invoice(fake.add_customer(), "100.00", **changes)
    source = make_source(fake)
    with pytest.raises(RecordError) as caught:
        source.normalize(stream(source, "invoices"), RawRecord(invoice, "fortnox:invoices:x"))
    assert reason in " ".join(caught.value.reasons)
    assert caught.value.location == "fortnox:invoices:x"


def test_deep_nesting_and_non_objects_are_record_errors(fake: FortnoxFake) -> None:
    source = make_source(fake)
    nested: Any = "x"
    for _ in range(50):
        nested = {"a": nested}
    for data in ({"DocumentNumber": "1", "Labels": nested}, {"__invalid__": "list"}):
        with pytest.raises(RecordError):
            source.normalize(stream(source, "invoices"), RawRecord(data, "here"))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.decimals(allow_nan=False),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
_FIELDS = [
    "CustomerNumber",
    "Name",
    "Type",
    "DocumentNumber",
    "Total",
    "Balance",
    "InvoiceDate",
    "DueDate",
    "Number",
    "Amount",
    "PaymentDate",
    "Credit",
    "CreditInvoiceReference",
    "Cancelled",
    "ContractReference",
    "CountryCode",
    "LastRemindDate",
    "Address1",
]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.dictionaries(st.sampled_from(_FIELDS), _JSON, max_size=12))
def test_any_record_normalizes_or_is_a_record_error(
    fake: FortnoxFake, data: dict[str, Any]
) -> None:
    source = make_source(fake)
    for spec in source.streams():
        reasons: list[str] = ["ok"]
        try:
            source.normalize(spec, RawRecord(data, "fuzz"))
        except RecordError as exc:
            reasons = exc.reasons
        assert reasons


# --- booking ------------------------------------------------------------------------------


def _payment(amount: str = "300.50", on: dt.date = dt.date(2026, 3, 30)) -> Payment:
    return Payment(
        payment_id="agency-1",
        source=SourceRef(system="agency", record_id="s-1"),
        kind="settlement",
        amount=Decimal(amount),
        currency="SEK",
        booking_date=on,
    )


def test_register_payment_shape_bookkeep_and_idempotency(fake: FortnoxFake, mock: Any) -> None:
    invoice = ledger(fake, invoices=1)[0]
    source = make_source(fake, mode_of_payment="BG")
    (claim,) = source.normalize(stream(source, "invoices"), RawRecord(invoice, "x"))
    assert isinstance(claim, Claim)
    number = source.register_payment(_payment(), claim)
    posts = [
        (r, reply)
        for r, reply in fake.exchanges
        if r.method == "POST" and "invoicepayments" in (r.url or "")
    ]
    ((request, _),) = posts
    assert json.loads(request.body or b"") == {
        "InvoicePayment": {
            "InvoiceNumber": int(invoice["DocumentNumber"]),
            "Amount": 300.5,
            "AmountCurrency": 300.5,
            "PaymentDate": "2026-03-30",
            "ModeOfPayment": "BG",
        }
    }
    assert fake.payments[number]["Booked"] is True
    assert Decimal(str(invoice["Balance"])) == Decimal("1000.50") - Decimal("300.50")
    again = source.register_payment(_payment(), claim)
    assert again == number
    assert len(fake.payments) == 1
    other = source.register_payment(_payment("1.00"), claim)
    assert other != number
    assert len(fake.payments) == 2


def test_register_payment_refuses_what_it_cannot_book(fake: FortnoxFake, mock: Any) -> None:
    invoice = ledger(fake, invoices=1)[0]
    source = make_source(fake)
    (claim,) = source.normalize(stream(source, "invoices"), RawRecord(invoice, "x"))
    assert isinstance(claim, Claim)
    euro = _payment().model_copy(update={"currency": "EUR"})
    with pytest.raises(Exception, match="SEK"):
        source.register_payment(euro, claim)
    gone = claim.model_copy(update={"invoice_number": "424242"})
    with pytest.raises(RemoteError) as caught:
        source.register_payment(_payment(), gone)
    assert caught.value.code == "2000433"


# --- the recorded answers ----------------------------------------------------------------


def _recorded(external_fixtures: Path, name: str) -> Any:
    cassette = yaml.safe_load((external_fixtures / "fortnox-recorded" / name).read_text())
    return json.loads(
        cassette["http_interactions"][0]["response"]["body"]["string"], parse_float=Decimal
    )


def test_recorded_customer_maps_field_by_field(fake: FortnoxFake, external_fixtures: Path) -> None:
    customer = _recorded(external_fixtures, "customer-find-id-1.yml")["Customer"]
    source = make_source(fake)
    (party,) = source.normalize(stream(source, "customers"), RawRecord(customer, "recorded"))
    assert isinstance(party, Party)
    assert party.source == SourceRef(
        system="fortnox", company="5566778899", record_id="1", record_type="customer"
    )
    assert (party.customer_number, party.name, party.kind) == ("1", "Updated name", "company")
    assert party.organization_number is None
    assert party.national_id is None
    assert party.id_country == "SE"  # no CountryCode recorded: the company's default
    (address,) = party.addresses
    assert (address.kind, address.lines, address.postal_code, address.city, address.country) == (
        "postal",
        (),
        "10001",
        "New York",
        None,
    )
    assert party.phones == ()
    assert party.emails == ()
    assert party.contact_person is None


def test_recorded_invoice_rows_map_field_by_field(
    fake: FortnoxFake, external_fixtures: Path
) -> None:
    body = _recorded(external_fixtures, "invoices-filter-hit.yml")
    assert body["MetaInformation"] == {"@TotalResources": 2, "@TotalPages": 1, "@CurrentPage": 1}
    mapping = load_mapping("fortnox_invoice")
    variables = {"company": "c", "default_currency": "SEK", "default_country": "SE"}
    mapped = [mapping.apply(row, variables) for row in body["Invoices"]]
    assert [(m["invoice_number"], m["debtor_id"], m["kid"]) for m in mapped] == [
        ("32", "1", "3244"),
        ("33", "5", "3343"),
    ]
    for m in mapped:
        assert (m["invoice_date"], m["due_date"]) == (dt.date(2023, 1, 30), dt.date(2023, 3, 1))
        assert (m["currency"], m["original_amount"], m["remaining_principal"]) == ("SEK", 0, 0)
        assert "reminders" not in m
        assert "agreement_ref" not in m
    # both recorded invoices total 0 kr: not a claim anyone can collect
    source = make_source(fake)
    with pytest.raises(RecordError, match="original_amount"):
        source.normalize(stream(source, "invoices"), RawRecord(body["Invoices"][0], "recorded"))
