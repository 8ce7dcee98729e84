"""OpenPGP for file drops: encrypt and sign what goes out, decrypt and verify what comes in.

Keys live in a private keyring (its own ``GNUPGHOME``, mode 0700), never the user's. Keys are
named by full fingerprint only, so a user id or short key id can never select another key;
trust comes from those pinned fingerprints, not from gpg's web of trust. Every python-gnupg
result is checked (``ok``, gpg's return code, the signature) and a failure becomes one
``ConnectorError`` carrying gpg's status, never a passphrase. Decrypted data is written to a
0600 temp file next to the destination and renamed into place only when the signature is good,
so no plaintext of a rejected file is left on disk.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import gnupg
from pydantic import SecretStr

from claimbridge.errors import ConfigError, ConnectorError

__all__ = ["Pgp", "normalize_fingerprint"]

_FINGERPRINT = re.compile(r"^(?:[0-9A-F]{40}|[0-9A-F]{64})$")
_CONNECTOR = "pgp"


def normalize_fingerprint(value: str) -> str:
    """Upper-case hex without spaces; a full v4 (40) or v5 (64) fingerprint, nothing shorter."""
    cleaned = value.replace(" ", "").upper()
    if not _FINGERPRINT.match(cleaned):
        raise ConfigError(f"not a full OpenPGP fingerprint: {value!r}")
    return cleaned


class Pgp:
    """A private gpg keyring in ``home``; use as a context manager to stop its agent after."""

    def __init__(self, home: Path, *, gpg_binary: str = "gpg") -> None:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(home.stat().st_mode) & 0o077:
            home.chmod(0o700)
        self.home = home
        binary = shutil.which(gpg_binary)
        if binary is None:
            raise ConfigError(f"gpg program {gpg_binary!r} not found; install GnuPG")
        try:
            self._gpg = gnupg.GPG(gpgbinary=binary, gnupghome=str(home))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot start gpg with keyring {home}: {exc}") from exc
        self._binary = binary

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the gpg-agent this keyring started (it would otherwise outlive the run)."""
        gpgconf = shutil.which("gpgconf")
        if gpgconf is not None:
            subprocess.run(
                [gpgconf, "--homedir", str(self.home), "--kill", "gpg-agent"],
                capture_output=True,
                timeout=30,
                check=False,
            )

    # --- keys -----------------------------------------------------------------------------

    def import_key(self, armored: str | bytes, passphrase: SecretStr | None = None) -> str:
        """Import one key (public, or secret with its public part); return its fingerprint."""
        secret = passphrase.get_secret_value() if passphrase is not None else None
        result = self._gpg.import_keys(armored, passphrase=secret)
        fingerprints = sorted({f.upper() for f in result.fingerprints if f})
        if not fingerprints or getattr(result, "returncode", 0) not in (0, None):
            raise ConnectorError(f"key import failed: {_status(result)}", connector=_CONNECTOR)
        if len(fingerprints) != 1:
            raise ConnectorError(
                f"expected one key, the data holds {len(fingerprints)}: import them one by one",
                connector=_CONNECTOR,
            )
        return str(fingerprints[0])

    def has_key(self, fingerprint: str, *, secret: bool = False) -> bool:
        wanted = normalize_fingerprint(fingerprint)
        keys = self._gpg.list_keys(secret=secret, keys=[wanted])
        return any(str(k.get("fingerprint", "")).upper() == wanted for k in keys)

    # --- files ----------------------------------------------------------------------------

    def encrypt_file(
        self,
        src: Path,
        dst: Path,
        recipient_fingerprint: str,
        *,
        sign_with: str,
        passphrase: SecretStr | None = None,
    ) -> None:
        """Encrypt ``src`` to the pinned recipient, signed by our pinned key, into ``dst``."""
        recipient = self._require_key(recipient_fingerprint, secret=False, role="recipient")
        signer = self._require_key(sign_with, secret=True, role="signing")
        secret = passphrase.get_secret_value() if passphrase is not None else None
        temp = _temp_for(dst)
        try:
            with src.open("rb") as source:
                result = self._gpg.encrypt_file(
                    source,
                    [recipient],
                    sign=signer,
                    passphrase=secret,
                    always_trust=True,  # trust is the pinned fingerprint, not the web of trust
                    armor=False,
                    output=str(temp),
                )
            _require_ok(result, "encryption")
            os.replace(temp, dst)
        except OSError as exc:
            raise ConnectorError(
                f"encryption of {src.name}: {exc.strerror}", connector=_CONNECTOR
            ) from exc
        finally:
            temp.unlink(missing_ok=True)

    def decrypt_file(
        self,
        src: Path,
        dst: Path,
        *,
        expected_signer: str,
        passphrase: SecretStr | None = None,
    ) -> None:
        """Decrypt ``src`` into ``dst`` only if it is signed, intact and by ``expected_signer``.

        Unsigned, tampered or otherwise signed files are refused, and nothing is left at
        ``dst`` or next to it. ``passphrase`` unlocks our own secret key, if it has one.
        """
        signer = normalize_fingerprint(expected_signer)
        secret = passphrase.get_secret_value() if passphrase is not None else None
        temp = _temp_for(dst)
        try:
            _reserve_private(temp)
            with src.open("rb") as source:
                result = self._gpg.decrypt_file(source, passphrase=secret, output=str(temp))
            _require_ok(result, "decryption")
            _require_signer(result, signer, src.name)
            os.replace(temp, dst)
        except OSError as exc:
            raise ConnectorError(
                f"decryption of {src.name}: {exc.strerror}", connector=_CONNECTOR
            ) from exc
        finally:
            temp.unlink(missing_ok=True)

    def _require_key(self, fingerprint: str, *, secret: bool, role: str) -> str:
        wanted = normalize_fingerprint(fingerprint)
        if not self.has_key(wanted, secret=secret):
            kind = "secret key" if secret else "public key"
            raise ConfigError(f"{role} {kind} {wanted} is not in the keyring {self.home}")
        return wanted


# --- result checks --------------------------------------------------------------------------


def _status(result: Any) -> str:
    """gpg's own status words for a failed call (never the passphrase or the data)."""
    status = str(getattr(result, "status", "") or "").strip()
    detail = str(getattr(result, "status_detail", "") or "").strip()
    code = getattr(result, "returncode", None)
    parts = [p for p in (status, detail) if p]
    if code not in (None, 0):
        parts.append(f"gpg exit {code}")
    return "; ".join(parts) or "gpg reported no status"


def _require_ok(result: Any, action: str) -> None:
    if not result.ok or getattr(result, "returncode", 0) not in (0, None):
        raise ConnectorError(f"{action} failed: {_status(result)}", connector=_CONNECTOR)


def _require_signer(result: Any, expected: str, name: str) -> None:
    if not result.valid:
        why = str(getattr(result, "status", "") or "no valid signature")
        raise ConnectorError(f"{name}: signature not accepted ({why})", connector=_CONNECTOR)
    signers = {
        str(value).upper()
        for value in (getattr(result, "pubkey_fingerprint", None), result.fingerprint)
        if value
    }
    if expected not in signers:
        raise ConnectorError(
            f"{name}: signed by {sorted(signers)[0] if signers else 'an unknown key'}, "
            f"not by the pinned {expected}",
            connector=_CONNECTOR,
        )


def _temp_for(dst: Path) -> Path:
    return dst.with_name(f".{dst.name}.part")


def _reserve_private(path: Path) -> None:
    """Create the output file 0600 first, so gpg writes plaintext into a private file."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
