"""SAF-T Financial (Norway) source: the real example, a 1.30 fixture, bad and huge input."""

from __future__ import annotations

import contextlib
import tracemalloc
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimbridge.connectors.accounting.saft import (
    CUSTOMERS,
    INVOICES,
    SaftSettings,
    SaftSource,
    customer_to_party,
    item_to_claim,
    iter_customers,
    iter_open_items,
    read_header,
)
from claimbridge.connectors.base import CheckKind, ConnectorContext, RawRecord
from claimbridge.errors import NotFoundError, ParseError, RecordError
from claimbridge.schemas import AddressKind, Claim, PartyKind, PhoneType

LOCAL = Path(__file__).resolve().parent.parent / "fixtures" / "saft" / "saft-1.30-open-items.xml"


def _source(path: Path, **settings: object) -> SaftSource:
    return SaftSource(SaftSettings(path=path, **settings), ConnectorContext(name="saft"))


def _items(path: Path) -> dict[str, RawRecord]:
    return {str(r.data["ItemID"]): r for r in iter_open_items(path)}


# --- the real example (1.0, BOM, CRLF, prefixed namespace) --------------------------------------


@pytest.mark.external
def test_real_example_header_and_customer(external_fixtures: Path) -> None:
    path = external_fixtures / "saft" / "saft-financial-example.xml"
    header = read_header(path)
    assert (header.version, header.generation) == ("1.0", "1.0")
    assert (header.currency, header.company) == ("NOK", "999999999")
    [record] = list(iter_customers(path))
    assert record.data["BalanceAccounts"] == [
        {"AccountID": "1500", "OpeningDebitBalance": "1234.56", "ClosingDebitBalance": "12345.67"}
    ]
    assert record.data["BankAccounts"][0]["IBANNumber"] == "NO4912345678911"
    assert record.data["PartyInfo"]["PaymentTermsDays"] == "30"
    party = customer_to_party(record)
    assert party.kind is PartyKind.COMPANY
    assert party.name == "Kunden AS"
    assert party.customer_number == "12000"
    assert (party.organization_number, party.id_country) == ("999999999", "NO")
    street, postal = party.addresses
    assert street.kind is AddressKind.VISITING
    assert (street.lines, street.postal_code, street.city) == (("Veien 1",), "7000", "Trondheim")
    assert postal.kind is AddressKind.POSTAL
    assert (postal.lines, postal.postal_code, postal.country) == (("Postboks 123",), "7001", "NO")
    assert [p.number for p in party.phones] == ["99999999"]
    assert [e.address for e in party.emails] == ["kontaktperson@domene.offline"]
    assert party.contact_person is not None
    assert party.contact_person.name == "Kunde Kontakt"
    assert party.source.company == "999999999"


@pytest.mark.external
def test_real_example_has_no_customer_open_items(external_fixtures: Path) -> None:
    # Its ledger posts only to a supplier (SupplierID 20000) and GL accounts: nothing to collect.
    path = external_fixtures / "saft" / "saft-financial-example.xml"
    assert list(iter_open_items(path)) == []
    source = _source(path)
    assert [len(p.records) for p in source.read(CUSTOMERS, None)] == [1]
    assert list(source.read(INVOICES, None)) == []
    check = source.check()
    assert check.ok
    assert all(item.kind is CheckKind.CONFIG for item in check.items)
    assert "version 1.0 (schema generation 1.0), currency NOK" in check.items[-1].message


# --- a 1.30 file with the derivation cases -----------------------------------------------------


