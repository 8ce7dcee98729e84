"""PGP with the real ``gpg``: round trip between two keyrings, and every way a file is refused."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from claimbridge.errors import ConfigError, ConnectorError
from claimbridge.transport.pgp import Pgp, normalize_fingerprint
from tests.conftest import require_program

pytestmark = [pytest.mark.service, pytest.mark.slow]

PASSPHRASE = "correct horse battery staple"


@dataclass
class Party:
    pgp: Pgp
    fingerprint: str
    public: str
    secret: str


def _generate(gpg: str, home: Path, uid: str, passphrase: str) -> tuple[str, str, str]:
    """Generate an ed25519/cv25519 key in ``home``; return (fingerprint, public, secret)."""
    home.mkdir(mode=0o700)
    base = [gpg, "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"]
    run = {"check": True, "capture_output": True, "timeout": 60, "text": True}
    subprocess.run([*base, "--passphrase", passphrase, "--quick-generate-key", uid, "ed25519",
                    "sign", "never"], **run)  # fmt: skip
    listing = subprocess.run([*base, "--with-colons", "--list-secret-keys"], **run).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line[:4] == "fpr:")
    subprocess.run([*base, "--passphrase", passphrase, "--quick-add-key", fingerprint, "cv25519",
                    "encr", "never"], **run)  # fmt: skip
    public = subprocess.run([*base, "--armor", "--export", fingerprint], **run).stdout
    secret = subprocess.run([*base, "--passphrase", passphrase, "--armor",
                             "--export-secret-keys", fingerprint], **run).stdout  # fmt: skip
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    return fingerprint, public, secret


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str, str]]:
    gpg = require_program("gpg")
    base = tmp_path_factory.mktemp("gen")
    return {
        who: _generate(gpg, base / who, f"{who} <{who}@example.invalid>", PASSPHRASE)
        for who in ("creditor", "agency", "stranger")
    }


def _party(tmp_path: Path, who: str, keys: dict[str, tuple[str, str, str]]) -> Party:
    fingerprint, public, secret = keys[who]
    pgp = Pgp(tmp_path / f"{who}-ring")
    assert pgp.import_key(secret, SecretStr(PASSPHRASE)) == fingerprint
    return Party(pgp, fingerprint, public, secret)


@pytest.fixture
def parties(tmp_path: Path, keys: dict[str, tuple[str, str, str]]) -> Iterator[dict[str, Party]]:
    made = {who: _party(tmp_path, who, keys) for who in keys}
    creditor, agency, stranger = made["creditor"], made["agency"], made["stranger"]
    creditor.pgp.import_key(agency.public)
    agency.pgp.import_key(creditor.public)
    agency.pgp.import_key(stranger.public)
    stranger.pgp.import_key(agency.public)
    yield made
    for party in made.values():
        party.pgp.close()


def _send(sender: Party, receiver: Party, plain: Path, out: Path) -> None:
    sender.pgp.encrypt_file(
        plain,
        out,
        receiver.fingerprint,
        sign_with=sender.fingerprint,
        passphrase=SecretStr(PASSPHRASE),
    )


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def test_round_trip_between_two_keyrings(parties: dict[str, Party], tmp_path: Path) -> None:
    plain = tmp_path / "cases.csv"
    plain.write_bytes(b"case;amount\n" + b"X;100.00\n" * 50_000)
    sealed = tmp_path / "cases.csv.gpg"
    _send(parties["creditor"], parties["agency"], plain, sealed)
    assert plain.read_bytes()[:20] not in sealed.read_bytes()
    opened = tmp_path / "opened.csv"
    parties["agency"].pgp.decrypt_file(
        sealed,
        opened,
        expected_signer=parties["creditor"].fingerprint,
        passphrase=SecretStr(PASSPHRASE),
    )
    assert opened.read_bytes() == plain.read_bytes()
    assert opened.stat().st_mode & 0o077 == 0
    assert _leftovers(tmp_path) == []


def test_tampered_file_is_refused_and_nothing_is_left(
    parties: dict[str, Party], tmp_path: Path
) -> None:
    plain = tmp_path / "cases.csv"
    plain.write_bytes(b"secret debtor data\n" * 10_000)
    sealed = tmp_path / "cases.csv.gpg"
    _send(parties["creditor"], parties["agency"], plain, sealed)
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 0x01
    sealed.write_bytes(bytes(data))
    opened = tmp_path / "opened.csv"
    with pytest.raises(ConnectorError, match="decryption failed"):
        parties["agency"].pgp.decrypt_file(
            sealed,
            opened,
            expected_signer=parties["creditor"].fingerprint,
            passphrase=SecretStr(PASSPHRASE),
        )
    assert not opened.exists()
    assert _leftovers(tmp_path) == []


def test_truncated_file_is_refused(parties: dict[str, Party], tmp_path: Path) -> None:
    plain = tmp_path / "cases.csv"
    plain.write_bytes(b"row\n" * 10_000)
    sealed = tmp_path / "cases.csv.gpg"
    _send(parties["creditor"], parties["agency"], plain, sealed)
    sealed.write_bytes(sealed.read_bytes()[:-40])
    with pytest.raises(ConnectorError):
        parties["agency"].pgp.decrypt_file(
            sealed,
            tmp_path / "out",
            expected_signer=parties["creditor"].fingerprint,
            passphrase=SecretStr(PASSPHRASE),
        )
    assert not (tmp_path / "out").exists()


def test_wrong_signer_is_refused(parties: dict[str, Party], tmp_path: Path) -> None:
    plain = tmp_path / "settlement.xml"
    plain.write_bytes(b"<settlement/>")
    sealed = tmp_path / "settlement.xml.gpg"
    _send(parties["stranger"], parties["agency"], plain, sealed)
    with pytest.raises(ConnectorError, match="not by the pinned"):
        parties["agency"].pgp.decrypt_file(
            sealed,
            tmp_path / "out.xml",
            expected_signer=parties["creditor"].fingerprint,
            passphrase=SecretStr(PASSPHRASE),
        )
    assert not (tmp_path / "out.xml").exists()
    assert _leftovers(tmp_path) == []


def test_unsigned_file_is_refused(
    parties: dict[str, Party], tmp_path: Path, keys: dict[str, tuple[str, str, str]]
) -> None:
    gpg = require_program("gpg")
    plain = tmp_path / "note.txt"
    plain.write_bytes(b"no signature here")
    sealed = tmp_path / "note.txt.gpg"
    home = tmp_path / "plain-ring"
    home.mkdir(mode=0o700)
    base = [gpg, "--homedir", str(home), "--batch"]
    subprocess.run([*base, "--import"], input=parties["agency"].public.encode(), check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    subprocess.run([*base, "--trust-model", "always", "--recipient", parties["agency"].fingerprint,
                    "--output", str(sealed), "--encrypt", str(plain)],
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
    with pytest.raises(ConnectorError, match="signature not accepted"):
        parties["agency"].pgp.decrypt_file(
            sealed,
            tmp_path / "out.txt",
            expected_signer=parties["creditor"].fingerprint,
            passphrase=SecretStr(PASSPHRASE),
        )
    assert not (tmp_path / "out.txt").exists()


def test_signed_only_file_is_refused(parties: dict[str, Party], tmp_path: Path) -> None:
    """Incoming files must be encrypted as well as signed: a clear-signed file is not enough."""
    plain = tmp_path / "note.txt"
    plain.write_bytes(b"signed but readable by anyone")
    signed = tmp_path / "note.txt.sig"
    creditor = parties["creditor"]
    result = creditor.pgp._gpg.sign_file(
        str(plain), keyid=creditor.fingerprint, passphrase=PASSPHRASE, output=str(signed)
    )
    assert result.returncode == 0
    with pytest.raises(ConnectorError, match="decryption failed"):
        parties["agency"].pgp.decrypt_file(
            signed,
            tmp_path / "o",
            expected_signer=creditor.fingerprint,
            passphrase=SecretStr(PASSPHRASE),
        )


def test_wrong_passphrase_fails_without_leaking_it(
    parties: dict[str, Party], tmp_path: Path
) -> None:
    plain = tmp_path / "cases.csv"
    plain.write_bytes(b"x")
    wrong = "not-the-passphrase-4711"
    with pytest.raises(ConnectorError) as caught:
        parties["creditor"].pgp.encrypt_file(
            plain,
            tmp_path / "out.gpg",
            parties["agency"].fingerprint,
            sign_with=parties["creditor"].fingerprint,
            passphrase=SecretStr(wrong),
        )
    assert wrong not in str(caught.value)
    assert not (tmp_path / "out.gpg").exists()
    assert _leftovers(tmp_path) == []


def test_keys_are_named_by_full_fingerprint_only(parties: dict[str, Party], tmp_path: Path) -> None:
    plain = tmp_path / "cases.csv"
    plain.write_bytes(b"x")
    creditor = parties["creditor"]
    for name in ("agency@example.invalid", parties["agency"].fingerprint[-16:]):
        with pytest.raises(ConfigError, match="full OpenPGP fingerprint"):
            creditor.pgp.encrypt_file(plain, tmp_path / "o", name, sign_with=creditor.fingerprint)
    with pytest.raises(ConfigError, match="not in the keyring"):
        creditor.pgp.encrypt_file(
            plain, tmp_path / "o", parties["stranger"].fingerprint, sign_with=creditor.fingerprint
        )


def test_import_rejects_garbage_and_key_bundles(parties: dict[str, Party], tmp_path: Path) -> None:
    pgp = parties["creditor"].pgp
    with pytest.raises(ConnectorError, match="key import failed"):
        pgp.import_key("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n")
    bundle = parties["agency"].public + parties["stranger"].public
    with Pgp(tmp_path / "fresh") as fresh, pytest.raises(ConnectorError, match="expected one key"):
        fresh.import_key(bundle)


def test_keyring_directory_is_private(tmp_path: Path) -> None:
    require_program("gpg")
    home = tmp_path / "ring"
    home.mkdir(mode=0o755)
    with Pgp(home):
        assert home.stat().st_mode & 0o077 == 0


def test_normalize_fingerprint() -> None:
    assert normalize_fingerprint("ab12 " * 8 + "ab12 " * 2) == "AB12" * 10
    with pytest.raises(ConfigError):
        normalize_fingerprint("0x1234")
