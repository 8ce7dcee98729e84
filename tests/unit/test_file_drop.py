"""The file-drop agency: profile-driven CSV files, atomic writes, sequence numbers, lookup."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from claimbridge.connectors.agencies.file_drop import (
    CsvWriter,
    FileDropAgency,
    FileDropSettings,
    load_profile,
)
from claimbridge.connectors.base import (
    CheckKind,
    ConnectorContext,
    Delivery,
    NotSupportedError,
    PushStatus,
)
from claimbridge.errors import ConnectorError, MappingError, UnreachableError
from claimbridge.schemas import (
    Address,
    AddressState,
    Case,
    Claim,
    Creditor,
    Decision,
    Email,
    Outcome,
    Party,
    Phone,
    QualityReport,
    Reason,
    Reminder,
    SourceRef,
    case_key,
)

TODAY = dt.date(2026, 4, 1)


def make_case(number: str = "10001", state: AddressState = AddressState.KNOWN) -> Case:
    ref = SourceRef(system="files", record_id=number)
    lines = ("Storgata 1",) if state is AddressState.KNOWN else ()
    debtor = Party(
        source=SourceRef(system="files", record_id="K1"),
        kind="person",
        name="Kari Nordmann",
        customer_number="K1",
        national_id="01019012345",
        addresses=(Address(state=state, lines=lines, postal_code="0155", city="Oslo"),),
        phones=(Phone(number="+4791234567", type="mobile", valid=True),),
        emails=(Email(address="kari@example.no", valid=True),),
    )
    claim = Claim(
        source=ref,
        debtor_id="K1",
        invoice_number=number,
        invoice_date=dt.date(2026, 1, 5),
        due_date=dt.date(2026, 1, 19),
        currency="NOK",
        original_amount=Decimal("1250.00"),
        remaining_principal=Decimal("1000.50"),
        kid="0001000112",
        description="Treningsavgift",
        reminders=(Reminder(sent_on=dt.date(2026, 2, 3), fee=Decimal("35")),),
    )
    return Case(
        case_key=case_key("acme", debtor.debtor_key(), [number]),
        creditor=Creditor(name="Acme AS", organization_number="999888777"),
        debtor=debtor,
        claims=(claim,),
        currency="NOK",
        decision=Decision(
            outcome=Outcome.SEND,
            decided_on=TODAY,
            reasons=(Reason(code="due", message="collection notice expired"),),
        ),
        quality=QualityReport(score=90),
    )


def agency(directory: Path, **options: object) -> FileDropAgency:
    settings = FileDropSettings(directory=directory, **options)
    return FileDropAgency(settings, ConnectorContext("drop", today=TODAY))


def read_rows(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def test_empty_push_writes_nothing(tmp_path: Path) -> None:
    assert agency(tmp_path / "out").push([]) == []
    assert not (tmp_path / "out").exists()


def test_push_writes_one_row_per_claim_with_all_columns(tmp_path: Path) -> None:
    drop = agency(tmp_path)
    case = make_case()
    outcomes = drop.push([Delivery("key-1", case)])
    # the files name the case by its key: that is its reference until a receipt names another
    assert [(o.idempotency_key, o.status, o.agency_ref) for o in outcomes] == [
        ("key-1", PushStatus.SENT, case.case_key)
    ]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["cases_20260401_0001.csv"]
    raw = (tmp_path / files[0]).read_bytes()
    assert raw.count(b"\r\n") == 2
    (row,) = read_rows(tmp_path / files[0])
    assert row["idempotency_key"] == "key-1"
    assert row["creditor_org_number"] == "999888777"
    assert row["address_line1"] == "Storgata 1"
    assert row["address_state"] == "known"
    assert row["phone1"] == "+4791234567"
    assert row["phone1_type"] == "mobile"
    assert row["original_amount"] == "1250,00"
    assert row["remaining_principal"] == "1000,50"
    assert row["reminder1_date"] == "2026-02-03"
    assert row["reminder1_fee"] == "35,00"
    assert row["reminder2_date"] == ""
    assert row["decision"] == "sent: collection notice expired"
    assert row["quality_score"] == "90"


def test_protected_address_writes_no_lines(tmp_path: Path) -> None:
    case = make_case(state=AddressState.PROTECTED)
    # Even if a washing bug left lines on a protected address, none are written.
    leaky = case.debtor.addresses[0].model_copy(update={"lines": ("Hemmelig vei 3",)})
    case = case.model_copy(
        update={"debtor": case.debtor.model_copy(update={"addresses": (leaky,)})}
    )
    drop = agency(tmp_path)
    drop.push([Delivery("key-1", case)])
    (row,) = read_rows(next(tmp_path.iterdir()))
    assert row["address_state"] == "protected"
    assert row["address_line1"] == row["postal_code"] == row["city"] == ""
    assert b"Hemmelig" not in next(tmp_path.iterdir()).read_bytes()


def test_batches_and_sequence_numbers_continue_after_archive(tmp_path: Path) -> None:
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "cases_20260401_0007.csv").write_text("", encoding="utf-8")
    (tmp_path / "cases_20260331_0042.csv").write_text("", encoding="utf-8")  # another day
    drop = agency(tmp_path, batch_size=2)
    deliveries = [Delivery(f"key-{n}", make_case(str(n))) for n in range(5)]
    assert len(drop.push(deliveries)) == 5
    new = sorted(p.name for p in tmp_path.glob("cases_20260401_*.csv"))
    assert new == [f"cases_20260401_{n:04d}.csv" for n in (8, 9, 10)]
    assert [len(read_rows(tmp_path / n)) for n in new] == [2, 2, 1]
    assert not list(tmp_path.glob(".*.tmp"))


def test_lookup_finds_keys_in_files_and_archive(tmp_path: Path) -> None:
    drop = agency(tmp_path)
    assert drop.lookup("key-1") is None
    drop.push([Delivery("key-1", make_case())])
    found = drop.lookup("key-1")
    assert found is not None
    assert found.status is PushStatus.SENT
    # A fresh instance (after a crash) finds it too, also once archived.
    (tmp_path / "archive").mkdir()
    for path in tmp_path.glob("cases_*.csv"):
        os.replace(path, tmp_path / "archive" / path.name)
    again = agency(tmp_path)
    assert again.lookup("key-1") is not None
    assert again.lookup("key-2") is None
    # New files written by someone else are picked up on the next lookup.
    agency(tmp_path).push([Delivery("key-2", make_case("2"))])
    assert again.lookup("key-2") is not None


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    drop = agency(tmp_path)
    drop.push([Delivery("key-1", make_case())])
    (tmp_path / ".cases_20260401_0002.csv.tmp").mkdir()  # the temporary name is blocked
    with pytest.raises(ConnectorError, match=r"writing cases_20260401_0002\.csv failed"):
        drop.push([Delivery("key-2", make_case("2"))])
    assert sorted(p.name for p in tmp_path.glob("cases_*")) == ["cases_20260401_0001.csv"]


def test_check_reports_permission_and_config(tmp_path: Path) -> None:
    result = agency(tmp_path / "new").check()
    assert result.ok
    assert [i.kind for i in result.items] == [CheckKind.PERMISSION, CheckKind.CONFIG]
    blocked = tmp_path / "file"
    blocked.write_text("", encoding="utf-8")
    bad = agency(blocked / "sub", profile="no_such_profile").check()
    assert [i.ok for i in bad.items] == [False, False]


def test_capabilities_follow_settings(tmp_path: Path) -> None:
    caps = agency(tmp_path, batch_size=17).capabilities
    assert caps.file_drop
    assert caps.lookup
    assert not caps.idempotency_keys
    assert caps.batch_size == 17


def test_minor_units_profile(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(
        """