def test_v130_customers() -> None:
    assert read_header(LOCAL).generation == "1.3"
    company, person, plain = (customer_to_party(r) for r in iter_customers(LOCAL))
    assert company.organization_number == "923456789"  # "NO 923 456 789 MVA" cleaned
    assert company.addresses[0].care_of == "Regnskapshuset"
    assert company.addresses[0].lines == ("Bakergata 7B",)
    assert [a.kind for a in company.addresses] == [AddressKind.POSTAL, AddressKind.VISITING]
    assert [(p.number, p.type) for p in company.phones] == [
        ("55 55 55 55", PhoneType.UNKNOWN),
        ("+47 400 00 000", PhoneType.MOBILE),
    ]
    assert company.contact_person is not None
    assert company.contact_person.role == "Økonomisjef"
    assert person.kind is PartyKind.PERSON
    assert (person.organization_number, person.national_id, person.id_country) == (None,) * 3
    assert plain.kind is PartyKind.COMPANY
    assert plain.addresses == ()


def test_v130_open_items() -> None:
    items = _items(LOCAL)
    assert set(items) == {"20001:1001", "20003:1003", "20001:1004", "20001:1005"}  # 1002 paid

    partly_paid = item_to_claim(items["20001:1001"], 14)
    assert partly_paid.original_amount == Decimal("1250.00")
    assert partly_paid.remaining_principal == Decimal("750.00")
    assert partly_paid.invoice_date == date(2025, 1, 10)
    assert partly_paid.due_date == date(2025, 1, 24)  # Line/DueDate
    assert partly_paid.kid == "0010012"  # CID
    assert partly_paid.currency == "NOK"

    credited = item_to_claim(items["20003:1003"], 14)
    assert credited.remaining_principal == Decimal("200.00")
    assert credited.due_date == date(2025, 3, 15)  # default terms: 14 days
    assert credited.description is not None
    assert "due date derived" in credited.description
    assert "default" in credited.description
    assert item_to_claim(items["20003:1003"], 30).due_date == date(2025, 3, 31)

    foreign = item_to_claim(items["20001:1004"], 14)
    assert (foreign.currency, foreign.original_amount) == ("EUR", Decimal("100.00"))

    with pytest.raises(RecordError) as caught:
        item_to_claim(items["20001:1005"], 14)
    assert "DebitAmount/Amount is not a number" in str(caught.value)
    assert f"{LOCAL}:79" in str(caught.value)


def test_cross_reference_to_transaction_settles_the_invoice() -> None:
    # T4 pays 1002 with only CrossReference=T3 (the invoice's TransactionID).
    assert "20002:1002" not in _items(LOCAL)
    assert "20002:T3" not in _items(LOCAL)


def test_due_date_from_customer_payment_terms(tmp_path: Path) -> None:
    text = LOCAL.read_text(encoding="utf-8").replace("<DueDate>2025-01-24</DueDate>", "")
    path = tmp_path / "s.xml"
    path.write_text(text, encoding="utf-8")
    claim = item_to_claim(_items(path)["20001:1001"], 14)
    assert claim.due_date == date(2025, 2, 9)  # customer 20001 has 30 days
    assert claim.description is not None
    assert "customer's payment terms" in claim.description


