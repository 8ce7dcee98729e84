"""The file-drop agency over a real OpenSSH sshd, with and without real gpg: cases and
corrections uploaded (one remote directory per kind of file where the profile says so), and
return files fetched, read as updates and archived only once the cursor has passed them."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from claimbridge.connectors.agencies.file_drop import FileDropAgency, FileDropSettings
from claimbridge.connectors.base import (
    ConnectorContext,
    Correction,
    CorrectionKind,
    Delivery,
    PushStatus,
)
from claimbridge.errors import ConfigError, ConnectorError, HostKeyError, ParseError
from claimbridge.schemas import Creditor, Payment, SourceRef
from claimbridge.transport.pgp import Pgp
from tests.conftest import require_program
from tests.integration.sshd import Sshd, throwaway_sshd
from tests.integration.test_pgp import PASSPHRASE, _generate
from tests.unit.test_file_drop import make_case

pytestmark = pytest.mark.service

TODAY = dt.date(2026, 4, 1)
NAME = "cases_20260401_0001.csv"


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    with throwaway_sshd() as server:
        yield server


@pytest.fixture(autouse=True)
def _empty_dirs(sshd: Sshd) -> None:
    for directory in ("outbox", "returns", "archive"):
        for entry in sshd.local(directory).iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def sftp(server: Sshd, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "username": server.username,
        "private_key_path": server.client_key,
        "known_hosts_path": server.known_hosts,
        "connect_timeout": 5,
        "channel_timeout": 5,
        "remote_dir": server.remote("outbox"),
        "return_dir": server.remote("returns"),
        "archive_dir": server.remote("archive"),
    }
    values.update(overrides)
    return values


def agency(directory: Path, **options: Any) -> FileDropAgency:
    settings = FileDropSettings.model_validate({"directory": directory, **options})
    return FileDropAgency(settings, ConnectorContext("drop", workdir=directory.parent, today=TODAY))


def deliveries(*numbers: int) -> list[Delivery]:
    return [Delivery(f"key-{n}", make_case(str(n))) for n in numbers]


def payment_correction(key: str, number: int) -> Correction:
    case = make_case(str(number))
    payment = Payment(
        payment_id=f"pay-{number}",
        source=SourceRef(system="files", record_id=f"pay-{number}"),
        amount=Decimal("100.00"),
        currency="NOK",
        booking_date=dt.date(2026, 4, 2),
    )
    return Correction(
        key,
        CorrectionKind.PAYMENT,
        case.case_key,
        "AG-1",
        invoice_number=str(number),
        payment=payment,
    )


RECEIPT = b"idempotency_key;status;agency_ref;reason\nkey-1;accepted;AG-1;\n"


def test_push_uploads_the_written_file_and_records_it(sshd: Sshd, tmp_path: Path) -> None:
    drop = agency(tmp_path / "out", sftp=sftp(sshd))
    try:
        outcomes = drop.push(deliveries(1, 2))
    finally:
        drop.close()
    assert [o.status for o in outcomes] == [PushStatus.SENT, PushStatus.SENT]
    local = tmp_path / "out" / NAME
    assert sshd.local("outbox").joinpath(NAME).read_bytes() == local.read_bytes()
    assert sorted(p.name for p in sshd.local("outbox").iterdir()) == [NAME]
    assert (tmp_path / "out" / ".sftp" / "uploaded.log").read_text() == f"{NAME}\n"
    fresh = agency(tmp_path / "out", sftp=sftp(sshd))
    found = fresh.lookup("key-2")
    assert found is not None
    assert found.status is PushStatus.SENT
    # Pushing the same cases again writes and uploads nothing new.
    assert [o.status for o in fresh.push(deliveries(1))] == [PushStatus.SENT]
    assert sorted(p.name for p in (tmp_path / "out").glob("cases_*")) == [NAME]


def test_failed_upload_is_retryable_and_the_same_file_goes_up_next_time(
    sshd: Sshd, tmp_path: Path
) -> None:
    missing = sshd.local("late")  # the agency has not created its inbox yet
    broken = sftp(sshd, remote_dir=sshd.remote("late"))
    drop = agency(tmp_path / "out", sftp=broken)
    try:
        outcomes = drop.push(deliveries(1, 2))
    finally:
        drop.close()
    assert {o.status for o in outcomes} == {PushStatus.RETRYABLE}
    assert all(NAME in (o.reason or "") for o in outcomes)
    assert "Kari" not in (outcomes[0].reason or "")
    assert drop.lookup("key-1") is None  # written locally, but not at the agency
    missing.mkdir()
    try:
        again = agency(tmp_path / "out", sftp=broken)
        try:
            outcomes = again.push(deliveries(2, 1, 3))
        finally:
            again.close()
        assert [o.status for o in outcomes] == [PushStatus.SENT] * 3
        local_files = sorted(p.name for p in (tmp_path / "out").glob("cases_*"))
        assert local_files == [NAME, "cases_20260401_0002.csv"]  # key-3 is the only new one
        assert sorted(p.name for p in missing.iterdir()) == local_files
        assert missing.joinpath(NAME).read_bytes() == (tmp_path / "out" / NAME).read_bytes()
        assert again.lookup("key-1") is not None
    finally:
        for entry in missing.iterdir():
            entry.unlink()
        missing.rmdir()


def test_changed_host_key_refuses_before_writing(sshd: Sshd, tmp_path: Path) -> None:
    wrong = "SHA256:" + "A" * 43
    drop = agency(
        tmp_path / "out",
        sftp=sftp(sshd, known_hosts_path=None, host_key_fingerprint=wrong),
    )
    with pytest.raises(HostKeyError):
        drop.push(deliveries(1))
    assert not list((tmp_path / "out").glob("cases_*"))


def test_return_files_are_archived_only_once_the_cursor_has_passed_them(
    sshd: Sshd, tmp_path: Path
) -> None:
    sshd.local("returns").joinpath("receipts_1.csv").write_bytes(RECEIPT)
    drop = agency(tmp_path / "out", sftp=sftp(sshd))
    try:
        (update,) = list(drop.updates(None))
        assert update.receipt is not None
        assert update.receipt.status is PushStatus.ACCEPTED
        assert update.update_id == "receipts:receipts_1.csv:2"
        (pending,) = (tmp_path / "out" / ".returns" / "pending").iterdir()
        assert pending.read_bytes() == RECEIPT
        assert pending.stat().st_mode & 0o077 == 0
        assert sshd.local("returns").joinpath("receipts_1.csv").exists()  # not yet recorded
        # read again before the core recorded it: the same update, nothing fetched twice
        (again,) = list(drop.updates(None))
        assert again.update_id == update.update_id
        assert sshd.local("returns").joinpath("receipts_1.csv").exists()
        assert list(drop.updates(update.cursor)) == []  # recorded: archived now
    finally:
        drop.close()
    assert not sshd.local("returns").joinpath("receipts_1.csv").exists()
    assert sshd.local("archive").joinpath("receipts_1.csv").read_bytes() == RECEIPT


def test_a_broken_return_file_stays_on_the_server(sshd: Sshd, tmp_path: Path) -> None:
    sshd.local("returns").joinpath("receipts_1.csv").write_bytes(b"idempotency_key;status\nk;?\n")
    drop = agency(tmp_path / "out", sftp=sftp(sshd))
    try:
        with pytest.raises(ParseError, match=r"receipts_1\.csv:2"):
            list(drop.updates(None))
        with pytest.raises(ParseError):
            list(drop.updates("00000001:1"))  # even a cursor past it cannot archive it unread
    finally:
        drop.close()
    assert sshd.local("returns").joinpath("receipts_1.csv").exists()
    assert not list(sshd.local("archive").iterdir())


def test_corrections_are_uploaded_and_recorded(sshd: Sshd, tmp_path: Path) -> None:
    drop = agency(tmp_path / "out", sftp=sftp(sshd))
    try:
        outcomes = drop.correct([payment_correction("cor-1", 1), payment_correction("cor-2", 2)])
    finally:
        drop.close()
    assert [o.status for o in outcomes] == [PushStatus.SENT] * 2
    name = "transactions_20260401_0001.csv"
    assert (
        sshd.local("outbox").joinpath(name).read_bytes() == (tmp_path / "out" / name).read_bytes()
    )
    assert (tmp_path / "out" / ".sftp" / "uploaded.log").read_text() == f"{name}\n"
    fresh = agency(tmp_path / "out", sftp=sftp(sshd))
    assert fresh.lookup("cor-2") is not None
    assert [o.status for o in fresh.correct([payment_correction("cor-1", 1)])] == [PushStatus.SENT]
    assert sorted(p.name for p in sshd.local("outbox").iterdir()) == [name]


def test_indebted_files_go_to_one_directory_per_kind_and_answers_come_back(
    sshd: Sshd, tmp_path: Path
) -> None:
    outbox = sshd.local("outbox")
    for folder in (
        "AccountUpload",
        "TransactionUpload",
        "AccountRecall",
        "AccountActivityReports",
        "PayoutReports",
    ):
        outbox.joinpath(folder).mkdir()
    home = sftp(sshd, return_dir=sshd.remote("outbox"))  # InDebted answers next to uploads
    drop = agency(tmp_path / "out", sftp=home, profile="indebted_csv", currency="AUD")
    drop.clock = lambda: dt.datetime(2026, 4, 1, 12, 0, 0, tzinfo=dt.UTC)
    case = make_case("1")
    case = case.model_copy(
        update={"creditor": Creditor(name="Acme", organization_number="9", reference="SOW-1")}
    )
    try:
        checked = drop.check()
        assert checked.ok, [i.message for i in checked.items if not i.ok]
        pushed = drop.push([Delivery("case-1", case)])
        withdraw = Correction("w-1", CorrectionKind.WITHDRAW, case.case_key, case.case_key)
        corrected = drop.correct([payment_correction("cor-1", 1), withdraw])
    finally:
        drop.close()
    assert [o.status for o in [*pushed, *corrected]] == [PushStatus.SENT] * 3
    name = "2026-04-01-12-00-00-000001.csv"
    for folder in ("AccountUpload", "TransactionUpload", "AccountRecall"):
        assert [p.name for p in outbox.joinpath(folder).iterdir()] == [name], folder
    assert outbox.joinpath("AccountRecall", name).read_text() == "AccountRef\n1\n"

    outbox.joinpath("AccountUpload", f"{name}.err").write_text("", encoding="utf-8")
    outbox.joinpath("AccountRecall", f"{name}.err").write_text(
        "Errors,AccountRef\nIt has been paid,1\n", encoding="utf-8"
    )
    outbox.joinpath("PayoutReports", "2026-04-30.csv").write_text(
        "PaymentID,PayoutID,AccountRef,CustomerRef,Amount,PaymentDate,PayoutDate\n"
        f"P-1,PO-1,1,{case.case_key},10000,2026-04-29,2026-04-30\n",
        encoding="utf-8",
    )
    reader = agency(tmp_path / "out", sftp=home, profile="indebted_csv", currency="AUD")
    try:
        updates = list(reader.updates(None))
        receipts = {u.receipt.idempotency_key: u.receipt for u in updates if u.receipt}
        assert receipts["case-1"].status is PushStatus.ACCEPTED
        assert receipts["w-1"].status is PushStatus.REJECTED
        assert receipts["w-1"].reason == "It has been paid"
        (settlement,) = [u.settlement for u in updates if u.settlement]
        assert settlement.lines[0].total == Decimal("100.00")
        assert list(reader.updates(updates[-1].cursor)) == []
    finally:
        reader.close()
    archive = sshd.local("archive")
    assert archive.joinpath("AccountUpload", f"{name}.err").exists()
    assert archive.joinpath("PayoutReports", "2026-04-30.csv").exists()
    assert not outbox.joinpath("PayoutReports", "2026-04-30.csv").exists()
    assert outbox.joinpath("AccountUpload", name).exists()  # our uploads are not touched


def test_check_covers_server_and_directories(sshd: Sshd, tmp_path: Path) -> None:
    result = agency(tmp_path / "out", sftp=sftp(sshd)).check()
    assert result.ok, result.items
    messages = " ".join(i.message for i in result.items)
    assert "host key matches" in messages
    assert "remote_dir" in messages
    bad = agency(tmp_path / "out", sftp=sftp(sshd, remote_dir="/no/such/dir")).check()
    assert not bad.ok


def test_check_covers_every_directory_the_profile_uses(sshd: Sshd, tmp_path: Path) -> None:
    home = sftp(sshd, return_dir=sshd.remote("outbox"))
    drop = agency(tmp_path / "out", sftp=home, profile="indebted_csv")
    result = drop.check()
    failed = [i.message for i in result.items if not i.ok]
    assert any("/outbox/AccountUpload" in m for m in failed), failed
    assert any("/outbox/AccountActivityReports" in m for m in failed), failed
    for folder in (
        "AccountUpload",
        "TransactionUpload",
        "AccountRecall",
        "AccountActivityReports",
        "PayoutReports",
    ):
        sshd.local("outbox").joinpath(folder).mkdir()
    result = drop.check()
    assert result.ok, [i.message for i in result.items if not i.ok]
    messages = [i.message for i in result.items]
    assert any(m.endswith("/outbox/TransactionUpload writable") for m in messages)
    assert any(m.endswith("/outbox/PayoutReports listable") for m in messages)


# --- with PGP -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str, str]]:
    gpg = require_program("gpg")
    base = tmp_path_factory.mktemp("gen")
    return {
        who: _generate(gpg, base / who, f"{who} <{who}@example.invalid>", PASSPHRASE)
        for who in ("creditor", "agency")
    }


@pytest.fixture
def rings(tmp_path: Path, keys: dict[str, tuple[str, str, str]]) -> Iterator[dict[str, Pgp]]:
    made = {}
    for who in keys:
        ring = Pgp(tmp_path / f"{who}-ring")
        ring.import_key(keys[who][2], SecretStr(PASSPHRASE))
        made[who] = ring
    made["creditor"].import_key(keys["agency"][1])
    made["agency"].import_key(keys["creditor"][1])
    yield made
    for ring in made.values():
        ring.close()


def pgp(keys: dict[str, tuple[str, str, str]], home: str = "creditor-ring") -> dict[str, Any]:
    return {
        "home": home,  # relative: under the work directory
        "recipient_fingerprint": keys["agency"][0],
        "signing_fingerprint": keys["creditor"][0],
        "passphrase": PASSPHRASE,
    }


@pytest.mark.slow
def test_pgp_uploads_only_the_encrypted_file(
    sshd: Sshd, tmp_path: Path, keys: dict[str, tuple[str, str, str]], rings: dict[str, Pgp]
) -> None:
    drop = agency(tmp_path / "out", sftp=sftp(sshd), pgp=pgp(keys))
    try:
        assert [o.status for o in drop.push(deliveries(1))] == [PushStatus.SENT]
    finally:
        drop.close()
    assert sorted(p.name for p in sshd.local("outbox").iterdir()) == [f"{NAME}.pgp"]
    sealed = sshd.local("outbox") / f"{NAME}.pgp"
    plain = (tmp_path / "out" / NAME).read_bytes()
    assert b"Kari" in plain
    assert b"Kari" not in sealed.read_bytes()
    opened = tmp_path / "opened.csv"
    rings["agency"].decrypt_file(
        sealed, opened, expected_signer=keys["creditor"][0], passphrase=SecretStr(PASSPHRASE)
    )
    assert opened.read_bytes() == plain
    assert not list((tmp_path / "out" / ".sftp" / "outgoing").iterdir())  # no staging left


@pytest.mark.slow
def test_pgp_return_files_are_decrypted_and_verified(
    sshd: Sshd, tmp_path: Path, keys: dict[str, tuple[str, str, str]], rings: dict[str, Pgp]
) -> None:
    receipt = tmp_path / "receipt.csv"
    receipt.write_bytes(RECEIPT)
    rings["agency"].encrypt_file(
        receipt,
        sshd.local("returns") / "receipts_1.csv.pgp",
        keys["creditor"][0],
        sign_with=keys["agency"][0],
        passphrase=SecretStr(PASSPHRASE),
    )
    drop = agency(tmp_path / "out", sftp=sftp(sshd), pgp=pgp(keys))
    try:
        (update,) = list(drop.updates(None))
        assert update.receipt is not None
        assert update.receipt.idempotency_key == "key-1"
        assert update.update_id == "receipts:receipts_1.csv:2"
        (pending,) = (tmp_path / "out" / ".returns" / "pending").iterdir()
        assert pending.read_bytes() == RECEIPT
        assert not list((tmp_path / "out" / ".sftp" / "incoming").iterdir())
        assert list(drop.updates(update.cursor)) == []
    finally:
        drop.close()
    assert sshd.local("archive").joinpath("receipts_1.csv.pgp").exists()


@pytest.mark.slow
def test_return_file_signed_by_another_key_is_refused_and_kept_remote(
    sshd: Sshd, tmp_path: Path, keys: dict[str, tuple[str, str, str]], rings: dict[str, Pgp]
) -> None:
    receipt = tmp_path / "receipt.csv"
    receipt.write_bytes(RECEIPT)
    # Signed by the creditor's own key, not the agency's: not what the pin allows.
    rings["creditor"].encrypt_file(
        receipt,
        sshd.local("returns") / "receipts_1.csv.pgp",
        keys["creditor"][0],
        sign_with=keys["creditor"][0],
        passphrase=SecretStr(PASSPHRASE),
    )
    drop = agency(tmp_path / "out", sftp=sftp(sshd), pgp=pgp(keys))
    try:
        with pytest.raises(ConnectorError, match="not by the pinned"):
            list(drop.updates(None))
    finally:
        drop.close()
    pending = tmp_path / "out" / ".returns" / "pending"
    assert not pending.exists() or not list(pending.iterdir())
    assert sshd.local("returns").joinpath("receipts_1.csv.pgp").exists()


@pytest.mark.slow
def test_pgp_corrections_upload_only_the_encrypted_file(
    sshd: Sshd, tmp_path: Path, keys: dict[str, tuple[str, str, str]], rings: dict[str, Pgp]
) -> None:
    drop = agency(tmp_path / "out", sftp=sftp(sshd), pgp=pgp(keys))
    try:
        outcomes = drop.correct([payment_correction("cor-1", 1)])
    finally:
        drop.close()
    assert [o.status for o in outcomes] == [PushStatus.SENT]
    name = "transactions_20260401_0001.csv"
    assert sorted(p.name for p in sshd.local("outbox").iterdir()) == [f"{name}.pgp"]
    opened = tmp_path / "opened.csv"
    rings["agency"].decrypt_file(
        sshd.local("outbox") / f"{name}.pgp",
        opened,
        expected_signer=keys["creditor"][0],
        passphrase=SecretStr(PASSPHRASE),
    )
    assert opened.read_bytes() == (tmp_path / "out" / name).read_bytes()
    assert b"cor-1" in opened.read_bytes()


@pytest.mark.slow
def test_missing_pinned_key_fails_check_and_push_before_writing(
    sshd: Sshd, tmp_path: Path, keys: dict[str, tuple[str, str, str]]
) -> None:
    empty = tmp_path / "empty-ring"
    drop = agency(tmp_path / "out", sftp=sftp(sshd), pgp=pgp(keys, home=str(empty)))
    try:
        result = drop.check()
        failed = [i.message for i in result.items if not i.ok]
        assert any("agency public key" in m for m in failed)
        assert any("signing secret key" in m for m in failed)
        with pytest.raises(ConfigError, match="missing from the keyring"):
            drop.push(deliveries(1))
    finally:
        drop.close()
    assert not list((tmp_path / "out").glob("cases_*"))
    assert not list(sshd.local("outbox").iterdir())
