"""EHF 3 / PEPPOL BIS Billing 3.0 (UBL 2.1) source: real examples, own fixtures, bad input."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from claimbridge.connectors.accounting.ubl import (
    CREDIT_NOTES,
    CUSTOMERS,
    INVOICES,
    UblSettings,
    UblSource,
    read_document,
)
from claimbridge.connectors.accounting.ubl_document import read_credit_note
from claimbridge.connectors.base import CheckKind, ConnectorContext, RawRecord
from claimbridge.errors import NotFoundError, ParseError, RecordError
from claimbridge.schemas import AddressKind, Claim, CreditNote, Party, PartyKind

LOCAL = Path(__file__).resolve().parent.parent / "fixtures" / "ubl"
INVOICE = LOCAL / "ehf-invoice-4711.xml"
CREDIT = LOCAL / "ehf-creditnote-4711-k1.xml"


def _source(directory: Path, **settings: object) -> UblSource:
    return UblSource(UblSettings(directory=directory, **settings), ConnectorContext(name="ubl"))


def _all(source: UblSource, stream: object) -> list[tuple[RawRecord, list[object]]]:
    out: list[tuple[RawRecord, list[object]]] = []
    for page in source.read(stream, None):  # type: ignore[arg-type]
        for record in page.records:
            try:
                out.append((record, list(source.normalize(stream, record))))  # type: ignore[arg-type]
            except RecordError as exc:
                out.append((record, [exc]))
    return out


def _variant(tmp_path: Path, name: str, old: str, new: str, *, count: int = 1) -> Path:
    text = INVOICE.read_text(encoding="utf-8")
    assert old in text
    target = tmp_path / name
    target.write_text(text.replace(old, new, count), encoding="utf-8")
    return target


# --- real public examples ----------------------------------------------------------------------


@pytest.mark.external
def test_peppol_base_example_invoice(external_fixtures: Path, tmp_path: Path) -> None:
    shutil.copy(external_fixtures / "ubl" / "peppol-bis3-base-example.xml", tmp_path)
    source = _source(tmp_path)
    [(_, [claim])] = _all(source, INVOICES)
    assert isinstance(claim, Claim)
    assert claim.invoice_number == "Snippet1"
    assert claim.invoice_date == date(2017, 11, 13)
    assert claim.due_date == date(2017, 12, 1)
    assert claim.currency == "EUR"
    assert claim.original_amount == Decimal("1656.25")
    assert claim.remaining_principal == Decimal("1656.25")  # no credit note beside it
    assert claim.kid == "Snippet1"
    assert claim.agreement_ref == "0150abc"  # BuyerReference; no ContractDocumentReference
    assert claim.order_ref is None
    assert claim.attachment_ref is None
    assert claim.debtor_id == "FR23342"  # PartyIdentification/ID
    assert claim.source.company == "GB983294"  # the seller's legal CompanyID
    [(_, [party])] = _all(source, CUSTOMERS)
    assert isinstance(party, Party)
    assert party.kind is PartyKind.COMPANY
    assert party.name == "BuyerTradingName AS"
    assert party.customer_number == "FR23342"
    assert party.organization_number == "39937423947"
    assert party.id_country == "CH"  # schemeID 0183: Swiss register
    [address] = party.addresses
    assert address.lines == ("Hovedgatan 32", "Po box 878")
    assert (address.postal_code, address.city, address.country) == ("456 34", "Stockholm", "SE")
    assert [p.number for p in party.phones] == ["23434234"]
    assert [e.address for e in party.emails] == ["lj@buyer.se"]
    assert party.contact_person is not None
    assert party.contact_person.name == "Lisa Johnson"


@pytest.mark.external
def test_peppol_credit_note_cancels_the_invoice_it_names(external_fixtures: Path) -> None:
    source = _source(external_fixtures / "ubl")
    [(_, [note])] = _all(source, CREDIT_NOTES)
    assert isinstance(note, CreditNote)
    assert note.credit_note_number == "Snippet1"
    assert note.invoice_number == "Snippet1"  # BillingReference/InvoiceDocumentReference/ID
    assert note.amount == Decimal("1656.25")
    assert note.currency == "EUR"
    assert note.issue_date == date(2017, 11, 13)
    assert note.reason == "Please note we have a new phone number: 22 22 22 22"
    [(record, [claim])] = _all(source, INVOICES)
    assert record.data["CreditNotes"] == [
        {"ID": "Snippet1", "Amount": "1656.25", "Currency": "EUR"}
    ]
    assert isinstance(claim, Claim)
    assert claim.original_amount == Decimal("1656.25")
    assert claim.remaining_principal == Decimal("0")


# --- own fixtures ------------------------------------------------------------------------------


def test_ehf_invoice_fields_and_partial_credit(tmp_path: Path) -> None:
    shutil.copy(INVOICE, tmp_path)
    shutil.copy(CREDIT, tmp_path)
    source = _source(tmp_path)
    [(record, [claim])] = _all(source, INVOICES)
    assert isinstance(claim, Claim)
    assert claim.due_date == date(2025, 2, 17)  # PaymentMeans/PaymentDueDate
    assert claim.original_amount == Decimal("2000.00")  # PayableAmount (prepaid 500 already out)
    assert claim.remaining_principal == Decimal("1375.00")  # minus credit note K-4711-1
    assert claim.kid == "0047114"
    assert claim.description == "Serviceavtale februar"
    assert claim.agreement_ref == "AVTALE-2024-17"  # ContractDocumentReference wins
    assert claim.order_ref == "PO-889"
    assert claim.attachment_ref == "timeliste-feb.pdf"
    assert claim.debtor_id == "923456789"  # EndpointID when no PartyIdentification
    assert "JVBERi0" not in repr(record.data)  # the attachment's content is never copied
    [(_, [party])] = _all(source, CUSTOMERS)
    assert isinstance(party, Party)
    assert (party.organization_number, party.id_country) == ("923456789", "NO")
    assert party.addresses[0].kind is AddressKind.POSTAL
    [(_, [note])] = _all(source, CREDIT_NOTES)
    assert isinstance(note, CreditNote)
    assert (note.invoice_number, note.amount) == ("4711", Decimal("625.00"))


def test_due_date_from_payment_terms(tmp_path: Path) -> None:
    _variant(
        tmp_path,
        "a.xml",
        "<cbc:PaymentDueDate>2025-02-17</cbc:PaymentDueDate>",
        "",
    )
    text = (
        (tmp_path / "a.xml")
        .read_text(encoding="utf-8")
        .replace(
            "<cac:TaxTotal>",
            "<cac:PaymentTerms><cbc:Note>14 dager</cbc:Note>"
            "<cbc:PaymentDueDate>2025-02-20</cbc:PaymentDueDate></cac:PaymentTerms><cac:TaxTotal>",
        )
    )
    (tmp_path / "a.xml").write_text(text, encoding="utf-8")
    [(_, [claim])] = _all(_source(tmp_path), INVOICES)
    assert isinstance(claim, Claim)
    assert claim.due_date == date(2025, 2, 20)


def test_pages_and_pattern(tmp_path: Path) -> None:
    for n in range(5):
        _variant(tmp_path, f"inv-{n}.xml", "<cbc:ID>4711</cbc:ID>", f"<cbc:ID>{n}</cbc:ID>")
    (tmp_path / "notes.txt").write_text("not xml", encoding="utf-8")
    pages = list(_source(tmp_path, page_size=2).read(INVOICES, None))
    assert [len(p.records) for p in pages] == [2, 2, 1]
    assert all(p.cursor is None for p in pages)


# --- bad input ---------------------------------------------------------------------------------

XXE = """<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&xxe;</Invoice>
"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">&lol3;</Invoice>
"""


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (XXE, "document type declarations"),
        (LAUGHS, "document type declarations"),
        (INVOICE.read_text(encoding="utf-8")[:1500], "malformed XML"),
        ("<Order xmlns='urn:x'><ID>1</ID></Order>", "root element is 'Order'"),
        ("", "malformed XML"),
    ],
    ids=["xxe", "billion-laughs", "truncated", "wrong-root", "empty"],
)
def test_whole_file_problems_are_one_parse_error(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ParseError) as caught:
        read_document(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)
    assert "root:" not in str(caught.value)  # nothing of /etc/passwd


def test_unreadable_file_is_quarantined_and_the_rest_go_on(tmp_path: Path) -> None:
    shutil.copy(INVOICE, tmp_path / "a-good.xml")
    (tmp_path / "b-xxe.xml").write_text(XXE, encoding="utf-8")
    (tmp_path / "c-truncated.xml").write_text(INVOICE.read_text()[:900], encoding="utf-8")
    results = _all(_source(tmp_path), INVOICES)
    assert len(results) == 3
    good, xxe, truncated = (outcome for _, [outcome] in results)
    assert isinstance(good, Claim)
    assert isinstance(xxe, RecordError)
    assert "b-xxe.xml" in str(xxe)
    assert "document type declarations" in str(xxe)
    assert isinstance(truncated, RecordError)
    assert "c-truncated.xml" in str(truncated)
    assert "malformed XML" in str(truncated)
    # the customers and credit-note streams skip unreadable files instead of failing
    assert len(_all(_source(tmp_path), CUSTOMERS)) == 1
    assert _all(_source(tmp_path), CREDIT_NOTES) == []


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("<cbc:ID>4711</cbc:ID>", "", "cbc:ID (the document number) is missing"),
        ("<cbc:PaymentDueDate>2025-02-17</cbc:PaymentDueDate>", "", "no due date"),
        (
            '<cbc:PayableAmount currencyID="NOK">2000.00',
            '<cbc:PayableAmount currencyID="NOK">2 000,00',
            "PayableAmount (line 75) is not a number",
        ),
        (
            '<cbc:PayableAmount currencyID="NOK">2000.00',
            '<cbc:PayableAmount currencyID="NOK">NaN',
            "is not a number",
        ),
        ("<cbc:IssueDate>2025-02-03", "<cbc:IssueDate>03.02.2025", "cbc:IssueDate (line 9)"),
        ("<cbc:DocumentCurrencyCode>NOK", "<cbc:DocumentCurrencyCode>XXY", "currency"),
        ("<cbc:PaymentDueDate>2025-02-17", "<cbc:PaymentDueDate>2025-01-01", "before invoice"),
    ],
    ids=["no-id", "no-due-date", "amount-text", "amount-nan", "bad-date", "currency", "due<issue"],
)
def test_unusable_invoice_is_a_record_error(
    tmp_path: Path, old: str, new: str, reason: str
) -> None:
    path = _variant(tmp_path, "x.xml", old, new)
    [(_record, [outcome])] = _all(_source(tmp_path), INVOICES)
    assert isinstance(outcome, RecordError)
    assert reason in str(outcome)
    assert str(path) in str(outcome)
    assert "Fjordbakst" not in str(outcome)  # no debtor data in the message


def test_negative_payable_is_refused_and_zero_is_skipped(tmp_path: Path) -> None:
    amount = '<cbc:PayableAmount currencyID="NOK">2000.00'
    _variant(tmp_path, "neg.xml", amount, '<cbc:PayableAmount currencyID="NOK">-5.00')
    [(_, [outcome])] = _all(_source(tmp_path), INVOICES)
    assert isinstance(outcome, RecordError)
    (tmp_path / "neg.xml").unlink()
    _variant(tmp_path, "zero.xml", amount, '<cbc:PayableAmount currencyID="NOK">0.00')
    [(_, outcomes)] = _all(_source(tmp_path), INVOICES)
    assert outcomes == []  # nothing payable: not a claim


def test_credit_note_in_other_currency_is_flagged(tmp_path: Path) -> None:
    shutil.copy(INVOICE, tmp_path)
    text = CREDIT.read_text(encoding="utf-8").replace(
        "<cbc:DocumentCurrencyCode>NOK", "<cbc:DocumentCurrencyCode>SEK"
    )
    (tmp_path / "cn.xml").write_text(text, encoding="utf-8")
    [(_, [outcome])] = _all(_source(tmp_path), INVOICES)
    assert isinstance(outcome, RecordError)
    assert "another currency" in str(outcome)


# --- check ------------------------------------------------------------------------------------


def test_check_reports_config_items(tmp_path: Path) -> None:
    shutil.copy(INVOICE, tmp_path)
    shutil.copy(CREDIT, tmp_path)
    result = _source(tmp_path).check()
    assert result.ok
    assert all(item.kind is CheckKind.CONFIG for item in result.items)
    assert "1 UBL 2.1 invoices, 1 credit notes" in result.items[-1].message
    (tmp_path / "bad.xml").write_text(XXE, encoding="utf-8")
    assert not _source(tmp_path).check().ok
    missing = _source(tmp_path / "nope").check()
    assert not missing.ok
    with pytest.raises(NotFoundError):
        list(_source(tmp_path / "nope").read(INVOICES, None))


# --- one listing, one read per file ------------------------------------------------------------


def test_credit_note_behind_prolog_comment_and_bom_is_still_applied(tmp_path: Path) -> None:
    shutil.copy(INVOICE, tmp_path / "a.xml")
    text = CREDIT.read_text(encoding="utf-8")
    decl, _, rest = text.partition("?>")
    (tmp_path / "b.xml").write_bytes(
        b"\xef\xbb\xbf" + f"{decl}?>\n<!-- <Invoice> in a comment -->\n{rest}".encode()
    )
    [(record, [claim])] = _all(_source(tmp_path), INVOICES)
    assert isinstance(claim, Claim)
    assert [n["ID"] for n in record.data["CreditNotes"]] == ["K-4711-1"]
    assert claim.remaining_principal == Decimal("1375.00")


def test_subdirectory_pattern_keeps_path_order(tmp_path: Path) -> None:
    for folder in ("a-b", "a"):
        (tmp_path / folder).mkdir()
        _variant(tmp_path, f"{folder}/x.xml", "<cbc:ID>4711</cbc:ID>", f"<cbc:ID>{folder}</cbc:ID>")
    source = _source(tmp_path, pattern="*/*.xml")
    assert [p.relative_to(tmp_path).as_posix() for p in source.files()] == ["a/x.xml", "a-b/x.xml"]
    claims = [c for _, [c] in _all(source, INVOICES)]
    assert [c.invoice_number for c in claims if isinstance(c, Claim)] == ["a", "a-b"]


def test_file_list_is_sorted_and_skips_directories(tmp_path: Path) -> None:
    for name in ("b.xml", "a.xml", "C.xml"):
        shutil.copy(INVOICE, tmp_path / name)
    (tmp_path / "d.xml").mkdir()
    assert [p.name for p in _source(tmp_path).files()] == ["C.xml", "a.xml", "b.xml"]


# --- the document walk --------------------------------------------------------------------------


def test_document_read_from_str_path_matches_path() -> None:
    assert read_document(str(INVOICE)) == read_document(INVOICE)
    assert read_document(str(INVOICE))["File"] == str(INVOICE)


def test_many_lines_leave_the_fields_as_they_are(tmp_path: Path) -> None:
    text = INVOICE.read_text(encoding="utf-8")
    start = text.index("<cac:InvoiceLine>")
    end = text.rindex("</cac:InvoiceLine>") + len("</cac:InvoiceLine>")
    lines = text[start:end]
    path = tmp_path / "long.xml"
    path.write_text(text[:start] + lines * 500 + text[end:], encoding="utf-8")
    assert read_document(path) | {"File": ""} == read_document(INVOICE) | {"File": ""}


def test_fields_after_the_lines_are_not_read(tmp_path: Path) -> None:
    # UBL's schema puts lines last; the walk stops at the first one (a schema-invalid field
    # after them is then reported missing, not read from somewhere else).
    text = INVOICE.read_text(encoding="utf-8")
    note = "<cbc:Note>Serviceavtale februar</cbc:Note>"
    assert note in text
    path = tmp_path / "late.xml"
    path.write_text(text.replace(note, "").replace("</Invoice>", f"{note}</Invoice>"), "utf-8")
    assert read_document(path)["Note"] is None
    assert read_document(INVOICE)["Note"] == "Serviceavtale februar"


def test_unreadable_paths_are_no_credit_note(tmp_path: Path) -> None:
    (tmp_path / "dir.xml").mkdir()
    assert read_credit_note(tmp_path / "dir.xml") is None
    assert read_credit_note(tmp_path / "missing.xml") is None
    assert read_credit_note(INVOICE) is None
    note = read_credit_note(str(CREDIT))
    assert note is not None
    assert note["BillingReference"] == "4711"