def test_source_read_and_normalize_pages() -> None:
    source = _source(LOCAL, page_size=2)
    pages = list(source.read(INVOICES, None))
    assert [len(p.records) for p in pages] == [2, 2]
    outcomes: list[object] = []
    for page in pages:
        for record in page.records:
            try:
                outcomes.extend(source.normalize(INVOICES, record))
            except RecordError as exc:
                outcomes.append(exc)
    assert sum(isinstance(o, Claim) for o in outcomes) == 3
    assert sum(isinstance(o, RecordError) for o in outcomes) == 1
    customers = [r for p in source.read(CUSTOMERS, None) for r in p.records]
    assert [r.data["CustomerID"] for r in customers] == ["20001", "20002", "20003"]


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            "<AuditFile>&x;</AuditFile>",
            "document type declarations",
        ),
        (
            '<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><AuditFile>&b;</AuditFile>',
            "document type declarations",
        ),
        ("<Invoice><ID>1</ID></Invoice>", "root element is 'Invoice'"),
        ("<AuditFile><MasterFiles/></AuditFile>", "no Header"),
        (
            "<AuditFile><Header><AuditFileCountry>NO</AuditFileCountry></Header></AuditFile>",
            "missing AuditFileVersion",
        ),
        (
            "<AuditFile><Header><AuditFileVersion>2.00</AuditFileVersion></Header></AuditFile>",
            "unsupported SAF-T version '2.00'",
        ),
    ],
    ids=["xxe", "billion-laughs", "wrong-root", "no-header", "no-version", "version-2"],
)
def test_whole_file_problems(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(content, encoding="utf-8")
    for reader in (iter_customers, iter_open_items):
        with pytest.raises(ParseError) as caught:
            list(reader(path))
        assert expected in str(caught.value)
        assert str(path) in str(caught.value)
    assert not _source(path).check().ok


def test_truncated_file_names_the_line(tmp_path: Path) -> None:
    text = LOCAL.read_text(encoding="utf-8")
    path = tmp_path / "cut.xml"
    path.write_text(text[: len(text) * 2 // 3], encoding="utf-8")
    with pytest.raises(ParseError) as caught:
        list(iter_open_items(path))
    assert "malformed XML" in str(caught.value)
    assert caught.value.line is not None
    assert caught.value.file == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        list(iter_open_items(tmp_path / "nope.xml"))
    assert not _source(tmp_path / "nope.xml").check().ok


def test_customer_without_id_is_a_record_error() -> None:
    with pytest.raises(RecordError) as caught:
        customer_to_party(RawRecord(data={"Name": "Kunde AS"}, location="f.xml:3"))
    assert "CustomerID is missing" in str(caught.value)
    assert "Kunde AS" not in str(caught.value)


@settings(max_examples=60, deadline=None)
@given(amount=st.text(min_size=1, max_size=12).filter(lambda s: "<" not in s and "&" not in s))
def test_any_amount_text_gives_a_claim_or_a_record_error(
    tmp_path_factory: pytest.TempPathFactory, amount: str
) -> None:
    path = tmp_path_factory.mktemp("h") / "s.xml"
    text = LOCAL.read_text(encoding="utf-8").replace("12,50x", amount)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        records = list(iter_open_items(path))
    except ParseError:
        return  # characters XML itself forbids: one clear whole-file error
    for record in records:
        with contextlib.suppress(RecordError):
            item_to_claim(record, 14)


# --- a large file streams in bounded memory ---------------------------------------------------


def _write_large(path: Path, target_bytes: int) -> None:
    line = (
        "<n1:Line><n1:RecordID>{r}</n1:RecordID><n1:AccountID>{a}</n1:AccountID>{c}"
        "<n1:Description>Faktura {n} med en lang nok tekst til å ligne en ekte</n1:Description>"
        "<n1:{s}><n1:Amount>{m}</n1:Amount></n1:{s}><n1:ReferenceNumber>{n}</n1:ReferenceNumber>"
        "<n1:SystemEntryTime>2025-01-10T09:30:00</n1:SystemEntryTime></n1:Line>\n"
    )
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<n1:AuditFile xmlns:n1="urn:StandardAuditFile-Taxation-Financial:NO"><n1:Header>'
            "<n1:AuditFileVersion>1.0</n1:AuditFileVersion>"
            "<n1:DefaultCurrencyCode>NOK</n1:DefaultCurrencyCode></n1:Header>"
            "<n1:GeneralLedgerEntries><n1:Journal>\n"
        )
        n = 0
        while out.tell() < target_bytes:
            c = f"<n1:CustomerID>{n % 300}</n1:CustomerID>"
            lines = [
                line.format(r=1, a="3000", c="", n=n, s="CreditAmount", m="100.00"),
                line.format(r=2, a="2700", c="", n=n, s="CreditAmount", m="25.00"),
                line.format(r=3, a="1500", c=c, n=n, s="DebitAmount", m="125.00"),
            ]
            if n % 25:  # most invoices are paid: 1 in 25 stays open
                lines.append(line.format(r=4, a="1500", c=c, n=n, s="CreditAmount", m="125.00"))
                lines.append(line.format(r=5, a="1920", c="", n=n, s="DebitAmount", m="125.00"))
            out.write(
                f"<n1:Transaction><n1:TransactionID>{n}</n1:TransactionID>"
                "<n1:TransactionDate>2025-01-10</n1:TransactionDate>"
                + "".join(lines)
                + "</n1:Transaction>\n"
            )
            n += 1
        out.write("</n1:Journal></n1:GeneralLedgerEntries></n1:AuditFile>\n")


@pytest.mark.slow
def test_fifty_megabytes_stream_in_a_fraction_of_their_size(tmp_path: Path) -> None:
    path = tmp_path / "large.xml"
    _write_large(path, 50 * 1024 * 1024)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        open_items = sum(1 for _ in iter_open_items(path))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert open_items > 1000
    # Python-side peak: the open-item sums, never the document. lxml's own buffers are C
    # memory; releasing each transaction keeps the tree itself at one transaction.
    assert peak < size / 10, f"peak {peak} bytes for a {size}-byte file"


# --- the transaction's own fields, picked with its customer lines in one call ------------------


def _one_invoice(tmp_path: Path, transaction: str) -> Path:
    path = tmp_path / "t.xml"
    path.write_text(
        '<AuditFile xmlns="urn:StandardAuditFile-Taxation-Financial:NO"><Header>'
        "<AuditFileVersion>1.30</AuditFileVersion><DefaultCurrencyCode>NOK</DefaultCurrencyCode>"
        "</Header><GeneralLedgerEntries><Journal>"
        f"<Transaction>{transaction}</Transaction></Journal></GeneralLedgerEntries></AuditFile>",
        encoding="utf-8",
    )
    return path


_CUSTOMER_LINE = (
    "<Line><RecordID>2</RecordID><AccountID>1500</AccountID><CustomerID>7</CustomerID>"
    "<DebitAmount><Amount>100.00</Amount></DebitAmount></Line>"
)
_GL_LINE = (
    "<Line><RecordID>1</RecordID><AccountID>3000</AccountID><Description>sale</Description>"
    "<CreditAmount><Amount>100.00</Amount></CreditAmount></Line>"
)


def test_transaction_fields_are_read_wherever_they_stand(tmp_path: Path) -> None:
    # Out of schema order: the transaction's own fields after its lines are still its own.
    path = _one_invoice(
        tmp_path,
        f"{_GL_LINE}{_CUSTOMER_LINE}<TransactionID>T9</TransactionID>"
        "<TransactionDate>2025-03-01</TransactionDate><Description>Faktura 9</Description>",
    )
    [record] = list(iter_open_items(path))
    assert record.data["ItemID"] == "7:T9"  # no line reference: the TransactionID is the key
    assert record.data["ReferenceField"] == "TransactionID"
    assert (record.data["TransactionDate"], record.data["Description"]) == (
        "2025-03-01",
        "Faktura 9",  # the GL line's description belongs to another line
    )
    assert record.location.endswith(":1")


def test_first_transaction_id_counts_even_when_blank(tmp_path: Path) -> None:
    path = _one_invoice(
        tmp_path,
        "<TransactionID> </TransactionID><TransactionID>T2</TransactionID>"
        f"<TransactionDate>2025-03-01</TransactionDate>{_CUSTOMER_LINE}",
    )
    [record] = list(iter_open_items(path))
    assert record.data["ItemID"] == "7:?"
    assert record.data["TransactionID"] is None


def test_lines_without_customer_never_make_items(tmp_path: Path) -> None:
    path = _one_invoice(tmp_path, f"<TransactionID>T1</TransactionID>{_GL_LINE}{_GL_LINE}")
    assert list(iter_open_items(path)) == []
