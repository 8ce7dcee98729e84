"""File formats of the file-drop profiles: CSV, fixed width and XML written and read back,
cell rules (widths, encodings, amounts, control characters), header and trailer records."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimbridge.connectors.agencies._layouts import CellError, Column, FixedWidthWriter, clean_row
from claimbridge.connectors.agencies.file_drop import (
    WRITERS,
    FileDropAgency,
    FileDropSettings,
    load_drop_profile,
)
from claimbridge.connectors.base import ConnectorContext, Delivery, PushStatus
from claimbridge.errors import MappingError
from claimbridge.schemas import AddressState, Case, Creditor
from tests.unit.test_file_drop import make_case as plain_case

TODAY = dt.date(2026, 4, 1)
PACKAGED = ("generic_csv", "generic_fixed", "generic_xml", "indebted_csv")


def make_case(number: str = "10001", state: AddressState = AddressState.KNOWN) -> Case:
    """A case whose creditor has its agency reference (InDebted's Statement of Work)."""
    case = plain_case(number, state)
    creditor = Creditor(name="Acme AS", organization_number="999888777", reference="SOW-1")
    return case.model_copy(update={"creditor": creditor})


def agency(directory: Path, profile: str | Path, **options: object) -> FileDropAgency:
    settings = FileDropSettings(directory=directory, profile=str(profile), **options)
    drop = FileDropAgency(settings, ConnectorContext("drop", today=TODAY))
    drop.clock = lambda: dt.datetime(2026, 4, 1, 9, 30, 5, tzinfo=dt.UTC)
    return drop


def records(drop: FileDropAgency, kind: str = "cases") -> list[dict[str, str]]:
    section = drop.drop_profile.section(kind)
    assert section is not None
    out = []
    for _, entry in sorted(drop.written.files(section), key=lambda f: f[0]):
        out += [r for _, r in drop.written.records(section, Path(entry.path))]
    return out


def with_name(case: Case, name: str) -> Case:
    return case.model_copy(update={"debtor": case.debtor.model_copy(update={"name": name})})


def with_invoice(case: Case, number: str) -> Case:
    claim = case.claims[0].model_copy(update={"invoice_number": number})
    return case.model_copy(update={"claims": (claim,)})


def write_profile(tmp_path: Path, body: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


# --- every packaged profile: written, read back ---------------------------------------------


@pytest.mark.parametrize("profile", PACKAGED)
def test_packaged_profile_round_trips_cases(tmp_path: Path, profile: str) -> None:
    drop = agency(tmp_path, profile)
    cases = [make_case("10001"), make_case("10002")]
    outcomes = drop.push([Delivery(f"key-{i}", c) for i, c in enumerate(cases)])
    assert [o.status for o in outcomes] == [PushStatus.SENT] * 2
    section = drop.profile
    rows = records(drop)
    assert len(rows) == 2
    invoice = next(
        h for h in section.headers if h.lower() in ("invoice_number", "invoicenumber", "accountref")
    )
    assert [r[invoice] for r in rows] == ["10001", "10002"]
    for key in ("key-0", "key-1"):
        assert drop.lookup(key) is not None
    fresh = agency(tmp_path, profile)  # after a restart, from the files alone
    assert fresh.lookup("key-1") is not None
    assert fresh.lookup("key-9") is None


def test_fixed_width_layout_header_trailer_and_control_sum(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_fixed")
    drop.push([Delivery("k1", make_case("1")), Delivery("k2", make_case("2"))])
    (path,) = tmp_path.glob("CASES_*.DAT")
    assert path.name == "CASES_20260401_0001.DAT"
    lines = path.read_bytes().decode("iso-8859-1").split("\r\n")
    assert lines[-1] == ""
    header, first, second, trailer = lines[:-1]
    assert header == "10CASES       20260401000001"
    widths = sum(c.width or 0 for c in drop.profile.columns)
    assert len(first) == len(second) == widths
    assert trailer == "99" + "000000002" + f"{200100:018d}"  # 2 x 1000.50 in øre
    assert first[2:38] == "k1".ljust(36)
    (row,) = records(drop)[:1]
    assert row["remaining_principal"] == "100050"
    assert row["debtor_name"] == "Kari Nordmann"


def test_fixed_width_never_cuts_a_reference_or_amount(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_fixed")
    long_invoice = with_invoice(make_case("1"), "9" * 21)  # the column is 20 wide
    huge = make_case("2")
    claim = huge.claims[0].model_copy(
        update={"original_amount": Decimal("1e13"), "remaining_principal": Decimal("1e13")}
    )
    huge = huge.model_copy(update={"claims": (claim,)})
    long_name = with_name(make_case("3"), "N" * 100)
    outcomes = drop.push(
        [Delivery("k1", long_invoice), Delivery("k2", huge), Delivery("k3", long_name)]
    )
    assert [o.status for o in outcomes] == [
        PushStatus.REJECTED,
        PushStatus.REJECTED,
        PushStatus.SENT,
    ]
    assert "'invoice_number'" in (outcomes[0].reason or "")
    assert "20 characters wide" in (outcomes[0].reason or "")
    assert "'original_amount'" in (outcomes[1].reason or "")
    assert "9" * 21 not in (outcomes[0].reason or "")
    (row,) = records(drop)
    assert row["debtor_name"] == "N" * 60  # free text is cut to its width
    assert drop.lookup("k1") is None


def test_amounts_are_never_rounded(tmp_path: Path) -> None:
    for profile in ("generic_csv", "generic_fixed", "indebted_csv"):
        case = make_case("1")
        claim = case.claims[0].model_copy(update={"remaining_principal": Decimal("100.005")})
        odd = case.model_copy(update={"claims": (claim,)})
        drop = agency(tmp_path / profile, profile)
        outcomes = drop.push([Delivery("ok", make_case("2")), Delivery("odd", odd)])
        assert outcomes[0].status is PushStatus.SENT, profile
        assert outcomes[1].status is PushStatus.REJECTED, profile
        assert "never rounded" in (outcomes[1].reason or ""), profile
        assert len(records(drop)) == 1


# --- encodings --------------------------------------------------------------------------------

LATIN1_PROFILE = """
[file]
format = "csv"
encoding = "iso-8859-1"
unencodable = "{policy}"
filename = "cases_{{seq:04d}}.csv"
[[columns]]
header = "key"
path = "delivery.idempotency_key"
[[columns]]
header = "name"
path = "debtor.name"
[[columns]]
header = "invoice"
path = "claim.invoice_number"
reference = true
"""


@pytest.mark.parametrize(
    ("policy", "written"),
    [("replace", "??kasz Øvre"), ("transliterate", "Lukasz Øvre")],
)
def test_latin1_replacement_policies(tmp_path: Path, policy: str, written: str) -> None:
    profile = write_profile(tmp_path, LATIN1_PROFILE.format(policy=policy))
    drop = agency(tmp_path / "out", profile)
    outcomes = drop.push([Delivery("k", with_name(make_case(), "Łŭkasz Øvre"))])
    assert outcomes[0].status is PushStatus.SENT
    data = next((tmp_path / "out").glob("cases_*.csv")).read_bytes()
    assert written.encode("iso-8859-1") in data


def test_unencodable_character_is_an_error_naming_the_column(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, LATIN1_PROFILE.format(policy="error"))
    drop = agency(tmp_path / "out", profile)
    outcomes = drop.push(
        [
            Delivery("bad", with_name(make_case("1"), "Zoë 中文")),
            Delivery("good", with_name(make_case("2"), "Zoë Åse")),
        ]
    )
    assert outcomes[0].status is PushStatus.REJECTED
    assert "'name'" in (outcomes[0].reason or "")
    assert "iso-8859-1 cannot encode" in (outcomes[0].reason or "")
    assert "中" not in (outcomes[0].reason or "")
    assert outcomes[1].status is PushStatus.SENT
    data = next((tmp_path / "out").glob("cases_*.csv")).read_bytes()
    assert "Zoë Åse".encode("iso-8859-1") in data


def test_a_reference_is_never_folded_even_when_text_may_be(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, LATIN1_PROFILE.format(policy="transliterate"))
    drop = agency(tmp_path / "out", profile)
    outcomes = drop.push([Delivery("k", with_invoice(make_case(), "FAK-Ł1"))])
    assert outcomes[0].status is PushStatus.REJECTED
    assert "'invoice'" in (outcomes[0].reason or "")


def test_windows_1252_and_line_endings(tmp_path: Path) -> None:
    body = LATIN1_PROFILE.format(policy="error").replace("iso-8859-1", "cp1252")
    body = body.replace("[file]\n", '[file]\nline_ending = "\\n"\ndelimiter = "|"\n')
    drop = agency(tmp_path / "out", write_profile(tmp_path, body))
    drop.push([Delivery("k", with_name(make_case(), "Café €uro"))])
    data = next((tmp_path / "out").glob("cases_*.csv")).read_bytes()
    assert data == "key|name|invoice\nk|Café €uro|10001\n".encode("cp1252")


# --- control characters and hostile text -----------------------------------------------------


def test_line_breaks_in_free_text_become_spaces_in_line_formats(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_fixed")
    case = make_case()
    claim = case.claims[0].model_copy(update={"description": "line one\r\nline\ttwo"})
    outcomes = drop.push([Delivery("k", case.model_copy(update={"claims": (claim,)}))])
    assert outcomes[0].status is PushStatus.SENT
    (row,) = records(drop)
    assert row["description"] == "line one  line two"
    (path,) = tmp_path.glob("CASES_*")
    assert path.read_bytes().count(b"\r\n") == 3  # header, the row, trailer


@pytest.mark.parametrize("profile", ["generic_fixed", "generic_xml"])
def test_control_characters_refuse_only_their_case(tmp_path: Path, profile: str) -> None:
    drop = agency(tmp_path, profile)
    outcomes = drop.push(
        [
            Delivery("nul", with_name(make_case("1"), "Kari\x00Nordmann")),
            Delivery("esc", with_invoice(make_case("2"), "INV\x1b2")),
            Delivery("fine", make_case("3")),
        ]
    )
    assert [o.status for o in outcomes] == [
        PushStatus.REJECTED,
        PushStatus.REJECTED,
        PushStatus.SENT,
    ]
    assert "control character" in (outcomes[0].reason or "")
    assert len(records(drop)) == 1


def test_csv_keeps_quoting_and_reads_back_hostile_text(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_csv")
    name = 'Ola "Knute";\r\nNordmann'
    drop.push([Delivery("k", with_name(make_case(), name))])
    (row,) = records(drop)
    assert row["debtor_name"] == name
    assert row["idempotency_key"] == "k"


CELL_TEXT = st.text(
    alphabet=st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=12
).map(str.strip)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.lists(CELL_TEXT, min_size=3, max_size=3), max_size=6))
def test_fixed_width_round_trip(rows: list[list[str]]) -> None:
    profile = dataclasses.replace(
        load_drop_profile("generic_fixed").cases,
        headers=("a", "b", "c"),
        columns=(
            Column("a", 12),
            Column("b", 12, align="right"),
            Column("c", 12, truncate=True),
        ),
        header_record=(),
        trailer_record=(),
    )
    cleaned = []
    for row in rows:
        row = list(row)
        clean_row(profile, row)
        cleaned.append(row)
    stream = io.StringIO(newline="")
    writer = FixedWidthWriter()
    writer.write(stream, profile, cleaned)
    stream.seek(0)
    back = [list(r.values()) for _, r in writer.records(stream, profile)]
    assert back == cleaned


def test_clean_row_names_the_column_never_the_value() -> None:
    profile = dataclasses.replace(
        load_drop_profile("generic_fixed").cases,
        headers=("ref",),
        columns=(Column("ref", 4, strict=True),),
    )
    with pytest.raises(CellError, match="column 'ref': is 4 characters wide") as caught:
        clean_row(profile, ["secret-value"])
    assert "secret" not in str(caught.value)


# --- XML and its schema -------------------------------------------------------------------------


def test_xml_is_valid_against_its_schema_and_reads_back(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_xml")
    drop.push([Delivery("k1", make_case("1")), Delivery("k2", make_case("2"))])
    (path,) = tmp_path.glob("cases_*.xml")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>")
    assert "<ClaimCount>2</ClaimCount>" in text
    assert "<PrincipalTotal>2001.00</PrincipalTotal>" in text
    assert "ns0:" not in text
    rows = records(drop)
    assert [r["Debtor/Address/City"] for r in rows] == ["Oslo", "Oslo"]
    assert rows[0]["RemainingPrincipal"] == "1000.50"


def test_xml_protected_address_and_empty_values_leave_elements_out(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_xml")
    drop.push([Delivery("k", make_case(state=AddressState.PROTECTED))])
    text = next(tmp_path.glob("cases_*.xml")).read_text(encoding="utf-8")
    assert "<State>protected</State>" in text
    assert "<Line1>" not in text
    assert "<FirstName>" not in text


BROKEN_XML_PROFILE = """
[file]
format = "xml"
namespace = "urn:claimbridge:file-drop:generic:1"
root = "CaseFile"
record = "Claim"
xsd = "{xsd}"
filename = "cases_{{seq:04d}}.xml"
[[header_record]]
name = "FileDate"
value = "date"
[[header_record]]
name = "Sequence"
value = "seq"
[[columns]]
header = "IdempotencyKey"
path = "delivery.idempotency_key"
[[columns]]
header = "Unexpected"
path = "case.case_key"
"""


def test_a_profile_its_schema_refuses_fails_when_it_loads(tmp_path: Path) -> None:
    from claimbridge.connectors.agencies._profile_loader import PROFILES_DIR

    xsd = tmp_path / "generic_xml.xsd"
    xsd.write_bytes((PROFILES_DIR / "generic_xml.xsd").read_bytes())
    profile = write_profile(tmp_path, BROKEN_XML_PROFILE.format(xsd="generic_xml.xsd"))
    refused = r"refuses a complete sample cases file at Claim/Unexpected"
    with pytest.raises(MappingError, match=refused):
        load_drop_profile(profile)
    drop = agency(tmp_path / "out", profile)
    checked = drop.check()
    assert not checked.ok
    assert any("SCHEMAV" in i.message for i in checked.items if not i.ok)
    with pytest.raises(MappingError):
        drop.push([Delivery("k1", make_case("1"))])
    assert not list((tmp_path / "out").glob("*.xml"))


def test_a_record_its_schema_refuses_for_its_values_is_rejected_alone(tmp_path: Path) -> None:
    from claimbridge.connectors.base import Correction, CorrectionKind
    from claimbridge.schemas import Payment, SourceRef

    pay = Payment(
        payment_id="p",
        source=SourceRef(system="files", record_id="p"),
        amount=Decimal("10.00"),
        currency="NOK",
        booking_date=TODAY,
    )
    good = Correction("ok", CorrectionKind.PAYMENT, "cb-" + "a" * 24, "AG", payment=pay)
    bad = Correction("bad", CorrectionKind.PAYMENT, "not-a-case-key", "AG", payment=pay)
    drop = agency(tmp_path, "generic_xml")
    outcomes = drop.correct([bad, good])
    assert [o.status for o in outcomes] == [PushStatus.REJECTED, PushStatus.SENT]
    assert outcomes[0].reason == (
        "does not validate against the XSD: Transaction/CaseKey (SCHEMAV_CVC_PATTERN_VALID)"
    )
    (only,) = drop.correct([Correction("bad-2", CorrectionKind.PAYMENT, "x", "AG", payment=pay)])
    assert only.status is PushStatus.REJECTED  # alone in its batch: still its own fault
    assert [len(records(drop, "transactions"))] == [1]


def test_broken_or_missing_schema_fails_when_the_profile_loads(tmp_path: Path) -> None:
    (tmp_path / "bad.xsd").write_text("<xs:schema xmlns:xs='nope'/>", encoding="utf-8")
    profile = write_profile(tmp_path, BROKEN_XML_PROFILE.format(xsd="bad.xsd"))
    with pytest.raises(MappingError, match="schema"):
        load_drop_profile(profile)
    missing = write_profile(tmp_path, BROKEN_XML_PROFILE.format(xsd="none.xsd"), "m.toml")
    with pytest.raises(MappingError, match="not found"):
        load_drop_profile(missing)


def test_xml_writer_streams_without_header_records(tmp_path: Path) -> None:
    section = load_drop_profile("generic_xml").section("withdrawals")
    assert section is not None
    assert not section.header_record
    assert WRITERS[section.format].binary


# --- file names and sequence numbers ------------------------------------------------------------


def test_sequence_numbers_per_kind_survive_a_restart(tmp_path: Path) -> None:
    drop = agency(tmp_path, "generic_csv", batch_size=1)
    drop.push([Delivery("a", make_case("1")), Delivery("b", make_case("2"))])
    (tmp_path / "archive").mkdir()
    for path in tmp_path.glob("cases_*.csv"):
        path.rename(tmp_path / "archive" / path.name)
    again = agency(tmp_path, "generic_csv")
    again.push([Delivery("c", make_case("3"))])
    assert sorted(p.name for p in tmp_path.glob("cases_*.csv")) == ["cases_20260401_0003.csv"]


def test_time_stamped_names_number_on_across_days(tmp_path: Path) -> None:
    drop = agency(tmp_path, "indebted_csv")
    drop.push([Delivery("a", make_case("1"))])
    later = agency(tmp_path, "indebted_csv")
    later.context = dataclasses.replace(later.context, today=TODAY + dt.timedelta(days=1))
    later.clock = lambda: dt.datetime(2026, 4, 2, 8, 0, 0, tzinfo=dt.UTC)
    later.push([Delivery("b", make_case("2"))])
    names = sorted(p.name for p in (tmp_path / "AccountUpload").glob("*.csv"))
    assert names == ["2026-04-01-09-30-05-000001.csv", "2026-04-02-08-00-00-000002.csv"]


def test_uploaded_names_count_when_local_copies_are_gone(tmp_path: Path) -> None:
    from tests.unit.test_file_drop import sftp_options

    (tmp_path / ".sftp").mkdir()
    (tmp_path / ".sftp" / "uploaded.log").write_text("cases_20260401_0041.csv\n", "utf-8")
    drop = agency(tmp_path, "generic_csv", sftp=sftp_options(tmp_path))
    name, info = drop._next_name(drop.profile)
    assert name == "cases_20260401_0042.csv"
    assert info.seq == 42


# --- broken profiles --------------------------------------------------------------------------

BASE = (
    '[file]\nfilename = "c_{seq}.csv"\n'
    '[[columns]]\nheader = "k"\npath = "delivery.idempotency_key"\n'
)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[corrections.t]\nkinds = ['payment']\n", "own 'filename'"),
        ("[corrections.t]\nkinds = ['nope']\nfilename = 't_{seq}.csv'\n", "kinds must be"),
        (
            "[corrections.t]\nkinds = ['payment']\nfilename = 't_{seq}.csv'\n"
            "[[corrections.t.columns]]\nheader = 'k'\npath = 'delivery.idempotency_key'\n"
            "[corrections.u]\nkinds = ['payment']\nfilename = 'u_{seq}.csv'\n"
            "[[corrections.u.columns]]\nheader = 'k'\npath = 'delivery.idempotency_key'\n",
            "already carried",
        ),
        (
            "[corrections.t]\nkinds = ['withdraw']\nper_claim = true\nfilename = 't_{seq}.csv'\n"
            "[[corrections.t.columns]]\nheader = 'k'\npath = 'delivery.idempotency_key'\n",
            "per_claim needs [references]",
        ),
        (
            "[corrections.t]\nkinds = ['withdraw']\nfilename = 'c_{seq}.csv'\n"
            "[[corrections.t.columns]]\nheader = 'k'\npath = 'delivery.idempotency_key'\n",
            "can be confused",
        ),
        (
            "[corrections.t]\nkinds = ['withdraw']\nfilename = 't.csv'\n"
            "[[corrections.t.columns]]\nheader = 'k'\npath = 'delivery.idempotency_key'\n",
            "{seq}",
        ),
        (
            "[corrections.t]\nkinds = ['withdraw']\ndirectory = '../up'\nfilename = 't_{seq}.csv'\n"
            "[[corrections.t.columns]]\nheader = 'k'\npath = 'delivery.idempotency_key'\n",
            "without '..'",
        ),
        ("[oops]\n", "unknown tables"),
        ("[references]\ncase = 'nope'\n", "no column 'nope'"),
        ("[[returns]]\nname = 'r'\nkind = 'weird'\n", "kind is one of"),
        ("[[returns]]\nname = 'r'\nkind = 'receipts'\n", "need the fields"),
        (
            "[[returns]]\nname = 'r'\nkind = 'receipts'\n[returns.fields]\n"
            "idempotency_key = 'k'\nstatus = 's'\n",
            "values",
        ),
        ("[[returns]]\nname = 'r'\nkind = 'errors'\nsection = 'nope'\n", "names the section"),
        (
            "[[returns]]\nname = 'r'\nkind = 'status'\n[returns.fields]\ncase_key = 'c'\n"
            "status = 's'\ndate = 'd'\n[returns.statuses]\nx = 'gone'\n",
            "not a case status",
        ),
    ],
)
def test_broken_profiles_name_the_problem(tmp_path: Path, extra: str, message: str) -> None:
    path = write_profile(tmp_path, BASE + extra, "broken.toml")
    with pytest.raises(MappingError, match=r"broken\.toml") as caught:
        load_drop_profile(path)
    assert message in str(caught.value)


FIXED = '[file]\nformat = "fixed"\nencoding = "latin-1"\nfilename = "f_{seq}.txt"\n'


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ('[[columns]]\nheader = "k"\npath = "delivery.idempotency_key"\n', "needs a width"),
        (
            '[[columns]]\nheader = "k"\npath = "delivery.idempotency_key"\nwidth = 36\n'
            'overflow = "truncate"\n',
            "never truncated",
        ),
        (
            '[[columns]]\nheader = "k"\npath = "delivery.idempotency_key"\nwidth = 36\n'
            '[[columns]]\nheader = "c"\nconst = "TOO LONG"\nwidth = 2\n',
            "longer than the width",
        ),
        (
            '[[columns]]\nheader = "k"\npath = "delivery.idempotency_key"\nwidth = 36\n'
            '[[trailer_record]]\nname = "s"\nvalue = "sum"\ncolumn = "k"\nwidth = 9\n',
            "names an amount column",
        ),
    ],
)
def test_broken_fixed_profiles(tmp_path: Path, columns: str, message: str) -> None:
    path = write_profile(tmp_path, FIXED + columns, "fixed.toml")
    with pytest.raises(MappingError, match=message):
        load_drop_profile(path)


def test_fixed_width_needs_a_single_byte_encoding(tmp_path: Path) -> None:
    body = FIXED.replace("latin-1", "utf-8") + (
        '[[columns]]\nheader = "k"\npath = "delivery.idempotency_key"\nwidth = 36\n'
    )
    with pytest.raises(MappingError, match="single-byte encoding"):
        load_drop_profile(write_profile(tmp_path, body))
