"""Carrying a file drop's written files to the agency over SFTP, and the record of what arrived.

A file is uploaded as written, or as ``<name>.pgp`` when PGP is set (encrypted to the agency's
pinned key and signed with ours; the plaintext never leaves the machine), under a temporary
name and renamed (see :mod:`claimbridge.transport.sftp`). Only then is it named in
``.sftp/uploaded.log``, fsynced: that record, not the server, says what the agency has.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from claimbridge.connectors.agencies._drop_returns import SftpReturns
from claimbridge.connectors.agencies._drop_settings import PgpSettings
from claimbridge.connectors.agencies._profiles import ARCHIVE
from claimbridge.connectors.base import CheckItem, CheckKind, NotSupportedError
from claimbridge.errors import ConfigError, ConnectorError
from claimbridge.transport.pgp import Pgp
from claimbridge.transport.sftp import SftpConnection, SftpSettings

__all__ = ["SFTP_STATE", "UPLOADED_LOG", "DropCarrier"]

SFTP_STATE = ".sftp"  # under the drop directory: the upload record and PGP staging
UPLOADED_LOG = "uploaded.log"


class DropCarrier:
    """The SFTP connection (opened on first use), the PGP keyring and the upload record of
    one drop directory."""

    def __init__(
        self,
        directory: Path,
        *,
        sftp: SftpSettings | None,
        pgp: PgpSettings | None,
        pgp_home: Path | None,
        connector: str,
        type_name: str,
    ) -> None:
        self.directory = directory
        self.sftp = sftp
        self.pgp_settings = pgp
        self._pgp_home = pgp_home
        self._connector = connector
        self._type_name = type_name
        self._connection: SftpConnection | None = None
        self._keyring: Pgp | None = None

    # --- what arrived ---------------------------------------------------------------------

    def uploaded(self) -> set[str]:
        """Names of the files the agency has received, from the local upload record."""
        record = self.directory / SFTP_STATE / UPLOADED_LOG
        try:
            text = record.read_text(encoding="utf-8")
        except FileNotFoundError:
            return set()
        except OSError as exc:
            raise ConnectorError(
                f"cannot read the upload record {record}: {exc.strerror}",
                connector=self._type_name,
            ) from None
        return {line for line in text.splitlines() if line}

    def record_upload(self, name: str) -> None:
        record = self.staging() / UPLOADED_LOG
        try:
            with record.open("a", encoding="utf-8") as stream:
                stream.write(name + "\n")
                stream.flush()
                os.fsync(stream.fileno())
        except OSError as exc:
            raise ConnectorError(
                f"{name} was uploaded but cannot be recorded in {record}: {exc.strerror}",
                connector=self._type_name,
            ) from None

    # --- carrying -------------------------------------------------------------------------

    def upload(self, connection: SftpConnection, name: str) -> None:
        """Upload one written file, as ``<name>.pgp`` when PGP is on (never the plaintext)."""
        relative = PurePosixPath(name)
        directory = "" if str(relative.parent) == "." else str(relative.parent)
        path = self.directory / name
        if not path.is_file():
            path = self.directory / directory / ARCHIVE / relative.name
        pgp = self.pgp_settings
        if pgp is None:
            connection.upload(path, relative.name, directory=directory)
            return
        encrypted = self.staging("outgoing") / f"{relative.name}.pgp"
        try:
            self.keyring().encrypt_file(
                path,
                encrypted,
                pgp.recipient_fingerprint,
                sign_with=pgp.signing_fingerprint,
                passphrase=pgp.passphrase,
            )
            connection.upload(encrypted, encrypted.name, directory=directory)
        finally:
            encrypted.unlink(missing_ok=True)

    def returns(self) -> SftpReturns:
        """The agency's return files on the server, decrypted and verified when PGP is on."""
        pgp = self.pgp_settings

        def decrypt(encrypted: Path, plain: Path) -> None:
            assert pgp is not None
            self.keyring().decrypt_file(
                encrypted, plain, expected_signer=pgp.return_signer, passphrase=pgp.passphrase
            )

        return SftpReturns(
            self.connection, decrypt if pgp is not None else None, lambda: self.staging("incoming")
        )

    def staging(self, *parts: str) -> Path:
        folder = self.directory.joinpath(SFTP_STATE, *parts)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder

    # --- connection and keys --------------------------------------------------------------

    def connection(self) -> SftpConnection:
        """The open connection, opened on first use (and the PGP keys checked before that)."""
        if self.sftp is None:
            raise NotSupportedError(
                "this file drop has no sftp settings", connector=self._type_name
            )
        if self._connection is None:
            if self.pgp_settings is not None:
                missing = [item.message for item in self.check_keys() if not item.ok]
                if missing:
                    raise ConfigError("; ".join(missing))
            connection = SftpConnection(self.sftp, connector=self._connector)
            connection.open()
            self._connection = connection
        return self._connection

    def drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def keyring(self) -> Pgp:
        if self.pgp_settings is None or self._pgp_home is None:
            raise NotSupportedError("this file drop has no pgp settings", connector=self._type_name)
        if self._keyring is None:
            self._keyring = Pgp(self._pgp_home, gpg_binary=self.pgp_settings.gpg_binary)
        return self._keyring

    def check_keys(self) -> list[CheckItem]:
        """Each pinned key present in the keyring (ours secret, the agency's public)."""
        pgp = self.pgp_settings
        if pgp is None:
            return []
        try:
            ring = self.keyring()
        except ConfigError as exc:
            return [CheckItem(CheckKind.CONFIG, False, str(exc))]
        wanted = [
            ("agency public key", pgp.recipient_fingerprint, False),
            ("signing secret key", pgp.signing_fingerprint, True),
        ]
        if pgp.return_signer != pgp.recipient_fingerprint:
            wanted.append(("return signer public key", pgp.return_signer, False))
        items = []
        for label, fingerprint, secret in wanted:
            present = ring.has_key(fingerprint, secret=secret)
            where = "in" if present else "missing from"
            items.append(
                CheckItem(CheckKind.CONFIG, present, f"{label} {fingerprint} {where} the keyring")
            )
        return items

    def close(self) -> None:
        self.drop_connection()
        if self._keyring is not None:
            self._keyring.close()
            self._keyring = None
