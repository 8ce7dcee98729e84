"""The file-drop agency: cases written as files the agency collects, locally or over SFTP.

What goes in a file is declared by a file profile (see :mod:`._profiles`). Files appear
atomically (written to ``.<name>.tmp``, fsynced, renamed), so nobody picks up half a file.
A file drop has no synchronous acceptance: a delivered case comes back ``SENT``.

Without ``sftp`` the drop directory is where the agency collects. After a crash between writing
and recording, :meth:`FileDropAgency.lookup` finds the idempotency key in the files already there
(and in ``archive/``), so a case is never written twice.

With ``sftp`` the directory is the local outbox and the record of what was sent: a file is
written there first, encrypted and signed when ``pgp`` is set (only the ``.pgp`` file is
uploaded), uploaded under a temporary name and renamed, and only then named in
``.sftp/uploaded.log``. A case counts as sent only when its file is in that log. An upload that
fails leaves its cases ``RETRYABLE``; the next push of the same cases finds them in the file
already written and uploads that file again, so no case ends up in two files. Return files are
fetched into ``returns/`` and archived remotely only when the caller confirms it recorded them.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from claimbridge.connectors.agencies._profiles import (
    ARCHIVE,
    KEY_PATH,
    PROFILES_DIR,
    WRITERS,
    CsvWriter,
    FileProfile,
    FileWriter,
    load_profile,
)
from claimbridge.connectors.base import (
    Agency,
    AgencyCapabilities,
    CheckItem,
    CheckKind,
    CheckResult,
    ConnectorContext,
    ConnectorSettings,
    Delivery,
    NotSupportedError,
    PushOutcome,
    PushStatus,
)
from claimbridge.errors import ConfigError, ConnectorError, MappingError, UnreachableError
from claimbridge.transport.pgp import Pgp, normalize_fingerprint
from claimbridge.transport.sftp import SftpConnection, SftpSettings

__all__ = [
    "ARCHIVE",
    "KEY_PATH",
    "PROFILES_DIR",
    "WRITERS",
    "CsvWriter",
    "FileDropAgency",
    "FileDropSettings",
    "FileProfile",
    "FileWriter",
    "PgpSettings",
    "load_profile",
]

log = logging.getLogger(__name__)

SFTP_STATE = ".sftp"  # under the drop directory: the upload record and PGP staging
UPLOADED_LOG = "uploaded.log"
RETURNS = "returns"
ENCRYPTED_SUFFIXES = (".pgp", ".gpg")


class PgpSettings(BaseModel):
    """Both keys pinned by full fingerprint; the passphrase unlocks our signing key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path  # the private keyring (GNUPGHOME); relative paths are under the work directory
    recipient_fingerprint: str  # the agency's key: files are encrypted to it
    signing_fingerprint: str  # our key: files are signed with it
    passphrase: SecretStr | None = None
    return_signer_fingerprint: str | None = None  # who signs return files; default: recipient
    gpg_binary: str = "gpg"

    @field_validator("recipient_fingerprint", "signing_fingerprint", "return_signer_fingerprint")
    @classmethod
    def _full_fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_fingerprint(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @property
    def return_signer(self) -> str:
        return self.return_signer_fingerprint or self.recipient_fingerprint


class FileDropSettings(ConnectorSettings):
    directory: Path
    profile: str = "generic_csv"
    batch_size: int = Field(default=5000, ge=1, le=1_000_000)
    sftp: SftpSettings | None = None
    pgp: PgpSettings | None = None
    return_pattern: str = Field(default="*", min_length=1)  # which return files to fetch

    @model_validator(mode="after")
    def _pgp_needs_sftp(self) -> Self:
        if self.pgp is not None and self.sftp is None:
            raise ValueError("pgp encrypts what is uploaded: set sftp as well")
        return self


class FileDropAgency(Agency):
    """Writes cases as profile-driven files into a directory, and uploads them when configured."""

    type_name: ClassVar[str] = "file_drop"
    Settings: ClassVar[type[ConnectorSettings]] = FileDropSettings

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        assert isinstance(settings, FileDropSettings)
        self.options: FileDropSettings = settings
        self.directory = self._local(settings.directory)
        self._profile: FileProfile | None = None
        self._index: dict[str, str] = {}
        self._indexed: dict[Path, tuple[int, int]] = {}
        self._connection: SftpConnection | None = None
        self._keyring: Pgp | None = None

    @property
    def capabilities(self) -> AgencyCapabilities:  # type: ignore[override]
        return AgencyCapabilities(
            file_drop=True, lookup=True, idempotency_keys=False, batch_size=self.options.batch_size
        )

    @property
    def profile(self) -> FileProfile:
        if self._profile is None:
            self._profile = load_profile(self.options.profile)
        return self._profile

    def close(self) -> None:
        self._drop_connection()
        if self._keyring is not None:
            self._keyring.close()
            self._keyring = None

    def _local(self, path: Path) -> Path:
        return path if path.is_absolute() else self.context.workdir / path

    # --- check ----------------------------------------------------------------------------

    def check(self) -> CheckResult:
        """The directory and profile; with ``sftp`` the server, with ``pgp`` the pinned keys."""
        items = []
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            writable = os.access(self.directory, os.W_OK | os.X_OK)
            message = "directory is writable" if writable else "directory is not writable"
        except OSError as exc:
            writable, message = False, f"cannot create directory: {exc.strerror or exc}"
        items.append(CheckItem(CheckKind.PERMISSION, writable, message))
        try:
            profile = self.profile
        except MappingError as exc:
            items.append(CheckItem(CheckKind.CONFIG, False, str(exc)))
        else:
            items.append(CheckItem(CheckKind.CONFIG, True, f"profile {profile.name} loaded"))
        if self.options.sftp is not None:
            items.extend(SftpConnection(self.options.sftp, connector=self.context.name).check())
        if self.options.pgp is not None:
            items.extend(self._check_keys(self.options.pgp))
        return CheckResult(connector=self.context.name, items=tuple(items))

    def _check_keys(self, pgp: PgpSettings) -> list[CheckItem]:
        try:
            ring = self._pgp()
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

    # --- push -----------------------------------------------------------------------------

    def push(self, deliveries: Sequence[Delivery]) -> list[PushOutcome]:
        """One file per ``batch_size`` new deliveries; ``SENT`` once the file is delivered."""
        if not deliveries:
            return []
        profile = self.profile
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConnectorError(
                f"cannot create the drop directory: {exc.strerror}", connector=self.type_name
            ) from None
        if self.options.sftp is None:
            outcomes = []
            for name, batch in self._write_batches(profile, deliveries):
                for delivery in batch:
                    if self._indexed:
                        self._index[delivery.idempotency_key] = name
                    outcomes.append(PushOutcome(delivery.idempotency_key, PushStatus.SENT))
            return outcomes
        return self._push_over_sftp(profile, deliveries)

    def _push_over_sftp(
        self, profile: FileProfile, deliveries: Sequence[Delivery]
    ) -> list[PushOutcome]:
        """Deliveries already uploaded are ``SENT`` as they are; those in a file written but not
        uploaded go up with that file; only the rest are written into new files."""
        self._refresh_index()
        uploaded = self._uploaded()
        outcomes: dict[str, PushOutcome] = {}
        waiting: dict[str, list[Delivery]] = {}
        new: list[Delivery] = []
        for delivery in deliveries:
            key = delivery.idempotency_key
            name = self._index.get(key)
            if name is None:
                new.append(delivery)
            elif name in uploaded:
                outcomes[key] = PushOutcome(key, PushStatus.SENT)
            else:
                waiting.setdefault(name, []).append(delivery)
        if waiting or new:
            connection = self._sftp()  # refused host key or auth: raise before writing anything
            for name, batch in self._write_batches(profile, new):
                waiting[name] = list(batch)
                for delivery in batch:
                    self._index[delivery.idempotency_key] = name
            for name in sorted(waiting):
                try:
                    self._upload(connection, name)
                except ConnectorError as exc:
                    if isinstance(exc, UnreachableError):  # the rest fail fast, not open
                        self._drop_connection()
                    log.warning("upload of %s failed, retried on the next push: %s", name, exc)
                    reason = f"upload of {name} failed: {exc}"
                    for delivery in waiting[name]:
                        key = delivery.idempotency_key
                        outcomes[key] = PushOutcome(key, PushStatus.RETRYABLE, reason=reason)
                    continue
                self._record_upload(name)
                for delivery in waiting[name]:
                    key = delivery.idempotency_key
                    outcomes[key] = PushOutcome(key, PushStatus.SENT)
        return [outcomes[d.idempotency_key] for d in deliveries]

    def _write_batches(
        self, profile: FileProfile, deliveries: Sequence[Delivery]
    ) -> Iterator[tuple[str, Sequence[Delivery]]]:
        size = self.options.batch_size
        for start in range(0, len(deliveries), size):
            batch = deliveries[start : start + size]
            yield self._write(profile, batch), batch

    def _next_name(self, profile: FileProfile) -> str:
        today = self.context.today
        pattern = profile.file_pattern(today)
        highest = 0
        for folder in (self.directory, self.directory / ARCHIVE):
            if folder.is_dir():
                for entry in os.scandir(folder):
                    match = pattern.fullmatch(entry.name)
                    if match:
                        highest = max(highest, int(match.group(1)))
        return profile.filename.format(date=today, seq=highest + 1)

    def _write(self, profile: FileProfile, batch: Sequence[Delivery]) -> str:
        name = self._next_name(profile)
        final = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        writer = WRITERS[profile.format]
        rows = (row for delivery in batch for row in profile.rows(delivery))
        try:
            with temporary.open(
                "w", encoding=profile.encoding, errors="replace", newline=""
            ) as stream:
                writer.write(stream, profile, rows)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, final)
            _fsync_directory(self.directory)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise ConnectorError(
                f"writing {name} failed: {exc.strerror or exc}", connector=self.type_name
            ) from None
        return name

    # --- uploading ------------------------------------------------------------------------

    def _upload(self, connection: SftpConnection, name: str) -> None:
        """Upload one written file, as ``<name>.pgp`` when PGP is on (never the plaintext)."""
        path = self.directory / name
        if not path.is_file():
            path = self.directory / ARCHIVE / name
        pgp = self.options.pgp
        if pgp is None:
            connection.upload(path, name)
            return
        encrypted = self._staging("outgoing") / f"{name}.pgp"
        try:
            self._pgp().encrypt_file(
                path,
                encrypted,
                pgp.recipient_fingerprint,
                sign_with=pgp.signing_fingerprint,
                passphrase=pgp.passphrase,
            )
            connection.upload(encrypted, encrypted.name)
        finally:
            encrypted.unlink(missing_ok=True)

    def _uploaded(self) -> set[str]:
        """Names of the files the agency has received, from the local upload record."""
        record = self.directory / SFTP_STATE / UPLOADED_LOG
        try:
            text = record.read_text(encoding="utf-8")
        except FileNotFoundError:
            return set()
        except OSError as exc:
            raise ConnectorError(
                f"cannot read the upload record {record}: {exc.strerror}", connector=self.type_name
            ) from None
        return {line for line in text.splitlines() if line}

    def _record_upload(self, name: str) -> None:
        record = self._staging() / UPLOADED_LOG
        try:
            with record.open("a", encoding="utf-8") as stream:
                stream.write(name + "\n")
                stream.flush()
                os.fsync(stream.fileno())
        except OSError as exc:
            raise ConnectorError(
                f"{name} was uploaded but cannot be recorded in {record}: {exc.strerror}",
                connector=self.type_name,
            ) from None

    def _staging(self, *parts: str) -> Path:
        folder = self.directory.joinpath(SFTP_STATE, *parts)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder

    # --- connections ----------------------------------------------------------------------

    def _sftp(self) -> SftpConnection:
        """The open connection, opened on first use (and the PGP keys checked before that)."""
        settings = self.options.sftp
        if settings is None:
            raise NotSupportedError("this file drop has no sftp settings", connector=self.type_name)
        if self._connection is None:
            if self.options.pgp is not None:
                self._require_keys(self.options.pgp)
            connection = SftpConnection(settings, connector=self.context.name)
            connection.open()
            self._connection = connection
        return self._connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _pgp(self) -> Pgp:
        pgp = self.options.pgp
        if pgp is None:
            raise NotSupportedError("this file drop has no pgp settings", connector=self.type_name)
        if self._keyring is None:
            self._keyring = Pgp(self._local(pgp.home), gpg_binary=pgp.gpg_binary)
        return self._keyring

    def _require_keys(self, pgp: PgpSettings) -> None:
        missing = [item.message for item in self._check_keys(pgp) if not item.ok]
        if missing:
            raise ConfigError("; ".join(missing))

    # --- return files ---------------------------------------------------------------------

    def fetch_returns(self) -> Iterator[tuple[str, Path]]:
        """Fetch each return file into ``returns/`` (decrypted and verified with PGP on) and
        yield ``(remote name, local path)``. Nothing is archived remotely here: call
        :meth:`confirm_return` once the file is recorded. Parsing the files is later work."""
        connection = self._sftp()
        folder = self.directory / RETURNS
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            for remote in connection.list_returns(self.options.return_pattern):
                yield remote.name, self._fetch(connection, remote.name, folder)
        except UnreachableError:
            self._drop_connection()
            raise

    def _fetch(self, connection: SftpConnection, name: str, folder: Path) -> Path:
        pgp = self.options.pgp
        if pgp is None:
            local = folder / name
            connection.fetch(name, local)
            return local
        plain = name
        for suffix in ENCRYPTED_SUFFIXES:
            plain = plain.removesuffix(suffix)
        local = folder / plain
        encrypted = self._staging("incoming") / name
        try:
            connection.fetch(name, encrypted)
            self._pgp().decrypt_file(
                encrypted, local, expected_signer=pgp.return_signer, passphrase=pgp.passphrase
            )
        finally:
            encrypted.unlink(missing_ok=True)
        return local

    def confirm_return(self, name: str) -> None:
        """Archive a fetched return file remotely; call only after it is recorded."""
        try:
            self._sftp().archive(name)
        except UnreachableError:
            self._drop_connection()
            raise

    # --- lookup ---------------------------------------------------------------------------

    def lookup(self, idempotency_key: str, agency_ref: str | None = None) -> PushOutcome | None:
        """``SENT`` if a delivered file holds the key, else None.

        Delivered means: in the drop directory or ``archive/``, and with ``sftp`` also named in
        the upload record (a file written but not uploaded is not at the agency)."""
        if idempotency_key not in self._index:
            self._refresh_index()
        name = self._index.get(idempotency_key)
        if name is None:
            return None
        if self.options.sftp is not None and name not in self._uploaded():
            return None
        return PushOutcome(idempotency_key, PushStatus.SENT)

    def _refresh_index(self) -> None:
        profile = self.profile
        pattern = profile.file_pattern(None)
        writer = WRITERS[profile.format]
        for folder in (self.directory, self.directory / ARCHIVE):
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if not entry.is_file() or not pattern.fullmatch(entry.name):
                    continue
                path = Path(entry.path)
                stat = entry.stat()
                stamp = (stat.st_size, stat.st_mtime_ns)
                if self._indexed.get(path) == stamp:
                    continue
                with path.open(encoding=profile.encoding, errors="replace", newline="") as stream:
                    for key in writer.keys(stream, profile):
                        self._index[key] = entry.name
                self._indexed[path] = stamp


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
