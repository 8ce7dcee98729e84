"""The open-items file source: good files, every kind of bad row, and whole-file problems."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimbridge.connectors.accounting._tabular import Row, TabularFile
from claimbridge.connectors.accounting.files import OpenItemsFileSource, OpenItemsSettings
from claimbridge.connectors.base import CheckKind, ConnectorContext, RawRecord, StreamSpec
from claimbridge.errors import ParseError, RecordError
from claimbridge.schemas import AddressState, Claim, Party

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "open_items"
HEADER = (
    "invoice_number,customer_number,invoice_date,due_date,currency,amount,remaining,kid,"
    "description,agreement_ref,order_ref,reminder1_date,reminder1_fee,reminder2_date,"
    "reminder2_fee,collection_notice_date,interest_rate,disputed,on_hold,payment_plan"
)


def source(workdir: Path = FIXTURES, **options: object) -> OpenItemsFileSource:
    return OpenItemsFileSource(OpenItemsSettings(**options), ConnectorContext("t", workdir))


def read_all(src: OpenItemsFileSource, stream: StreamSpec) -> list[RawRecord]:
    return [r for page in src.read(stream, None) for r in page.records]


def outcomes(src: OpenItemsFileSource, stream: StreamSpec) -> list[tuple[str, object]]:
    """(location, model or the RecordError) for every row."""
    result: list[tuple[str, object]] = []
    for record in read_all(src, stream):
        try:
            (model,) = src.normalize(stream, record)
        except RecordError as exc:
            result.append((record.location, exc))
        else:
            result.append((record.location, model))
    return result


def stream_named(src: OpenItemsFileSource, name: str) -> StreamSpec:
    return next(s for s in src.streams() if s.name == name)


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_valid_files_normalize_completely(suffix: str) -> None:
    src = source(invoices=f"invoices.{suffix}", customers=f"customers.{suffix}", company="acme")
    assert [s.name for s in src.streams()] == ["customers", "invoices"]
    parties: Sequence[object] = [m for _, m in outcomes(src, stream_named(src, "customers"))]
    claims: Sequence[object] = [m for _, m in outcomes(src, stream_named(src, "invoices"))]
    assert all(isinstance(p, Party) for p in parties)
    assert len(parties) == 5
    assert all(isinstance(c, Claim) for c in claims)
    assert len(claims) == 6
    by_number = {c.invoice_number: c for c in claims if isinstance(c, Claim)}
    second = by_number["10002"]
    assert second.remaining_principal == Decimal("24900.50")
    assert [r.fee for r in second.reminders] == [Decimal("35.00"), Decimal("35.00")]
    assert second.interest is not None
    assert second.interest.rate_percent == Decimal("12.5")
    assert by_number["10003"].currency == "NOK"  # default currency
    assert by_number["10003"].remaining_principal == Decimal("399.00")  # empty remaining
    assert by_number["10006"].payment_plan is True
    assert second.source.company == "acme"
    assert second.source.record_type == "invoice"
    kinds = {p.customer_number: p for p in parties if isinstance(p, Party)}
    company = kinds["K1002"]
    assert company.tags == ("bedrift", "storkunde")
    assert company.addresses[0].country == "NO"  # "Norge"
    assert company.contact_person is not None
    assert company.contact_person.name == "Ola Hansen"
    assert [p.type for p in kinds["K1001"].phones] == ["unknown", "mobile"]
    assert kinds["K1003"].addresses[0].state is AddressState.UNKNOWN
    protected = kinds["K1004"].addresses[0]
    assert protected.state is AddressState.PROTECTED
    assert protected.lines == ()
    assert protected.city is None


def test_bad_rows_are_reported_and_good_rows_kept() -> None:
    src = source(invoices="invoices_bad_rows.csv")
    result = dict(outcomes(src, src.streams()[0]))
    good = [loc for loc, m in result.items() if isinstance(m, Claim)]
    assert good == ["invoices_bad_rows.csv:2", "invoices_bad_rows.csv:9"]
    reasons = {loc: str(m) for loc, m in result.items() if isinstance(m, RecordError)}
    assert "invoice_date: not a valid date" in reasons["invoices_bad_rows.csv:3"]
    assert "31.02.2026" not in reasons["invoices_bad_rows.csv:3"]  # never the value itself
    assert "original_amount: Input should be greater than 0" in reasons["invoices_bad_rows.csv:4"]
    assert "exceeds the original amount" in reasons["invoices_bad_rows.csv:5"]
    assert "expected 20 columns, found 6" in reasons["invoices_bad_rows.csv:6"]
    assert "ambiguous" in reasons["invoices_bad_rows.csv:7"]
    assert "debtor_id: missing (required)" in reasons["invoices_bad_rows.csv:8"]


def test_missing_columns_make_one_parse_error() -> None:
    src = source(invoices="invoices_missing_columns.csv")
    with pytest.raises(ParseError) as caught:
        read_all(src, src.streams()[0])
    assert str(caught.value) == (
        "invoices_missing_columns.csv:1: missing required columns: "
        "customer_number, due_date, amount"
    )
    check = src.check()
    assert not check.ok
    assert check.items[0].kind is CheckKind.CONFIG


def test_semicolon_and_decimal_comma_are_detected() -> None:
    src = source(invoices="invoices_semicolon.csv")
    claims = [m for _, m in outcomes(src, src.streams()[0])]
    assert [c.original_amount for c in claims if isinstance(c, Claim)] == [
        Decimal("1250.00"),
        Decimal("48900.50"),
        Decimal("15600.00"),
    ]
    assert isinstance(claims[1], Claim)
    assert claims[1].description == "Utstyr; levert"


def test_latin1_bytes_in_utf8_file_quarantine_only_those_rows() -> None:
    src = source(invoices="invoices_mixed_encoding.csv")
    result = outcomes(src, src.streams()[0])
    assert [isinstance(m, Claim) for _, m in result] == [True, False, True]
    assert "check the 'encoding' setting" in str(result[1][1])


def test_latin1_file_reads_with_the_encoding_setting() -> None:
    wrong = source(invoices="invoices.csv", customers="customers_latin1.csv")
    assert all(isinstance(m, RecordError) for _, m in outcomes(wrong, wrong.streams()[0]))
    right = source(invoices="invoices.csv", customers="customers_latin1.csv", encoding="latin-1")
    names = [m.name for _, m in outcomes(right, right.streams()[0]) if isinstance(m, Party)]
    assert names == ["Ærlig Øyvind Åsen", "Bæreposer AS"]


@pytest.mark.parametrize("name", ["invoices_truncated.csv", "invoices_truncated.jsonl"])
def test_truncated_last_row(name: str) -> None:
    src = source(invoices=name)
    result = outcomes(src, src.streams()[0])
    assert all(isinstance(m, Claim) for _, m in result[:-1])
    assert len(result) >= 3
    assert "truncated" in str(result[-1][1])


def test_bad_jsonl_lines() -> None:
    src = source(invoices="invoices_bad.jsonl")
    result = outcomes(src, src.streams()[0])
    assert [loc for loc, m in result if isinstance(m, Claim)] == [
        "invoices_bad.jsonl:1",
        "invoices_bad.jsonl:5",
    ]
    assert "invalid JSON" in str(result[1][1])
    assert "expected a JSON object" in str(result[2][1])
    claim = result[3][1]
    assert isinstance(claim, Claim)
    assert claim.original_amount == Decimal("99.5")


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text(HEADER + "\n", encoding="utf-8")
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    for name in ("empty.csv", "header.csv", "empty.jsonl"):
        src = source(tmp_path, invoices=name)
        assert list(src.read(src.streams()[0], None)) == []


def test_bom_crlf_and_tab_delimiter(tmp_path: Path) -> None:
    row = "1\tK1\t2026-01-01\t2026-01-15\tNOK\t10\t10" + "\t" * 13
    text = HEADER.replace(",", "\t") + "\r\n" + row + "\r\n"
    (tmp_path / "i.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    src = source(tmp_path, invoices="i.csv")
    assert [type(m) for _, m in outcomes(src, src.streams()[0])] == [Claim]


def test_huge_field_is_a_record_error_not_a_crash(tmp_path: Path) -> None:
    good = "2,K1,2026-01-01,2026-01-15,NOK,10,10" + "," * 13
    huge = "1,K1,2026-01-01,2026-01-15,NOK,10,10,," + "x" * 1_000_000 + "," * 11
    (tmp_path / "i.csv").write_text(f"{HEADER}\n{huge}\n{good}\n", encoding="utf-8")
    (tmp_path / "i.jsonl").write_text(
        '{"invoice_number": "1", "description": "' + "x" * 1_000_000 + '"}\n', encoding="utf-8"
    )
    src = source(tmp_path, invoices="i.csv")
    result = outcomes(src, src.streams()[0])
    assert "longer than" in str(result[0][1])
    assert isinstance(result[1][1], Claim)
    src = source(tmp_path, invoices="i.jsonl")
    assert "longer than" in str(outcomes(src, src.streams()[0])[0][1])


def test_pages_and_fingerprint_cursor(tmp_path: Path) -> None:
    rows = [f"{n},K1,2026-01-01,2026-01-15,NOK,10,10" + "," * 13 for n in range(1, 8)]
    path = tmp_path / "i.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    src = source(tmp_path, invoices="i.csv", page_size=3)
    pages = list(src.read(src.streams()[0], None))
    assert [len(p.records) for p in pages] == [3, 3, 1]
    assert [p.cursor is None for p in pages] == [True, True, False]
    cursor = pages[-1].cursor
    assert cursor is not None
    assert cursor.startswith("sha256:")
    assert cursor.endswith(f":{path.stat().st_size}")
    assert pages[0].records[0].location == "i.csv:2"
    exact = source(tmp_path, invoices="i.csv", page_size=7)
    assert [len(p.records) for p in exact.read(exact.streams()[0], None)] == [7]


def test_check_reports_missing_file_without_raising(tmp_path: Path) -> None:
    result = source(tmp_path, invoices="nope.csv").check()
    assert not result.ok
    assert "file not found" in result.items[0].message
    assert source(invoices="invoices.csv", customers="customers.csv").check().ok


def test_settings_refuse_unusable_options() -> None:
    with pytest.raises(ValueError, match="encoding"):
        OpenItemsSettings(invoices=Path("i.csv"), encoding="utf-16")
    with pytest.raises(ValueError, match="encoding"):
        OpenItemsSettings(invoices=Path("i.csv"), encoding="klingon")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(tmp_path: Path, payload: bytes) -> None:
    for name in ("x.csv", "x.jsonl"):
        (tmp_path / name).write_bytes(
            HEADER.encode() + b"\n" + payload if name == "x.csv" else payload
        )
        src = source(tmp_path, invoices=name)
        for record in read_all(src, src.streams()[0]):
            with contextlib.suppress(RecordError):
                src.normalize(src.streams()[0], record)


def test_tabular_rows_clean_short_blank_and_single_column(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_bytes(b"number\n1\n\n \n2\n")
    rows = list(TabularFile(path, format="csv").rows())
    assert rows == [Row(2, {"number": "1"}), Row(5, {"number": "2"})]
    path.write_bytes(b"a,b\n1,2\n3\n4,5,6\n7,8")
    line, data, problems = zip(*TabularFile(path, format="csv").rows(), strict=True)
    assert line == (2, 3, 4, 5)
    assert data == ({"a": "1", "b": "2"}, {"a": "3"}, {"a": "4", "b": "5"}, {"a": "7", "b": "8"})
    assert problems == ((), ("expected 2 columns, found 1",), ("expected 2 columns, found 3",), ())


def test_header_with_a_bare_carriage_return_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,b\r,c\n1,2\n")
    with pytest.raises(ParseError, match=r"bad\.csv.*header is not valid CSV"):
        list(TabularFile(path, format="csv").rows())