[file]
format = "csv"
delimiter = ","
line_ending = "\\n"
amounts = "minor"
date_format = "%d.%m.%Y"
filename = "drop-{seq:03d}.txt"
[[columns]]
header = "key"
path = "delivery.idempotency_key"
[[columns]]
header = "amount"
path = "claim.remaining_principal"
amount = true
[[columns]]
header = "due"
path = "claim.due_date"
[[columns]]
header = "agency"
const = "ACME"
""",
        encoding="utf-8",
    )
    drop = agency(tmp_path / "out", profile=str(profile))
    drop.push([Delivery("k", make_case())])
    text = (tmp_path / "out" / "drop-001.txt").read_text(encoding="utf-8")
    assert text == "key,amount,due,agency\nk,100050,19.01.2026,ACME\n"


KEY_COLUMN = '[[columns]]\nheader = "k"\npath = "delivery.idempotency_key"\n'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            f'[file]\nformat = "json"\n{KEY_COLUMN}',
            "not supported",
        ),
        (
            f'[file]\nfilename = "x.csv"\n{KEY_COLUMN}',
            "{seq}",
        ),
        ('[[columns]]\nheader = "k"\npath = "case.case_key"\n', "idempotency_key"),
        (
            f'{KEY_COLUMN}convert = "nope"\n',
            "unknown converter",
        ),
        ('[[columns]]\nheader = "k"\npath = "a..b"\n', "bad path"),
        ("[[columns]\n", "invalid TOML"),
    ],
)
def test_broken_profiles(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(MappingError, match=r"bad\.toml") as caught:
        load_profile(path)
    assert message in str(caught.value)


# --- compiled columns and the CSV fast path -----------------------------------------------


def test_case_with_several_claims_repeats_case_columns_and_varies_claim_columns(
    tmp_path: Path,
) -> None:
    one, two = make_case("1").claims[0], make_case("2").claims[0]
    case = make_case().model_copy(update={"claims": (one, two)})
    profile = load_profile("generic_csv")
    delivery = Delivery("key-9", case)
    rows = list(profile.rows(delivery))
    assert [r[profile.headers.index("invoice_number")] for r in rows] == ["1", "2"]
    assert {r[profile.key_column] for r in rows} == {"key-9"}
    context = {
        "case": case,
        "claim": two,
        "debtor": case.debtor,
        "creditor": case.creditor,
        "delivery": delivery,
    }
    assert profile.row(context) == rows[1]


def test_paths_read_dicts_by_key_models_by_attribute_and_properties(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        KEY_COLUMN
        + '[[columns]]\nheader = "fees"\npath = "claim.reminder_fees"\namount = true\n'
        + '[[columns]]\nheader = "items"\npath = "extra.items"\n'
        + '[[columns]]\nheader = "name"\npath = "extra.name"\n'
        + '[[columns]]\nheader = "lines"\npath = "debtor.addresses[0].lines"\n'
        + '[[columns]]\nheader = "none"\npath = "debtor.no_such_field.x"\n',
        encoding="utf-8",
    )
    profile = load_profile(path)
    case = make_case()
    context = {
        "delivery": Delivery("k", case),
        "claim": case.claims[0],
        "debtor": case.debtor,
        "extra": {"items": "by key", "name": "also by key"},
    }
    assert profile.row(context) == ["k", "35.00", "by key", "also by key", "Storgata 1", ""]
    assert "def fill(context, out):" in profile.source


def test_overlong_profile_paths_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    deep = ".".join(["a"] * 40)
    path.write_text(KEY_COLUMN + f'[[columns]]\nheader = "x"\npath = "{deep}"\n', "utf-8")
    with pytest.raises(MappingError, match="longer than"):
        load_profile(path)


CELLS = st.text(alphabet=st.sampled_from(list('ab ;,"\r\n\t|é€\u2028\x00')), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.lists(CELLS, min_size=1, max_size=5), max_size=8),
    delimiter=st.sampled_from([";", ",", "\t", "|", " "]),
    ending=st.sampled_from(["\r\n", "\n", "\r", ";"]),
    chunk=st.integers(min_value=1, max_value=3),
)
def test_csv_fast_path_writes_what_the_csv_module_writes(
    rows: list[list[str]], delimiter: str, ending: str, chunk: int
) -> None:
    profile = dataclasses.replace(
        load_profile("generic_csv"), delimiter=delimiter, line_ending=ending, header=False
    )
    expected = io.StringIO()
    csv.writer(expected, delimiter=delimiter, lineterminator=ending).writerows(rows)
    written = io.StringIO()
    writer = CsvWriter()
    writer.chunk_rows = chunk
    writer.write(written, profile, iter(rows))
    assert written.getvalue() == expected.getvalue()


# --- SFTP and PGP settings, and what needs no server ----------------------------------------

FINGERPRINT = "AB12" * 10


def sftp_options(tmp_path: Path) -> dict[str, object]:
    key = tmp_path / "id_ed25519"
    key.write_text("not used without a connection\n", encoding="utf-8")
    key.chmod(0o600)
    return {
        "host": "sftp.agency.invalid",
        "username": "creditor",
        "private_key_path": key,
        "host_key_fingerprint": "SHA256:" + "A" * 43,
    }


def test_profile_names_stay_importable_from_file_drop() -> None:
    from claimbridge.connectors.agencies import _profiles, file_drop

    for name in ("load_profile", "FileProfile", "WRITERS", "CsvWriter", "ARCHIVE"):
        assert getattr(file_drop, name) is getattr(_profiles, name)


def test_pgp_settings_pin_full_fingerprints(tmp_path: Path) -> None:
    settings = FileDropSettings.model_validate(
        {
            "directory": tmp_path,
            "sftp": sftp_options(tmp_path),
            "pgp": {
                "home": "ring",
                "recipient_fingerprint": " ".join(
                    FINGERPRINT.lower()[i : i + 4] for i in range(0, 40, 4)
                ),
                "signing_fingerprint": "CD34" * 10,
                "passphrase": "s3cret",
            },
        }
    )
    assert settings.pgp is not None
    assert settings.pgp.recipient_fingerprint == FINGERPRINT
    assert settings.pgp.return_signer == FINGERPRINT
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("pgp", "with_sftp", "message"),
    [
        ({"recipient_fingerprint": "ABCD1234", "signing_fingerprint": FINGERPRINT}, True, "full"),
        ({"recipient_fingerprint": FINGERPRINT, "signing_fingerprint": FINGERPRINT}, False, "sftp"),
        ({"recipient_fingerprint": FINGERPRINT}, True, "signing_fingerprint"),
    ],
)
def test_bad_pgp_settings_are_refused(
    tmp_path: Path, pgp: dict[str, str], with_sftp: bool, message: str
) -> None:
    options: dict[str, object] = {"directory": tmp_path, "pgp": {"home": "ring", **pgp}}
    if with_sftp:
        options["sftp"] = sftp_options(tmp_path)
    with pytest.raises(ValidationError, match=message):
        FileDropSettings.model_validate(options)


def test_written_but_not_uploaded_file_is_not_sent(tmp_path: Path) -> None:
    local = agency(tmp_path)
    local.push([Delivery("key-1", make_case())])
    remote = agency(tmp_path, sftp=sftp_options(tmp_path))
    assert remote.lookup("key-1") is None  # the upload record does not name the file
    (tmp_path / ".sftp").mkdir()
    (tmp_path / ".sftp" / "uploaded.log").write_text("cases_20260401_0001.csv\n", "utf-8")
    found = remote.lookup("key-1")
    assert found is not None
    assert found.status is PushStatus.SENT


def test_push_of_uploaded_cases_needs_no_connection(tmp_path: Path) -> None:
    agency(tmp_path).push([Delivery("key-1", make_case())])
    (tmp_path / ".sftp").mkdir()
    (tmp_path / ".sftp" / "uploaded.log").write_text("cases_20260401_0001.csv\n", "utf-8")
    remote = agency(tmp_path, sftp=sftp_options(tmp_path))  # its host does not resolve
    outcomes = remote.push([Delivery("key-1", make_case())])
    assert [o.status for o in outcomes] == [PushStatus.SENT]
    assert sorted(p.name for p in tmp_path.glob("cases_*")) == ["cases_20260401_0001.csv"]


def test_unreachable_server_is_raised_before_anything_is_written(tmp_path: Path) -> None:
    options = sftp_options(tmp_path) | {"host": "127.0.0.1", "port": 9, "connect_timeout": 2}
    remote = agency(tmp_path / "out", sftp=options)
    with pytest.raises(UnreachableError):
        remote.push([Delivery("key-1", make_case())])
    assert not list((tmp_path / "out").glob("cases_*"))


def test_without_sftp_returns_are_read_from_the_local_returns_directory(tmp_path: Path) -> None:
    drop = agency(tmp_path)
    assert list(drop.updates(None)) == []  # nothing there yet, and no connection needed
    (tmp_path / "returns").mkdir()
    (tmp_path / "returns" / "receipts_1.csv").write_text(
        "idempotency_key;status\nkey-1;accepted\n", encoding="utf-8"
    )
    (update,) = list(drop.updates(None))
    assert update.receipt is not None
    assert update.receipt.status is PushStatus.ACCEPTED


def test_sftp_only_operations_say_so(tmp_path: Path) -> None:
    with pytest.raises(NotSupportedError):
        agency(tmp_path).carrier.connection()
