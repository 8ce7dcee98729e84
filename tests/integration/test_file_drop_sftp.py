"""The file-drop agency over a real OpenSSH sshd, with and without real gpg."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from claimbridge.connectors.agencies.file_drop import FileDropAgency, FileDropSettings
from claimbridge.connectors.base import ConnectorContext, Delivery, PushStatus
from claimbridge.errors import ConfigError, ConnectorError, HostKeyError
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


def test_return_files_are_archived_only_when_confirmed(sshd: Sshd, tmp_path: Path) -> None:
    sshd.local("returns").joinpath("receipt_1.csv").write_bytes(b"key;status\nkey-1;ok\n")
    drop = agency(tmp_path / "out", sftp=sftp(sshd))
    try:
        fetched = list(drop.fetch_returns())
        assert fetched == [("receipt_1.csv", tmp_path / "out" / "returns" / "receipt_1.csv")]
        assert fetched[0][1].read_bytes() == b"key;status\nkey-1;ok\n"
        assert fetched[0][1].stat().st_mode & 0o077 == 0
        assert sshd.local("returns").joinpath("receipt_1.csv").exists()  # not yet confirmed
        drop.confirm_return("receipt_1.csv")
    finally:
        drop.close()
    assert not sshd.local("returns").joinpath("receipt_1.csv").exists()
    assert sshd.local("archive").joinpath("receipt_1.csv").exists()


def test_check_covers_server_and_directories(sshd: Sshd, tmp_path: Path) -> None:
    result = agency(tmp_path / "out", sftp=sftp(sshd)).check()
    assert result.ok, result.items
    messages = " ".join(i.message for i in result.items)
    assert "host key matches" in messages
    assert "remote_dir" in messages
    bad = agency(tmp_path / "out", sftp=sftp(sshd, remote_dir="/no/such/dir")).check()
    assert not bad.ok


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
    receipt.write_bytes(b"key;status\nkey-1;ok\n")
    rings["agency"].encrypt_file(
        receipt,
        sshd.local("returns") / "receipt.csv.pgp",
        keys["creditor"][0],
        sign_with=keys["agency"][0],
        passphrase=SecretStr(PASSPHRASE),
    )
    drop = agency(tmp_path / "out", sftp=sftp(sshd), pgp=pgp(keys))
    try:
        ((name, local),) = list(drop.fetch_returns())
        assert name == "receipt.csv.pgp"
        assert local == tmp_path / "out" / "returns" / "receipt.csv"
        assert local.read_bytes() == receipt.read_bytes()
        drop.confirm_return(name)
    finally:
        drop.close()
    assert sshd.local("archive").joinpath("receipt.csv.pgp").exists()


@pytest.mark.slow
def test_return_file_signed_by_another_key_is_refused_and_kept_remote(
    sshd: Sshd, tmp_path: Path, keys: dict[str, tuple[str, str, str]], rings: dict[str, Pgp]
) -> None:
    receipt = tmp_path / "receipt.csv"
    receipt.write_bytes(b"key;status\n")
    # Signed by the creditor's own key, not the agency's: not what the pin allows.
    rings["creditor"].encrypt_file(
        receipt,
        sshd.local("returns") / "receipt.csv.pgp",
        keys["creditor"][0],
        sign_with=keys["creditor"][0],
        passphrase=SecretStr(PASSPHRASE),
    )
    drop = agency(tmp_path / "out", sftp=sftp(sshd), pgp=pgp(keys))
    try:
        with pytest.raises(ConnectorError, match="not by the pinned"):
            list(drop.fetch_returns())
    finally:
        drop.close()
    assert not (tmp_path / "out" / "returns" / "receipt.csv").exists()
    assert sshd.local("returns").joinpath("receipt.csv.pgp").exists()


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
